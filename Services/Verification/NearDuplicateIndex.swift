import Database
import Foundation

/// Multi-index hashing for finding earlier photos whose 64-bit perceptual hash (dHash) is within a Hamming distance
/// of a new one: the bands, their neighbours and the distance (``PerceptualIndex`` keeps the index in memory), and
/// the `perceptual_hashes` table it is loaded from.
///
/// The hash is cut into four 16-bit bands, each indexed in memory. If two hashes differ in at most `d` bits, the
/// differences fall into four bands, so at least one band differs in at most `floor(d / 4)` bits (pigeonhole).
/// A lookup therefore probes, for each band, the band's value and every value within that radius (17 probes per
/// band for d = 4…7, 137 for d = 8…11), and computes the exact distance only for the rows found. With uniformly
/// spread hashes each probe meets about n / 65,536 rows (≈ 15 at a million).
enum NearDuplicateIndex {
    /// The largest distance the index answers (radius 2 per band).
    static let maxDistance = 11

    /// A stored photo within the distance of a queried hash.
    struct Match: Sendable, Equatable {
        /// Which queried hash (index into the query array).
        var query: Int
        var sha256: String
        var submissionId: UUID
        var nip: String
        var distance: Int
    }

    /// Parses 16 hex digits into the 64 bits, as a signed `bigint` bit pattern; `nil` when malformed.
    static func parse(_ hex: String?) -> Int64? {
        guard let hex, hex.utf8.count == 16, let value = UInt64(hex, radix: 16) else { return nil }
        return Int64(bitPattern: value)
    }

    /// The four 16-bit bands, most significant first.
    static func bands(_ hash: Int64) -> [Int] {
        let bits = UInt64(bitPattern: hash)
        return (0..<4).map { Int((bits >> UInt64(48 - 16 * $0)) & 0xFFFF) }
    }

    /// The Hamming distance of two hashes.
    static func distance(_ a: Int64, _ b: Int64) -> Int { (a ^ b).nonzeroBitCount }

    /// Every 16-bit value within `radius` bits of `value` (itself first).
    static func neighbours(_ value: Int, radius: Int) -> [Int] {
        var result = [value]
        if radius >= 1 {
            for i in 0..<16 { result.append(value ^ (1 << i)) }
        }
        if radius >= 2 {
            for i in 0..<16 { for j in (i + 1)..<16 { result.append(value ^ (1 << i) ^ (1 << j)) } }
        }
        return result
    }

    /// The statement storing photos' hashes (a photo already stored keeps its first owner); `nil` for none.
    static func insertStatement(_ entries: [(sha256: String, submissionId: UUID, nip: String, hash: Int64)])
        -> SQLQuery?
    {
        guard !entries.isEmpty else { return nil }
        return """
            INSERT INTO perceptual_hashes (sha256, submission_id, nip, hash)
            SELECT * FROM unnest(\(entries.map(\.sha256))::text[], \(entries.map(\.submissionId))::uuid[],
                                 \(entries.map(\.nip))::text[], \(entries.map(\.hash))::bigint[])
            ON CONFLICT (sha256) DO NOTHING
            """
    }
}
