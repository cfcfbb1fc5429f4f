import Database
import Foundation
import Logging
import ServiceLifecycle

/// Deletes orphan evidence: blobs no submission references, stored longer ago than a grace period.
///
/// Orphans are expected: a photo is made durable *before* its submission commits, so a crash, a failed commit or
/// a refused request (e.g. a conflicting `Idempotency-Key`) leaves one behind. The grace period (config
/// `EVIDENCE_ORPHAN_GRACE_SECONDS`, default one hour) must be far longer than any request, because a blob being
/// stored for a submission that has not committed yet is not referenced either; storing a key again refreshes its
/// stored time, and ``EvidenceStore/remove(sha256:ifStoredBefore:)`` re-checks that time, so a photo re-used by
/// a new upload is never collected under it.
package struct EvidenceCollector<Store: EvidenceStore>: Sendable {
    /// Where the blobs are.
    package let store: Store
    /// The database with `submission_evidence`.
    package let pool: DatabasePool
    /// How old an unreferenced blob must be before it is deleted.
    package let gracePeriod: Duration
    /// Logger.
    package let logger: Logger

    /// Creates a collector.
    package init(store: Store, pool: DatabasePool, gracePeriod: Duration = .seconds(3600), logger: Logger) {
        self.store = store
        self.pool = pool
        self.gracePeriod = gracePeriod
        self.logger = logger
    }

    /// What one pass did.
    package struct Report: Sendable, Equatable {
        /// Orphan blobs deleted.
        package var deleted: [String] = []
        /// Old enough blobs kept because a submission references them.
        package var referenced = 0
        /// Stray temporary files (an interrupted write) deleted.
        package var temporaryFilesDeleted = 0
    }

    /// Deletes every blob stored before `now - gracePeriod` that no submission references.
    package func collect(now: Date = Date()) async throws -> Report {
        let seconds = gracePeriod.components
        let cutoff = now.addingTimeInterval(-(Double(seconds.seconds) + Double(seconds.attoseconds) / 1e18))
        var report = Report()
        let candidates = try await store.keys(storedBefore: cutoff)
        // Batches keep each bind array and each query small.
        for start in stride(from: 0, to: candidates.count, by: 1000) {
            let batch = Array(candidates[start..<min(start + 1000, candidates.count)])
            let referenced = try await pool.withConnection { connection in
                try await connection.query(
                    "SELECT DISTINCT sha256 FROM submission_evidence WHERE sha256 = ANY(\(batch)::text[])"
                ).map { try $0.decode("sha256", as: String.self) }
            }
            let keep = Set(referenced)
            report.referenced += keep.count
            for key in batch where !keep.contains(key) {
                if try await store.remove(sha256: key, ifStoredBefore: cutoff) { report.deleted.append(key) }
            }
        }
        if let directory = store as? DirectoryEvidenceStore {
            report.temporaryFilesDeleted = try await directory.removeTemporaryFiles(olderThan: cutoff)
        }
        if !report.deleted.isEmpty || report.temporaryFilesDeleted > 0 {
            logger.info(
                "Foto bukti yatim dihapus",
                metadata: [
                    "evidence.deleted": .stringConvertible(report.deleted.count),
                    "evidence.temporary_deleted": .stringConvertible(report.temporaryFilesDeleted),
                ]
            )
        }
        return report
    }
}

/// Runs ``EvidenceCollector`` every `interval` (config `EVIDENCE_COLLECT_INTERVAL_SECONDS`, default one hour)
/// until graceful shutdown. A failed pass is logged and retried at the next interval.
package struct EvidenceCollectorService<Store: EvidenceStore>: Service {
    /// The collector.
    package let collector: EvidenceCollector<Store>
    /// Time between passes (the first pass runs one interval after start).
    package let interval: Duration

    /// Creates the service.
    package init(collector: EvidenceCollector<Store>, interval: Duration) {
        self.collector = collector
        self.interval = interval
    }

    /// Collects periodically until graceful shutdown or cancellation.
    package func run() async throws {
        let interval = interval
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            do {
                try await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            } catch {
                return
            }
            do {
                _ = try await collector.collect()
            } catch {
                collector.logger.warning(
                    "Pembersihan foto bukti gagal", metadata: ["error": .string(String(describing: error))])
            }
        }
    }
}
