import Contracts
import Foundation

/// What a phone camera writes into a photo's EXIF: the facts intake extracts and verification checks.
struct PhotoMetadata: Sendable {
    /// Local capture time (EXIF `DateTimeOriginal` has no zone; `OffsetTimeOriginal` carries it).
    var capturedAt: Date
    /// UTC offset of the capture time in seconds (Asia/Jakarta: +7 h).
    var utcOffsetSeconds: Int = 7 * 3600
    /// Where the photo was taken, decimal degrees (negative latitude = south).
    var latitude: Double
    /// Decimal degrees (negative = west).
    var longitude: Double
    /// Camera maker (`Make`).
    var make: String
    /// Camera model (`Model`).
    var model: String
}

/// Receives the bytes of a photo as they are produced, so a request body can be written without an extra copy.
protocol ByteSink {
    /// Appends `bytes`.
    mutating func append(bytes: [UInt8])
}

extension Array: ByteSink where Element == UInt8 {
    /// Appends `bytes`.
    mutating func append(bytes: [UInt8]) { append(contentsOf: bytes) }
}

/// A generator of valid baseline JPEG photos (≈100 KB, 1024×768, 8-bit grayscale) with real EXIF, each one different.
///
/// The expensive part — Huffman-coded DCT blocks — is made once: the image is split into restart intervals of one
/// MCU row each (`DRI`), and every row is encoded in a few variants with different brightness and texture. A photo
/// picks one variant per row (4⁹⁶ combinations, so its perceptual hash differs too), and gets its own EXIF
/// (`DateTimeOriginal`, GPS, `Make`/`Model`) and a `COM` segment with a unique text, so every photo has its own
/// SHA-256. Producing a photo is a copy of ≈100 KB, cheap enough for a load generator.
///
/// The coefficients are drawn at random rather than computed by a DCT: the file is a correct baseline JPEG
/// (standard Huffman tables of ITU-T T.81 Annex K), decoders show it as textured bands.
struct SyntheticJPEG: Sendable {
    /// Image size in pixels.
    static let width = 1024
    /// Image height in pixels (96 MCU rows of 8).
    static let height = 768
    /// Encoded variants per MCU row.
    static let variantsPerRow = 4

    private let header: [UInt8]  // DQT, SOF0, DHT, DRI, SOS
    private let rows: [[[UInt8]]]  // [row][variant] entropy-coded bytes, each followed by its RST marker but the last

    /// Encodes the row variants (deterministic for a given `seed`; takes a few milliseconds).
    init(seed: UInt64 = 0x5EED_2026) {
        var random = SplitMix64(seed: seed)
        header = Self.tables()
        let mcusPerRow = Self.width / 8
        let rowCount = Self.height / 8
        let dc = HuffmanCode(bits: Self.dcBits, values: Self.dcValues)
        let ac = HuffmanCode(bits: Self.acBits, values: Self.acValues)
        var rows: [[[UInt8]]] = []
        for row in 0..<rowCount {
            var variants: [[UInt8]] = []
            for _ in 0..<Self.variantsPerRow {
                // Each variant has its own brightness (DC level, in units of the DC quantiser) and detail.
                let level = Int(random.next() % 81) - 40
                let detail = 6 + Int(random.next() % 5)
                var writer = BitWriter()
                var previousDC = 0  // the predictor restarts at every restart interval
                for _ in 0..<mcusPerRow {
                    let value = level + Int(random.next() % 7) - 3
                    writer.encode(value: value - previousDC, symbolFor: { $0 }, code: dc)
                    previousDC = value
                    var position = 1
                    for _ in 0..<detail {
                        let run = Int(random.next() % 3)
                        guard position + run <= 62 else { break }
                        position += run
                        let magnitude = 1 + Int(random.next() % 6)
                        let coefficient = random.next() & 1 == 0 ? magnitude : -magnitude
                        writer.encode(value: coefficient, symbolFor: { (run << 4) | $0 }, code: ac)
                        position += 1
                    }
                    writer.write(code: ac, symbol: 0x00)  // EOB
                }
                var bytes = writer.finish()
                if row < rowCount - 1 { bytes += [0xFF, UInt8(0xD0 + row % 8)] }
                variants.append(bytes)
            }
            rows.append(variants)
        }
        self.rows = rows
    }

