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

/// The BKPP endpoints through the real builder and database: programs, roster, campaigns, recompute, ledger.
@Suite("Scoring admin API")
struct ScoringAdminRoutesTests {
    typealias F = ScoringFixture

    static func withApp(_ body: @Sendable (any TestClientProtocol, DatabasePool) async throws -> Void) async throws {
        try await withTestDatabaseURL(service: "scoring", migrations: scoringResources.allMigrations()) { url in
            let service = try ScoringService(
                configuration: F.configuration(databaseURL: url), logger: F.logger,
                programsDirectory: F.programsDirectory, now: { F.february })
            let pool = service.backbone.pool
            do {
                try await service.prepare()
                let app = try await service.app.buildApplication()
                try await app.test(.router) { client in try await body(client, pool) }
            } catch {
                await pool.close()
                throw error
            }
            await pool.close()
        }
    }

    static func admin() async throws -> HTTPFields { try await F.bearer(nip: F.otherNIP, roles: ["scoring-admin"]) }

    static func object(_ response: TestResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
    }

    // MARK: Programs

    static let version2 = try! String(
        contentsOf: F.programsDirectory.appendingPathComponent("peduli-sampah.yaml"), encoding: .utf8
    ).replacingOccurrences(of: "version: 1", with: "version: 2")

    @Test("PUT /v1/programs/{code} stores a new version and publishes it; GET reads any version")
    func putProgram() async throws {
        try await Self.withApp { client, pool in
            var headers = try await Self.admin()
            headers[.contentType] = "application/yaml"
            let put = try await client.execute(
                uri: "/v1/programs/peduli-sampah", method: .put, headers: headers,
                body: ByteBuffer(string: Self.version2))
            #expect(put.status == .created)
            #expect(try Self.object(put)["ruleVersion"] as? String == "peduli-sampah@2")
            // The same version again: 200, nothing new published.
            let again = try await client.execute(
                uri: "/v1/programs/peduli-sampah", method: .put, headers: headers,
                body: ByteBuffer(string: Self.version2))
            #expect(again.status == .ok)
            let published = try await F.outbox(ProgramPublished.self, pool: pool)
            #expect(published.map(\.programVersion) == ["1", "2"])
            // Republishing enqueues the current version once more, for a consumer added later.
            let republished = try await client.execute(
                uri: "/v1/programs/peduli-sampah/republish", method: .post, headers: try await Self.admin())
            #expect(republished.status == .accepted)
            #expect(try await F.outbox(ProgramPublished.self, pool: pool).map(\.programVersion) == ["1", "2", "2"])
            let unknown = try await client.execute(
                uri: "/v1/programs/memancing/republish", method: .post, headers: try await Self.admin())
            #expect(unknown.status == .notFound)
            #expect(published.last?.maxClaimAgeDays == 7)
            #expect(published.last?.verification?.nearDuplicateDistance == 6)
            #expect(published.last?.activity("bank_sampah")?.minQuantity == 0.1)
            // Other content under a stored version: 409.
            let conflict = try await client.execute(
                uri: "/v1/programs/peduli-sampah", method: .put, headers: headers,
                body: ByteBuffer(
                    string: Self.version2.replacingOccurrences(of: "basePoints: 10", with: "basePoints: 11")))
            #expect(conflict.status == .conflict)

            let reader = try await F.bearer()
            let current = try await client.execute(uri: "/v1/programs/peduli-sampah", method: .get, headers: reader)
            #expect(try Self.object(current)["version"] as? Int == 2)
            let first = try await client.execute(
                uri: "/v1/programs/peduli-sampah?version=1", method: .get, headers: reader)
            #expect(try Self.object(first)["version"] as? Int == 1)
            // An ASN may not change programs.
            var asn = try await F.bearer()
            asn[.contentType] = "application/yaml"
            let refused = try await client.execute(
                uri: "/v1/programs/peduli-sampah", method: .put, headers: asn, body: ByteBuffer(string: Self.version2))
            #expect(refused.status == .forbidden)
        }
    }

    struct BadProgram: Sendable, CustomTestStringConvertible {
        var original: String
        var replacement: String
        var field: String
        var line: Int
        var testDescription: String { field }
    }

