import Contracts
import Database
import Foundation
import Testing

@testable import Scoring

/// The ledger rules through the decision handler, on the real database: caps, campaigns, streaks, penalties, bans,
/// reversals, duplicates, and replay.
@Suite("Scoring ledger rules")
struct LedgerRulesTests {
    typealias F = ScoringFixture

    static func handle(_ payloads: [any EventPayload], pool: DatabasePool) async throws {
        try await F.handle(try payloads.map { try F.event($0) }, pool: pool)
    }

    @Test("a daily cap clips the approval above it, counted per Jakarta day, and the breakdown says so")
    func dailyCap() async throws {
        try await DecisionHandlerTests.withProgram { pool in
            // pilah_sampah: dailyCap 2.
            let day = F.jakarta(2026, 2, 10, 8)
            try await Self.handle(
                (0..<3).map { F.verified(activityAt: day.addingTimeInterval(Double($0) * 3600)) }, pool: pool)
            // 23:30 and 00:30 WIB are one UTC day but two Jakarta days: kerja_bakti (dailyCap 1) earns twice.
            try await Self.handle(
                [
                    F.verified(activity: "kerja_bakti", activityAt: F.jakarta(2026, 2, 16, 23, 30)),
                    F.verified(activity: "kerja_bakti", activityAt: F.jakarta(2026, 2, 17, 0, 30)),
                ], pool: pool)
            let entries = try await F.entries(pool: pool)
            #expect(entries.map(\.points) == [10, 10, 0, 20, 20])
            let clipped = entries[2]
            #expect(clipped.breakdown.map(\.kind) == ["base", "daily_cap"])
            #expect(clipped.breakdown.last?.points == -10)
            #expect(clipped.breakdown.last?.detail?.contains("batas harian") == true)
            #expect(clipped.breakdown.reduce(0) { $0 + $1.points } == 0)
            try await DecisionHandlerTests.expectTotalsMatchLedger(pool, pairs: 1)
        }
    }

    @Test("a weekly cap clips per ISO week in Jakarta time; the next week earns again")
    func weeklyCap() async throws {
        try await DecisionHandlerTests.withProgram { pool in
            // kerja_bakti: dailyCap 1, weeklyCap 2. 9–11 Feb 2026 is Monday–Wednesday; 16 Feb the next Monday.
            try await Self.handle(
                [9, 10, 11, 16].map { F.verified(activity: "kerja_bakti", activityAt: F.jakarta(2026, 2, $0)) },
                pool: pool)
            let entries = try await F.entries(pool: pool)
            #expect(entries.map(\.points) == [20, 20, 0, 20])
            #expect(entries[2].breakdown.map(\.kind) == ["base", "weekly_cap"])
            #expect(entries[2].breakdown.last?.points == -20)
            let awarded = try await F.outbox(PointsAwarded.self, pool: pool)
            #expect(awarded.map(\.totalInPeriod) == [20, 40, 40, 60])
        }
    }

    @Test("a campaign multiplies the points; overlapping campaigns take the highest multiplier, not the product")
    func campaigns() async throws {
        try await DecisionHandlerTests.withProgram { pool in
            let start = F.jakarta(2026, 2, 21, 0)
            let end = F.jakarta(2026, 2, 22, 0)
            try await pool.withConnection { connection in
                for (name, multiplier, activities) in [
                    ("Hari Peduli Sampah Nasional", 2.0, nil), ("Pekan Kompos", 3.0, ["komposting"]),
                    ("Bonus kecil", 1.5, nil),
                ] as [(String, Double, [String]?)] {
                    try await Campaigns.create(
                        Campaign(
                            id: UUID(), name: name, multiplier: multiplier, activities: activities, program: nil,
                            startsAt: start, endsAt: end), by: F.otherNIP, in: connection)
                }
            }
            try await Self.handle(
                [
                    F.verified(activityAt: F.jakarta(2026, 2, 21, 10)),  // 10 × 2 (not × 3: other activity)
                    F.verified(activity: "komposting", place: "home", activityAt: F.jakarta(2026, 2, 21, 11)),  // 15 × 3
                    F.verified(activityAt: F.jakarta(2026, 2, 22, 10)),  // after the window: 10
                ], pool: pool)
            let entries = try await F.entries(pool: pool)
            #expect(entries.map(\.points) == [20, 45, 10])
            #expect(entries[0].breakdown.map(\.kind) == ["base", "campaign"])
            #expect(entries[0].breakdown[1].points == 10)
            #expect(entries[0].breakdown[1].detail?.contains("Hari Peduli Sampah Nasional") == true)
            #expect(entries[1].breakdown[1].detail?.contains("Pekan Kompos") == true)
            #expect(entries[2].breakdown.map(\.kind) == ["base"])
        }
    }

