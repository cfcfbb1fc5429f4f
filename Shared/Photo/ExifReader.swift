import Contracts
import Foundation

/// What an EXIF block says about a photo, before interpretation into ``CaptureMetadata``.
package struct ExifData: Sendable, Equatable {
    /// `Make` (IFD0 0x010F).
    package var make: String?
    /// `Model` (IFD0 0x0110).
    package var model: String?
    /// `Software` (IFD0 0x0131).
    package var software: String?
    /// `DateTime` (IFD0 0x0132), `YYYY:MM:DD HH:MM:SS`.
    package var dateTime: String?
    /// `DateTimeOriginal` (Exif 0x9003).
    package var dateTimeOriginal: String?
    /// `OffsetTime` (Exif 0x9010), e.g. `+07:00`.
    package var offsetTime: String?
    /// `OffsetTimeOriginal` (Exif 0x9011).
    package var offsetTimeOriginal: String?
    /// `PixelXDimension` (Exif 0xA002).
    package var pixelWidth: Int?
    /// `PixelYDimension` (Exif 0xA003).
    package var pixelHeight: Int?
    /// `GPSLatitudeRef` `N`/`S`.
    package var latitudeRef: String?
    /// `GPSLatitude` degrees, minutes, seconds.
    package var latitude: [Double]?
    /// `GPSLongitudeRef` `E`/`W`.
    package var longitudeRef: String?
    /// `GPSLongitude` degrees, minutes, seconds.
    package var longitude: [Double]?
    /// `GPSAltitudeRef`: 0 above sea level, 1 below.
    package var altitudeRef: Int?
    /// `GPSAltitude` in metres.
    package var altitude: Double?
    /// `GPSTimeStamp` hours, minutes, seconds (UTC).
    package var gpsTime: [Double]?
    /// `GPSDateStamp` `YYYY:MM:DD`.
    package var gpsDate: String?
    /// The byte range of the thumbnail (IFD1 `JPEGInterchangeFormat`/`Length`) within the TIFF block, when it
    /// lies inside it.
    package var thumbnail: Range<Int>?
    /// The byte range of the MakerNote (Exif 0x927C) within the TIFF block; its vendor format is never parsed.
    package var makerNote: Range<Int>?
    /// Whether the TIFF block is big-endian (`MM`).
    package var bigEndian = false
    /// Sub-IFDs (Exif, GPS, Interop, thumbnail) skipped because they lie outside the block or claim absurd counts.
    package var skippedIFDs = 0

    /// Creates empty data.
    package init() {}
}

/// A structural fault of an EXIF block: the photo is refused rather than trusted with half-read metadata.
package enum ExifError: Error, Sendable, Equatable {
    /// No `II*\0` / `MM\0*` TIFF header.
    case badHeader
    /// An IFD (or a value it points to) lies outside the block.
    case outOfBounds
    /// An IFD offset was visited before, or two IFDs overlap: a looping chain.
    case loop
    /// An IFD claims more entries than any real camera writes, or the chain is too long.
    case tooManyEntries
}

