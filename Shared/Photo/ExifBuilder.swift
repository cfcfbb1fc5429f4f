import Foundation

/// Writes EXIF APP1 segments with known facts: used by tests (and the benchmark) to make photos whose EXIF the
/// reader must find, in either byte order, with a thumbnail IFD and a MakerNote like a phone writes.
package struct ExifBuilder: Sendable {
    /// `MM` when true, `II` when false.
    package var bigEndian = false
    package var make: String?
    package var model: String?
    package var software: String?
    /// `YYYY:MM:DD HH:MM:SS`.
    package var dateTime: String?
    package var dateTimeOriginal: String?
    /// `±HH:MM`.
    package var offsetTimeOriginal: String?
    package var pixelWidth: Int?
    package var pixelHeight: Int?
    /// Signed decimal degrees.
    package var latitude: Double?
    package var longitude: Double?
    /// Metres, negative below sea level.
    package var altitude: Double?
    /// `YYYY:MM:DD` and hours, minutes, seconds (UTC).
    package var gpsDate: String?
    package var gpsTime: (Int, Int, Int)?
    /// Opaque MakerNote bytes.
    package var makerNote: [UInt8]?
    /// Thumbnail JPEG bytes (IFD1).
    package var thumbnail: [UInt8]?
    /// Overrides IFD0's next-IFD pointer (tests: 8 points back at IFD0 itself, a loop).
    package var ifd0Next: UInt32?

    /// Creates an empty builder.
    package init() {}

    private struct Entry {
        var tag: UInt16
        var type: UInt16
        var count: Int
        var data: [UInt8]
    }

    private func u16(_ value: UInt16) -> [UInt8] {
        bigEndian ? [UInt8(value >> 8), UInt8(value & 0xFF)] : [UInt8(value & 0xFF), UInt8(value >> 8)]
    }

    private func u32(_ value: UInt32) -> [UInt8] {
        let big = [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
        return bigEndian ? big : big.reversed()
    }

    private func ascii(_ tag: UInt16, _ text: String) -> Entry {
        let bytes = Array(text.utf8) + [0]
        return Entry(tag: tag, type: 2, count: bytes.count, data: bytes)
    }

    private func rationals(_ tag: UInt16, _ values: [Double]) -> Entry {
        var data: [UInt8] = []
        for value in values {
            data += u32(UInt32(max(0, (value * 10_000).rounded()))) + u32(10_000)
        }
        return Entry(tag: tag, type: 5, count: values.count, data: data)
    }

    private func long(_ tag: UInt16, _ value: UInt32) -> Entry { Entry(tag: tag, type: 4, count: 1, data: u32(value)) }

    private static func ifdSize(_ entries: [Entry]) -> Int {
        2 + entries.count * 12 + 4 + entries.reduce(0) { $0 + ($1.data.count > 4 ? ($1.data.count + 1) & ~1 : 0) }
    }

    /// Appends an IFD at `out.count` (its values right after it); returns nothing, pointers are already final.
    private func write(_ entries: [Entry], next: UInt32, into out: inout [UInt8]) {
        let start = out.count
        var dataOffset = start + 2 + entries.count * 12 + 4
        var data: [UInt8] = []
        out += u16(UInt16(entries.count))
        for entry in entries.sorted(by: { $0.tag < $1.tag }) {
            out += u16(entry.tag) + u16(entry.type) + u32(UInt32(entry.count))
            if entry.data.count <= 4 {
                out += entry.data + [UInt8](repeating: 0, count: 4 - entry.data.count)
            } else {
                out += u32(UInt32(dataOffset))
                var padded = entry.data
                if padded.count % 2 == 1 { padded.append(0) }
                data += padded
                dataOffset += padded.count
            }
        }
        out += u32(next)
        out += data
    }

    private func degrees(_ value: Double) -> [Double] {
        let magnitude = abs(value)
        let whole = magnitude.rounded(.down)
        let minutes = ((magnitude - whole) * 60).rounded(.down)
        let seconds = (magnitude - whole - minutes / 60) * 3600
        return [whole, minutes, seconds]
    }

    /// The TIFF block (what follows `Exif\0\0`).
    package func tiff() -> [UInt8] {
        var exif: [Entry] = []
        if let dateTimeOriginal { exif.append(ascii(0x9003, dateTimeOriginal)) }
        if let offsetTimeOriginal { exif.append(ascii(0x9011, offsetTimeOriginal)) }
        if let pixelWidth { exif.append(long(0xA002, UInt32(pixelWidth))) }
        if let pixelHeight { exif.append(long(0xA003, UInt32(pixelHeight))) }
        if let makerNote { exif.append(Entry(tag: 0x927C, type: 7, count: makerNote.count, data: makerNote)) }

        var gps: [Entry] = []
        if let latitude, let longitude {
            gps.append(ascii(0x0001, latitude < 0 ? "S" : "N"))
            gps.append(rationals(0x0002, degrees(latitude)))
            gps.append(ascii(0x0003, longitude < 0 ? "W" : "E"))
            gps.append(rationals(0x0004, degrees(longitude)))
        }
        if let altitude {
            gps.append(Entry(tag: 0x0005, type: 1, count: 1, data: [altitude < 0 ? 1 : 0]))
            gps.append(rationals(0x0006, [abs(altitude)]))
        }
        if let gpsTime { gps.append(rationals(0x0007, [Double(gpsTime.0), Double(gpsTime.1), Double(gpsTime.2)])) }
        if let gpsDate { gps.append(ascii(0x001D, gpsDate)) }

        var ifd0: [Entry] = []
        if let make { ifd0.append(ascii(0x010F, make)) }
        if let model { ifd0.append(ascii(0x0110, model)) }
        if let software { ifd0.append(ascii(0x0131, software)) }
        if let dateTime { ifd0.append(ascii(0x0132, dateTime)) }
        // Pointers are placeholders of the right size while offsets are computed.
        if !exif.isEmpty { ifd0.append(long(0x8769, 0)) }
        if !gps.isEmpty { ifd0.append(long(0x8825, 0)) }

        var ifd1: [Entry] = []
        if thumbnail != nil {
            ifd1 = [long(0x0103, 6), long(0x0201, 0), long(0x0202, UInt32(thumbnail!.count))]
        }

        let ifd0Offset = 8
        let exifOffset = ifd0Offset + Self.ifdSize(ifd0)
        let gpsOffset = exifOffset + (exif.isEmpty ? 0 : Self.ifdSize(exif))
        let ifd1Offset = gpsOffset + (gps.isEmpty ? 0 : Self.ifdSize(gps))
        let thumbnailOffset = ifd1Offset + (ifd1.isEmpty ? 0 : Self.ifdSize(ifd1))
        for index in ifd0.indices {
            if ifd0[index].tag == 0x8769 { ifd0[index].data = u32(UInt32(exifOffset)) }
            if ifd0[index].tag == 0x8825 { ifd0[index].data = u32(UInt32(gpsOffset)) }
        }
        for index in ifd1.indices where ifd1[index].tag == 0x0201 { ifd1[index].data = u32(UInt32(thumbnailOffset)) }

        var out: [UInt8] = bigEndian ? [0x4D, 0x4D] : [0x49, 0x49]
        out += u16(42) + u32(UInt32(ifd0Offset))
        write(ifd0, next: ifd0Next ?? (ifd1.isEmpty ? 0 : UInt32(ifd1Offset)), into: &out)
        if !exif.isEmpty { write(exif, next: 0, into: &out) }
        if !gps.isEmpty { write(gps, next: 0, into: &out) }
        if !ifd1.isEmpty { write(ifd1, next: 0, into: &out) }
        if let thumbnail { out += thumbnail }
        return out
    }

    /// The APP1 segment: `FF E1`, length, `Exif\0\0`, the TIFF block.
    package func app1() -> [UInt8] {
        let payload = Array("Exif".utf8) + [0, 0] + tiff()
        let length = payload.count + 2
        return [0xFF, 0xE1, UInt8(length >> 8), UInt8(length & 0xFF)] + payload
    }

    /// `jpeg` with `segment` inserted right after SOI (where cameras put EXIF), replacing a JFIF APP0 if present.
    package static func splice(_ segment: [UInt8], into jpeg: [UInt8]) -> [UInt8] {
        guard jpeg.count > 4, jpeg[0] == 0xFF, jpeg[1] == 0xD8 else { return jpeg }
        var rest = jpeg[2...]
        if rest.count > 4, rest[rest.startIndex] == 0xFF, rest[rest.startIndex + 1] == 0xE0 {
            let length = Int(rest[rest.startIndex + 2]) << 8 | Int(rest[rest.startIndex + 3])
            rest = rest.dropFirst(2 + length)
        }
        return [0xFF, 0xD8] + segment + rest
    }
}
