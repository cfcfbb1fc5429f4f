import Contracts
import Database
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ServiceSupport
import TestSupport
import Testing

@testable import Scoring

/// Periods, rankings and awards through the real builder and the real database.
@Suite("Scoring periods, rankings and awards")
struct PeriodCloseTests {
    typealias F = ScoringFixture
    typealias P = PeriodsFixture

    // MARK: Rankings

    @Test("rankings use standard competition ranking (1, 2, 2, 4) on every path and across pages")
    func competitionRanking() async throws {
        try await P.withApp { client, pool in
            let (a, b, c, d) = (P.nip(1), P.nip(2), P.nip(3), P.nip(4))
            try await P.enroll(
                [
                    (a, "Ani Lestari", "DLH"), (b, "Budi Santoso", "DLH"), (c, "Citra Dewi", "BKPP"),
                    (d, "Dedi Kurniawan", "DLH"),
                ], pool: pool)
            let april = F.jakarta(2025, 4, 7)
            try await P.earn(a, 3, from: april, pool: pool)
            try await P.earn(c, 2, from: april, opd: "BKPP", pool: pool)
            try await P.earn(b, 2, from: april, pool: pool)
            try await P.earn(d, 1, from: april, pool: pool)

            // Open quarter, city: the index path, one page and two pages of two (the tie spans the boundary).
            let whole = try await P.ranking("period=2025-Q2&scope=city", client)
            #expect(whole.items.map(\.rank) == [1, 2, 2, 4])
            #expect(whole.items.map(\.nip) == [a, b, c, d])
            #expect(whole.items.map(\.points) == [30, 20, 20, 10])
            #expect(whole.items.map(\.opd) == ["DLH", "DLH", "BKPP", "DLH"])
            #expect(whole.totalRanked == 4)
            #expect(whole.state == "open")
            #expect(whole.nextCursor == nil)
            let first = try await P.ranking("period=2025-Q2&limit=2", client)
            #expect(first.items.map(\.rank) == [1, 2])
            let cursor = try #require(first.nextCursor)
            let second = try await P.ranking("period=2025-Q2&limit=2&cursor=\(cursor)", client)
            #expect(second.items.map(\.rank) == [2, 4])
            #expect(second.items.map(\.nip) == [c, d])

            // Open semester (summed) and one OPD.
            let semester = try await P.ranking("period=2025-S1", client)
            #expect(semester.items.map(\.rank) == [1, 2, 2, 4])
            let dlh = try await P.ranking("period=2025-Q2&scope=opd:DLH", client)
            #expect(dlh.items.map(\.nip) == [a, b, d])
            #expect(dlh.items.map(\.rank) == [1, 2, 3])
            #expect(dlh.totalRanked == 3)

            // Closed: the frozen standings give the same ranks.
            _ = try await P.close("2025-Q2", client)
            let frozen = try await P.ranking("period=2025-Q2", client)
            #expect(frozen.state == "closed")
            #expect(frozen.final)
            #expect(frozen.items.map(\.rank) == [1, 2, 2, 4])
            #expect(frozen.items.map(\.nip) == [a, b, c, d])
            let frozenPage = try await P.ranking("period=2025-Q2&limit=2&cursor=\(cursor)", client)
            #expect(frozenPage.items.map(\.rank) == [2, 4])
            let frozenOPD = try await P.ranking("period=2025-Q2&scope=opd:BKPP", client)
            #expect(frozenOPD.items.map(\.nip) == [c])
            #expect(frozenOPD.items.map(\.rank) == [1])
        }
    }

    @Test("privacy: names for the top N, initials and no NIP below, except one's own row and for BKPP")
    func privacy() async throws {
        try await P.withApp { client, pool in
            let people = (1...4).map { P.nip($0) }
            try await P.enroll(
                [
                    (people[0], "Ani Lestari", "DLH"), (people[1], "Budi Santoso", "DLH"),
                    (people[2], "Citra Dewi Anggraini", "DLH"), (people[3], "Dedi Kurniawan", "DLH"),
                ], pool: pool)
            for (index, nip) in people.enumerated() {
                try await P.earn(nip, 4 - index, from: F.jakarta(2025, 5, 5), pool: pool)
            }
            let asn = try await P.token(nip: people[3], roles: ["asn"], opd: "DLH")
            let seen = try await P.ranking("period=2025-Q2", client, headers: asn)
            #expect(seen.privacy.initialsBelowRank == 2)
            #expect(seen.items.map(\.name) == ["Ani Lestari", "Budi Santoso", "C. D. A.", "Dedi Kurniawan"])
            #expect(seen.items.map(\.nip) == [people[0], people[1], nil, people[3]])
            #expect(seen.items.map(\.masked) == [false, false, true, false])
            #expect(seen.items.map(\.me) == [false, false, false, true])
            let dashboard = try await P.ranking(
                "period=2025-Q2", client, headers: try await P.token(roles: ["dashboard"]))
            #expect(dashboard.items.map(\.masked) == [false, false, true, true])
            for role in ["scoring-admin", "auditor"] {
                let full = try await P.ranking("period=2025-Q2", client, headers: try await P.token(roles: [role]))
                #expect(full.items.allSatisfy { !$0.masked && $0.nip != nil }, "\(role)")
            }
        }
    }