    /// Writes one photo: `SOI`, `APP1` Exif (unless `exif` is false: a photo without capture data), `COM` with
    /// `comment`, the tables, the rows chosen by `variant` (the pixels: the same variant is the same picture), `EOI`.
    func write(
        metadata: PhotoMetadata, comment: String, variant: UInt64, exif: Bool = true, into sink: inout some ByteSink
    ) {
        sink.append(bytes: [0xFF, 0xD8])
        if exif {
            let tiff = ExifWriter.tiff(metadata, width: Self.width, height: Self.height)
            sink.append(bytes: Self.segment(0xE1, Array("Exif".utf8) + [0, 0] + tiff))
        }
        sink.append(bytes: Self.segment(0xFE, Array(comment.utf8.prefix(60_000))))
        sink.append(bytes: header)
        var choice = SplitMix64(seed: variant)
        for variants in rows {
            sink.append(bytes: variants[Int(choice.next() % UInt64(variants.count))])
        }
        sink.append(bytes: [0xFF, 0xD9])
    }

    /// One photo as bytes (for files and tests; the load generator writes into its request buffer instead).
    func photo(metadata: PhotoMetadata, comment: String, variant: UInt64) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(110_000)
        write(metadata: metadata, comment: comment, variant: variant, into: &bytes)
        return bytes
    }

    // MARK: Tables

    private static func segment(_ marker: UInt8, _ payload: [UInt8]) -> [UInt8] {
        let length = payload.count + 2
        return [0xFF, marker, UInt8(length >> 8), UInt8(length & 0xFF)] + payload
    }

    private static func tables() -> [UInt8] {
        var bytes: [UInt8] = []
        // DQT: table 0, 8-bit, the Annex K luminance table (the order is immaterial for random coefficients).
        bytes += segment(0xDB, [0x00] + luminanceQuantiser)
        // SOF0: 8-bit precision, height, width, one component (id 1, no subsampling, quantiser 0).
        bytes += segment(
            0xC0,
            [8, UInt8(height >> 8), UInt8(height & 0xFF), UInt8(width >> 8), UInt8(width & 0xFF), 1, 1, 0x11, 0])
        // DHT: DC table 0 and AC table 0.
        bytes += segment(0xC4, [0x00] + dcBits + dcValues + [0x10] + acBits + acValues)
        // DRI: one restart interval per MCU row.
        let interval = width / 8
        bytes += segment(0xDD, [UInt8(interval >> 8), UInt8(interval & 0xFF)])
        // SOS: one component with tables 0/0, spectral selection 0…63, no approximation.
        bytes += segment(0xDA, [1, 1, 0x00, 0, 63, 0])
        return bytes
    }

    private static let luminanceQuantiser: [UInt8] = [
        16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
        14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
        49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
    ]
    private static let dcBits: [UInt8] = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]
    private static let dcValues: [UInt8] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    private static let acBits: [UInt8] = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7D]
    private static let acValues: [UInt8] = [
        0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
        0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xA1, 0x08, 0x23, 0x42, 0xB1, 0xC1, 0x15, 0x52, 0xD1, 0xF0,
        0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0A, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x25, 0x26, 0x27, 0x28,
        0x29, 0x2A, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
        0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
        0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
        0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7,
        0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3, 0xC4, 0xC5,
        0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xE1, 0xE2,
        0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8, 0xE9, 0xEA, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8,
        0xF9, 0xFA,
    ]
}

/// A canonical Huffman code built from a `DHT` table's code-length counts and symbols (T.81 Annex C).
private struct HuffmanCode {
    var codes = [UInt16](repeating: 0, count: 256)
    var lengths = [UInt8](repeating: 0, count: 256)

    init(bits: [UInt8], values: [UInt8]) {
        var code: UInt16 = 0
        var index = 0
        for length in 1...16 {
            for _ in 0..<Int(bits[length - 1]) {
                codes[Int(values[index])] = code
                lengths[Int(values[index])] = UInt8(length)
                code += 1
                index += 1
            }
            code <<= 1
        }
    }
}