    @Test("a streak bonus over consecutive ISO weeks, across the year boundary (2026-W51 … 2027-W01)")
    func streakAcrossYears() async throws {
        try await DecisionHandlerTests.withProgram { pool in
            // Mondays of 2026-W51, W52, W53 and 2027-W01; then a second approval in 2027-W01 (no second bonus).
            let days = [(2026, 12, 14), (2026, 12, 21), (2026, 12, 28), (2027, 1, 4), (2027, 1, 5)]
            for (year, month, day) in days {
                try await Self.handle([F.verified(activityAt: F.jakarta(year, month, day))], pool: pool)
            }
            let entries = try await F.entries(pool: pool)
            #expect(entries.map(\.kind) == [.award, .award, .award, .award, .bonus, .award])
            let bonus = entries[4]
            #expect(bonus.points == 20)
            #expect(bonus.period == "2027-Q1")
            #expect(bonus.breakdown.first?.kind == "streak_bonus")
            #expect(bonus.breakdown.first?.detail?.contains("2027-W01") == true)
            #expect(bonus.submissionId == entries[3].submissionId)
            let awarded = try await F.outbox(PointsAwarded.self, pool: pool)
            #expect(awarded.map(\.entryKind) == ["award", "award", "award", "award", "bonus", "award"])
            #expect(awarded[4].totalInPeriod == 30)

            // A gap breaks the run: weeks 2027-W03 … W05 are only three.
            for day in [18, 25] { try await Self.handle([F.verified(activityAt: F.jakarta(2027, 1, day))], pool: pool) }
            #expect(try await F.entries(pool: pool).filter { $0.kind == .bonus }.count == 1)
        }
    }

