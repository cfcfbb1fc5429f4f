import AMQP
import Contracts
import Database
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import ServiceSupport
import TestSupport
import Testing

@testable import Scoring

@Suite("Scoring HTTP API")
struct ScoringRoutesTests {
    /// The app built by the real builder on a fresh database holding the program and two awards of the ASN.
    static func withApp(_ body: @Sendable (any TestClientProtocol) async throws -> Void) async throws {
        try await withTestDatabaseURL(service: "scoring", migrations: scoringResources.allMigrations()) { url in
            let service = try ScoringService(
                configuration: ScoringFixture.configuration(databaseURL: url),
                logger: ScoringFixture.logger,
                programsDirectory: ScoringFixture.programsDirectory,
                now: { ScoringFixture.february.addingTimeInterval(86_400) })
            let pool = service.backbone.pool
            do {
                try await service.prepare()
                try await ScoringFixture.handle(
                    [
                        try ScoringFixture.event(ScoringFixture.verified(activity: "bank_sampah", quantity: 2)),
                        try ScoringFixture.event(ScoringFixture.verified(activity: "komposting", place: "home")),
                        // 1 April 01:00 WIB: counts in 2026-Q2.
                        try ScoringFixture.event(
                            ScoringFixture.verified(activityAt: Date(timeIntervalSince1970: 1_774_980_000))),
                    ],
                    pool: pool)
                let app = try await service.app.buildApplication()
                try await app.test(.router, body)
            } catch {
                await pool.close()
                throw error
            }
            await pool.close()
        }
    }

    struct Problem: Decodable {
        var status: Int
        var code: String
        var detail: String
    }

    static func json<T: Decodable>(_ type: T.Type, _ response: TestResponse) throws -> T {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(T.self, from: Data(response.body.readableBytesView))
    }

    @Test("an ASN reads their own points; the period defaults to the current quarter")
    func ownPoints() async throws {
        try await Self.withApp { client in
            let headers = try await ScoringFixture.bearer()
            try await client.execute(uri: "/v1/asn/\(ScoringFixture.nip)/points", method: .get, headers: headers) {
                response in
                #expect(response.status == .ok)
                let body = try Self.json(PointsResponse.self, response)
                #expect(body.period == "2026-Q1")
                #expect(body.periodName == "Triwulan I 2026")
                #expect(body.points == 24)
                #expect(body.entries.map(\.activity) == ["bank_sampah", "komposting"])
                #expect(body.entries.map(\.kind) == ["award", "award"])
            }
            try await client.execute(
                uri: "/v1/asn/\(ScoringFixture.nip)/points?period=2026-S1", method: .get, headers: headers
            ) { response in
                let body = try Self.json(PointsResponse.self, response)
                #expect(body.points == 34)
            }
            try await client.execute(
                uri: "/v1/asn/\(ScoringFixture.nip)/points?period=2026-Q3", method: .get, headers: headers
            ) { response in
                let body = try Self.json(PointsResponse.self, response)
                #expect(body.points == 0)
                #expect(body.entries.isEmpty)
            }
        }
    }

    @Test("another ASN's points: 403 for an ASN, 200 for scoring-admin and auditor")
    func otherPoints() async throws {
        try await Self.withApp { client in
            let uri = "/v1/asn/\(ScoringFixture.nip)/points?period=2026-Q1"
            try await client.execute(
                uri: uri, method: .get, headers: try await ScoringFixture.bearer(nip: ScoringFixture.otherNIP)
            ) {
                response in
                #expect(response.status == .forbidden)
                #expect(response.headers[.contentType] == "application/problem+json")
            }
            for role in ["scoring-admin", "auditor"] {
                let headers = try await ScoringFixture.bearer(nip: ScoringFixture.otherNIP, roles: [role])
                try await client.execute(uri: uri, method: .get, headers: headers) { response in
                    #expect(response.status == .ok, "\(role)")
                    let body = try Self.json(PointsResponse.self, response)
                    #expect(body.points == 24)
                }
            }
        }
    }

    @Test("no token → 401, bad period or NIP → 400, all as problem+json")
    func errors() async throws {
        try await Self.withApp { client in
            try await client.execute(uri: "/v1/asn/\(ScoringFixture.nip)/points", method: .get) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.contentType] == "application/problem+json")
            }
            let headers = try await ScoringFixture.bearer()
            for (query, code) in [("?period=2026-Q5", "INVALID_PERIOD"), ("?period=kuartal", "INVALID_PERIOD")] {
                try await client.execute(
                    uri: "/v1/asn/\(ScoringFixture.nip)/points\(query)", method: .get, headers: headers
                ) { response in
                    #expect(response.status == .badRequest)
                    #expect(response.headers[.contentType] == "application/problem+json")
                    let problem = try Self.json(Problem.self, response)
                    #expect(problem.status == 400)
                    #expect(problem.code == code)
                    #expect(problem.detail.contains("periode"))
                }
            }
            try await client.execute(uri: "/v1/asn/12345/points", method: .get, headers: headers) { response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).contains("INVALID_NIP"))
            }
        }
    }

    @Test("programs: the current version for any authenticated caller, 404 for an unknown one")
    func programs() async throws {
        try await Self.withApp { client in
            let headers = try await ScoringFixture.bearer(roles: ["dashboard"])
            try await client.execute(uri: "/v1/programs", method: .get, headers: headers) { response in
                #expect(response.status == .ok)
                let list = try Self.json(ProgramList.self, response)
                #expect(list.programs.map(\.program) == ["peduli-sampah"])
                #expect(list.programs.first?.activities.count == 6)
            }
            try await client.execute(uri: "/v1/programs/peduli-sampah", method: .get, headers: headers) { response in
                #expect(response.status == .ok)
                let program = try Self.json(ProgramView.self, response)
                #expect(program.ruleVersion == "peduli-sampah@1")
            }
            try await client.execute(uri: "/v1/programs/tidak-ada", method: .get, headers: headers) { response in
                #expect(response.status == .notFound)
                #expect(String(buffer: response.body).contains("PROGRAM_NOT_FOUND"))
            }
            try await client.execute(uri: "/v1/programs", method: .get) { response in
                #expect(response.status == .unauthorized)
            }
            try await client.execute(uri: "/openapi.yaml", method: .get) { response in
                #expect(response.status == .ok)
                #expect(String(buffer: response.body).contains("/v1/asn/{nip}/points"))
            }
        }
    }
}
