import Contracts
import Database
import Eventing
import Foundation
import Logging
import ServiceSupport
import TestSupport
import Testing

@testable import Notification

/// The in-app inbox on the real PostgreSQL, fed batches as the inbox consumer feeds it.
@Suite("Notification: in-app inbox")
struct InAppInboxTests {
    static let siti = "198503152010012001"
    static let budi = "199001012015031002"

    static let inbox: InAppInbox = {
        var logger = Logger(label: "notification-tests")
        logger.logLevel = .warning
        return InAppInbox(logger: logger)
    }()

    static func inbound(_ payload: some EventPayload, from service: ServiceName) throws -> InboundEvent {
        InboundEvent(
            event: try CloudEvent(payload, from: service), routingKey: type(of: payload).eventName, redelivered: false,
            deliveryCount: 0)
    }

    static func program() -> ProgramPublished {
        ProgramPublished(
            program: "peduli-sampah", programVersion: "1", name: "Peduli Sampah",
            activities: [
                ActivityDefinition(
                    code: "bank_sampah", name: "Setor ke bank sampah", unit: "kg", places: ["office", "home"],
                    basePoints: 5)
            ],
            publishedAt: Date())
    }

    static func awarded(nip: String = siti, activity: String = "bank_sampah") -> PointsAwarded {
        PointsAwarded(
            entryId: UUID(), submissionId: UUID(), nip: nip, opd: "DLH", program: "peduli-sampah", activity: activity,
            points: 12, ruleVersion: "peduli-sampah@1", period: "2026-Q4", awardedAt: Date(), totalInPeriod: 37)
    }

    static func rejected(nip: String = budi) -> SubmissionRejected {
        SubmissionRejected(
            submissionId: UUID(), nip: nip, opd: "DLH", reasonCode: "DUPLICATE_EVIDENCE", reason: "",
            decidedAt: Date(), decidedBy: "automatic", fraud: true, program: "peduli-sampah",
            activity: "bank_sampah", reasonCodes: ["DUPLICATE_EVIDENCE"], appealable: true)
    }

    static func notifications(_ pool: DatabasePool) async throws -> [(nip: String, title: String, body: String)] {
        try await pool.withConnection { connection in
            try await connection.query("SELECT nip, title, body FROM notifications ORDER BY created_at, title").map {
                (try $0.decode("nip"), try $0.decode("title"), try $0.decode("body"))
            }
        }
    }

    static func withDatabase(_ body: (DatabasePool) async throws -> Void) async throws {
        try await withTestDatabase(service: "notification", migrations: notificationResources.allMigrations()) {
            try await body($0)
        }
    }

    @Test("one batch: the program's names are learnt first, then each ASN gets one message in Bahasa Indonesia")
    func batchWithProgram() async throws {
        try await Self.withDatabase { pool in
            let events = [
                try Self.inbound(Self.program(), from: .scoring),
                try Self.inbound(Self.awarded(), from: .scoring),
                try Self.inbound(Self.rejected(), from: .verification),
            ]
            try await pool.withTransaction { try await Self.inbox.handle(events, in: $0) }
            let stored = try await Self.notifications(pool)
            #expect(stored.count == 2)
            let points = try #require(stored.first { $0.nip == Self.siti })
            #expect(points.title == "Poin bertambah +12")
            #expect(points.body.contains("\"Setor ke bank sampah\""))
            #expect(points.body.contains("Total poin Anda pada 2026-Q4: 37"))
            let rejection = try #require(stored.first { $0.nip == Self.budi })
            #expect(rejection.title == "Pengajuan ditolak")
            #expect(rejection.body.contains("DUPLICATE_EVIDENCE"))
            #expect(rejection.body.contains("banding"))
        }
    }

    @Test("an event seen twice is notified once; an unknown activity shows its code made readable")
    func atMostOncePerEvent() async throws {
        try await Self.withDatabase { pool in
            let event = try Self.inbound(Self.awarded(activity: "kurangi_plastik"), from: .scoring)
            try await pool.withTransaction { try await Self.inbox.handle([event, event], in: $0) }
            try await pool.withTransaction { try await Self.inbox.handle([event], in: $0) }
            let stored = try await Self.notifications(pool)
            #expect(stored.count == 1)
            #expect(stored.first?.body.contains("\"kurangi plastik\"") == true)
        }
    }
}