/// Reads the TIFF structure of an EXIF block (the bytes after `Exif\0\0` in APP1, or a PNG `eXIf` chunk).
///
/// Refused (thrown): a bad header, IFD0 outside the block or with absurd counts, and any loop. A sub-IFD (Exif,
/// GPS, Interop, thumbnail) outside the block is skipped and counted in ``ExifData/skippedIFDs``: its facts are
/// missing, exactly as if the photo had been stripped of them, which verification already treats as suspect.
///
/// Survives any bytes: every offset and count is checked against the block before use (with arithmetic that
/// cannot overflow), an IFD offset seen twice or two overlapping IFDs throw ``ExifError/loop``, at most
/// ``maxIFDs`` IFDs and ``maxEntriesPerIFD`` entries are read, and nothing is allocated in proportion to a count
/// read from the file: strings are cut at ``maxStringBytes`` and rationals are read only in the small fixed
/// numbers the tags define. So the work is bounded by the IFD limits and the memory by the strings kept.
/// MakerNotes are located but never parsed (their formats are vendor-specific and often broken); the thumbnail
/// IFD is walked for its range only.
package enum ExifReader {
    /// IFDs read at most (IFD0, Exif, GPS, Interop, IFD1, and a few chained).
    package static let maxIFDs = 8
    /// Entries per IFD at most; real cameras write well under 100.
    package static let maxEntriesPerIFD = 512
    /// Longest string kept.
    package static let maxStringBytes = 256

    /// Reads `tiff`, the TIFF block.
    package static func read(_ tiff: UnsafeRawBufferPointer) throws(ExifError) -> ExifData {
        var walker = Walker(bytes: tiff)
        return try walker.run()
    }

    /// Reads `tiff` from an array.
    package static func read(_ tiff: [UInt8]) throws(ExifError) -> ExifData {
        do {
            return try tiff.withUnsafeBytes { buffer in try read(buffer) }
        } catch let error as ExifError {
            throw error
        } catch {
            throw .badHeader  // unreachable: read(_:) throws only ExifError
        }
    }

    private enum IFDKind { case ifd0, exif, gps, interop, thumbnail }

    private struct Walker {
        let bytes: UnsafeRawBufferPointer
        var bigEndian = false
        var data = ExifData()
        /// Byte ranges of IFDs read so far (for loop and overlap detection); at most `maxIFDs`.
        var visited: [Range<Int>] = []

        init(bytes: UnsafeRawBufferPointer) {
            self.bytes = bytes
            visited.reserveCapacity(ExifReader.maxIFDs)
        }

        mutating func run() throws(ExifError) -> ExifData {
            guard bytes.count >= 8 else { throw .badHeader }
            switch (bytes[0], bytes[1]) {
            case (0x49, 0x49): bigEndian = false
            case (0x4D, 0x4D): bigEndian = true
            default: throw .badHeader
            }
            guard u16(2) == 42 else { throw .badHeader }
            data.bigEndian = bigEndian
            var next = Int(u32(4))
            // IFD0, then its chain (IFD1 = thumbnail, then anything a writer chained after it).
            var kind = IFDKind.ifd0
            while next != 0 {
                do {
                    next = try readIFD(at: next, kind: kind)
                } catch .loop {
                    throw .loop
                } catch  where kind != .ifd0 {
                    // A broken thumbnail chain (editors often cut thumbnails) costs only the thumbnail.
                    data.skippedIFDs += 1
                    next = 0
                }
                kind = .thumbnail
            }
            return data
        }

        /// Reads the IFD at `offset`; returns the offset of the next IFD in its chain (0 for none).
        mutating func readIFD(at offset: Int, kind: IFDKind) throws(ExifError) -> Int {
            guard visited.count < ExifReader.maxIFDs else { throw .tooManyEntries }
            guard offset >= 8, offset <= bytes.count - 2 else { throw .outOfBounds }
            // An offset into an IFD already read (itself or inside it) is a loop, whatever its bytes say next.
            for seen in visited where seen.contains(offset) { throw .loop }
            let count = Int(u16(offset))
            guard count <= ExifReader.maxEntriesPerIFD else { throw .tooManyEntries }
            let end = offset + 2 + count * 12 + 4
            // A last IFD may omit its next-IFD pointer: accept an IFD ending exactly at the block's end minus 4.
            guard end - 4 <= bytes.count else { throw .outOfBounds }
            let range = offset..<end
            for seen in visited where seen.overlaps(range) { throw .loop }
            visited.append(range)

            var children: [(Int, IFDKind)] = []
            for index in 0..<count {
                let entry = offset + 2 + index * 12
                let tag = u16(entry)
                let type = u16(entry + 2)
                let valueCount = Int(u32(entry + 4))
                switch (kind, tag) {
                case (.ifd0, 0x8769): children.append((Int(u32(entry + 8)), .exif))
                case (.ifd0, 0x8825): children.append((Int(u32(entry + 8)), .gps))
                case (.exif, 0xA005): children.append((Int(u32(entry + 8)), .interop))
                case (.ifd0, 0x010F): data.make = string(entry, type, valueCount)
                case (.ifd0, 0x0110): data.model = string(entry, type, valueCount)
                case (.ifd0, 0x0131): data.software = string(entry, type, valueCount)
                case (.ifd0, 0x0132): data.dateTime = string(entry, type, valueCount)
                case (.exif, 0x9003): data.dateTimeOriginal = string(entry, type, valueCount)
                case (.exif, 0x9010): data.offsetTime = string(entry, type, valueCount)
                case (.exif, 0x9011): data.offsetTimeOriginal = string(entry, type, valueCount)
                case (.exif, 0xA002): data.pixelWidth = integer(entry, type, valueCount)
                case (.exif, 0xA003): data.pixelHeight = integer(entry, type, valueCount)
                case (.exif, 0x927C):
                    if let range = valueRange(entry, type, valueCount) { data.makerNote = range }
                case (.gps, 0x0001): data.latitudeRef = string(entry, type, valueCount)
                case (.gps, 0x0002): data.latitude = rationals(entry, type, valueCount, expected: 3)
                case (.gps, 0x0003): data.longitudeRef = string(entry, type, valueCount)
                case (.gps, 0x0004): data.longitude = rationals(entry, type, valueCount, expected: 3)
                case (.gps, 0x0005): data.altitudeRef = integer(entry, type, valueCount)
                case (.gps, 0x0006): data.altitude = rationals(entry, type, valueCount, expected: 1)?.first
                case (.gps, 0x0007): data.gpsTime = rationals(entry, type, valueCount, expected: 3)
                case (.gps, 0x001D): data.gpsDate = string(entry, type, valueCount)
                case (.thumbnail, 0x0201):
                    if let start = integer(entry, type, valueCount) { data.thumbnail = start..<start }
                case (.thumbnail, 0x0202):
                    if let length = integer(entry, type, valueCount), let start = data.thumbnail?.lowerBound,
                        length <= bytes.count, start <= bytes.count - length
                    {
                        data.thumbnail = start..<(start + length)
                    }
                default: break
                }
            }
            if let thumbnail = data.thumbnail, thumbnail.isEmpty { data.thumbnail = nil }
            for (child, childKind) in children {
                do {
                    _ = try readIFD(at: child, kind: childKind)
                } catch .loop {
                    throw .loop
                } catch {
                    // A sub-IFD pointing outside the block is skipped: its facts are missing, as if stripped.
                    data.skippedIFDs += 1
                }
            }
            // Sub-IFDs (Exif, GPS, Interop) have no meaningful chain; only IFD0 and IFD1 chain on.
            guard kind == .ifd0 || kind == .thumbnail, end <= bytes.count else { return 0 }
            return Int(u32(end - 4))
        }

        // MARK: - Values

        /// Size of one value of TIFF `type` (0 for unknown types).
        func typeSize(_ type: UInt16) -> Int {
            switch type {
            case 1, 2, 6, 7: 1
            case 3, 8: 2
            case 4, 9, 11: 4
            case 5, 10, 12: 8
            default: 0
            }
        }

        /// Where the value of the entry at `entry` lies: inline (≤ 4 bytes) or at its offset; `nil` when it does
        /// not fit in the block.
        func valueRange(_ entry: Int, _ type: UInt16, _ count: Int) -> Range<Int>? {
            let size = typeSize(type)
            guard size > 0, count >= 0, count <= bytes.count / size else { return nil }
            let length = size * count
            if length <= 4 { return (entry + 8)..<(entry + 8 + length) }
            let start = Int(u32(entry + 8))
            guard start <= bytes.count - length else { return nil }
            return start..<(start + length)
        }

        /// An ASCII (or UNDEFINED) value, cut at its first NUL and at `maxStringBytes`, trimmed; `nil` if empty.
        func string(_ entry: Int, _ type: UInt16, _ count: Int) -> String? {
            guard type == 2 || type == 7, let range = valueRange(entry, type, count) else { return nil }
            var end = range.lowerBound
            let limit = min(range.upperBound, range.lowerBound + ExifReader.maxStringBytes)
            while end < limit, bytes[end] != 0 { end += 1 }
            guard end > range.lowerBound else { return nil }
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[range.lowerBound..<end]), as: UTF8.self)
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines.union(.controlCharacters))
            return trimmed.isEmpty ? nil : trimmed
        }

        /// The first value of a BYTE, SHORT or LONG entry.
        func integer(_ entry: Int, _ type: UInt16, _ count: Int) -> Int? {
            guard count >= 1, let range = valueRange(entry, type, count) else { return nil }
            switch type {
            case 1: return Int(bytes[range.lowerBound])
            case 3: return Int(u16(range.lowerBound))
            case 4: return Int(u32(range.lowerBound))
            default: return nil
            }
        }

        /// `expected` RATIONAL (or SRATIONAL) values; `nil` when the entry has fewer or a zero denominator.
        func rationals(_ entry: Int, _ type: UInt16, _ count: Int, expected: Int) -> [Double]? {
            guard type == 5 || type == 10, count >= expected, let range = valueRange(entry, type, count) else {
                return nil
            }
            var values: [Double] = []
            values.reserveCapacity(expected)
            for index in 0..<expected {
                let at = range.lowerBound + index * 8
                let numerator = u32(at)
                let denominator = u32(at + 4)
                guard denominator != 0 else { return nil }
                if type == 10 {
                    values.append(Double(Int32(bitPattern: numerator)) / Double(Int32(bitPattern: denominator)))
                } else {
                    values.append(Double(numerator) / Double(denominator))
                }
            }
            return values
        }

        // MARK: - Integers (callers have checked the bounds)

        func u16(_ at: Int) -> UInt16 {
            let a = UInt16(bytes[at])
            let b = UInt16(bytes[at + 1])
            return bigEndian ? a << 8 | b : b << 8 | a
        }

        func u32(_ at: Int) -> UInt32 {
            let a = UInt32(bytes[at])
            let b = UInt32(bytes[at + 1])
            let c = UInt32(bytes[at + 2])
            let d = UInt32(bytes[at + 3])
            return bigEndian ? a << 24 | b << 16 | c << 8 | d : d << 24 | c << 16 | b << 8 | a
        }
    }
}

