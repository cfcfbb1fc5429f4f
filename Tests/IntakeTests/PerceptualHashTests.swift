import Foundation
import Photo
import TestSupport
import Testing

/// The dHash stays close for the same photo re-encoded, resized or brightened, and far apart for different photos.
@Suite("Perceptual hash (dHash from TurboJPEG's 1/8 decode)")
struct PerceptualHashTests {
    static func hash(_ jpeg: [UInt8]) throws -> PerceptualHash {
        try #require(try PhotoInspector.inspect(jpeg).perceptualHash)
    }

    @Test(
        "Re-encoded at quality 60, resized to 50 % and brightened by 10 %: within distance 6",
        arguments: [1, 2, 3, 4, 5] as [UInt64])
    func sameSceneStaysClose(seed: UInt64) throws {
        let width = 640
        let height = 480
        let original = PhotoSamples.jpeg(width: width, height: height, seed: seed, quality: 92)
        let base = try Self.hash(original)
        let decoded = try #require(JPEGCodec.decodeRGB(original))

        let quality60 = try #require(JPEGCodec.encode(rgb: decoded.rgb, width: width, height: height, quality: 60))
        var half = [UInt8](repeating: 0, count: (width / 2) * (height / 2) * 3)
        for y in 0..<(height / 2) {
            for x in 0..<(width / 2) {
                for channel in 0..<3 {
                    var sum = 0
                    for (dx, dy) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
                        sum += Int(decoded.rgb[((2 * y + dy) * width + 2 * x + dx) * 3 + channel])
                    }
                    half[(y * (width / 2) + x) * 3 + channel] = UInt8(sum / 4)
                }
            }
        }
        let resized = try #require(JPEGCodec.encode(rgb: half, width: width / 2, height: height / 2, quality: 90))
        let brighter = try #require(
            JPEGCodec.encode(
                rgb: decoded.rgb.map { UInt8(min(255, (Double($0) * 1.1).rounded())) }, width: width, height: height,
                quality: 90))

        let distances = [
            base.distance(to: try Self.hash(quality60)), base.distance(to: try Self.hash(resized)),
            base.distance(to: try Self.hash(brighter)),
        ]
        print("dHash seed \(seed): quality 60 → \(distances[0]), 50 % → \(distances[1]), +10 % → \(distances[2])")
        #expect(distances.allSatisfy { $0 <= 6 }, "distances \(distances)")
    }

    /// Measured here (seeds fixed): min 8, median 32, mean 32.0; 25 of 499,500 pairs (0.005 %) within 12, none
    /// within 6. Generated scenes share smooth structure, so a few pairs come closer than random 64-bit values
    /// would; verification's near-duplicate distance is 6, which no pair reaches.
    @Test("1,000 different generated photos: pairwise distances (none within 6, under 0.01 % within 12)")
    func differentPhotosAreFarApart() async throws {
        // Encoding and hashing a thousand photos runs on a thread of its own, off the cooperative pool.
        let histogram = try await onOwnThread {
            var hashes: [PerceptualHash] = []
            for seed in 0..<1000 {
                let jpeg = PhotoSamples.jpeg(width: 72, height: 64, seed: 10_000 + UInt64(seed), discs: 3)
                guard let hash = try PhotoInspector.inspect(jpeg).perceptualHash else { continue }
                hashes.append(hash)
            }
            var histogram = [Int](repeating: 0, count: 65)
            for i in 0..<hashes.count {
                for j in (i + 1)..<hashes.count { histogram[hashes[i].distance(to: hashes[j])] += 1 }
            }
            return histogram
        }
        let pairs = histogram.reduce(0, +)
        let minimum = histogram.firstIndex { $0 > 0 } ?? 64
        let mean = Double(histogram.enumerated().reduce(0) { $0 + $1.offset * $1.element }) / Double(pairs)
        var cumulative = 0
        let median =
            histogram.firstIndex {
                cumulative += $0; return cumulative * 2 >= pairs
            } ?? 0
        print(
            "dHash pairwise over \(pairs) pairs: min \(minimum), median \(median), mean \(String(format: "%.2f", mean)), ≤12: \(histogram[0...12].reduce(0, +)), ≤6: \(histogram[0...6].reduce(0, +))"
        )
        #expect(pairs == 499_500)
        #expect(histogram[0...6].reduce(0, +) == 0, "pairs within 6: \(histogram[0...6].reduce(0, +))")
        #expect(histogram[0...12].reduce(0, +) * 10_000 < pairs, "pairs within 12: \(histogram[0...12].reduce(0, +))")
        #expect((30...34).contains(median), "different photos differ in about half the bits")
    }
}