    // MARK: Awards

    @Test("an award tie is broken by who reached the score first, not by NIP")
    func awardTie() async throws {
        try await P.withApp { client, pool in
            let (early, late) = (P.nip(20), P.nip(10))  // the later one has the lower NIP
            try await P.enroll([(early, "Eka Putri", "DLH"), (late, "Lukman Hakim", "DLH")], pool: pool)
            let january = F.jakarta(2025, 1, 6)
            try await P.earn(early, 2, from: january, pool: pool)
            try await P.earn(late, 2, from: january, pool: pool)
            let ranking = try await P.ranking("period=2025-Q1", client)
            #expect(ranking.items.map(\.rank) == [1, 1])

            let closed = try await P.close("2025-Q1", client)
            #expect(closed.period.state == "closed")
            #expect(closed.alreadyClosed == false)
            #expect(closed.summary.ranked == 2)
            let award = try #require(closed.summary.awards.first)
            #expect(closed.summary.awards.count == 1)
            #expect(award.nip == early)
            #expect(award.rank == 1)
            #expect(award.cityRank == 1)
            #expect(award.points == 20)
            #expect(award.prize == "Uang pembinaan Rp 1.000.000")
            #expect(award.prizeAmountRupiah == 1_000_000)
            let granted = try await F.outbox(AwardGranted.self, pool: pool)
            #expect(granted.map(\.nip) == [early])
            #expect(granted.map(\.stage) == ["quarter"])

            let listed = try await client.execute(
                uri: "/v1/awards?period=2025-Q1", method: .get,
                headers: try await P.token(nip: late, roles: ["asn"], opd: "DLH")
            ) { response in
                #expect(response.status == .ok)
                return try P.decode(AwardList.self, response)
            }
            #expect(listed.items.map(\.nip) == [early])
            #expect(listed.items.map(\.name) == ["Eka Putri"])
        }
    }

