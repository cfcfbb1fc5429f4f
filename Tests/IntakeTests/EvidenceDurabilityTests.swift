import Database
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import ServiceSupport
import Testing

@testable import Intake

/// Photos are durable before their submission commits, and orphans left by a failed commit are collected.
@Suite("Evidence durability and orphan collection")
struct EvidenceDurabilityTests {
    typealias F = IntakeFixture

    @Test(
        "a commit that fails after the photo is stored leaves no submission and an orphan photo the collector deletes")
    func failedCommitLeavesCollectableOrphan() async throws {
        try await F.withBlobDirectory { root in
            let store = try DirectoryEvidenceStore(root: root)
            try await F.withIntakeApp(evidenceStore: store) { client, pool, store, _ in
                let token = try await F.token()
                let kept = F.jpeg()
                let accepted = try await client.execute(
                    uri: "/v1/submissions", method: .post, headers: F.headers(token: token),
                    body: F.body(photos: [kept]))
                #expect(accepted.status == .accepted)

                // Every commit that inserts a submission now fails: a deferred constraint trigger runs at COMMIT,
                // after the photo was stored and the statement succeeded, like a crash just before the commit.
                try await pool.withConnection { connection in
                    try await connection.execute(
                        unsafeSQL: """
                            CREATE FUNCTION fail_commit() RETURNS trigger LANGUAGE plpgsql AS $$
                            BEGIN RAISE EXCEPTION 'simulated failure at commit'; END $$;
                            CREATE CONSTRAINT TRIGGER fail_commit AFTER INSERT ON submissions
                                DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION fail_commit();
                            """)
                }
                let orphan = F.jpeg()
                let failed = try await client.execute(
                    uri: "/v1/submissions", method: .post, headers: F.headers(token: token),
                    body: F.body(photos: [orphan]))
                #expect(failed.status.code >= 500)
                #expect(try await count(pool, "submissions") == 1)
                #expect(try await count(pool, "submission_evidence") == 1)
                #expect(try await count(pool, "outbox") == 1)
                // The photo was made durable first: it is on disk, referenced by nothing.
                #expect(FileManager.default.fileExists(atPath: store.path(for: EvidenceHash.sha256(orphan)).path))

                // Within the grace period nothing is collected; after it, the orphan goes and the referenced stays.
                let collector = EvidenceCollector(
                    store: store, pool: pool, gracePeriod: .seconds(3600), logger: F.logger)
                #expect(try await collector.collect().deleted.isEmpty)
                let report = try await collector.collect(now: Date().addingTimeInterval(7200))
                #expect(report.deleted == [EvidenceHash.sha256(orphan)])
                #expect(report.referenced == 1)
                #expect(try await store.load(sha256: EvidenceHash.sha256(orphan)) == nil)
                #expect(try await store.load(sha256: EvidenceHash.sha256(kept)) == ByteBuffer(bytes: kept))

                // The referenced photo is still served.
                let served = try await client.execute(
                    uri: "/v1/evidence/\(EvidenceHash.sha256(kept))", method: .get,
                    headers: [.authorization: "Bearer \(token)"])
                #expect(served.status == .ok)
                #expect(Array(served.body.readableBytesView) == kept)
            }
        }
    }

    @Test("the collector also removes stray temporary files older than the grace period")
    func strayTemporaryFiles() async throws {
        try await F.withBlobDirectory { root in
            let store = try DirectoryEvidenceStore(root: root)
            try await F.withIntakeApp(evidenceStore: store) { _, pool, store, _ in
                let stray = root.appendingPathComponent("tmp").appendingPathComponent("\(UUID().uuidString).partial")
                #expect(FileManager.default.createFile(atPath: stray.path, contents: Data([1, 2, 3])))
                let collector = EvidenceCollector(
                    store: store, pool: pool, gracePeriod: .seconds(3600), logger: F.logger)
                let early = try await collector.collect()
                #expect(early.temporaryFilesDeleted == 0)
                let late = try await collector.collect(now: Date().addingTimeInterval(7200))
                #expect(late.temporaryFilesDeleted == 1)
                #expect(!FileManager.default.fileExists(atPath: stray.path))
            }
        }
    }

    @Test("the collector service runs passes periodically and stops when cancelled")
    func collectorService() async throws {
        let store = InMemoryEvidenceStore(now: { Date().addingTimeInterval(-7200) })
        try await F.withIntakeApp(evidenceStore: store) { _, pool, store, _ in
            let orphan = ByteBuffer(bytes: F.jpeg())
            try await store.store(orphan, sha256: EvidenceHash.sha256(orphan))
            let service = EvidenceCollectorService(
                collector: EvidenceCollector(store: store, pool: pool, gracePeriod: .seconds(3600), logger: F.logger),
                interval: .milliseconds(50))
            let running = Task { try await service.run() }
            // Generous: with the whole suite running in parallel on two cores a pass can wait seconds for the pool.
            let collected = await eventually(timeout: .seconds(30)) {
                (try? await store.load(sha256: EvidenceHash.sha256(orphan))) == nil
            }
            #expect(collected)
            running.cancel()
            try await running.value
        }
    }

    @Test("intake settings: defaults, and a budget below the largest body is refused")
    func settings() throws {
        let defaults = try IntakeSettings(configuration: F.configuration)
        #expect(defaults.uploadMemoryBudgetBytes == 64 * 1024 * 1024)
        #expect(defaults.orphanGracePeriod == .seconds(3600))
        #expect(defaults.collectInterval == .seconds(3600))

        let custom = try IntakeSettings(
            configuration: .init(
                serviceName: "intake", jwt: F.configuration.jwt,
                environment: [
                    "INTAKE_UPLOAD_MEMORY_BUDGET_BYTES": "33554432", "EVIDENCE_ORPHAN_GRACE_SECONDS": "600",
                    "EVIDENCE_COLLECT_INTERVAL_SECONDS": "0",
                ]))
        #expect(custom.uploadMemoryBudgetBytes == 32 * 1024 * 1024)
        #expect(custom.orphanGracePeriod == .seconds(600))
        #expect(custom.collectInterval == nil)

        #expect(throws: (any Error).self) {
            try IntakeSettings(
                configuration: .init(
                    serviceName: "intake", jwt: F.configuration.jwt,
                    environment: ["UPLOAD_MEMORY_BUDGET_BYTES": "1048576"]))
        }
    }
}
