import Database
import Foundation
import Synchronization

/// An in-memory multi-index of every stored perceptual hash, for the batch lookups of the consumer.
///
/// Probing band indexes in PostgreSQL cost about 70 index probes and 1,000 candidate rows per photo (≈ 1 ms, fine
/// for one lookup, but ≈ 250 ms for a batch of 200 photos), and keeping those indexes cost every insert four more
/// index entries; they are gone (migration `0120`). This index answers the question from memory in microseconds:
/// four 16-bit bands, each a table of 65,536 buckets holding their rows' hashes (and positions) inline.
///
/// `perceptual_hashes` stays the source of truth. Before each batch the checker takes a transaction-level
/// advisory lock (``lockName``), then calls ``catchUp(in:)``, which reads the rows with an id above the largest it
/// has seen. Because every consumer inserts its hashes while holding that lock until it commits, ids become visible
/// in increasing order, so no committed row is ever skipped — also with several consumer replicas, each holding
/// its own copy. A batch's own hashes enter the memory only when a later batch reads them back committed, so a
/// rolled-back batch leaves nothing behind.
final class PerceptualIndex: Sendable {
    /// The advisory lock serialising the near-duplicate step of all consumers.
    static let lockName = "verification.perceptual_hashes"

    /// One band value's rows: their hashes inline (a probe compares a contiguous run, without fetching each row's
    /// hash from elsewhere) and, in the same order, their positions in `ids`.
    private struct Bucket {
        var hashes: [Int64] = []
        var positions: [Int32] = []
    }

    private struct State {
        var ids: [Int64] = []
        /// `buckets[band * 65,536 + value]`: the rows whose band has that value.
        var buckets = [Bucket](repeating: Bucket(), count: 4 * 65_536)
        var maxId: Int64 = 0
    }

    private let state = Mutex(State())

    /// How many hashes are in memory.
    var count: Int { state.withLock { $0.ids.count } }

    /// Reads the rows committed since the last call (all of them the first time), in the caller's transaction.
    func catchUp(in connection: DatabaseConnection) async throws {
        while true {
            let after = state.withLock { $0.maxId }
            let rows = try await connection.query(
                "SELECT id, hash FROM perceptual_hashes WHERE id > \(after) ORDER BY id LIMIT 200000")
            var ids: [Int64] = []
            var hashes: [Int64] = []
            ids.reserveCapacity(rows.count)
            hashes.reserveCapacity(rows.count)
            for row in rows {
                ids.append(try row.decode(0, as: Int64.self))
                hashes.append(try row.decode(1, as: Int64.self))
            }
            state.withLock { state in
                for (id, hash) in zip(ids, hashes) where id > state.maxId {
                    let position = Int32(state.ids.count)
                    state.ids.append(id)
                    for (band, value) in NearDuplicateIndex.bands(hash).enumerated() {
                        state.buckets[band << 16 | value].hashes.append(hash)
                        state.buckets[band << 16 | value].positions.append(position)
                    }
                    state.maxId = id
                }
            }
            if rows.count < 200_000 { return }
        }
    }

    /// For each query hash, the stored rows within `maxDistance` (≤ 11): (query index, row id, distance).
    func lookup(_ queries: [Int64], maxDistance: Int) -> [(query: Int, id: Int64, distance: Int)] {
        let distance = min(max(maxDistance, 0), NearDuplicateIndex.maxDistance)
        let radius = distance / 4
        let neighbourMasks = NearDuplicateIndex.neighbours(0, radius: radius)
        return state.withLock { state in
            var found: [(query: Int, id: Int64, distance: Int)] = []
            for (index, query) in queries.enumerated() {
                var seen = Set<Int32>()
                for (band, value) in NearDuplicateIndex.bands(query).enumerated() {
                    for mask in neighbourMasks {
                        let bucket = state.buckets[band << 16 | (value ^ mask)]
                        for (offset, hash) in bucket.hashes.enumerated() {
                            let d = (hash ^ query).nonzeroBitCount
                            if d <= distance, seen.insert(bucket.positions[offset]).inserted {
                                found.append((index, state.ids[Int(bucket.positions[offset])], d))
                            }
                        }
                    }
                }
            }
            return found
        }
    }
}
