import AMQP
import Contracts
import Database
import Foundation
import HTTPTypes
import Logging
import ServiceSupport
import TestSupport

@testable import Scoring

/// Shared set-up of the scoring tests.
enum ScoringFixture {
    static let secret = "scoring-unit-test-secret-0123456789abcdef"
    static let nip = "198503152010011001"
    static let otherNIP = "199001012015032002"

    static let logger: Logger = {
        var logger = Logger(label: "scoring-tests")
        logger.logLevel = .warning
        return logger
    }()

    /// The repository's `deploy/programs`.
    static let programsDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("deploy/programs")

    /// The real Peduli Sampah program file, parsed.
    static func peduliSampah() throws -> ProgramDocument {
        let url = programsDirectory.appendingPathComponent("peduli-sampah.yaml")
        return try ProgramCatalog.parse(try String(contentsOf: url, encoding: .utf8), file: url.lastPathComponent)
    }

    /// `2026-02-10T09:00+07:00`: inside 2026-Q1.
    static let february = Date(timeIntervalSince1970: 1_770_688_800)

    static func verified(
        submissionId: UUID = UUID.timeOrdered(),
        nip: String = ScoringFixture.nip,
        program: String = "peduli-sampah",
        activity: String = "pilah_sampah",
        place: String = "office",
        quantity: Double = 1,
        activityAt: Date = ScoringFixture.february,
        decidedAt: Date? = nil
    ) -> SubmissionVerified {
        SubmissionVerified(
            submissionId: submissionId, nip: nip, opd: "DLH", program: program, activity: activity, place: place,
            activityAt: activityAt, quantity: quantity, decidedAt: decidedAt ?? activityAt.addingTimeInterval(3600),
            decidedBy: SubmissionVerified.automatic, name: "Siti Rahma")
    }

    /// `hour`:`minute` WIB on the given Jakarta calendar day.
    static func jakarta(_ year: Int, _ month: Int, _ day: Int, _ hour: Int = 9, _ minute: Int = 0) -> Date {
        Period.calendar.date(from: DateComponents(year: year, month: month, day: day, hour: hour, minute: minute))!
    }

    static func rejected(
        submissionId: UUID = UUID.timeOrdered(), nip: String = ScoringFixture.nip, fraud: Bool = true,
        decidedAt: Date = ScoringFixture.february, reasonCode: String = "DUPLICATE_EVIDENCE"
    ) -> SubmissionRejected {
        SubmissionRejected(
            submissionId: submissionId, nip: nip, opd: "DLH", reasonCode: reasonCode,
            reason: "Foto sudah pernah dipakai.", decidedAt: decidedAt, decidedBy: "auto", fraud: fraud,
            program: "peduli-sampah", activity: "pilah_sampah")
    }

    static func revoked(
        _ approval: SubmissionVerified, fraud: Bool = false, decidedAt: Date? = nil
    ) -> SubmissionRevoked {
        SubmissionRevoked(
            submissionId: approval.submissionId, nip: approval.nip, opd: approval.opd,
            reasonCode: fraud ? "NEAR_DUPLICATE_EVIDENCE" : "REVIEWER_REJECTED", reason: "Audit: bukti tidak sah.",
            decidedAt: decidedAt ?? approval.decidedAt.addingTimeInterval(86_400), decidedBy: otherNIP, fraud: fraud)
    }

    static func event(_ payload: some EventPayload) throws -> CloudEvent {
        try CloudEvent(payload, from: .verification)
    }

    /// Runs `body` on a fresh database with the scoring schema.
    static func withDatabase<T: Sendable>(_ body: (DatabasePool) async throws -> T) async throws -> T {
        try await withTestDatabase(service: "scoring", migrations: scoringResources.allMigrations()) {
            pool in try await body(pool)
        }
    }

    /// Applies events as the inbox would: one transaction for the batch.
    static func handle(_ events: [CloudEvent], pool: DatabasePool) async throws {
        let handler = DecisionHandler(logger: logger)
        try await pool.withTransaction { connection in try await handler.handle(events, in: connection) }
    }

    /// The outbox rows of `type`, decoded.
    static func outbox<E: EventPayload>(_ type: E.Type, pool: DatabasePool) async throws -> [E] {
        try await pool.withConnection { connection in
            try await connection.query(
                "SELECT payload::text AS payload FROM outbox WHERE type = \(E.eventType) ORDER BY seq"
            )
            .map { row in try ContractsJSON.decode(E.self, from: Data(try row.decode("payload", as: String.self).utf8))
            }
        }
    }

    /// The ledger entries of `nip` in ledger order (every period).
    static func entries(_ nip: String = ScoringFixture.nip, pool: DatabasePool) async throws -> [LedgerEntry] {
        try await pool.withConnection { connection in
            try await PointsLedger.page(nip: nip, periods: nil, after: 0, limit: 10_000, in: connection).entries
        }
    }

    static func count(_ sql: String, pool: DatabasePool) async throws -> Int {
        try await pool.withConnection { connection in
            try await connection.query(SQLQuery(unsafeSQL: sql))[0].decode(0, as: Int.self)
        }
    }

    static func configuration(databaseURL: String) -> ServiceConfiguration {
        ServiceConfiguration(
            serviceName: "scoring", databaseURL: databaseURL, amqpURL: "amqp://guest:guest@127.0.0.1:5672/",
            jwt: JWTSettings(hs256Secret: secret))
    }

    static func bearer(nip: String = ScoringFixture.nip, roles: [String] = ["asn"]) async throws -> HTTPFields {
        let token = try await TokenIssuer(hs256Secret: secret).token(
            nip: nip, name: "Siti Rahma", opd: "DLH", roles: roles, expiresIn: .seconds(600))
        return [.authorization: "Bearer \(token)"]
    }
}