    @Test("a revoked award no longer counts toward a streak: revoked earlier, or in the batch that would complete it")
    func revokedAwardBreaksStreak() async throws {
        try await DecisionHandlerTests.withProgram { pool in
            // Three ASNs approved on the Mondays of 2026-W02, W03 and W04; W05 would complete a 4-week streak.
            let third = "198001012005011003"
            var middle: [String: SubmissionVerified] = [:]
            for nip in [F.nip, F.otherNIP, third] {
                for day in [5, 12, 19] {
                    let approval = F.verified(nip: nip, activityAt: F.jakarta(2026, 1, day))
                    if day == 12 { middle[nip] = approval }
                    try await Self.handle([approval], pool: pool)
                }
            }
            let week5 = { (nip: String) in F.verified(nip: nip, activityAt: F.jakarta(2026, 1, 26)) }
            // The first ASN's W03 award is revoked first; the second's in the same batch as W05; the third keeps it.
            try await Self.handle([F.revoked(try #require(middle[F.nip]))], pool: pool)
            try await Self.handle([F.revoked(try #require(middle[F.otherNIP])), week5(F.otherNIP)], pool: pool)
            try await Self.handle([week5(F.nip)], pool: pool)
            try await Self.handle([week5(third)], pool: pool)
            for (nip, bonuses) in [(F.nip, 0), (F.otherNIP, 0), (third, 1)] {
                #expect(try await F.entries(nip, pool: pool).filter { $0.kind == .bonus }.count == bonuses)
            }
            try await DecisionHandlerTests.expectTotalsMatchLedger(pool, pairs: 3)
        }
    }

    @Test("a fraud rejection becomes a negative penalty entry and penalty.applied; a plain rejection does nothing")
    func fraudPenalty() async throws {
        try await DecisionHandlerTests.withProgram { pool in
            try await Self.handle([F.verified()], pool: pool)
            let fraud = F.rejected()
            try await Self.handle([F.rejected(fraud: false), fraud, fraud], pool: pool)
            let entries = try await F.entries(pool: pool)
            #expect(entries.map(\.kind) == [.award, .penalty])
            #expect(entries[1].points == -25)
            #expect(entries[1].submissionId == fraud.submissionId)
            #expect(entries[1].breakdown.first?.kind == "fraud_penalty")
            let penalties = try await F.outbox(PenaltyApplied.self, pool: pool)
            #expect(penalties.count == 1)
            #expect(penalties.first?.points == -25)
            #expect(penalties.first?.reasonCode == "DUPLICATE_EVIDENCE")
            #expect(penalties.first?.totalInPeriod == -15)
            #expect(penalties.first?.earningBannedUntil == nil)
            #expect(penalties.first?.ruleVersion == "peduli-sampah@1")
        }
    }

    @Test("three fraud findings in 30 days ban earning for 14 days; approvals decided during the ban earn 0")
    func banStartsAndEnds() async throws {
        try await DecisionHandlerTests.withProgram { pool in
            let third = F.jakarta(2026, 2, 10, 12)
            try await Self.handle(
                [
                    F.rejected(decidedAt: F.jakarta(2026, 1, 20)), F.rejected(decidedAt: F.jakarta(2026, 2, 1)),
                ], pool: pool)
            // Two findings: no ban yet.
            #expect(try await F.outbox(PenaltyApplied.self, pool: pool).allSatisfy { $0.earningBannedUntil == nil })
            try await Self.handle([F.rejected(decidedAt: third)], pool: pool)
            let penalties = try await F.outbox(PenaltyApplied.self, pool: pool)
            let until = try #require(penalties.last?.earningBannedUntil)
            #expect(until == third.addingTimeInterval(14 * 86_400))
            #expect(try await F.count("SELECT count(*) FROM earning_bans", pool: pool) == 1)

            let during = F.verified(activityAt: F.jakarta(2026, 2, 14), decidedAt: F.jakarta(2026, 2, 15))
            let after = F.verified(activityAt: F.jakarta(2026, 2, 24), decidedAt: until.addingTimeInterval(60))
            try await Self.handle([during, after], pool: pool)
            let awards = try await F.entries(pool: pool).filter { $0.kind == .award }
            #expect(awards.map(\.points) == [0, 10])
            #expect(awards[0].breakdown.last?.kind == "earning_ban")
            #expect(awards[0].breakdown.last?.points == -10)
            // A fraud finding 40 days later does not extend the old ban: fewer than 3 in the last 30 days.
            try await Self.handle([F.rejected(decidedAt: F.jakarta(2026, 3, 22))], pool: pool)
            #expect(try await F.outbox(PenaltyApplied.self, pool: pool).last?.earningBannedUntil == nil)
        }
    }

    @Test("a revocation reverses the award and its streak bonus; a fraud revocation also costs a penalty")
    func reversal() async throws {
        try await DecisionHandlerTests.withProgram { pool in
            let approval = F.verified(activity: "kerja_bakti")
            try await Self.handle([approval], pool: pool)
            try await Self.handle([F.revoked(approval, fraud: true)], pool: pool)
            let entries = try await F.entries(pool: pool)
            #expect(entries.map(\.kind) == [.award, .reversal, .penalty])
            #expect(entries.map(\.points) == [20, -20, -25])
            #expect(entries[1].reverses == entries[0].id)
            let reversed = try await F.outbox(PointsReversed.self, pool: pool)
            #expect(reversed.map(\.reversesEntryId) == [entries[0].id])
            #expect(reversed.first?.totalInPeriod == 0)
            #expect(try await F.outbox(PenaltyApplied.self, pool: pool).first?.totalInPeriod == -25)
            try await DecisionHandlerTests.expectTotalsMatchLedger(pool, pairs: 1)
        }
    }

    @Test("the same decisions delivered again under new message ids change nothing")
    func duplicates() async throws {
        try await DecisionHandlerTests.withProgram { pool in
            let approval = F.verified()
            let fraud = F.rejected()
            let revocation = F.revoked(F.verified(activity: "komposting"))
            for _ in 0..<2 {
                try await Self.handle([approval, approval, fraud, fraud, revocation], pool: pool)
            }
            #expect(try await F.entries(pool: pool).map(\.kind) == [.award, .penalty])
            #expect(try await F.count("SELECT count(*) FROM decision_inputs", pool: pool) == 3)
            #expect(try await F.count("SELECT count(*) FROM outbox", pool: pool) == 3)  // program, award, penalty
        }
    }

    /// A month of mixed decisions for three ASNs: caps, a campaign, a revocation, fraud and a ban.
    static func history() -> [any EventPayload] {
        var payloads: [any EventPayload] = []
        let third = "198001012005011003"
        for (index, nip) in [F.nip, F.otherNIP, third].enumerated() {
            for day in 2...27 where day % (index + 2) == 0 {
                payloads.append(F.verified(nip: nip, activityAt: F.jakarta(2026, 2, day, 8)))
                payloads.append(F.verified(nip: nip, activityAt: F.jakarta(2026, 2, day, 9)))
                payloads.append(F.verified(nip: nip, activityAt: F.jakarta(2026, 2, day, 10)))  // daily cap
                payloads.append(
                    F.verified(
                        nip: nip, activity: "bank_sampah", quantity: Double(day) / 4,
                        activityAt: F.jakarta(2026, 2, day, 11)))
            }
        }
        let revoked = F.verified(nip: F.otherNIP, activity: "kerja_bakti", activityAt: F.jakarta(2026, 3, 2))
        payloads.append(revoked)
        payloads.append(F.revoked(revoked))
        for day in [3, 4, 5] { payloads.append(F.rejected(nip: third, decidedAt: F.jakarta(2026, 3, day))) }
        payloads.append(F.verified(nip: third, activityAt: F.jakarta(2026, 3, 6)))  // banned
        return payloads
    }

    /// Stores a ×2 campaign for every activity between `start` and `end`.
    static func doublePoints(_ name: String, from start: Date, to end: Date, pool: DatabasePool) async throws {
        try await pool.withConnection { connection in
            try await Campaigns.create(
                Campaign(
                    id: UUID(), name: name, multiplier: 2, activities: nil, program: nil, startsAt: start, endsAt: end),
                by: F.otherNIP, in: connection)
        }
    }

    @Test("a recompute under the same rule version equals the incremental totals")
    func recomputeEqualsIncremental() async throws {
        try await DecisionHandlerTests.withProgram { pool in
            try await Self.doublePoints(
                "Pekan bersih", from: F.jakarta(2026, 2, 10, 0), to: F.jakarta(2026, 2, 13, 0), pool: pool)
            let payloads = Self.history()
            // In batches of various sizes, as the inbox would deliver them.
            var index = 0
            for size in [1, 7, 30, 2, 100, 1000] where index < payloads.count {
                try await Self.handle(Array(payloads[index..<min(payloads.count, index + size)]), pool: pool)
                index += size
            }
            #expect(try await F.count("SELECT count(*) FROM ledger_entries WHERE kind = 'bonus'", pool: pool) >= 1)
            #expect(try await F.count("SELECT count(*) FROM earning_bans", pool: pool) == 1)
            let document = try F.peduliSampah()
            let report = try await Recompute.run(
                RecomputeRequest(program: "peduli-sampah", version: 1, dryRun: true), document: document, pool: pool)
            #expect(report.asnCompared == 3)
            #expect(report.differences == [])
            #expect(report.asnDiffering == 0)
            #expect(report.entriesAppended == 0)
        }
    }

    @Test(
        "a campaign created after some decisions, with a window over their activities, counts only for later ones; replay agrees"
    )
    func retroactiveCampaignReplaysAsApplied() async throws {
        try await DecisionHandlerTests.withProgram { pool in
            // Decided before the campaign existed: 10 points, as the consumer applied it.
            try await Self.handle([F.verified(activityAt: F.jakarta(2026, 2, 21, 10))], pool: pool)
            try await Self.doublePoints(
                "Hari Peduli Sampah Nasional", from: F.jakarta(2026, 2, 21, 0), to: F.jakarta(2026, 2, 22, 0),
                pool: pool)
            // A late upload of the same day, decided after the campaign was set up: doubled.
            try await Self.handle([F.verified(activityAt: F.jakarta(2026, 2, 21, 11))], pool: pool)
            #expect(try await F.entries(pool: pool).map(\.points) == [10, 20])
            let report = try await Recompute.run(
                RecomputeRequest(program: "peduli-sampah", version: 1, dryRun: true), document: try F.peduliSampah(),
                pool: pool)
            // Before the fix the replay applied the campaign to the first decision too: 40 against the ledger's 30.
            #expect(report.differences == [])
            #expect(report.asnDiffering == 0)
        }
    }

    @Test("a dry run under a changed rule version shows exactly the expected differences; a real run corrects them")
    func recomputeChangedVersion() async throws {
        try await DecisionHandlerTests.withProgram { pool in
            let reversedApproval = F.verified(nip: F.otherNIP, activityAt: F.jakarta(2026, 2, 3))
            try await Self.handle(
                [
                    F.verified(activityAt: F.jakarta(2026, 2, 3)), F.verified(activityAt: F.jakarta(2026, 2, 4)),
                    F.verified(activity: "komposting", place: "home", activityAt: F.jakarta(2026, 2, 4)),
                    F.verified(activityAt: F.jakarta(2026, 4, 7)),  // 2026-Q2
                    reversedApproval, F.revoked(reversedApproval),
                ], pool: pool)
            // Version 2: pilah_sampah is worth 12 instead of 10.
            var version2 = try F.peduliSampah()
            version2.version = 2
            version2.activities = version2.activities.map { activity in
                var activity = activity
                if activity.code == "pilah_sampah" { activity.basePoints = 12 }
                return activity
            }
            try await ProgramCatalog.apply(version2, pool: pool, logger: F.logger)
            let dry = try await Recompute.run(
                RecomputeRequest(program: "peduli-sampah", version: 2, dryRun: true), document: version2, pool: pool)
            #expect(
                dry.differences == [
                    .init(nip: F.nip, period: "2026-Q1", current: 35, recomputed: 39, difference: 4),
                    .init(nip: F.nip, period: "2026-Q2", current: 10, recomputed: 12, difference: 2),
                ])
            #expect(dry.asnCompared == 2)
            #expect(dry.asnDiffering == 1)
            #expect(try await F.count("SELECT count(*) FROM ledger_entries WHERE kind = 'correction'", pool: pool) == 0)

            let real = try await Recompute.run(
                RecomputeRequest(program: "peduli-sampah", version: 2, dryRun: false), document: version2, pool: pool)
            #expect(real.differences == dry.differences)
            #expect(real.entriesAppended == 3)
            let corrections = try await F.entries(pool: pool).filter { $0.kind == .correction }
            #expect(corrections.map(\.points) == [2, 2, 2])
            #expect(corrections.allSatisfy { $0.ruleVersion == "peduli-sampah@2" })
            let awarded = try await F.outbox(PointsAwarded.self, pool: pool).filter { $0.entryKind == "correction" }
            #expect(awarded.count == 3)
            try await DecisionHandlerTests.expectTotalsMatchLedger(pool, pairs: 3)
            let again = try await Recompute.run(
                RecomputeRequest(program: "peduli-sampah", version: 2, dryRun: true), document: version2, pool: pool)
            #expect(again.differences == [])
            // Old entries were never changed: the awards still say version 1.
            #expect(
                try await F.count(
                    "SELECT count(*) FROM ledger_entries WHERE kind = 'award' AND rule_version = 'peduli-sampah@1'",
                    pool: pool) == 5)
        }
    }
}