    @Test("the chain: four quarters, two semester shortlists, a yearly winner; an ineligible top scorer is skipped")
    func awardChain() async throws {
        try await P.withApp { client, pool in
            // A wins Q1, B Q2, C Q3, D Q4; H is third in both semesters but first in the year.
            // A and C tie for the year's shortlisted best (100); A reached it first although C's NIP is lower.
            let (c, a, b, d, h) = (P.nip(1), P.nip(2), P.nip(3), P.nip(4), P.nip(5))
            try await P.enroll(
                [
                    (a, "Ani", "DLH"), (b, "Budi", "DLH"), (c, "Citra", "BKPP"), (d, "Dedi", "BKPP"),
                    (h, "Hendra", "DLH"),
                ], pool: pool)
            try await P.earn(a, 10, from: F.jakarta(2025, 1, 6), pool: pool)
            try await P.earn(b, 4, from: F.jakarta(2025, 1, 6), pool: pool)
            try await P.earn(h, 4, from: F.jakarta(2025, 1, 6), pool: pool)
            try await P.earn(b, 5, from: F.jakarta(2025, 4, 7), pool: pool)
            try await P.earn(h, 4, from: F.jakarta(2025, 4, 7), pool: pool)
            try await P.earn(c, 10, from: F.jakarta(2025, 7, 7), opd: "BKPP", pool: pool)
            try await P.earn(h, 4, from: F.jakarta(2025, 7, 7), pool: pool)
            try await P.earn(d, 4, from: F.jakarta(2025, 7, 7), opd: "BKPP", pool: pool)
            try await P.earn(d, 5, from: F.jakarta(2025, 10, 6), opd: "BKPP", pool: pool)
            try await P.earn(h, 4, from: F.jakarta(2025, 10, 6), pool: pool)

            // Order: a semester before its quarters are closed, a year before its semesters: 409.
            try await client.execute(uri: "/v1/periods/2025-S1/close", method: .post, headers: try await P.admin()) {
                response in
                #expect(response.status == .conflict)
                #expect(response.headers[.contentType] == "application/problem+json")
                let problem = try P.decode(P.Problem.self, response)
                #expect(problem.code == "PERIOD_ORDER")
            }
            var winners: [String: [String]] = [:]
            for quarter in ["2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4"] {
                winners[quarter] = try await P.close(quarter, client).summary.awards.map(\.nip)
            }
            #expect(winners == ["2025-Q1": [a], "2025-Q2": [b], "2025-Q3": [c], "2025-Q4": [d]])
            try await client.execute(uri: "/v1/periods/2025/close", method: .post, headers: try await P.admin()) {
                response in
                #expect(response.status == .conflict)
                let problem = try P.decode(P.Problem.self, response)
                #expect(problem.code == "PERIOD_ORDER")
            }
            let s1 = try await P.close("2025-S1", client)
            #expect(s1.summary.awards.map(\.nip) == [a, b])
            #expect(s1.summary.awards.map(\.points) == [100, 90])
            let s2 = try await P.close("2025-S2", client)
            #expect(s2.summary.awards.map(\.nip) == [c, d])

            let year = try await P.close("2025", client)
            let ranking = try await P.ranking("period=2025", client)
            #expect(ranking.items.first?.nip == h)
            #expect(ranking.items.first?.points == 160)
            #expect(year.summary.awards.count == 1)
            let winner = try #require(year.summary.awards.first)
            #expect(winner.nip == a)
            #expect(winner.rank == 1)
            #expect(winner.cityRank == 2)
            #expect(winner.prize == "Umrah")
            #expect(winner.stage == "yearly")

            let all = try await client.execute(
                uri: "/v1/awards", method: .get, headers: try await P.token(roles: ["dashboard"])
            ) { response in try P.decode(AwardList.self, response) }
            #expect(all.items.count == 9)
            #expect(!all.items.contains { $0.nip == h })
            let events = try await F.outbox(AwardGranted.self, pool: pool)
            #expect(events.map(\.stage).filter { $0 == "year" }.count == 1)
            #expect(events.count == 9)
        }
    }

    // MARK: Close