/// Packs Huffman codes and magnitude bits MSB first, stuffing a zero byte after every `0xFF`.
private struct BitWriter {
    private var bytes: [UInt8] = []
    private var accumulator: UInt32 = 0
    private var count = 0

    mutating func write(bits: UInt32, length: Int) {
        guard length > 0 else { return }
        accumulator = (accumulator << UInt32(length)) | (bits & ((1 << UInt32(length)) - 1))
        count += length
        while count >= 8 {
            let byte = UInt8(truncatingIfNeeded: accumulator >> UInt32(count - 8))
            bytes.append(byte)
            if byte == 0xFF { bytes.append(0x00) }
            count -= 8
        }
        accumulator &= (1 << UInt32(count)) &- 1
    }

    mutating func write(code: HuffmanCode, symbol: Int) {
        let length = Int(code.lengths[symbol])
        precondition(length > 0, "symbol \(symbol) has no Huffman code")
        write(bits: UInt32(code.codes[symbol]), length: length)
    }

    /// Writes `value` as its size category (the symbol, combined by `symbolFor`) and its magnitude bits.
    mutating func encode(value: Int, symbolFor: (Int) -> Int, code: HuffmanCode) {
        let magnitude = abs(value)
        let size = magnitude == 0 ? 0 : Int.bitWidth - magnitude.leadingZeroBitCount
        write(code: code, symbol: symbolFor(size))
        let bits = value >= 0 ? value : value + (1 << size) - 1
        write(bits: UInt32(truncatingIfNeeded: bits), length: size)
    }

    /// The bytes, the last one padded with 1-bits.
    mutating func finish() -> [UInt8] {
        if count > 0 { write(bits: (1 << UInt32(8 - count)) - 1, length: 8 - count) }
        return bytes
    }
}

/// Writes the TIFF structure of an `APP1` Exif segment: IFD0 (`Make`, `Model`, `Orientation`, `DateTime`), the Exif
/// IFD (`DateTimeOriginal`, `DateTimeDigitized`, `OffsetTimeOriginal`, pixel size) and the GPS IFD, little-endian.
enum ExifWriter {
    private struct Entry {
        var tag: UInt16
        var type: UInt16  // 1 BYTE, 2 ASCII, 3 SHORT, 4 LONG, 5 RATIONAL, 7 UNDEFINED
        var count: UInt32
        var value: [UInt8]
    }

    /// The TIFF bytes (header and three IFDs) for `metadata`.
    static func tiff(_ metadata: PhotoMetadata, width: Int, height: Int) -> [UInt8] {
        let stamp = exifDate(metadata.capturedAt, offset: metadata.utcOffsetSeconds)
        let offset = offsetText(metadata.utcOffsetSeconds)
        // Tags in ascending order, as TIFF requires; the ones Exif 2.32 calls mandatory are all present.
        let exif = [
            Entry(tag: 0x9000, type: 7, count: 4, value: Array("0232".utf8)), ascii(0x9003, stamp),
            ascii(0x9004, stamp), ascii(0x9011, offset), Entry(tag: 0x9101, type: 7, count: 4, value: [1, 0, 0, 0]),
            Entry(tag: 0xA000, type: 7, count: 4, value: Array("0100".utf8)), short(0xA001, 1),
            long(0xA002, UInt32(width)), long(0xA003, UInt32(height)),
        ]
        let gps = [
            Entry(tag: 0x0000, type: 1, count: 4, value: [2, 3, 0, 0]),
            ascii(0x0001, metadata.latitude < 0 ? "S" : "N"),
            Entry(tag: 0x0002, type: 5, count: 3, value: degrees(abs(metadata.latitude))),
            ascii(0x0003, metadata.longitude < 0 ? "W" : "E"),
            Entry(tag: 0x0004, type: 5, count: 3, value: degrees(abs(metadata.longitude))),
        ]
        let dpi = Entry(tag: 0, type: 5, count: 1, value: le32(72) + le32(1))
        var ifd0 = [
            ascii(0x010F, metadata.make), ascii(0x0110, metadata.model), short(0x0112, 1),
            Entry(tag: 0x011A, type: dpi.type, count: 1, value: dpi.value),
            Entry(tag: 0x011B, type: dpi.type, count: 1, value: dpi.value), short(0x0128, 2), ascii(0x0132, stamp),
            short(0x0213, 1), long(0x8769, 0), long(0x8825, 0),
        ]
        // Offsets are from the start of the TIFF header; IFD0 starts at 8, then the Exif IFD, then the GPS IFD.
        let exifOffset = 8 + size(of: ifd0)
        let gpsOffset = exifOffset + size(of: exif)
        ifd0[ifd0.count - 2].value = le32(UInt32(exifOffset))
        ifd0[ifd0.count - 1].value = le32(UInt32(gpsOffset))
        var bytes: [UInt8] = [0x49, 0x49, 0x2A, 0x00] + le32(8)
        write(ifd0, at: 8, into: &bytes)
        write(exif, at: exifOffset, into: &bytes)
        write(gps, at: gpsOffset, into: &bytes)
        return bytes
    }

