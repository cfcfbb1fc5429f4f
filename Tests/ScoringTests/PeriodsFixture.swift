import Contracts
import Database
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ServiceSupport
import TestSupport

@testable import Scoring

/// Set-up of the periods, rankings and awards tests: a program without caps (every approval is worth 10 points)
/// with the Bengkulu award chain, a roster, and the scoring app built by the real builder at a fixed clock.
enum PeriodsFixture {
    typealias F = ScoringFixture

    /// Every approval earns exactly 10 points; names for the top 2 only.
    static let program = """
        program: peduli-sampah
        version: 1
        name: Uji periode
        leaderboard:
          showNames: true
          initialsBelowRank: 2
        awards:
          - scheme: teladan-triwulan
            name: ASN Teladan Triwulan
            stage: quarterly
            top: 1
            prize: Uang pembinaan Rp 1.000.000
            prizeAmountRupiah: 1000000
          - scheme: teladan-semester
            stage: semester
            top: 2
            prize: Daftar pendek tahunan
          - scheme: teladan-tahunan
            stage: yearly
            top: 1
            requires: teladan-semester
            prize: Umrah
        activities:
          - code: pilah_sampah
            name: Memilah sampah
            unit: count
            places: [office, home]
            basePoints: 10
        """

    /// 1 February 2026: every period of 2025 has ended, 2026-Q1 has not.
    static let now = F.jakarta(2026, 2, 1, 12)

    /// A valid PNS NIP with serial `serial` (1–999).
    static func nip(_ serial: Int) -> String {
        "198001012005011" + String(format: "%03d", serial)
    }

    /// An approval of 10 points for `nip` at `activityAt`.
    static func approval(_ nip: String, opd: String = "DLH", at activityAt: Date) -> SubmissionVerified {
        SubmissionVerified(
            submissionId: UUID(), nip: nip, opd: opd, program: "peduli-sampah", activity: "pilah_sampah",
            place: "office", activityAt: activityAt, quantity: 1, decidedAt: activityAt.addingTimeInterval(3600),
            decidedBy: SubmissionVerified.automatic, name: nil)
    }

    /// `count` approvals of `nip` on consecutive days from `start`, applied one batch each (ledger order is the
    /// order of the calls).
    @discardableResult
    static func earn(
        _ nip: String, _ count: Int, from start: Date, opd: String = "DLH", pool: DatabasePool
    ) async throws -> [SubmissionVerified] {
        var approvals: [SubmissionVerified] = []
        for day in 0..<count {
            let approval = approval(nip, opd: opd, at: start.addingTimeInterval(Double(day) * 86_400))
            approvals.append(approval)
            try await F.handle([try F.event(approval)], pool: pool)
        }
        return approvals
    }

    /// Roster rows (name, OPD) for the NIPs.
    static func enroll(_ people: [(nip: String, name: String, opd: String)], pool: DatabasePool) async throws {
        try await pool.withConnection { connection in
            try await connection.query(
                """
                INSERT INTO roster (nip, nip_kind, name, opd, active)
                SELECT nip, 'pns', name, opd, true
                FROM unnest(\(people.map(\.nip))::text[], \(people.map(\.name))::text[], \(people.map(\.opd))::text[])
                     AS t(nip, name, opd)
                """)
        }
    }

    /// A programs directory holding `program`.
    static func programsDirectory(_ yaml: String = program) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "periods-programs-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try yaml.write(to: directory.appendingPathComponent("program.yaml"), atomically: true, encoding: .utf8)
        return directory
    }

    /// The app built by the real builder on a fresh database, with the test program, at ``now``.
    static func withApp(
        now: Date = PeriodsFixture.now, testing: TestingSetup = .router,
        _ body: @Sendable (any TestClientProtocol, DatabasePool) async throws -> Void
    ) async throws {
        let directory = try programsDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try await withTestDatabaseURL(service: "scoring", migrations: scoringResources.allMigrations()) { url in
            let service = try ScoringService(
                configuration: F.configuration(databaseURL: url), logger: F.logger, programsDirectory: directory,
                now: { now })
            let pool = service.backbone.pool
            do {
                try await service.prepare()
                let app = try await service.app.buildApplication()
                try await app.test(testing) { client in try await body(client, pool) }
            } catch {
                await pool.close()
                throw error
            }
            await pool.close()
        }
    }

    static func token(nip: String = F.otherNIP, roles: [String], opd: String = "BKPP") async throws -> HTTPFields {
        let token = try await TokenIssuer(hs256Secret: F.secret).token(
            nip: nip, name: "Penguji", opd: opd, roles: roles, expiresIn: .seconds(600))
        return [.authorization: "Bearer \(token)"]
    }

    static func admin() async throws -> HTTPFields { try await token(roles: ["scoring-admin"]) }

    static func decode<T: Decodable>(_ type: T.Type, _ response: TestResponse) throws -> T {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(T.self, from: Data(response.body.readableBytesView))
    }

    struct Problem: Decodable {
        var status: Int
        var code: String?
        var detail: String?
    }

    /// `POST /v1/periods/{id}/close` as scoring-admin; the decoded body on 200.
    static func close(_ id: String, _ client: any TestClientProtocol) async throws -> PeriodCloseResponse {
        try await client.execute(uri: "/v1/periods/\(id)/close", method: .post, headers: try await admin()) {
            response in
            guard response.status == .ok else {
                throw CloseFailed(status: response.status.code, body: String(buffer: response.body))
            }
            return try decode(PeriodCloseResponse.self, response)
        }
    }

    struct CloseFailed: Error, CustomStringConvertible {
        var status: Int
        var body: String
        var description: String { "close answered \(status): \(body)" }
    }

    static func ranking(
        _ query: String, _ client: any TestClientProtocol, headers: HTTPFields? = nil
    ) async throws -> RankingResponse {
        var authorization = headers ?? [:]
        if headers == nil { authorization = try await admin() }
        let headers = authorization
        return try await client.execute(uri: "/v1/rankings?\(query)", method: .get, headers: headers) { response in
            guard response.status == .ok else {
                throw CloseFailed(status: response.status.code, body: String(buffer: response.body))
            }
            return try decode(RankingResponse.self, response)
        }
    }
}
