import Contracts
import Database
import Eventing
import Foundation
import Logging
import ServiceSupport
import TestSupport
import Testing

@testable import Verification

/// The automatic checks on the real PostgreSQL, applied in batches as the inbox applies them.
@Suite("Verification: evidence checks")
struct EvidenceCheckerTests {
    static let siti = "198503152010012001"
    static let budi = "199001012015031002"

    static let checker: EvidenceChecker = {
        var logger = Logger(label: "verification-tests")
        logger.logLevel = .warning
        return EvidenceChecker(source: ServiceName.verification.eventSource, logger: logger)
    }()

    static func received(nip: String = siti, photos: [String], id: UUID = UUID()) -> SubmissionReceived {
        let activityAt = Date(timeIntervalSince1970: 1_770_688_800)
        return SubmissionReceived(
            submissionId: id, nip: nip, opd: "DLH", program: "peduli-sampah", activity: "pilah_sampah",
            place: "office", activityAt: activityAt, submittedAt: activityAt.addingTimeInterval(600), quantity: 1,
            evidence: photos.map { EvidenceRef(sha256: $0, mediaType: "image/jpeg", sizeBytes: 1000) })
    }

    static func sha(_ seed: Int) -> String {
        String(repeating: String(format: "%02x", seed % 256), count: 32)
    }

    static func withDatabase(_ body: (DatabasePool) async throws -> Void) async throws {
        try await withTestDatabase(service: "verification", migrations: verificationResources.allMigrations()) {
            try await body($0)
        }
    }

    static func handle(_ submissions: [SubmissionReceived], pool: DatabasePool) async throws {
        let events = try submissions.map {
            InboundEvent(
                event: try CloudEvent($0, from: .intake), routingKey: SubmissionReceived.eventName, redelivered: false,
                deliveryCount: 0)
        }
        try await pool.withTransaction { try await checker.handle(events, in: $0) }
    }

    /// The decisions enqueued, in outbox order: (submission id, event type).
    static func decisions(_ pool: DatabasePool) async throws -> [(String, String)] {
        try await pool.withConnection { connection in
            try await connection.query("SELECT subject, type FROM outbox ORDER BY seq").map {
                (try $0.decode("subject", as: String.self), try $0.decode("type", as: String.self))
            }
        }
    }

    @Test("a batch approves new photos and rejects a photo reused in the same batch or later, by anyone")
    func duplicatesInAndAcrossBatches() async throws {
        try await Self.withDatabase { pool in
            let first = Self.received(photos: [Self.sha(1), Self.sha(2)])
            let reusedInBatch = Self.received(nip: Self.budi, photos: [Self.sha(3), Self.sha(2)])
            let fresh = Self.received(nip: Self.budi, photos: [Self.sha(4)])
            try await Self.handle([first, reusedInBatch, fresh], pool: pool)
            let later = Self.received(photos: [Self.sha(1)])
            try await Self.handle([later], pool: pool)

            let decided = try await Self.decisions(pool)
            #expect(
                decided.map(\.0)
                    == [first, reusedInBatch, fresh, later].map { $0.submissionId.uuidString.lowercased() })
            #expect(
                decided.map(\.1) == [
                    SubmissionVerified.eventType, SubmissionRejected.eventType, SubmissionVerified.eventType,
                    SubmissionRejected.eventType,
                ])
            let rejection = try await pool.withConnection { connection in
                try await connection.query(
                    "SELECT payload::text AS p FROM outbox WHERE type = \(SubmissionRejected.eventType) ORDER BY seq"
                )
                .map {
                    try ContractsJSON.decode(
                        SubmissionRejected.self, from: Data(try $0.decode("p", as: String.self).utf8))
                }
            }
            #expect(rejection.map(\.reasonCode) == ["DUPLICATE_EVIDENCE", "DUPLICATE_EVIDENCE"])
            #expect(rejection.allSatisfy { $0.fraud == true && $0.appealable == true })
            let outcomes = try await pool.withConnection { connection in
                try await connection.query(
                    "SELECT outcome, count(*) AS n FROM decisions GROUP BY outcome ORDER BY outcome"
                ).map { "\(try $0.decode("outcome", as: String.self))=\(try $0.decode("n", as: Int.self))" }
            }
            #expect(outcomes == ["approved=2", "rejected=2"])
        }
    }

    @Test("a submission received twice (same batch or a later one) is decided once")
    func decidedOnce() async throws {
        try await Self.withDatabase { pool in
            let submission = Self.received(photos: [Self.sha(7)])
            try await Self.handle([submission, submission], pool: pool)
            try await Self.handle([submission], pool: pool)
            let decided = try await Self.decisions(pool)
            #expect(decided.count == 1)
            #expect(decided.first?.1 == SubmissionVerified.eventType, "its own photo is no duplicate of itself")
        }
    }
}
