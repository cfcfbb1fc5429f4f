import Contracts
import Database
import Eventing
import Foundation
import ServiceSupport
import TestSupport
import Testing

@testable import Intake

/// The status projection (`intake.status`) applied to a real database, in and out of order.
@Suite("Status projection")
struct StatusProjectionTests {
    typealias F = IntakeFixture

    let projection = StatusProjection(logger: IntakeFixture.logger)
    let t0 = Date(timeIntervalSince1970: 1_770_000_000)

    /// Runs `body` with a store holding one fresh submission of ``IntakeFixture/nip``.
    func withSubmission(_ body: (SubmissionStore, UUID) async throws -> Void) async throws {
        try await withTestDatabase(service: "intake", migrations: try intakeResources.allMigrations()) { pool in
            let store = SubmissionStore(pool: pool)
            let draft = SubmissionDraft(activity: "bank_sampah", place: .home, activityAt: t0, quantity: 1.5)
            let evidence = [EvidenceRef(sha256: EvidenceHash.sha256(F.jpeg()), mediaType: "image/jpeg", sizeBytes: 100)]
            let outcome = try await store.create(
                draft, evidence: evidence, submitter: .init(nip: F.nip, name: "Siti", opd: "DLH"),
                idempotencyKey: "k1", requestHash: draft.requestHash(evidenceHashes: evidence.map(\.sha256)), now: t0)
            guard case .created(let submission) = outcome else {
                Issue.record("expected a new submission")
                return
            }
            try await body(store, submission.id)
        }
    }

    @discardableResult
    func apply(_ store: SubmissionStore, _ events: [any EventPayload]) async throws -> [StatusProjection.Effect] {
        let cloudEvents = try events.map { try CloudEvent($0, from: .verification) }
        return try await store.pool.withTransaction { connection in
            try await projection.apply(cloudEvents, in: connection)
        }
    }

    func verified(_ id: UUID, at date: Date) -> SubmissionVerified {
        SubmissionVerified(
            submissionId: id, nip: F.nip, opd: "DLH", program: "peduli-sampah", activity: "bank_sampah", place: "home",
            activityAt: t0, quantity: 1.5, decidedAt: date, decidedBy: SubmissionVerified.automatic)
    }

    func rejected(_ id: UUID, at date: Date, code: ReasonCode = .duplicateEvidence) -> SubmissionRejected {
        SubmissionRejected(
            submissionId: id, nip: F.nip, opd: "DLH", reasonCode: code.rawValue, reason: code.indonesianText,
            decidedAt: date, decidedBy: SubmissionVerified.automatic, fraud: code == .duplicateEvidence)
    }

    func awarded(_ id: UUID, points: Int, at date: Date, kind: String? = nil) -> PointsAwarded {
        PointsAwarded(
            entryId: UUID(), submissionId: id, nip: F.nip, opd: "DLH", program: "peduli-sampah",
            activity: "bank_sampah", points: points, ruleVersion: "peduli-sampah@1", period: "2026-Q1",
            awardedAt: date, totalInPeriod: points, entryKind: kind)
    }

    func review(_ id: UUID, at date: Date) -> ReviewAssigned {
        ReviewAssigned(reviewId: UUID(), submissionId: id, nip: F.nip, opd: "DLH", trigger: "checks", assignedAt: date)
    }

    @Test("received → in_review → approved → points, in order, through the inbox handler")
    func inOrder() async throws {
        try await withSubmission { store, id in
            #expect(try await store.submission(id: id)?.status == .received)
            let assigned = try CloudEvent(review(id, at: t0 + 60), from: .verification)
            try await store.pool.withTransaction { connection in
                try await projection.handle(
                    [
                        InboundEvent(
                            event: assigned, routingKey: "review.assigned", redelivered: false, deliveryCount: 0)
                    ],
                    in: connection)
            }
            #expect(try await store.submission(id: id)?.status == .inReview)
            try await apply(store, [verified(id, at: t0 + 120)])
            #expect(try await store.submission(id: id)?.status == .approved)
            try await apply(store, [awarded(id, points: 15, at: t0 + 180)])
            let final = try #require(try await store.submission(id: id))
            #expect(final.status == .approved)
            #expect(final.points == 15)
        }
    }

