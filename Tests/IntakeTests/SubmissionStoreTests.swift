import Contracts
import Database
import Foundation
import ServiceSupport
import TestSupport
import Testing

@testable import Intake

/// The submission store on its own: the unique constraint decides between concurrent creates.
@Suite("Submission store")
struct SubmissionStoreTests {
    typealias F = IntakeFixture

    @Test("concurrent creates with one key (no pre-check) yield one created and the same stored row for the rest")
    func concurrentCreates() async throws {
        try await withTestDatabase(service: "intake", migrations: try intakeResources.allMigrations(), poolSize: 6) {
            pool in
            let store = SubmissionStore(pool: pool)
            let draft = SubmissionDraft(activity: "komposting", place: .home, activityAt: Date(), quantity: 1)
            let evidence = [EvidenceRef(sha256: EvidenceHash.sha256(F.jpeg()), mediaType: "image/png", sizeBytes: 42)]
            let hash = draft.requestHash(evidenceHashes: evidence.map(\.sha256))
            let outcomes = try await withThrowingTaskGroup(of: SubmissionStore.CreateOutcome.self) { group in
                for _ in 0..<6 {
                    group.addTask {
                        try await store.create(
                            draft, evidence: evidence, submitter: .init(nip: F.nip, name: nil, opd: "DLH"),
                            idempotencyKey: "sama", requestHash: hash)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            let created = outcomes.compactMap { if case .created(let s) = $0 { s } else { nil } }
            let existing = outcomes.compactMap { if case .existing(let s) = $0 { s } else { nil } }
            #expect(created.count == 1)
            #expect(existing.count == 5)
            #expect(Set((created + existing).map(\.id)).count == 1)
            #expect(try await count(pool, "submissions") == 1)
            #expect(try await count(pool, "outbox") == 1)
            // Another ASN may use the same key.
            let other = try await store.create(
                draft, evidence: evidence, submitter: .init(nip: F.otherNIP, name: nil, opd: "DLH"),
                idempotencyKey: "sama", requestHash: hash)
            guard case .created = other else {
                Issue.record("another ASN's submission with the same key must be new")
                return
            }
        }
    }
}