    @Test("close twice and concurrently: one set of standings, awards and events")
    func closeOnce() async throws {
        try await P.withApp { client, pool in
            try await P.enroll(
                [(P.nip(1), "Ani", "DLH"), (P.nip(2), "Budi", "BKPP"), (P.nip(3), "Citra", "DINKES")], pool: pool)
            try await P.earn(P.nip(1), 3, from: F.jakarta(2025, 2, 3), pool: pool)
            try await P.earn(P.nip(2), 2, from: F.jakarta(2025, 2, 3), opd: "BKPP", pool: pool)
            try await P.earn(P.nip(3), 1, from: F.jakarta(2025, 2, 3), opd: "DINKES", pool: pool)
            try await P.earn(P.nip(1), 1, from: F.jakarta(2025, 5, 5), pool: pool)

            let first = try await P.close("2025-Q1", client)
            let second = try await P.close("2025-Q1", client)
            #expect(first.alreadyClosed == false)
            #expect(second.alreadyClosed == true)
            #expect(second.period == first.period)
            #expect(second.summary == first.summary)
            #expect(first.period.closedBy == F.otherNIP)

            // Concurrently, on a quarter nobody closed yet.
            let results = try await withThrowingTaskGroup(of: PeriodCloseResponse.self) { group in
                for _ in 0..<6 { group.addTask { try await P.close("2025-Q2", client) } }
                var results: [PeriodCloseResponse] = []
                for try await result in group { results.append(result) }
                return results
            }
            #expect(results.filter { !$0.alreadyClosed }.count == 1)
            #expect(results.allSatisfy { $0.summary == results[0].summary })

            #expect(
                try await F.count("SELECT count(*) FROM period_standings WHERE period = '2025-Q1'", pool: pool) == 3)
            #expect(
                try await F.count("SELECT count(*) FROM period_standings WHERE period = '2025-Q2'", pool: pool) == 1)
            #expect(try await F.count("SELECT count(*) FROM awards", pool: pool) == 2)
            let rankings = try await F.outbox(RankingPublished.self, pool: pool)
            // Q1: the city and three OPDs; Q2: the city and one OPD.
            #expect(rankings.count == 6)
            #expect(rankings.allSatisfy { $0.final })
            let q1 = rankings.filter { $0.period == "2025-Q1" }
            #expect(Set(q1.map(\.scope)) == ["city", "DLH", "BKPP", "DINKES"])
            let city = try #require(q1.first { $0.scope == "city" })
            #expect(city.totalRanked == 3)
            #expect(city.entries.map(\.rank) == [1, 2, 3])
            // initialsBelowRank 2: the third is initials in the event too.
            #expect(city.entries.map(\.name) == ["Ani", "Budi", "C."])
            #expect(city.entries.allSatisfy { $0.reachedAt != nil })
            #expect(try await F.outbox(AwardGranted.self, pool: pool).count == 2)
        }
    }

    @Test("order and state: an unfinished period is refused, GET /v1/periods shows states")
    func periodsList() async throws {
        try await P.withApp { client, pool in
            try await P.earn(P.nip(1), 1, from: F.jakarta(2025, 8, 4), pool: pool)
            try await client.execute(uri: "/v1/periods/2026-Q1/close", method: .post, headers: try await P.admin()) {
                response in
                #expect(response.status == .conflict)
                let problem = try P.decode(P.Problem.self, response)
                #expect(problem.code == "PERIOD_NOT_ENDED")
            }
            _ = try await P.close("2025-Q3", client)
            let list = try await client.execute(
                uri: "/v1/periods", method: .get, headers: try await P.token(roles: ["asn"])
            ) { response in
                #expect(response.status == .ok)
                let object = try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView))
                let items = try #require((object as? [String: Any])?["items"] as? [[String: Any]])
                // Open periods carry explicit nulls.
                let open = try #require(items.first { $0["id"] as? String == "2026-Q1" })
                #expect(open["closedAt"] is NSNull)
                return try P.decode(PeriodList.self, response).items
            }
            let ids = list.map(\.id)
            #expect(ids == ["2025-Q3", "2025-S2", "2025", "2026-Q1", "2026-S1", "2026"])
            let q3 = try #require(list.first { $0.id == "2025-Q3" })
            #expect(q3.state == "closed")
            #expect(q3.name == "Triwulan III 2025")
            #expect(q3.closedBy == F.otherNIP)
            #expect(list.first { $0.id == "2026-Q1" }?.state == "open")
            #expect(list.first { $0.id == "2026-Q1" }?.ended == false)
            #expect(list.first { $0.id == "2025-S2" }?.state == "open")
        }
    }

    // MARK: Late entries

    @Test("a decision after its quarter closed is a late entry counted in the next open quarter; replay agrees")
    func lateEntry() async throws {
        try await P.withApp { client, pool in
            let nip = P.nip(7)
            try await P.enroll([(nip, "Lina", "DLH")], pool: pool)
            let approvals = try await P.earn(nip, 2, from: F.jakarta(2025, 3, 3), pool: pool)
            let closed = try await P.close("2025-Q1", client)
            #expect(closed.summary.ranked == 1)

            // Decided after the close: one more approval in Q1, and a revocation of an earlier Q1 approval.
            try await P.earn(nip, 1, from: F.jakarta(2025, 3, 20), pool: pool)
            try await F.handle([try F.event(F.revoked(approvals[0]))], pool: pool)

            let headers = try await P.token(nip: nip, roles: ["asn"], opd: "DLH")
            let q2 = try await client.execute(
                uri: "/v1/asn/\(nip)/points?period=2025-Q2", method: .get, headers: headers
            ) { response in try P.decode(PointsResponse.self, response) }
            #expect(q2.points == 0)  // +10 late award, −10 late reversal
            #expect(q2.entries.map(\.kind) == ["award", "reversal"])
            #expect(q2.entries.allSatisfy { $0.late && $0.activityPeriod == "2025-Q1" && $0.period == "2025-Q2" })
            let q1 = try await client.execute(
                uri: "/v1/asn/\(nip)/points?period=2025-Q1", method: .get, headers: headers
            ) { response in try P.decode(PointsResponse.self, response) }
            #expect(q1.points == 20)
            #expect(q1.entries.allSatisfy { !$0.late && $0.activityPeriod == "2025-Q1" })
            let ledger = try await client.execute(
                uri: "/v1/ledger?nip=\(nip)", method: .get, headers: try await P.admin()
            ) { response in try P.decode(LedgerPage.self, response) }
            #expect(ledger.entries.map(\.late) == [false, false, true, true])

            // The frozen Q1 ranking is unchanged; Q2 ranks the ASN with the late entries.
            let frozen = try await P.ranking("period=2025-Q1", client)
            #expect(frozen.items.map(\.points) == [20])
            let open = try await P.ranking("period=2025-Q2", client)
            #expect(open.items.map(\.points) == [0])

            // A replay under the same rules finds nothing to correct.
            let report = try await client.execute(
                uri: "/v1/recompute", method: .post, headers: try await P.admin(),
                body: ByteBuffer(string: #"{"program":"peduli-sampah","dryRun":true}"#)
            ) { response in
                #expect(response.status == .ok)
                return try P.decode(RecomputeReport.self, response)
            }
            #expect(report.asnDiffering == 0)
            #expect(report.differenceCount == 0)
            try await DecisionHandlerTests.expectTotalsMatchLedger(pool, pairs: 2)
        }
    }

    // MARK: Access and errors

    @Test("roles and problems: 401 without a token, 403 for asn and auditor on close, 400 on bad ids")
    func accessAndErrors() async throws {
        try await P.withApp { client, _ in
            for (method, uri) in [
                (HTTPRequest.Method.get, "/v1/periods"), (.post, "/v1/periods/2025-Q1/close"),
                (.get, "/v1/rankings?period=2025-Q1"), (.get, "/v1/awards"),
            ] {
                try await client.execute(uri: uri, method: method) { response in
                    #expect(response.status == .unauthorized, "\(uri)")
                    #expect(response.headers[.contentType] == "application/problem+json")
                }
            }
            for role in ["asn", "auditor", "dashboard", "opd-head"] {
                try await client.execute(
                    uri: "/v1/periods/2025-Q1/close", method: .post, headers: try await P.token(roles: [role])
                ) { response in
                    #expect(response.status == .forbidden, "\(role)")
                    #expect(response.headers[.contentType] == "application/problem+json")
                }
            }
            let admin = try await P.admin()
            for (method, uri, code) in [
                (HTTPRequest.Method.post, "/v1/periods/2025-Q5/close", "INVALID_PERIOD"),
                (.post, "/v1/periods/kuartal/close", "INVALID_PERIOD"),
                (.get, "/v1/rankings?period=2025-S3", "INVALID_PERIOD"),
                (.get, "/v1/rankings?period=2025-Q1&scope=desa", "INVALID_SCOPE"),
                (.get, "/v1/rankings?period=2025-Q1&scope=opd:", "INVALID_SCOPE"),
                (.get, "/v1/rankings?period=2025-Q1&cursor=abc", "INVALID_CURSOR"),
                (.get, "/v1/rankings?period=2025-Q1&limit=0", "INVALID_LIMIT"),
                (.get, "/v1/awards?period=20251", "INVALID_PERIOD"),
            ] {
                try await client.execute(uri: uri, method: method, headers: admin) { response in
                    #expect(response.status == .badRequest, "\(uri)")
                    #expect(response.headers[.contentType] == "application/problem+json")
                    let problem = try P.decode(P.Problem.self, response)
                    #expect(problem.code == code, "\(uri)")
                }
            }
        }
    }

    // MARK: Program file

    @Test("award schemes in the program file are validated with line and column")
    func badSchemes() throws {
        let yaml = P.program
            .replacingOccurrences(of: "requires: teladan-semester", with: "requires: teladan-bulanan")
            .replacingOccurrences(of: "    top: 2\n", with: "    top: 2\n    hadiah: x\n")
        #expect(throws: ProgramFileError.self) { try ProgramCatalog.parse(yaml, file: "uji.yaml") }
        do {
            _ = try ProgramCatalog.parse(yaml, file: "uji.yaml")
        } catch let error as ProgramFileError {
            let fields = error.details.map(\.field)
            #expect(fields.contains("awards[1].hadiah"))
            #expect(fields.contains("awards[2].requires"))
            #expect(error.details.allSatisfy { $0.line != nil && $0.column != nil })
            let requires = try #require(error.details.first { $0.field == "awards[2].requires" })
            #expect(requires.line == 22)
        }
        let backwards = P.program.replacingOccurrences(
            of: "stage: quarterly\n    top: 1", with: "stage: quarterly\n    top: 1\n    requires: teladan-semester")
        do {
            _ = try ProgramCatalog.parse(backwards, file: "uji.yaml")
            Issue.record("a quarterly scheme requiring a semester scheme was accepted")
        } catch let error as ProgramFileError {
            #expect(error.details.map(\.field).contains("awards[0].requires"))
        }
        let real = try F.peduliSampah()
        #expect(real.awards?.map(\.stage) == [.quarterly, .semester, .yearly])
        #expect(real.leaderboard?.initialsBelowRank == 10)
    }
}