    @Test(
        "a bad program file gets a 422 naming line, column and field",
        arguments: [
            // Line numbers of deploy/programs/peduli-sampah.yaml.
            BadProgram(
                original: "    basePoints: 15\n", replacement: "    basePoint: 15\n",
                field: "activities[1].basePoint", line: 0),
            BadProgram(
                original: "    basePoints: 20\n", replacement: "    basePoints: dua puluh\n",
                field: "activities[3].basePoints", line: 0),
            BadProgram(
                original: "    basePoints: 25\n", replacement: "    basePoints: -25\n",
                field: "activities[5].basePoints", line: 0),
            BadProgram(
                original: "    places: [home]\n", replacement: "    places: [home, pasar]\n",
                field: "activities[5].places[1]", line: 0),
        ])
    func badProgram(_ bad: BadProgram) async throws {
        let yaml = Self.version2.replacingOccurrences(of: bad.original, with: bad.replacement)
        #expect(yaml != Self.version2)
        let lines = yaml.split(separator: "\n", omittingEmptySubsequences: false)
        let expectedLine = try #require(lines.firstIndex { $0 == bad.replacement.dropLast() }) + 1
        try await Self.withApp { client, _ in
            var headers = try await Self.admin()
            headers[.contentType] = "application/yaml"
            let response = try await client.execute(
                uri: "/v1/programs/peduli-sampah", method: .put, headers: headers, body: ByteBuffer(string: yaml))
            #expect(response.status == .unprocessableContent)
            #expect(response.headers[.contentType] == "application/problem+json")
            let body = try Self.object(response)
            let problems = try #require(body["problems"] as? [[String: Any]])
            let problem = try #require(problems.first { $0["field"] as? String == bad.field }, "\(problems)")
            #expect(problem["line"] as? Int == expectedLine)
            #expect((problem["column"] as? Int ?? 0) > 0)
            #expect((body["detail"] as? String)?.contains("baris \(expectedLine)") == true)
        }
    }

    // MARK: Roster

    static let header = "nip,name,opd,unit,phone,email,office_lat,office_lon,home_lat,home_lon,active\n"

    static func postRoster(_ client: any TestClientProtocol, _ csv: String, query: String = "") async throws
        -> TestResponse
    {
        var headers = try await admin()
        headers[.contentType] = "text/csv"
        return try await client.execute(
            uri: "/v1/roster\(query)", method: .post, headers: headers, body: ByteBuffer(string: csv))
    }

    @Test("a roster import normalises rows, publishes asn.enrolled, then asn.updated only for changed rows")
    func rosterImport() async throws {
        try await Self.withApp { client, pool in
            let pppk = "199203152024212001"  // PPPK: appointment year then 21
            let csv =
                Self.header
                + "198503152010011001,Siti Rahma,dlh,Bidang Kebersihan,0812-3456-7890,Siti@Semarangkota.go.id,"
                + "-6.9932,110.4203,-7.0051,110.4381,true\n"
                + "\(pppk),\"Budi, S.Kom\",DINKES,,+62 813 1111 2222,,,,,,1\n"
            let dry = try await Self.postRoster(client, csv, query: "?dryRun=true")
            #expect(dry.status == .ok)
            let dryReport = try Self.object(dry)
            #expect(dryReport["enrolled"] as? Int == 2)
            #expect(dryReport["applied"] as? Bool == false)
            #expect(try await F.count("SELECT count(*) FROM roster", pool: pool) == 0)

            let first = try await Self.postRoster(client, csv)
            #expect(first.status == .ok)
            #expect(try Self.object(first)["enrolled"] as? Int == 2)
            let enrolled = try await F.outbox(ASNEnrolled.self, pool: pool)
            #expect(enrolled.count == 2)
            let siti = try #require(enrolled.first { $0.nip == F.nip })
            #expect(siti.opd == "DLH")
            #expect(siti.phone == "+6281234567890")
            #expect(siti.email == "siti@semarangkota.go.id")
            #expect(siti.locations?.map(\.place) == ["office", "home"])
            #expect(siti.locations?.first?.latitude == -6.9932)
            #expect(enrolled.first { $0.nip == pppk }?.name == "Budi, S.Kom")

            // Same file again: nothing changes, nothing is published. One row changed: one asn.updated.
            let same = try await Self.postRoster(client, csv)
            #expect(try Self.object(same)["unchanged"] as? Int == 2)
            let changed = try await Self.postRoster(client, csv.replacingOccurrences(of: "DINKES", with: "DLH"))
            #expect(try Self.object(changed)["updated"] as? Int == 1)
            let updated = try await F.outbox(ASNUpdated.self, pool: pool)
            #expect(updated.map(\.nip) == [pppk])
            #expect(updated.first?.changedFields == ["opd"])
            #expect(try await F.outbox(ASNEnrolled.self, pool: pool).count == 2)

            let record = try await client.execute(
                uri: "/v1/roster/\(pppk)", method: .get, headers: try await Self.admin())
            #expect(record.status == .ok)
            #expect(try Self.object(record)["nipKind"] as? String == "pppk")
            // An ASN reads their own record, not another's.
            let own = try await client.execute(uri: "/v1/roster/\(F.nip)", method: .get, headers: try await F.bearer())
            #expect(own.status == .ok)
            let other = try await client.execute(uri: "/v1/roster/\(pppk)", method: .get, headers: try await F.bearer())
            #expect(other.status == .forbidden)
        }
    }

