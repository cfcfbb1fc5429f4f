import Foundation
import Photo

/// A small seeded generator (SplitMix64), so every generated photo and every fuzz case can be reproduced.
struct SeededRandom: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Photos made by the tests with TurboJPEG (`tjCompress2`), with EXIF segments the tests build.
enum PhotoSamples {
    /// RGB pixels of a generated "photo": a few random smooth waves per channel, random discs, and fine noise;
    /// `seed` decides everything.
    static func pixels(width: Int, height: Int, seed: UInt64, discs: Int = 6) -> [UInt8] {
        var random = SeededRandom(seed: seed)
        let waves = 4
        // Separable waves: value(x, y) = Σ amplitude · cos(fx·x + px) · cos(fy·y + py), tables per wave.
        var columns: [[Double]] = []
        var rows: [[Double]] = []
        var amplitudes: [[Double]] = []
        for _ in 0..<waves {
            let fx = Double.random(in: 0.5...4, using: &random) * 2 * .pi / Double(width)
            let fy = Double.random(in: 0.5...4, using: &random) * 2 * .pi / Double(height)
            let px = Double.random(in: 0...(2 * .pi), using: &random)
            let py = Double.random(in: 0...(2 * .pi), using: &random)
            columns.append((0..<width).map { cos(fx * Double($0) + px) })
            rows.append((0..<height).map { cos(fy * Double($0) + py) })
            amplitudes.append((0..<3).map { _ in Double.random(in: 20...60, using: &random) })
        }
        let base = (0..<3).map { _ in Double.random(in: 70...180, using: &random) }
        var shapes: [(x: Double, y: Double, r: Double, color: [Double])] = []
        for _ in 0..<discs {
            shapes.append(
                (
                    Double.random(in: 0...Double(width), using: &random),
                    Double.random(in: 0...Double(height), using: &random),
                    Double.random(in: 0.05...0.2, using: &random) * Double(width),
                    (0..<3).map { _ in Double.random(in: -70...70, using: &random) }
                ))
        }
        var out = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                var value = base
                for wave in 0..<waves {
                    let shade = columns[wave][x] * rows[wave][y]
                    value[0] += amplitudes[wave][0] * shade
                    value[1] += amplitudes[wave][1] * shade
                    value[2] += amplitudes[wave][2] * shade
                }
                for shape in shapes {
                    let dx = Double(x) - shape.x
                    let dy = Double(y) - shape.y
                    if dx * dx + dy * dy < shape.r * shape.r {
                        value[0] += shape.color[0]
                        value[1] += shape.color[1]
                        value[2] += shape.color[2]
                    }
                }
                let noise = Double(Int(random.next() % 9) - 4)
                let at = (y * width + x) * 3
                out[at] = UInt8(max(0, min(255, value[0] + noise)))
                out[at + 1] = UInt8(max(0, min(255, value[1] + noise)))
                out[at + 2] = UInt8(max(0, min(255, value[2] + noise)))
            }
        }
        return out
    }

    /// A generated JPEG.
    static func jpeg(width: Int = 320, height: Int = 240, seed: UInt64, quality: Int = 90, discs: Int = 6) -> [UInt8] {
        JPEGCodec.encode(
            rgb: pixels(width: width, height: height, seed: seed, discs: discs), width: width, height: height,
            quality: quality)!
    }

    /// The EXIF of a phone photo taken in Semarang: time with offset, GPS with altitude and fix time, make,
    /// model, software, a MakerNote and (optionally) a thumbnail.
    static func phoneExif(bigEndian: Bool = false, thumbnail: [UInt8]? = nil) -> ExifBuilder {
        var exif = ExifBuilder()
        exif.bigEndian = bigEndian
        exif.make = "samsung"
        exif.model = "SM-A145F"
        exif.software = "A145FXXU3CWK1"
        exif.dateTime = "2026:11:30 08:15:30"
        exif.dateTimeOriginal = "2026:11:30 08:15:30"
        exif.offsetTimeOriginal = "+07:00"
        exif.pixelWidth = 320
        exif.pixelHeight = 240
        exif.latitude = -6.9932
        exif.longitude = 110.4203
        exif.altitude = 12.5
        exif.gpsDate = "2026:11:30"
        exif.gpsTime = (1, 15, 28)
        // A MakerNote that itself looks like an IFD with wild offsets: never parsed.
        exif.makerNote = Array("SAMSUNG".utf8) + [0, 0xFF, 0xFF, 0x01, 0x00, 0xFF, 0xFF, 0xFF, 0xFF] + Array(0..<40)
        exif.thumbnail = thumbnail
        return exif
    }

    /// A generated JPEG carrying `exif`.
    static func jpeg(seed: UInt64, exif: ExifBuilder, width: Int = 320, height: Int = 240) -> [UInt8] {
        ExifBuilder.splice(exif.app1(), into: jpeg(width: width, height: height, seed: seed))
    }

    /// `png` with an `eXIf` chunk holding `tiff` inserted after IHDR (CRC not checked by the reader; written as 0).
    static func png(_ png: [UInt8], exif tiff: [UInt8]) -> [UInt8] {
        let headerEnd = 8 + 8 + 13 + 4
        let length = UInt32(tiff.count)
        let chunk =
            [UInt8(length >> 24), UInt8((length >> 16) & 0xFF), UInt8((length >> 8) & 0xFF), UInt8(length & 0xFF)]
            + Array("eXIf".utf8) + tiff + [0, 0, 0, 0]
        return Array(png[..<headerEnd]) + chunk + Array(png[headerEnd...])
    }

    /// A JPEG whose frame header claims `width` × `height` (the rest from a real small JPEG).
    static func claimingSize(width: Int, height: Int) -> [UInt8] {
        var bytes = jpeg(width: 64, height: 48, seed: 7)
        var index = 2
        while index + 4 < bytes.count {
            let marker = bytes[index + 1]
            let length = Int(bytes[index + 2]) << 8 | Int(bytes[index + 3])
            if marker == 0xC0 || marker == 0xC2 {
                bytes[index + 5] = UInt8(height >> 8)
                bytes[index + 6] = UInt8(height & 0xFF)
                bytes[index + 7] = UInt8(width >> 8)
                bytes[index + 8] = UInt8(width & 0xFF)
                return bytes
            }
            index += 2 + length
        }
        return bytes
    }
}