extension ExifData {
    /// The capture facts for `submission.received`: times parsed (with their offset, else Asia/Jakarta), GPS in
    /// signed decimal degrees (when within range), altitude signed; `nil` when nothing useful is present.
    package var captureMetadata: CaptureMetadata? {
        var capture = CaptureMetadata()
        if let original = dateTimeOriginal, let date = ExifDate.parse(original, offset: offsetTimeOriginal) {
            capture.capturedAt = date.date
            capture.capturedAtOffset = date.offset
        } else if let plain = dateTime, let date = ExifDate.parse(plain, offset: offsetTime) {
            capture.capturedAt = date.date
            capture.capturedAtOffset = date.offset
        }
        if let latitude = degrees(latitude, ref: latitudeRef, negative: "S", limit: 90),
            let longitude = degrees(longitude, ref: longitudeRef, negative: "W", limit: 180)
        {
            capture.latitude = latitude
            capture.longitude = longitude
        }
        if let altitude, altitude.isFinite, abs(altitude) < 100_000 {
            capture.altitude = altitudeRef == 1 ? -altitude : altitude
        }
        if let gpsDate, let gpsTime { capture.gpsTimestamp = ExifDate.parseGPS(date: gpsDate, time: gpsTime) }
        capture.cameraMake = make
        capture.cameraModel = model
        capture.software = software
        return capture == CaptureMetadata() ? nil : capture
    }