    private static func size(of entries: [Entry]) -> Int {
        2 + 12 * entries.count + 4 + entries.reduce(0) { $0 + ($1.value.count > 4 ? ($1.value.count + 1) & ~1 : 0) }
    }

    private static func write(_ entries: [Entry], at offset: Int, into bytes: inout [UInt8]) {
        precondition(bytes.count == offset)
        var overflow: [UInt8] = []
        var overflowOffset = offset + 2 + 12 * entries.count + 4
        bytes += le16(UInt16(entries.count))
        for entry in entries {
            bytes += le16(entry.tag) + le16(entry.type) + le32(entry.count)
            if entry.value.count <= 4 {
                bytes += entry.value + [UInt8](repeating: 0, count: 4 - entry.value.count)
            } else {
                bytes += le32(UInt32(overflowOffset))
                overflow += entry.value
                if entry.value.count % 2 == 1 { overflow.append(0) }
                overflowOffset = offset + 2 + 12 * entries.count + 4 + overflow.count
            }
        }
        bytes += le32(0)  // no next IFD
        bytes += overflow
    }

    private static func ascii(_ tag: UInt16, _ text: String) -> Entry {
        let value = Array(text.utf8) + [0]
        return Entry(tag: tag, type: 2, count: UInt32(value.count), value: value)
    }

    private static func short(_ tag: UInt16, _ value: UInt16) -> Entry {
        Entry(tag: tag, type: 3, count: 1, value: le16(value))
    }

    private static func long(_ tag: UInt16, _ value: UInt32) -> Entry {
        Entry(tag: tag, type: 4, count: 1, value: le32(value))
    }

    private static func degrees(_ value: Double) -> [UInt8] {
        let whole = floor(value)
        let minutes = floor((value - whole) * 60)
        let seconds = ((value - whole) * 60 - minutes) * 60
        return le32(UInt32(whole)) + le32(1) + le32(UInt32(minutes)) + le32(1) + le32(UInt32(seconds * 1000))
            + le32(1000)
    }

    /// `YYYY:MM:DD HH:MM:SS` in local time: the UTC RFC 3339 text of the shifted time, rearranged.
    private static func exifDate(_ date: Date, offset: Int) -> String {
        let text = RFC3339.format(date.addingTimeInterval(Double(offset))).utf8.prefix(19).map { byte -> UInt8 in
            byte == UInt8(ascii: "-") ? UInt8(ascii: ":") : byte == UInt8(ascii: "T") ? UInt8(ascii: " ") : byte
        }
        return String(decoding: text, as: UTF8.self)
    }

    private static func offsetText(_ offset: Int) -> String {
        (offset < 0 ? "-" : "+") + digits(abs(offset) / 3600, 2) + ":" + digits(abs(offset) / 60 % 60, 2)
    }

    private static func digits(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }

    private static func le16(_ value: UInt16) -> [UInt8] { [UInt8(value & 0xFF), UInt8(value >> 8)] }
    private static func le32(_ value: UInt32) -> [UInt8] {
        [UInt8(value & 0xFF), UInt8((value >> 8) & 0xFF), UInt8((value >> 16) & 0xFF), UInt8(value >> 24)]
    }
}

/// A small, fast, seedable pseudo-random generator (SplitMix64), so synthetic data is reproducible.
struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// A generator whose sequence is fixed by `seed`.
    init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