    @Test("a streak bonus or a recompute correction for a submission never replaces the points it was awarded")
    func extraEntriesKeepTheAward() async throws {
        try await withSubmission { store, id in
            try await apply(store, [awarded(id, points: 15, at: t0 + 180)])
            #expect(try await apply(store, [awarded(id, points: 50, at: t0 + 190, kind: "bonus")]) == [.stale])
            #expect(try await apply(store, [awarded(id, points: -3, at: t0 + 200, kind: "correction")]) == [.stale])
            #expect(try await store.submission(id: id)?.points == 15)
        }
    }

    @Test("points before verified: approved with points, and the late verified changes nothing")
    func pointsBeforeVerified() async throws {
        try await withSubmission { store, id in
            #expect(try await apply(store, [awarded(id, points: 10, at: t0 + 180)]) == [.applied])
            #expect(try await apply(store, [verified(id, at: t0 + 120)]) == [.stale])
            #expect(try await apply(store, [review(id, at: t0 + 60)]) == [.stale])
            let final = try #require(try await store.submission(id: id))
            #expect(final.status == .approved)
            #expect(final.points == 10)
        }
    }

    @Test("a rejection carries its reason code and Indonesian reason; a late review.assigned does not reopen it")
    func rejection() async throws {
        try await withSubmission { store, id in
            try await apply(store, [rejected(id, at: t0 + 60), review(id, at: t0 + 30)])
            let final = try #require(try await store.submission(id: id))
            #expect(final.status == .rejected)
            #expect(final.reasonCode == "DUPLICATE_EVIDENCE")
            #expect(final.reason == ReasonCode.duplicateEvidence.indonesianText)
        }
    }

    @Test("the later decision wins whatever order they arrive in (an approval on appeal after a rejection)")
    func laterDecisionWins() async throws {
        try await withSubmission { store, id in
            try await apply(store, [verified(id, at: t0 + 600), rejected(id, at: t0 + 60)])
            let approved = try #require(try await store.submission(id: id))
            #expect(approved.status == .approved)
            #expect(approved.reasonCode == nil)
        }
        try await withSubmission { store, id in
            try await apply(store, [rejected(id, at: t0 + 60), verified(id, at: t0 + 600)])
            #expect(try await store.submission(id: id)?.status == .approved)
        }
    }

    @Test("events for unknown submissions or another NIP are skipped without error")
    func unknownSubmission() async throws {
        try await withSubmission { store, id in
            let effects = try await apply(store, [verified(UUID(), at: t0), awarded(UUID(), points: 3, at: t0)])
            #expect(effects == [.unknownSubmission, .unknownSubmission])
            var foreign = verified(id, at: t0 + 60)
            foreign.nip = F.otherNIP
            #expect(try await apply(store, [foreign]) == [.unknownSubmission])
            #expect(try await store.submission(id: id)?.status == .received)
        }
    }

    @Test("an event type the projection does not read is thrown so the inbox dead-letters it")
    func unsupportedType() async throws {
        try await withSubmission { store, id in
            let event = try CloudEvent(
                SubmissionReceived(
                    submissionId: id, nip: F.nip, opd: "DLH", program: "peduli-sampah", activity: "bank_sampah",
                    place: "home", activityAt: t0, submittedAt: t0, quantity: 1, evidence: []),
                from: .intake)
            await #expect(throws: StatusProjection.UnsupportedEventType.self) {
                try await store.pool.withTransaction { connection in
                    try await projection.apply([event], in: connection)
                }
            }
        }
    }
}
