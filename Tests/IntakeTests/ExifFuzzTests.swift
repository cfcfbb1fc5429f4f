import Contracts
import Foundation
import Photo
import TestSupport
import Testing

/// Property test: the photo reader survives 100,000 mutations of real JPEGs (made by TurboJPEG, with EXIF in
/// both byte orders, a thumbnail IFD, a MakerNote and GPS) and of PNGs with `eXIf`: it returns facts or a
/// `PhotoError`, never crashes, never hangs (the suite's time limit), and keeps no string longer than the cap.
/// Every 40th case also goes through the decoders (TurboJPEG, zlib). The run is seeded and reproducible.
@Suite("EXIF reader fuzz: 100,000 mutated photos", .timeLimit(.minutes(5)))
struct ExifFuzzTests {
    static let cases = 100_000
    static let seed: UInt64 = 0x5EED_A5A5_2026

    /// Where the EXIF of each seed ends: mutations mostly land before it (where the reader looks).
    struct Seed {
        var bytes: [UInt8]
        var interesting: Int
    }

    static func seeds() -> [Seed] {
        var seeds: [Seed] = []
        let thumbnail = PhotoSamples.jpeg(width: 16, height: 16, seed: 99, quality: 50)
        for (index, bigEndian) in [false, true, false, true].enumerated() {
            let exif = PhotoSamples.phoneExif(bigEndian: bigEndian, thumbnail: index < 2 ? thumbnail : nil)
            let photo = PhotoSamples.jpeg(seed: UInt64(index + 1), exif: exif, width: 48, height: 40)
            seeds.append(Seed(bytes: photo, interesting: exif.app1().count + 200))
        }
        let png = PhotoSamples.png(TestImages.png(seed: 5), exif: PhotoSamples.phoneExif().tiff())
        seeds.append(Seed(bytes: png, interesting: png.count))
        return seeds
    }

    @Test("100,000 mutated photos: facts or a PhotoError, nothing else")
    func mutatedPhotos() async throws {
        let started = ContinuousClock.now
        // On a thread of its own: seconds of CPU on the cooperative pool would stall the async tests beside it.
        let (outcomes, withCapture, violations) = try await onOwnThread { Self.run() }
        #expect(violations.isEmpty, "\(violations.prefix(10))")
        let elapsed = ContinuousClock.now - started
        print(
            "ExifFuzz: \(Self.cases) cases in \(elapsed), outcomes \(outcomes.sorted { $0.key < $1.key }), with capture facts \(withCapture)"
        )
        #expect(outcomes.values.reduce(0, +) == Self.cases)
        // The mutations reach both sides: many still parse, many are refused for EXIF faults.
        #expect(outcomes["accepted", default: 0] > Self.cases / 10)
        #expect(withCapture > Self.cases / 20)
        #expect(outcomes.keys.contains { $0.hasPrefix("exif.") })
    }

    /// The fuzz loop: outcome counts, photos with capture facts, and every broken invariant (case and what).
    static func run() -> (outcomes: [String: Int], withCapture: Int, violations: [String]) {
        let seeds = Self.seeds()
        var random = SeededRandom(seed: Self.seed)
        var outcomes: [String: Int] = [:]
        var withCapture = 0
        var violations: [String] = []
        for index in 0..<Self.cases {
            let seed = seeds[index % seeds.count]
            let mutated = Self.mutate(seed, using: &random)
            let decode = index % 40 == 0
            do {
                let facts = try PhotoInspector.inspect(mutated, decode: decode)
                outcomes["accepted", default: 0] += 1
                if let capture = facts.capture {
                    withCapture += 1
                    for text in [capture.cameraMake, capture.cameraModel, capture.software].compactMap({ $0 })
                    where text.utf8.count > ExifReader.maxStringBytes * 3 {
                        violations.append("case \(index): a string of \(text.utf8.count) bytes")
                    }
                }
                if !(facts.width > 0 && facts.height > 0 && facts.width <= PhotoInspector.maxPixels / facts.height) {
                    violations.append("case \(index): \(facts.width)×\(facts.height) accepted")
                }
            } catch {
                outcomes[Self.name(error), default: 0] += 1
            }
        }
        return (outcomes, withCapture, violations)
    }

    static func name(_ error: PhotoError) -> String {
        switch error {
        case .tooManyPixels: "tooManyPixels"
        case .truncated: "truncated"
        case .corrupt: "corrupt"
        case .malformedExif(let exif): "exif.\(exif)"
        }
    }

    static let interestingValues: [UInt32] = [
        0, 1, 2, 7, 8, 9, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x7FFF_FFFF, 0xFFFF_FFFF,
    ]

    /// 1–4 random mutations: bit flips, interesting bytes, interesting 16/32-bit values (both byte orders, small
    /// offsets that point back into the block), truncation, deletion and duplication of ranges.
    static func mutate(_ seed: Seed, using random: inout SeededRandom) -> [UInt8] {
        var bytes = seed.bytes
        for _ in 0..<Int.random(in: 1...4, using: &random) {
            guard bytes.count > 4 else { break }
            let limit = min(bytes.count, seed.interesting)
            // Keep SOI mostly intact so the reader gets past the signature.
            let position = Int.random(in: 2..<max(3, limit), using: &random) % bytes.count
            switch Int.random(in: 0..<10, using: &random) {
            case 0, 1:
                bytes[position] ^= 1 << UInt8.random(in: 0..<8, using: &random)
            case 2:
                bytes[position] = [0x00, 0x01, 0x7F, 0x80, 0xFF, 0xFE][Int.random(in: 0..<6, using: &random)]
            case 3, 4, 5:
                var value = interestingValues.randomElement(using: &random)!
                if Bool.random(using: &random) { value = UInt32.random(in: 0..<UInt32(max(1, limit)), using: &random) }
                let width = Bool.random(using: &random) ? 2 : 4
                let big = Bool.random(using: &random)
                for offset in 0..<width where position + offset < bytes.count {
                    let shift = big ? (width - 1 - offset) * 8 : offset * 8
                    bytes[position + offset] = UInt8(truncatingIfNeeded: value >> UInt32(shift))
                }
            case 6:
                bytes.removeSubrange(Int.random(in: 2..<bytes.count, using: &random)...)
            case 7:
                let length = Int.random(in: 1...64, using: &random)
                bytes.removeSubrange(position..<min(bytes.count, position + length))
            case 8:
                let length = Int.random(in: 1...64, using: &random)
                let source = Int.random(in: 0..<bytes.count, using: &random)
                let chunk = bytes[source..<min(bytes.count, source + length)]
                bytes.insert(contentsOf: chunk, at: position)
            default:
                for offset in 0..<Int.random(in: 1...16, using: &random) where position + offset < bytes.count {
                    bytes[position + offset] = UInt8.random(in: 0...255, using: &random)
                }
            }
        }
        return bytes
    }
}