    @Test("roster errors name the line and the field; any invalid row changes nothing unless partial=true")
    func rosterErrors() async throws {
        try await Self.withApp { client, pool in
            let csv =
                Self.header
                + "198503152010011001,Siti Rahma,DLH,,,,,,,,true\n"
                + "198513152010011001,Tanggal Salah,DLH,,,,,,,,true\n"  // line 3: month 13
                + "198503152010011001,Siti Lagi,DLH,,,,,,,,true\n"  // line 4: duplicate of line 2
                + "199001012015032002,Koordinat,DLH,,,,110.42,-6.99,,,true\n"  // line 5: swapped coordinates
                + "199001012015031003,Baik,DLH,,,,,,,,false\n"
            let response = try await Self.postRoster(client, csv)
            #expect(response.status == .unprocessableContent)
            #expect(response.headers[.contentType] == "application/problem+json")
            let body = try Self.object(response)
            let report = try #require(body["report"] as? [String: Any])
            let errors = try #require(report["errors"] as? [[String: Any]])
            let found = errors.map { "\($0["line"] as? Int ?? 0) \($0["field"] as? String ?? "") \($0["code"] ?? "")" }
            #expect(found == ["3 nip INVALID_NIP", "4 nip DUPLICATE_NIP", "5 office_lat INVALID_COORDINATE"])
            #expect(report["valid"] as? Int == 2)
            #expect(try await F.count("SELECT count(*) FROM roster", pool: pool) == 0)
            #expect(try await F.outbox(ASNEnrolled.self, pool: pool).isEmpty)

            let partial = try await Self.postRoster(client, csv, query: "?partial=true")
            #expect(partial.status == .ok)
            #expect(try Self.object(partial)["enrolled"] as? Int == 2)
            #expect(try await F.count("SELECT count(*) FROM roster", pool: pool) == 2)

            let badHeader = try await Self.postRoster(client, "nip,nama\n1,2\n")
            #expect(badHeader.status == .unprocessableContent)
        }
    }

