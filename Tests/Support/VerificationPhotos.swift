import Foundation

/// JPEG fixtures for the verification tests: a small JPEG with or without an EXIF block holding a capture time
/// (`DateTimeOriginal` + `OffsetTimeOriginal`), camera make/model and GPS position — the facts intake reads from a
/// photo and carries in `submission.received`.
package enum VerificationPhotos {
    /// What the fixture's EXIF block says.
    package struct Exif: Sendable, Equatable {
        /// Local capture time as written (`YYYY:MM:DD HH:MM:SS`) with its offset, e.g. `+07:00`.
        package var capturedAt: Date
        package var offset: String
        package var latitude: Double?
        package var longitude: Double?
        package var make: String
        package var model: String

        package init(
            capturedAt: Date, offset: String = "+07:00", latitude: Double? = nil, longitude: Double? = nil,
            make: String = "Samsung", model: String = "Galaxy A14"
        ) {
            self.capturedAt = capturedAt
            self.offset = offset
            self.latitude = latitude
            self.longitude = longitude
            self.make = make
            self.model = model
        }
    }

    /// A JPEG (SOI, APP1 Exif when `exif` is given, a JFIF-like comment carrying `seed`, EOI).
    package static func jpeg(seed: UInt64, exif: Exif? = nil) -> [UInt8] {
        var bytes: [UInt8] = [0xFF, 0xD8]
        if let exif {
            let payload = Array("Exif".utf8) + [0, 0] + tiff(exif)
            bytes += [0xFF, 0xE1] + be16(UInt16(payload.count + 2)) + payload
        }
        let comment = Array("asnreward-verification-\(seed)".utf8)
        bytes += [0xFF, 0xFE] + be16(UInt16(comment.count + 2)) + comment
        bytes += [0xFF, 0xD9]
        return bytes
    }

    /// A big-endian TIFF structure: IFD0 (Make, Model, ExifIFD, GPS IFD), Exif IFD (DateTimeOriginal,
    /// OffsetTimeOriginal), GPS IFD (latitude/longitude with refs) when a position is given.
    private static func tiff(_ exif: Exif) -> [UInt8] {
        // Layout: header(8) | IFD0 | Exif IFD | GPS IFD | data area. Offsets are from the TIFF header.
        struct Entry {
            var tag: UInt16
            var type: UInt16
            var count: UInt32
            var data: [UInt8]
        }
        let ascii: UInt16 = 2
        let long: UInt16 = 4
        let rational: UInt16 = 5
        func text(_ string: String) -> [UInt8] { Array(string.utf8) + [0] }
        let hasGPS = exif.latitude != nil && exif.longitude != nil
        var ifd0: [Entry] = [
            Entry(tag: 0x010F, type: ascii, count: UInt32(text(exif.make).count), data: text(exif.make)),
            Entry(tag: 0x0110, type: ascii, count: UInt32(text(exif.model).count), data: text(exif.model)),
            Entry(tag: 0x8769, type: long, count: 1, data: [0, 0, 0, 0]),  // patched below
        ]
        if hasGPS { ifd0.append(Entry(tag: 0x8825, type: long, count: 1, data: [0, 0, 0, 0])) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy:MM:dd HH:mm:ss"
        formatter.timeZone = offsetZone(exif.offset)
        let local = formatter.string(from: exif.capturedAt)
        let exifIFD: [Entry] = [
            Entry(tag: 0x9003, type: ascii, count: 20, data: text(local)),
            Entry(tag: 0x9011, type: ascii, count: 7, data: text(exif.offset)),
        ]
        var gpsIFD: [Entry] = []
        if let latitude = exif.latitude, let longitude = exif.longitude {
            gpsIFD = [
                Entry(tag: 0x0001, type: ascii, count: 2, data: text(latitude < 0 ? "S" : "N")),
                Entry(tag: 0x0002, type: rational, count: 3, data: degrees(abs(latitude))),
                Entry(tag: 0x0003, type: ascii, count: 2, data: text(longitude < 0 ? "W" : "E")),
                Entry(tag: 0x0004, type: rational, count: 3, data: degrees(abs(longitude))),
            ]
        }
        func size(_ entries: [Entry]) -> Int { entries.isEmpty ? 0 : 2 + entries.count * 12 + 4 }
        let ifd0Offset = 8
        let exifOffset = ifd0Offset + size(ifd0)
        let gpsOffset = exifOffset + size(exifIFD)
        var dataOffset = gpsOffset + size(gpsIFD)
        ifd0[2].data = be32(UInt32(exifOffset))
        if hasGPS { ifd0[3].data = be32(UInt32(gpsOffset)) }
        var out: [UInt8] = Array("MM".utf8) + [0, 42] + be32(UInt32(ifd0Offset))
        var dataArea: [UInt8] = []
        func write(_ entries: [Entry]) {
            guard !entries.isEmpty else { return }
            out += be16(UInt16(entries.count))
            for entry in entries {
                out += be16(entry.tag) + be16(entry.type) + be32(entry.count)
                if entry.data.count <= 4 {
                    out += entry.data + [UInt8](repeating: 0, count: 4 - entry.data.count)
                } else {
                    out += be32(UInt32(dataOffset))
                    dataArea += entry.data
                    dataOffset += entry.data.count
                    if entry.data.count % 2 == 1 {
                        dataArea.append(0)
                        dataOffset += 1
                    }
                }
            }
            out += [0, 0, 0, 0]  // no next IFD
        }
        write(ifd0)
        write(exifIFD)
        write(gpsIFD)
        return out + dataArea
    }

    private static func degrees(_ value: Double) -> [UInt8] {
        let d = floor(value)
        let m = floor((value - d) * 60)
        let s = ((value - d) * 60 - m) * 60
        return be32(UInt32(d)) + be32(1) + be32(UInt32(m)) + be32(1) + be32(UInt32((s * 10_000).rounded()))
            + be32(10_000)
    }

    private static func offsetZone(_ offset: String) -> TimeZone {
        let sign = offset.hasPrefix("-") ? -1 : 1
        let parts = offset.dropFirst().split(separator: ":").compactMap { Int($0) }
        let seconds = sign * ((parts.first ?? 0) * 3600 + (parts.dropFirst().first ?? 0) * 60)
        return TimeZone(secondsFromGMT: seconds) ?? TimeZone(secondsFromGMT: 0)!
    }

    private static func be16(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }
    private static func be32(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }
}
