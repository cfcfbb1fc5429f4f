/// The container formats the inspector reads.
package enum PhotoFormat: String, Sendable, Equatable {
    /// JPEG (JFIF or EXIF).
    case jpeg
    /// PNG.
    case png
}

/// What the headers of a file say, read without decoding any pixels.
package struct ImageStructure: Sendable, Equatable {
    /// JPEG or PNG.
    package var format: PhotoFormat
    /// Pixel width from the frame header (JPEG SOF) or `IHDR`.
    package var width: Int
    /// Pixel height.
    package var height: Int
    /// The TIFF block of the EXIF data: after `Exif\0\0` in the first EXIF APP1 segment, or a PNG `eXIf` chunk.
    package var exif: Range<Int>?
    /// PNG `tIME` (last modification, UTC): year, month, day, hour, minute, second.
    package var pngTime: [Int]?
    /// PNG only: bit depth, colour type, interlace method, and the `IDAT` and `PLTE` chunk data ranges.
    package var png: PNGLayout?

    /// How a PNG stores its pixels.
    package struct PNGLayout: Sendable, Equatable {
        package var bitDepth: Int
        package var colorType: Int
        package var interlaced: Bool
        package var dataChunks: [Range<Int>]
        package var palette: Range<Int>?
    }
}

/// Why the structure could not be read.
package enum StructureError: Error, Sendable, Equatable {
    /// The file ends inside a segment or chunk, or before its image data.
    case truncated
    /// Markers or chunks are not where the format puts them.
    case corrupt
}

extension ImageStructure {
    /// Segments or chunks walked at most before the image data; real files have a few dozen (PNG data chunks are
    /// collected without limit, but each takes 12 bytes at least, so the walk is bounded by the file's size).
    static let maxSegments = 1024
    /// PNG data chunks at most (16 bytes each in the list).
    static let maxDataChunks = 65_536

    /// Reads the structure of `bytes` (JPEG or PNG by signature).
    package static func read(_ bytes: UnsafeRawBufferPointer) throws(StructureError) -> ImageStructure {
        if bytes.count >= 3, bytes[0] == 0xFF, bytes[1] == 0xD8, bytes[2] == 0xFF { return try readJPEG(bytes) }
        if bytes.count >= 8, bytes.prefix(8).elementsEqual(pngSignature) { return try readPNG(bytes) }
        throw .corrupt
    }

    static let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Walks `FF xx LL LL` segments from SOI to SOS: the frame header gives the size, the first APP1 starting
    /// `Exif\0` the EXIF block. The file must reach SOS after a frame header.
    private static func readJPEG(_ bytes: UnsafeRawBufferPointer) throws(StructureError) -> ImageStructure {
        var index = 2
        var width = 0
        var height = 0
        var exif: Range<Int>?
        var segments = 0
        while true {
            segments += 1
            guard segments <= maxSegments else { throw .corrupt }
            guard index < bytes.count else { throw .truncated }
            guard bytes[index] == 0xFF else { throw .corrupt }
            while index < bytes.count, bytes[index] == 0xFF { index += 1 }  // fill bytes
            guard index < bytes.count else { throw .truncated }
            let marker = bytes[index]
            index += 1
            switch marker {
            case 0x01, 0xD0...0xD7: continue  // standalone markers
            case 0xD8, 0xD9: throw .corrupt  // SOI again, or EOI before any scan
            default: break
            }
            guard index + 2 <= bytes.count else { throw .truncated }
            let length = Int(bytes[index]) << 8 | Int(bytes[index + 1])
            guard length >= 2 else { throw .corrupt }
            guard length <= bytes.count - index else { throw .truncated }
            let body = (index + 2)..<(index + length)
            switch marker {
            case 0xC0...0xC3, 0xC5...0xC7, 0xC9...0xCB, 0xCD...0xCF:
                guard body.count >= 6 else { throw .corrupt }
                height = Int(bytes[body.lowerBound + 1]) << 8 | Int(bytes[body.lowerBound + 2])
                width = Int(bytes[body.lowerBound + 3]) << 8 | Int(bytes[body.lowerBound + 4])
            case 0xE1 where exif == nil && body.count >= 6 + 8:
                let b = body.lowerBound
                if bytes[b] == 0x45, bytes[b + 1] == 0x78, bytes[b + 2] == 0x69, bytes[b + 3] == 0x66,
                    bytes[b + 4] == 0
                {
                    exif = (b + 6)..<body.upperBound
                }
            case 0xDA:
                // Start of scan: the headers are complete.
                guard width > 0, height > 0 else { throw .corrupt }
                return ImageStructure(format: .jpeg, width: width, height: height, exif: exif)
            default: break
            }
            index = body.upperBound
        }
    }

    /// Walks PNG chunks: `IHDR` first, then `eXIf`, `tIME`, `PLTE`, `IDAT` … `IEND`.
    private static func readPNG(_ bytes: UnsafeRawBufferPointer) throws(StructureError) -> ImageStructure {
        var index = 8
        var structure: ImageStructure?
        var layout: PNGLayout?
        func u32(_ at: Int) -> Int {
            Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3])
        }
        while true {
            guard index + 8 <= bytes.count else { throw .truncated }
            let length = u32(index)
            let type = (bytes[index + 4], bytes[index + 5], bytes[index + 6], bytes[index + 7])
            let start = index + 8
            guard length <= bytes.count - start, bytes.count - start - length >= 4 else { throw .truncated }
            let body = start..<(start + length)
            index = body.upperBound + 4  // CRC (zlib's Adler-32 guards the pixel data)
            let isHeader = type == (0x49, 0x48, 0x44, 0x52)
            guard (structure == nil) == isHeader else { throw .corrupt }
            switch type {
            case (0x49, 0x48, 0x44, 0x52):  // IHDR
                guard length == 13 else { throw .corrupt }
                let width = u32(body.lowerBound)
                let height = u32(body.lowerBound + 4)
                guard width > 0, height > 0 else { throw .corrupt }
                structure = ImageStructure(format: .png, width: width, height: height)
                layout = PNGLayout(
                    bitDepth: Int(bytes[body.lowerBound + 8]), colorType: Int(bytes[body.lowerBound + 9]),
                    interlaced: bytes[body.lowerBound + 12] != 0, dataChunks: [])
            case (0x65, 0x58, 0x49, 0x66):  // eXIf
                if structure?.exif == nil { structure?.exif = body }
            case (0x74, 0x49, 0x4D, 0x45):  // tIME
                if length == 7 {
                    let b = body.lowerBound
                    structure?.pngTime = [
                        Int(bytes[b]) << 8 | Int(bytes[b + 1]), Int(bytes[b + 2]), Int(bytes[b + 3]), Int(bytes[b + 4]),
                        Int(bytes[b + 5]), Int(bytes[b + 6]),
                    ]
                }
            case (0x50, 0x4C, 0x54, 0x45):  // PLTE
                layout?.palette = body
            case (0x49, 0x44, 0x41, 0x54):  // IDAT
                // Encoders write a few hundred; a cap keeps the list far below the file's own size.
                guard (layout?.dataChunks.count ?? 0) < maxDataChunks else { throw .corrupt }
                layout?.dataChunks.append(body)
            case (0x49, 0x45, 0x4E, 0x44):  // IEND
                guard var structure, let layout, !layout.dataChunks.isEmpty else { throw .corrupt }
                structure.png = layout
                return structure
            default: break
            }
        }
    }
}