    @Test("a 20,000-row roster is imported in one request")
    func largeRoster() async throws {
        try await Self.withApp { client, pool in
            var csv = Self.header
            csv.reserveCapacity(20_000 * 90)
            for index in 0..<20_000 {
                let serial = String(format: "%03d", index % 999 + 1)
                let year = 1960 + index / 999 % 40
                csv +=
                    "\(year)0101\(year + 25)01\(index % 2 + 1)\(serial),ASN \(index),OPD\(index % 40),,"
                    + "0812\(String(format: "%08d", index)),,-6.99,110.42,,,true\n"
            }
            let response = try await Self.postRoster(client, csv)
            #expect(response.status == .ok, "\(String(buffer: response.body).prefix(500))")
            #expect(try Self.object(response)["enrolled"] as? Int == 20_000)
            #expect(try await F.count("SELECT count(*) FROM roster", pool: pool) == 20_000)
            #expect(
                try await F.count("SELECT count(*) FROM outbox WHERE type LIKE '%asn.enrolled%'", pool: pool) == 20_000)
        }
    }

    // MARK: Campaigns, recompute, ledger

    @Test("campaigns: scoring-admin creates and lists; invalid input is a 422; an ASN is refused")
    func campaigns() async throws {
        try await Self.withApp { client, _ in
            var headers = try await Self.admin()
            headers[.contentType] = "application/json"
            let body = """
                {"name":"Hari Peduli Sampah Nasional","multiplier":2,"activities":["pilah_sampah"],
                 "startsAt":"2026-02-21T00:00:00+07:00","endsAt":"2026-02-22T00:00:00+07:00"}
                """
            let created = try await client.execute(
                uri: "/v1/campaigns", method: .post, headers: headers, body: ByteBuffer(string: body))
            #expect(created.status == .created)
            let id = try #require(try Self.object(created)["id"] as? String)
            #expect(id == id.lowercased())
            let list = try await client.execute(uri: "/v1/campaigns", method: .get, headers: try await Self.admin())
            #expect((try Self.object(list)["campaigns"] as? [Any])?.count == 1)
            let bad = try await client.execute(
                uri: "/v1/campaigns", method: .post, headers: headers,
                body: ByteBuffer(string: body.replacingOccurrences(of: "pilah_sampah", with: "memancing")))
            #expect(bad.status == .unprocessableContent)
            // A multiplier that rounds to 0.000 in numeric(6,3) (schemathesis found it as a 500).
            let tiny = try await client.execute(
                uri: "/v1/campaigns", method: .post, headers: headers,
                body: ByteBuffer(
                    string: body.replacingOccurrences(of: "\"multiplier\":2", with: "\"multiplier\":6.1e-05")))
            #expect(tiny.status == .unprocessableContent)
            var asn = try await F.bearer()
            asn[.contentType] = "application/json"
            let refused = try await client.execute(
                uri: "/v1/campaigns", method: .post, headers: asn, body: ByteBuffer(string: body))
            #expect(refused.status == .forbidden)

            // Stopping ends it now: endsAt moves back to now (never before its start), and a second stop keeps it.
            let running = """
                {"name":"Pekan Kompos","multiplier":1.5,"startsAt":"2026-01-01T00:00:00+07:00",
                 "endsAt":"2099-01-01T00:00:00+07:00"}
                """
            let started = try await client.execute(
                uri: "/v1/campaigns", method: .post, headers: headers, body: ByteBuffer(string: running))
            let runningId = try #require(try Self.object(started)["id"] as? String)
            let stopped = try await client.execute(
                uri: "/v1/campaigns/\(runningId)/stop", method: .post, headers: try await Self.admin())
            #expect(stopped.status == .ok)
            let endsAt = try #require(try Self.object(stopped)["endsAt"] as? String)
            #expect(try #require(RFC3339.parse(endsAt)) <= Date())
            let again = try await client.execute(
                uri: "/v1/campaigns/\(runningId)/stop", method: .post, headers: try await Self.admin())
            #expect(try Self.object(again)["endsAt"] as? String == endsAt)
            let missing = try await client.execute(
                uri: "/v1/campaigns/\(UUID().uuidString.lowercased())/stop", method: .post,
                headers: try await Self.admin())
            #expect(missing.status == .notFound)
            let asnStop = try await client.execute(
                uri: "/v1/campaigns/\(runningId)/stop", method: .post, headers: try await F.bearer())
            #expect(asnStop.status == .forbidden)

            // A campaign that has not started yet: stopping it leaves a 1 ms window at its start (was a 500, the
            // stop set endsAt = startsAt against the table's check).
            let future = """
                {"name":"Pekan Depan","multiplier":2,"startsAt":"2098-01-01T00:00:00+07:00",
                 "endsAt":"2098-01-08T00:00:00+07:00"}
                """
            let planned = try await client.execute(
                uri: "/v1/campaigns", method: .post, headers: headers, body: ByteBuffer(string: future))
            let futureId = try #require(try Self.object(planned)["id"] as? String)
            let cancelled = try await client.execute(
                uri: "/v1/campaigns/\(futureId)/stop", method: .post, headers: try await Self.admin())
            #expect(cancelled.status == .ok)
            let window = try Self.object(cancelled)
            let startsAt = try #require(window["startsAt"] as? String)
            let endsAtText = try #require(window["endsAt"] as? String)
            let start = try #require(RFC3339.parse(startsAt))
            let end = try #require(RFC3339.parse(endsAtText))
            // The API shows whole seconds, so the 1 ms window reads as endsAt == startsAt.
            #expect(end >= start && end.timeIntervalSince(start) < 1)
        }
    }

    @Test("ledger: an ASN reads only their own; admin and auditor anyone's; pages by cursor; lowercase UUIDs")
    func ledger() async throws {
        try await Self.withApp { client, pool in
            try await F.handle(
                try (1...5).map { try F.event(F.verified(activityAt: F.jakarta(2026, 2, $0 * 7))) }, pool: pool)
            let own = try await client.execute(
                uri: "/v1/ledger?nip=\(F.nip)&period=2026-Q1&limit=3", method: .get, headers: try await F.bearer())
            #expect(own.status == .ok)
            let page = try Self.object(own)
            let entries = try #require(page["entries"] as? [[String: Any]])
            #expect(entries.count == 3)
            let id = try #require(entries.first?["id"] as? String)
            #expect(id == id.lowercased())
            #expect((entries.first?["submissionId"] as? String).map { $0 == $0.lowercased() } == true)
            let cursor = try #require(page["nextCursor"] as? String)
            let next = try await client.execute(
                uri: "/v1/ledger?nip=\(F.nip)&period=2026-Q1&limit=3&cursor=\(cursor)", method: .get,
                headers: try await F.bearer())
            #expect((try Self.object(next)["entries"] as? [Any])?.count == 3)  // 4 awards + 1 streak bonus

            let other = try await client.execute(
                uri: "/v1/ledger?nip=\(F.nip)", method: .get, headers: try await F.bearer(nip: F.otherNIP))
            #expect(other.status == .forbidden)
            let everyone = try await client.execute(uri: "/v1/ledger", method: .get, headers: try await F.bearer())
            #expect(everyone.status == .forbidden)
            for role in ["scoring-admin", "auditor"] {
                let response = try await client.execute(
                    uri: "/v1/ledger?nip=\(F.nip)", method: .get,
                    headers: try await F.bearer(nip: F.otherNIP, roles: [role]))
                #expect(response.status == .ok, "\(role)")
            }
            let points = try await client.execute(
                uri: "/v1/asn/\(F.nip)/points?period=2026", method: .get, headers: try await F.bearer())
            #expect(try Self.object(points)["points"] as? Int == 70)  // 5 × 10 + a 4-week streak bonus of 20
        }
    }

    @Test("POST /v1/recompute: dry run by default, 404 for an unknown version, 400 for a NUL, refused to an auditor")
    func recompute() async throws {
        try await Self.withApp { client, pool in
            try await F.handle([try F.event(F.verified())], pool: pool)
            var headers = try await Self.admin()
            headers[.contentType] = "application/json"
            let response = try await client.execute(
                uri: "/v1/recompute", method: .post, headers: headers,
                body: ByteBuffer(string: #"{"program":"peduli-sampah","version":1}"#))
            #expect(response.status == .ok)
            let report = try Self.object(response)
            #expect(report["dryRun"] as? Bool == true)
            #expect(report["asnCompared"] as? Int == 1)
            #expect((report["differences"] as? [Any])?.isEmpty == true)
            let missing = try await client.execute(
                uri: "/v1/recompute", method: .post, headers: headers,
                body: ByteBuffer(string: #"{"program":"peduli-sampah","version":9}"#))
            #expect(missing.status == .notFound)
            // A NUL character PostgreSQL cannot store is the request's fault: 400, not a 500.
            let nul = try await client.execute(
                uri: "/v1/recompute", method: .post, headers: headers,
                body: ByteBuffer(string: #"{"program":"peduli\u0000sampah"}"#))
            #expect(nul.status == .badRequest)
            #expect(try Self.object(nul)["code"] as? String == "INVALID_TEXT")
            var auditor = try await F.bearer(nip: F.otherNIP, roles: ["auditor"])
            auditor[.contentType] = "application/json"
            let refused = try await client.execute(
                uri: "/v1/recompute", method: .post, headers: auditor,
                body: ByteBuffer(string: #"{"program":"peduli-sampah"}"#))
            #expect(refused.status == .forbidden)
        }
    }
}
