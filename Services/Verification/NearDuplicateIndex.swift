import Database
import Foundation

/// Finds earlier photos whose 64-bit perceptual hash (dHash) is within a Hamming distance of a new one, with
/// multi-index hashing over the `perceptual_hashes` table.
///
/// The hash is cut into four 16-bit bands, each indexed. If two hashes differ in at most `d` bits, the
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

    /// The stored photos within `maxDistance` of each of `hashes`, in one statement (one lateral index probe per
    /// band value and neighbour). Rows whose SHA-256 is in `excluding` of the same query are left out by the caller.
    static func lookup(_ hashes: [Int64], maxDistance: Int, in connection: DatabaseConnection) async throws -> [Match] {
        guard !hashes.isEmpty else { return [] }
        let distance = min(max(maxDistance, 0), Self.maxDistance)
        let radius = distance / 4
        var queries: [[Int]] = [[], [], [], []]
        var values: [[Int]] = [[], [], [], []]
        var probes: [[Int64]] = [[], [], [], []]
        for (index, hash) in hashes.enumerated() {
            for (band, value) in bands(hash).enumerated() {
                for neighbour in neighbours(value, radius: radius) {
                    queries[band].append(index)
                    values[band].append(neighbour)
                    probes[band].append(hash)
                }
            }
        }
        let rows = try await connection.query(
            """
            WITH m AS (
                SELECT q.i, p.id, p.distance
                FROM unnest(\(queries[0])::int[], \(values[0])::int[], \(probes[0])::bigint[]) AS q(i, v, h)
                CROSS JOIN LATERAL (SELECT id, bit_count((hash # q.h)::bit(64)) AS distance
                                    FROM perceptual_hashes WHERE band0 = q.v OFFSET 0) AS p
                WHERE p.distance <= \(distance)
                UNION ALL
                SELECT q.i, p.id, p.distance
                FROM unnest(\(queries[1])::int[], \(values[1])::int[], \(probes[1])::bigint[]) AS q(i, v, h)
                CROSS JOIN LATERAL (SELECT id, bit_count((hash # q.h)::bit(64)) AS distance
                                    FROM perceptual_hashes WHERE band1 = q.v OFFSET 0) AS p
                WHERE p.distance <= \(distance)
                UNION ALL
                SELECT q.i, p.id, p.distance
                FROM unnest(\(queries[2])::int[], \(values[2])::int[], \(probes[2])::bigint[]) AS q(i, v, h)
                CROSS JOIN LATERAL (SELECT id, bit_count((hash # q.h)::bit(64)) AS distance
                                    FROM perceptual_hashes WHERE band2 = q.v OFFSET 0) AS p
                WHERE p.distance <= \(distance)
                UNION ALL
                SELECT q.i, p.id, p.distance
                FROM unnest(\(queries[3])::int[], \(values[3])::int[], \(probes[3])::bigint[]) AS q(i, v, h)
                CROSS JOIN LATERAL (SELECT id, bit_count((hash # q.h)::bit(64)) AS distance
                                    FROM perceptual_hashes WHERE band3 = q.v OFFSET 0) AS p
                WHERE p.distance <= \(distance)
            )
            SELECT DISTINCT m.i, m.distance::int AS distance, ph.sha256, ph.submission_id, ph.nip, ph.id
            FROM m JOIN perceptual_hashes ph ON ph.id = m.id
            ORDER BY m.i, distance, ph.id
            """
        )
        return try rows.map { row in
            Match(
                query: try row.decode("i", as: Int.self),
                sha256: try row.decode("sha256"),
                submissionId: try row.decode("submission_id"),
                nip: try row.decode("nip"),
                distance: try row.decode("distance", as: Int.self)
            )
        }
    }

    /// Stores photos' hashes (a photo already stored keeps its first owner).
    static func insert(
        _ entries: [(sha256: String, submissionId: UUID, nip: String, hash: Int64)], in connection: DatabaseConnection
    ) async throws {
        guard !entries.isEmpty else { return }
        let bands = entries.map { Self.bands($0.hash) }
        try await connection.query(
            """
            INSERT INTO perceptual_hashes (sha256, submission_id, nip, hash, band0, band1, band2, band3)
            SELECT * FROM unnest(\(entries.map(\.sha256))::text[], \(entries.map(\.submissionId))::uuid[],
                                 \(entries.map(\.nip))::text[], \(entries.map(\.hash))::bigint[],
                                 \(bands.map { $0[0] })::int[], \(bands.map { $0[1] })::int[],
                                 \(bands.map { $0[2] })::int[], \(bands.map { $0[3] })::int[])
            ON CONFLICT (sha256) DO NOTHING
            """
        )
    }
}