    private func degrees(_ parts: [Double]?, ref: String?, negative: String, limit: Double) -> Double? {
        guard let parts, parts.count == 3, parts.allSatisfy({ $0.isFinite && $0 >= 0 }) else { return nil }
        let value = parts[0] + parts[1] / 60 + parts[2] / 3600
        guard value <= limit else { return nil }
        return ref?.uppercased().hasPrefix(negative) == true ? -value : value
    }
}

/// EXIF date strings.
package enum ExifDate {
    /// Asia/Jakarta (UTC+7, no daylight saving): assumed when a photo states no offset.
    package static let jakartaOffsetSeconds = 7 * 3600

    /// Parses `YYYY:MM:DD HH:MM:SS` with an optional `±HH:MM` offset (else Asia/Jakarta). Returns the offset as
    /// stated (normalised to `±HH:MM`), or `nil` when none was stated.
    package static func parse(_ text: String, offset: String?) -> (date: Date, offset: String?)? {
        let digits = Array(text.utf8)
        guard digits.count >= 19 else { return nil }
        func number(_ start: Int, _ length: Int) -> Int? {
            var value = 0
            for index in start..<(start + length) {
                let byte = digits[index]
                guard byte >= 0x30, byte <= 0x39 else { return nil }
                value = value * 10 + Int(byte - 0x30)
            }
            return value
        }
        guard let year = number(0, 4), let month = number(5, 2), let day = number(8, 2), let hour = number(11, 2),
            let minute = number(14, 2), let second = number(17, 2), (1900...2200).contains(year),
            (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
        else { return nil }
        var statedOffset: (seconds: Int, text: String)?
        if let offset { statedOffset = parseOffset(offset) }
        let daysInMonth = [
            31, year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31,
        ]
        guard day <= daysInMonth[month - 1] else { return nil }
        let seconds = daysFromCivil(year: year, month: month, day: day) * 86_400 + hour * 3600 + minute * 60 + second
        let date = Date(timeIntervalSince1970: Double(seconds - (statedOffset?.seconds ?? jakartaOffsetSeconds)))
        return (date, statedOffset?.text)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// `±HH:MM` → seconds east of UTC, within ±14 h.
    static func parseOffset(_ text: String) -> (seconds: Int, text: String)? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 6, bytes[0] == 0x2B || bytes[0] == 0x2D, bytes[3] == 0x3A else { return nil }
        let digits = [bytes[1], bytes[2], bytes[4], bytes[5]]
        guard digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        let hours = Int(digits[0] - 0x30) * 10 + Int(digits[1] - 0x30)
        let minutes = Int(digits[2] - 0x30) * 10 + Int(digits[3] - 0x30)
        guard hours <= 14, minutes < 60 else { return nil }
        let seconds = (hours * 3600 + minutes * 60) * (bytes[0] == 0x2D ? -1 : 1)
        return (seconds, String(decoding: bytes[0..<6], as: UTF8.self))
    }

    /// `GPSDateStamp` `YYYY:MM:DD` with `GPSTimeStamp` hours, minutes, seconds, always UTC.
    package static func parseGPS(date: String, time: [Double]) -> Date? {
        guard time.count == 3, time.allSatisfy({ $0.isFinite && $0 >= 0 }), time[0] < 24, time[1] < 60,
            time[2] < 61
        else { return nil }
        let whole = Int(time[2])
        let stamp = String(format: "%02d:%02d:%02d", Int(time[0]), Int(time[1]), whole)
        guard let parsed = parse(date.prefix(10) + " " + stamp, offset: "+00:00") else { return nil }
        return parsed.date.addingTimeInterval(time[2] - Double(whole))
    }
}
