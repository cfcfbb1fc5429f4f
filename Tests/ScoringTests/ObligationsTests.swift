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

/// Lelang Kinerja commitments, sanctions, the collective rule, TPP adjustments and the HR exports, on the real
/// database through the real builder (see ``ObligationsFixture`` for the city).
@Suite("Scoring obligations")
struct ObligationsTests {
    typealias O = ObligationsFixture
    typealias F = ScoringFixture

    static func object(_ response: TestResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
    }

    static func items(_ response: TestResponse) throws -> [[String: Any]] {
        try #require(try object(response)["items"] as? [[String: Any]])
    }

    /// RFC 4180 records of `text` (quoted fields with doubled quotes, CRLF line ends).
    static func csvRows(_ text: String) -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var quoted = false
        var characters = Array(text)[...]
        while let character = characters.popFirst() {
            if quoted {
                if character == "\"" {
                    if characters.first == "\"" {
                        field.append("\"")
                        characters.removeFirst()
                    } else {
                        quoted = false
                    }
                } else {
                    field.append(character)
                }
            } else if character == "\"" {
                quoted = true
            } else if character == "," {
                row.append(field)
                field = ""
            } else if character == "\r\n" || character == "\n" {
                row.append(field)
                rows.append(row)
                row = []
                field = ""
            } else {
                field.append(character)
            }
        }
        return rows
    }

    // MARK: Close

    @Test("at close a missed and a met commitment are evaluated, the miss sanctions the OPD and lists its inactive ASN")
    func commitmentsAtClose() async throws {
        try await O.withApp { _, pool in
            try await O.seed(pool)
            let outcome = try await O.close(pool)

            let evaluated = try await F.outbox(CommitmentEvaluated.self, pool: pool)
            let byId = Dictionary(uniqueKeysWithValues: evaluated.map { ($0.commitmentId, $0) })
            #expect(evaluated.count == 3)
            let participation = try #require(byId[O.participationCommitment])
            #expect(participation.met == false)
            #expect(participation.actual == 40)  // Ani and Budi of five active DLH ASN
            #expect(participation.target == 75)
            #expect(participation.baseline == 40)
            #expect(participation.inactiveCount == 3)
            #expect(participation.evaluatedAt == O.closedAt)
            let activities = try #require(byId[O.activitiesCommitment])
            #expect(activities.met == true)
            #expect(activities.actual == 3)  // Citra's reversed approval does not count
            let kg = try #require(byId[O.kgCommitment])
            #expect(kg.met == true)
            #expect(kg.actual == 5.5)  // the unscorable approval of Fajar is not counted

            let sanctions = try await F.outbox(SanctionImposed.self, pool: pool)
            #expect(SanctionImposed.isConfidential)
            let opdSanctions = sanctions.filter { $0.nip == nil }
            #expect(opdSanctions.count == 1)
            #expect(opdSanctions.first?.kind == "commitment_missed")
            #expect(opdSanctions.first?.opd == "DLH")
            #expect(opdSanctions.first?.commitmentId == O.participationCommitment)
            let low = sanctions.filter { $0.kind == "low_performance" }
            #expect(low.map { $0.nip ?? "" }.sorted() == [O.citra, O.dedi, O.gita])
            #expect(low.allSatisfy { $0.tppAdjustmentPercent == -5 && $0.opd == "DLH" && $0.subject == $0.nip })
            #expect(outcome.withheldOPDs == ["DLH"])

            // The API shows the outcome.
            let stored = try await pool.withConnection {
                try await Commitments.list(period: "2026-Q1", opd: nil, in: $0)
            }
            #expect(stored.map { $0.result?.met } == [true, true, false])  // DINKES kg, DLH activities, DLH participation
            #expect(
                try await F.count("SELECT count(*) FROM opd_participation WHERE tpp_withheld", pool: pool) == 1)

            // A second evaluation (a retried close) adds nothing.
            let again = try await O.close(pool)
            #expect(again.evaluated.isEmpty && again.sanctions.isEmpty && again.exportRows == 0)
            #expect(try await F.outbox(CommitmentEvaluated.self, pool: pool).count == 3)
            #expect(try await F.outbox(SanctionImposed.self, pool: pool).count == 4)
            #expect(try await F.count("SELECT count(*) FROM sanctions", pool: pool) == 4)
        }
    }

    @Test("the collective rule withholds the TPP adjustment of an OPD below the participation minimum")
    func collectiveRule() async throws {
        try await O.withApp { client, pool in
            try await O.seed(pool)
            try await O.close(pool)
            let response = try await client.execute(
                uri: "/v1/periods/2026-Q1/export.json", method: .get,
                headers: try await O.token(O.admin, roles: ["scoring-admin"]))
            #expect(response.status == .ok)
            let rows = try #require(try Self.object(response)["rows"] as? [[String: Any]])
            let byNIP = Dictionary(uniqueKeysWithValues: rows.map { ($0["nip"] as? String ?? "", $0) })
            // Ani reached 300 points (5 %) but DLH's participation was 40 % < 50 %: withheld.
            #expect(byNIP[O.ani]?["points"] as? Int == 320)
            #expect(byNIP[O.ani]?["tppAdjustmentPercent"] as? Double == 0)
            #expect(byNIP[O.ani]?["tppWithheld"] as? Bool == true)
            // Sanction cuts still apply under the withholding.
            #expect(byNIP[O.dedi]?["tppAdjustmentPercent"] as? Double == -5)
            // DINKES (100 %) is paid: Eka 300 points → 5 %, Fajar 100 → 2.5 %.
            #expect(byNIP[O.eka]?["tppAdjustmentPercent"] as? Double == 5)
            #expect(byNIP[O.eka]?["tppWithheld"] as? Bool == false)
            #expect(byNIP[O.fajar]?["tppAdjustmentPercent"] as? Double == 2.5)
            #expect(byNIP[O.hadi] == nil)  // inactive, no ledger entry: not exported
        }
    }

    // MARK: Exports

    @Test("exports match the committed fixtures byte for byte; an open period's is provisional")
    func exportFixtures() async throws {
        try await O.withApp { client, pool in
            try await O.seed(pool)
            let admin = try await O.token(O.admin, roles: ["scoring-admin"])
            let open = try await client.execute(uri: "/v1/periods/2026-Q1/export.csv", method: .get, headers: admin)
            #expect(open.status == .ok)
            #expect(open.headers[HTTPField.Name("Export-Status")!] == "provisional")
            try O.expectFixture("export-2026-Q1-provisional.csv", Array(open.body.readableBytesView))

            try await O.close(pool)
            let csv = try await client.execute(uri: "/v1/periods/2026-Q1/export.csv", method: .get, headers: admin)
            #expect(csv.status == .ok)
            #expect(csv.headers[.contentType] == "text/csv; charset=utf-8; header=present")
            #expect(csv.headers[HTTPField.Name("Export-Status")!] == "final")
            try O.expectFixture("export-2026-Q1.csv", Array(csv.body.readableBytesView))
            let json = try await client.execute(uri: "/v1/periods/2026-Q1/export.json", method: .get, headers: admin)
            #expect(json.status == .ok)
            try O.expectFixture("export-2026-Q1.json", Array(json.body.readableBytesView))
            let head = try await O.token(O.headDLH, roles: ["opd-head"], opd: "DLH")
            let dlh = try await client.execute(uri: "/v1/periods/2026-Q1/export.csv", method: .get, headers: head)
            try O.expectFixture("export-2026-Q1-DLH.csv", Array(dlh.body.readableBytesView))
        }
    }

    @Test("closing through POST /v1/periods/{id}/close runs the obligations once; the export is final")
    func closeEndpoint() async throws {
        try await O.withApp(now: O.closedAt) { client, pool in
            try await O.seed(pool)
            let admin = try await O.token(O.admin, roles: ["scoring-admin"])
            let first = try await client.execute(uri: "/v1/periods/2026-Q1/close", method: .post, headers: admin)
            #expect(first.status == .ok)
            let again = try await client.execute(uri: "/v1/periods/2026-Q1/close", method: .post, headers: admin)
            #expect(try Self.object(again)["alreadyClosed"] as? Bool == true)
            #expect(try await F.outbox(CommitmentEvaluated.self, pool: pool).count == 3)
            #expect(try await F.outbox(SanctionImposed.self, pool: pool).count == 4)
            let csv = try await client.execute(uri: "/v1/periods/2026-Q1/export.csv", method: .get, headers: admin)
            #expect(csv.headers[HTTPField.Name("Export-Status")!] == "final")
            // The program file's quarterly award (the periods close) shows in the award column.
            try O.expectFixture("export-2026-Q1-closed-by-endpoint.csv", Array(csv.body.readableBytesView))
        }
    }

    // MARK: Visibility

    struct Viewer: Sendable, CustomTestStringConvertible {
        var label: String
        var nip: String
        var roles: [String]
        var opd: String
        /// NIPs (or `OPD:<code>` for OPD sanctions) expected from `GET /v1/sanctions`; `nil`: 403.
        var sanctions: [String]?
        /// OPDs of the export rows; `nil`: 403.
        var exportOPDs: Set<String>?
        var testDescription: String { label }
    }

    static let everyone = [O.citra, O.dedi, O.gita, "OPD:DLH"].sorted()

    @Test(
        "sanctions and exports are visible only to the ASN concerned, their OPD head, BKPP and auditors",
        arguments: [
            Viewer(
                label: "the ASN concerned", nip: O.citra, roles: ["asn"], opd: "DLH", sanctions: [O.citra],
                exportOPDs: nil),
            Viewer(label: "another ASN", nip: O.ani, roles: ["asn"], opd: "DLH", sanctions: [], exportOPDs: nil),
            Viewer(
                label: "the OPD head of another OPD", nip: O.headDINKES, roles: ["opd-head"], opd: "DINKES",
                sanctions: [], exportOPDs: ["DINKES"]),
            Viewer(
                label: "the OPD head of the same OPD", nip: O.headDLH, roles: ["opd-head"], opd: "DLH",
                sanctions: everyone, exportOPDs: ["DLH"]),
            Viewer(
                label: "auditor", nip: O.auditor, roles: ["auditor"], opd: "INSPEKTORAT", sanctions: everyone,
                exportOPDs: ["DLH", "DINKES"]),
            Viewer(
                label: "scoring-admin", nip: O.admin, roles: ["scoring-admin"], opd: "BKPP", sanctions: everyone,
                exportOPDs: ["DLH", "DINKES"]),
            Viewer(
                label: "a dashboard", nip: O.admin, roles: ["dashboard"], opd: "KOMINFO", sanctions: nil,
                exportOPDs: nil),
        ])
    func visibility(_ viewer: Viewer) async throws {
        try await O.withApp { client, pool in
            try await O.seed(pool)
            try await O.close(pool)
            let headers = try await O.token(viewer.nip, roles: viewer.roles, opd: viewer.opd)
            let response = try await client.execute(
                uri: "/v1/sanctions?period=2026-Q1", method: .get, headers: headers)
            if let expected = viewer.sanctions {
                #expect(response.status == .ok)
                let seen = try Self.items(response).map { item in
                    (item["nip"] as? String) ?? "OPD:\(item["opd"] as? String ?? "")"
                }
                #expect(seen.sorted() == expected)
            } else {
                #expect(response.status == .forbidden)
            }
            for format in ["csv", "json"] {
                // An OPD head cannot widen the export with ?opd=.
                let export = try await client.execute(
                    uri: "/v1/periods/2026-Q1/export.\(format)?opd=DINKES", method: .get, headers: headers)
                let all = try await client.execute(
                    uri: "/v1/periods/2026-Q1/export.\(format)", method: .get, headers: headers)
                guard let expected = viewer.exportOPDs else {
                    #expect(export.status == .forbidden)
                    #expect(all.status == .forbidden)
                    continue
                }
                #expect(all.status == .ok)
                let opds: Set<String>
                if format == "json" {
                    let rows = try #require(try Self.object(all)["rows"] as? [[String: Any]])
                    opds = Set(rows.compactMap { $0["opd"] as? String })
                } else {
                    let rows = Self.csvRows(String(buffer: all.body))
                    #expect(rows.first?[2] == "opd")
                    opds = Set(rows.dropFirst().map { $0[2] })
                }
                #expect(opds == expected)
                if viewer.roles == ["opd-head"] {
                    #expect(String(buffer: export.body) == String(buffer: all.body))
                }
            }
        }
    }

    // MARK: Commitments API

    @Test("POST /v1/commitments validates each field, refuses closed periods and duplicates; GET is scoped")
    func commitmentsAPI() async throws {
        try await O.withApp { client, pool in
            var admin = try await O.token(O.admin, roles: ["scoring-admin"])
            admin[.contentType] = "application/json"
            func post(_ body: String, _ headers: HTTPFields) async throws -> TestResponse {
                try await client.execute(
                    uri: "/v1/commitments", method: .post, headers: headers, body: ByteBuffer(string: body))
            }
            let created = try await post(
                #"{"opd":"dlh","period":"2026-Q2","metric":"kg_sorted","target":120.5,"baseline":80}"#, admin)
            #expect(created.status == .created)
            let body = try Self.object(created)
            #expect(body["opd"] as? String == "DLH")
            #expect(body["status"] as? String == "pending")
            #expect(body["target"] as? Double == 120.5)

            let duplicate = try await post(
                #"{"opd":"DLH","period":"2026-Q2","metric":"kg_sorted","target":1,"baseline":0}"#, admin)
            #expect(duplicate.status == .conflict)

            let bad = try await post(
                #"{"opd":"D L H","period":"2026-Q5","metric":"happiness","target":"banyak","baseline":-1,"x":1}"#,
                admin)
            #expect(bad.status == .unprocessableContent)
            #expect(bad.headers[.contentType] == "application/problem+json")
            let fields = Set(
                try #require(try Self.object(bad)["errors"] as? [[String: Any]]).compactMap { $0["field"] as? String })
            #expect(fields == ["/opd", "/period", "/metric", "/target", "/baseline", "/x"])
            let rate = try await post(
                #"{"opd":"DLH","period":"2026-Q2","metric":"participation_rate","target":120,"baseline":10}"#, admin)
            #expect(rate.status == .unprocessableContent)
            let missing = try await post(#"{"opd":"DLH"}"#, admin)
            #expect(missing.status == .unprocessableContent)

            var auditor = try await O.token(O.auditor, roles: ["auditor"])
            auditor[.contentType] = "application/json"
            let refused = try await post(
                #"{"opd":"DLH","period":"2026-Q3","metric":"kg_sorted","target":1,"baseline":0}"#, auditor)
            #expect(refused.status == .forbidden)

            try await O.seed(pool)
            try await O.close(pool)
            let closed = try await post(
                #"{"opd":"DLH","period":"2026-Q1","metric":"kg_sorted","target":1,"baseline":0}"#, admin)
            #expect(closed.status == .conflict)
            #expect(try Self.object(closed)["code"] as? String == "PERIOD_CLOSED")

            let all = try await client.execute(
                uri: "/v1/commitments?period=2026-Q1", method: .get,
                headers: try await O.token(O.auditor, roles: ["auditor"]))
            let listed = try Self.items(all)
            #expect(listed.map { $0["status"] as? String } == ["met", "met", "missed"])
            #expect(listed.last?["actual"] as? Double == 40)
            let head = try await client.execute(
                uri: "/v1/commitments?period=2026-Q1&opd=DINKES", method: .get,
                headers: try await O.token(O.headDLH, roles: ["opd-head"], opd: "DLH"))
            #expect(try Self.items(head).map { $0["opd"] as? String } == ["DLH", "DLH"])
            let asn = try await client.execute(
                uri: "/v1/commitments", method: .get, headers: try await O.token(O.ani, roles: ["asn"]))
            #expect(asn.status == .forbidden)
        }
    }

    // MARK: Program file

    @Test("the program file's tpp section is validated with line and column")
    func tppValidation() async throws {
        let yaml = try String(
            contentsOf: F.programsDirectory.appendingPathComponent("peduli-sampah.yaml"), encoding: .utf8)
        #expect(try F.peduliSampah().tpp?.collective?.minParticipationRate == 50)
        let bad =
            yaml
            .replacingOccurrences(of: "    low_performance: 5\n", with: "    low_performance: 500\n    teguran: 1\n")
            .replacingOccurrences(of: "    minParticipationRate: 50\n", with: "    minParticipationRat: 50\n")
        #expect(bad != yaml)
        let lines = bad.split(separator: "\n", omittingEmptySubsequences: false)
        do {
            _ = try ProgramCatalog.parse(bad, file: "peduli-sampah.yaml")
            Issue.record("an invalid tpp section was accepted")
        } catch let error as ProgramFileError {
            let byField = Dictionary(error.details.map { ($0.field, $0) }) { first, _ in first }
            let unknown = try #require(byField["tpp.collective.minParticipationRat"], "\(error.details)")
            #expect(unknown.line == (lines.firstIndex { $0.contains("minParticipationRat:") } ?? -2) + 1)
            #expect((unknown.column ?? 0) > 0)
        }
        let cut = yaml.replacingOccurrences(of: "    low_performance: 5\n", with: "    low_performance: 500\n")
        do {
            _ = try ProgramCatalog.parse(cut, file: "peduli-sampah.yaml")
            Issue.record("a 500 % cut was accepted")
        } catch let error as ProgramFileError {
            let problem = try #require(error.details.first { $0.field == "tpp.sanctionCuts.low_performance" })
            let cutLines = cut.split(separator: "\n", omittingEmptySubsequences: false)
            #expect(problem.line == (cutLines.firstIndex { $0.contains("low_performance: 500") } ?? -2) + 1)
        }
    }

    @Test("TPP adjustment: highest band reached, minus each sanction kind once, band withheld by the collective rule")
    func tppArithmetic() {
        let rule = TPPRule(
            bands: [.init(minPoints: 300, percent: 5), .init(minPoints: 100, percent: 2.5)],
            sanctionCuts: ["low_performance": 5, "commitment_missed": 1.25], collective: nil)
        #expect(rule.adjustment(points: 99, sanctionKinds: [], withheld: false) == 0)
        #expect(rule.adjustment(points: 100, sanctionKinds: [], withheld: false) == 2.5)
        #expect(rule.adjustment(points: 1_000, sanctionKinds: [], withheld: false) == 5)
        #expect(rule.adjustment(points: 1_000, sanctionKinds: ["commitment_missed"], withheld: false) == 3.75)
        #expect(
            rule.adjustment(points: 0, sanctionKinds: ["commitment_missed", "low_performance"], withheld: false)
                == -6.25)
        #expect(rule.adjustment(points: 1_000, sanctionKinds: [], withheld: true) == 0)
        #expect(PeriodExport.percent(-6.25) == "-6.25")
        #expect(PeriodExport.percent(2.5) == "2.5")
        #expect(PeriodExport.percent(0) == "0")
    }
}
