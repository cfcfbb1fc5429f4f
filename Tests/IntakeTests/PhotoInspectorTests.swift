import Contracts
import Foundation
import Photo
import TestSupport
import Testing

/// The facts read from a photo's bytes: EXIF in both byte orders, PNG chunks, sizes, bombs and broken files.
@Suite("Photo inspector: EXIF, size and refusals")
struct PhotoInspectorTests {
    @Test(
        "EXIF written little- and big-endian, with thumbnail and MakerNote, is read back completely",
        arguments: [false, true])
    func phoneExifRoundTrip(bigEndian: Bool) throws {
        let thumbnail = PhotoSamples.jpeg(width: 32, height: 24, seed: 3)
        let photo = PhotoSamples.jpeg(
            seed: 11, exif: PhotoSamples.phoneExif(bigEndian: bigEndian, thumbnail: thumbnail))
        let facts = try PhotoInspector.inspect(photo)
        #expect(facts.format == .jpeg)
        #expect(facts.width == 320 && facts.height == 240)
        let capture = try #require(facts.capture)
        // 08:15:30 at +07:00 is 01:15:30 UTC.
        #expect(capture.capturedAt == RFC3339.parse("2026-11-30T01:15:30Z"))
        #expect(capture.capturedAtOffset == "+07:00")
        #expect(abs(try #require(capture.latitude) - -6.9932) < 1e-6)
        #expect(abs(try #require(capture.longitude) - 110.4203) < 1e-6)
        #expect(abs(try #require(capture.altitude) - 12.5) < 1e-6)
        #expect(capture.gpsTimestamp == RFC3339.parse("2026-11-30T01:15:28Z"))
        #expect(capture.cameraMake == "samsung")
        #expect(capture.cameraModel == "SM-A145F")
        #expect(capture.software == "A145FXXU3CWK1")
        #expect(facts.perceptualHash != nil)

        let segment = PhotoSamples.phoneExif(bigEndian: bigEndian, thumbnail: thumbnail).tiff()
        let data = try ExifReader.read(segment)
        #expect(data.bigEndian == bigEndian)
        let thumbRange = try #require(data.thumbnail)
        #expect(Array(segment[thumbRange]) == thumbnail, "IFD1 locates the thumbnail")
        #expect(data.makerNote != nil)
    }

    @Test("Without OffsetTimeOriginal the time is Asia/Jakarta; without DateTimeOriginal, DateTime is used")
    func offsetsAndFallback() throws {
        var exif = ExifBuilder()
        exif.dateTimeOriginal = "2026:01:15 10:00:00"
        var capture = try #require(try PhotoInspector.inspect(PhotoSamples.jpeg(seed: 1, exif: exif)).capture)
        #expect(capture.capturedAt == RFC3339.parse("2026-01-15T03:00:00Z"))
        #expect(capture.capturedAtOffset == nil)

        exif = ExifBuilder()
        exif.dateTime = "2026:01:15 10:00:00"
        exif.bigEndian = true
        capture = try #require(try PhotoInspector.inspect(PhotoSamples.jpeg(seed: 1, exif: exif)).capture)
        #expect(capture.capturedAt == RFC3339.parse("2026-01-15T03:00:00Z"))

        exif.dateTime = "2026:02:30 10:00:00"  // no such day
        #expect(try PhotoInspector.inspect(PhotoSamples.jpeg(seed: 1, exif: exif)).capture == nil)
    }

    @Test("A JPEG without EXIF has its size and hash but no capture facts")
    func noExif() throws {
        let facts = try PhotoInspector.inspect(PhotoSamples.jpeg(width: 100, height: 60, seed: 5))
        #expect(facts.width == 100 && facts.height == 60)
        #expect(facts.capture == nil)
        #expect(facts.perceptualHash?.hex.count == 16)
    }

    @Test("PNG: size from IHDR, EXIF from eXIf, hash from the inflated pixels")
    func png() throws {
        let plain = TestImages.png(seed: 42)
        let facts = try PhotoInspector.inspect(plain)
        #expect(facts.format == .png && facts.width == 16 && facts.height == 16)
        #expect(facts.perceptualHash != nil)
        let withExif = PhotoSamples.png(plain, exif: PhotoSamples.phoneExif(bigEndian: true).tiff())
        let exifFacts = try PhotoInspector.inspect(withExif)
        #expect(exifFacts.capture?.cameraModel == "SM-A145F")
        #expect(exifFacts.perceptualHash == facts.perceptualHash, "the same pixels hash the same")
        // A different image hashes differently.
        #expect(try PhotoInspector.inspect(TestImages.png(seed: 43)).perceptualHash != facts.perceptualHash)
    }

