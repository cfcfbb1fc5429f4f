/// Recognises evidence photos by their bytes, never by file name or client-sent type (DESIGN §4 Submission).
///
/// Accepts JPEG (`FF D8 FF`, a valid first marker, and either a walk of its segments reaching start-of-scan or
/// an `FF D9` end marker) and PNG (8-byte signature followed by an `IHDR` chunk of length 13 with a non-zero
/// size). Everything else — GIF, PDF, text renamed to `.jpg`, truncated headers — is `nil`.
package enum ImageSniffer {
    /// The accepted image kinds.
    package enum MediaType: String, Sendable, Equatable {
        /// `image/jpeg`.
        case jpeg = "image/jpeg"
        /// `image/png`.
        case png = "image/png"

        /// The usual file extension, for stored names.
        package var fileExtension: String {
            switch self {
            case .jpeg: "jpg"
            case .png: "png"
            }
        }
    }

    /// The image kind of `bytes`, or `nil` when they are not a plausible JPEG or PNG.
    package static func mediaType(of bytes: some Collection<UInt8>) -> MediaType? {
        let bytes = Array(bytes)
        if isJPEG(bytes) { return .jpeg }
        if isPNG(bytes) { return .png }
        return nil
    }

    /// The PNG file signature.
    private static let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// PNG: signature, then the first chunk is `IHDR` with length 13 and non-zero width and height.
    private static func isPNG(_ bytes: [UInt8]) -> Bool {
        guard bytes.count >= 8 + 8 + 13, Array(bytes[0..<8]) == pngSignature else { return false }
        let length = bytes[8..<12].reduce(0) { $0 << 8 | Int($1) }
        guard length == 13, Array(bytes[12..<16]) == Array("IHDR".utf8) else { return false }
        let width = bytes[16..<20].reduce(0) { $0 << 8 | Int($1) }
        let height = bytes[20..<24].reduce(0) { $0 << 8 | Int($1) }
        return width > 0 && height > 0
    }

    /// JPEG: SOI, a valid first marker, and either the segments lead to SOS or the file ends with EOI.
    private static func isJPEG(_ bytes: [UInt8]) -> Bool {
        guard bytes.count >= 4, bytes[0] == 0xFF, bytes[1] == 0xD8, bytes[2] == 0xFF,
            isSegmentMarker(bytes[3])
        else { return false }
        return segmentsReachStartOfScan(bytes) || endsWithEOI(bytes)
    }

    /// Markers that may follow SOI: APPn, DQT, DHT, SOFn, DRI, COM, SOS.
    private static func isSegmentMarker(_ marker: UInt8) -> Bool {
        switch marker {
        case 0xE0...0xEF, 0xDB, 0xC4, 0xC0...0xC3, 0xC5...0xC7, 0xC9...0xCB, 0xCD...0xCF, 0xDD, 0xFE, 0xDA: true
        default: false
        }
    }

    /// Walks `FF xx LL LL …` segments from offset 2 until SOS (`FF DA`), within the file and a segment budget.
    private static func segmentsReachStartOfScan(_ bytes: [UInt8]) -> Bool {
        var index = 2
        var segments = 0
        while index + 4 <= bytes.count, segments < 64 {
            guard bytes[index] == 0xFF else { return false }
            var markerIndex = index + 1
            while markerIndex < bytes.count, bytes[markerIndex] == 0xFF { markerIndex += 1 }  // fill bytes
            guard markerIndex + 2 < bytes.count else { return false }
            let marker = bytes[markerIndex]
            guard isSegmentMarker(marker) else { return false }
            let length = Int(bytes[markerIndex + 1]) << 8 | Int(bytes[markerIndex + 2])
            guard length >= 2, markerIndex + 1 + length <= bytes.count else { return false }
            if marker == 0xDA { return true }
            index = markerIndex + 1 + length
            segments += 1
        }
        return false
    }

    /// Whether the last two bytes (ignoring trailing zero padding) are EOI `FF D9`.
    private static func endsWithEOI(_ bytes: [UInt8]) -> Bool {
        var end = bytes.count
        while end > 4, bytes[end - 1] == 0x00 { end -= 1 }
        return end >= 6 && bytes[end - 2] == 0xFF && bytes[end - 1] == 0xD9
    }
}
