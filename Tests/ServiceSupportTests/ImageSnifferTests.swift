import Foundation
import ServiceSupport
import Testing

@Suite("ImageSniffer")
struct ImageSnifferTests {
    /// A tiny but structurally valid 1×1 PNG.
    static let png: [UInt8] = [
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
        0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
        0x89, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
        0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
        0x42, 0x60, 0x82,
    ]
    /// SOI, APP0 (JFIF), DQT stub, SOS, data, EOI.
    static let jpeg: [UInt8] =
        [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10] + Array("JFIF\0".utf8)
        + [0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00]
        + [0xFF, 0xDB, 0x00, 0x04, 0x00, 0x01] + [0xFF, 0xDA, 0x00, 0x02, 0x12, 0x34] + [0xFF, 0xD9]

    @Test("JPEG and PNG are recognised by their bytes")
    func accepted() {
        #expect(ImageSniffer.mediaType(of: Self.jpeg) == .jpeg)
        #expect(ImageSniffer.mediaType(of: Self.png) == .png)
        #expect(ImageSniffer.MediaType.jpeg.rawValue == "image/jpeg")
        // A camera JPEG with trailer bytes after EOI still walks to SOS.
        #expect(ImageSniffer.mediaType(of: Self.jpeg + Array("SAMSUNG trailer".utf8)) == .jpeg)
    }

    @Test(
        "GIF, PDF, text named .jpg, and truncated headers are rejected",
        arguments: [
            ("GIF", Array("GIF89a\u{01}\0\u{01}\0".utf8) + [0x80, 0x00, 0x00]),
            ("PDF", Array("%PDF-1.7\n1 0 obj\n<<>>\nendobj\n%%EOF".utf8)),
            ("text", Array("this is not a photo, just a file called foto.jpg".utf8)),
            ("empty", []),
            ("SOI only", [0xFF, 0xD8, 0xFF]),
            ("SOI + bad marker", [0xFF, 0xD8, 0xFF, 0x00, 0x00, 0x10, 0xFF, 0xD9]),
            ("PNG signature only", Array(png.prefix(8))),
            (
                "PNG without IHDR",
                Array(png.prefix(8)) + [0, 0, 0, 13] + Array("IDAT".utf8) + Array(repeating: 1, count: 13)
            ),
            ("JPEG header then text", [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10] + Array("hello world, not an image".utf8)),
        ] as [(String, [UInt8])]
    )
    func rejected(name: String, bytes: [UInt8]) {
        #expect(ImageSniffer.mediaType(of: bytes) == nil, "\(name)")
    }
}