    @Test("A header claiming 60,000 × 60,000 pixels is refused before decoding")
    func decompressionBomb() {
        let bomb = PhotoSamples.claimingSize(width: 60_000, height: 60_000)
        #expect(throws: PhotoError.tooManyPixels(width: 60_000, height: 60_000)) {
            try PhotoInspector.inspect(bomb)
        }
        // 40 MP exactly is the limit, not beyond it: 8000 × 5000 passes the size check (then fails to decode the
        // 64×48 scan data it really holds, or not: either way not as a bomb).
        // A PNG 100,000 pixels wide and 10 high is under 40 MP but over the 65,535 side limit.
        var wide = TestImages.png(seed: 1)
        (wide[16], wide[17], wide[18], wide[19]) = (0x00, 0x01, 0x86, 0xA0)
        (wide[20], wide[21], wide[22], wide[23]) = (0x00, 0x00, 0x00, 0x0A)
        #expect(throws: PhotoError.tooManyPixels(width: 100_000, height: 10)) { try PhotoInspector.inspect(wide) }
        let limit = PhotoSamples.claimingSize(width: 8000, height: 5000)
        #expect((try? PhotoInspector.inspect(limit, decode: false)) != nil)
    }

    @Test("A truncated JPEG is refused as truncated")
    func truncated() {
        let photo = PhotoSamples.jpeg(seed: 9)
        #expect(throws: PhotoError.truncated) { try PhotoInspector.inspect(Array(photo.prefix(photo.count * 2 / 3))) }
        #expect(throws: PhotoError.truncated) { try PhotoInspector.inspect(Array(photo.prefix(40))) }
    }

    @Test("EXIF whose IFD chain loops back, or whose IFDs overlap, is refused as malformed")
    func loopingIFD() throws {
        var exif = PhotoSamples.phoneExif()
        exif.ifd0Next = 8  // IFD0's next IFD is IFD0 itself
        #expect(throws: PhotoError.malformedExif(.loop)) {
            try PhotoInspector.inspect(PhotoSamples.jpeg(seed: 2, exif: exif))
        }
        // The GPS pointer aimed into the middle of IFD0: overlapping IFDs.
        var tiff = PhotoSamples.phoneExif().tiff()
        let data = try ExifReader.read(tiff)
        #expect(data.latitude != nil)
        let gpsEntry = try #require(findEntry(tag: 0x8825, in: tiff))
        tiff[gpsEntry + 8] = 10
        (tiff[gpsEntry + 9], tiff[gpsEntry + 10], tiff[gpsEntry + 11]) = (0, 0, 0)
        #expect(throws: ExifError.loop) { try ExifReader.read(tiff) }
    }

    @Test("Absurd counts and offsets never read outside the block")
    func absurdCounts() throws {
        var tiff = PhotoSamples.phoneExif().tiff()
        let make = try #require(findEntry(tag: 0x010F, in: tiff))
        // Count 0xFFFFFFFF for Make: the value cannot fit, so Make is dropped, nothing else.
        (tiff[make + 4], tiff[make + 5], tiff[make + 6], tiff[make + 7]) = (0xFF, 0xFF, 0xFF, 0xFF)
        let data = try ExifReader.read(tiff)
        #expect(data.make == nil && data.model == "SM-A145F")
        // IFD0 claiming 65,535 entries.
        var many = PhotoSamples.phoneExif().tiff()
        (many[8], many[9]) = (0xFF, 0xFF)
        #expect(throws: ExifError.tooManyEntries) { try ExifReader.read(many) }
        // IFD0 offset past the end.
        var far = PhotoSamples.phoneExif().tiff()
        (far[4], far[5], far[6], far[7]) = (0xF0, 0xFF, 0xFF, 0x7F)
        #expect(throws: ExifError.outOfBounds) { try ExifReader.read(far) }
        #expect(throws: ExifError.badHeader) { try ExifReader.read(Array("II*".utf8)) }
        // A GPS pointer outside the block: the GPS facts are missing (as if stripped), the rest is read.
        var lostGPS = PhotoSamples.phoneExif().tiff()
        let gps = try #require(findEntry(tag: 0x8825, in: lostGPS))
        (lostGPS[gps + 8], lostGPS[gps + 9], lostGPS[gps + 10], lostGPS[gps + 11]) = (0x00, 0x00, 0x00, 0x70)
        let partial = try ExifReader.read(lostGPS)
        #expect(partial.latitude == nil && partial.skippedIFDs == 1)
        #expect(partial.model == "SM-A145F" && partial.dateTimeOriginal != nil)
    }

    /// The offset of IFD0's entry `tag` in a little-endian TIFF block.
    private func findEntry(tag: UInt16, in tiff: [UInt8]) -> Int? {
        let count = Int(tiff[8]) | Int(tiff[9]) << 8
        for index in 0..<count {
            let entry = 10 + index * 12
            if UInt16(tiff[entry]) | UInt16(tiff[entry + 1]) << 8 == tag { return entry }
        }
        return nil
    }
}
