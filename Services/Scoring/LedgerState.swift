import Contracts
import Database
import Foundation

/// Loads what the rules need to know about the ASNs of a batch, in one pipelined round trip, and records bans.
enum LedgerState {
    struct Loaded {
        var states: [String: ASNLedgerState]
        var campaigns: [Campaign]
    }

    /// The ASNs' credits in the ISO weeks of their approvals (caps), the weeks with other approved work back to the
    /// longest streak (from `award_weeks`), their fraud findings within the longest ban window, their bans,
    /// the revocations of the batch's approvals, and the campaigns overlapping the batch.
    static func load(for inputs: [DecisionInput], programs: [ProgramDocument], in connection: DatabaseConnection)
        async throws -> Loaded
    {
        let nips = Array(Set(inputs.map(\.nip)))
        var activityTimes: [Date] = []
        var decisionTimes: [Date] = []
        var approvals: [UUID] = []
        var findings: [UUID] = []
        // Per ASN, the ISO weeks (Jakarta) of their approvals in the batch: caps count within the week, streaks
        // look back from it.
        var approvalWeeks: [String: Set<Int>] = [:]
        for input in inputs {
            switch input {
            case .verified(let approval):
                activityTimes.append(approval.activityAt)
                decisionTimes.append(approval.decidedAt)
                approvals.append(approval.submissionId)
                approvalWeeks[approval.nip, default: []].insert(JakartaCalendar.weekIndex(approval.activityAt))
            case .rejected(let finding), .revoked(let finding):
                decisionTimes.append(finding.decidedAt)
                findings.append(finding.submissionId)
            }
        }
        let day = 86_400.0
        let longestStreak = programs.map { $0.streak?.longest ?? 0 }.max() ?? 0
        let longestBanWindow = programs.map { $0.fraud?.ban?.withinDays ?? 0 }.max() ?? 0
        let now = Date()
        let fraudLow = (decisionTimes.min() ?? now).addingTimeInterval(-Double(longestBanWindow + 1) * day)
        let banLow = (decisionTimes.min() ?? now).addingTimeInterval(-day)
        let campaignLow = activityTimes.min() ?? now
        let campaignHigh = (activityTimes.max() ?? now).addingTimeInterval(1)
        // The windows, one row per (ASN, week) for the credits and one per ASN for the streak weeks, so an ASN's
        // history is read around their own approvals, not around the whole batch's time span.
        var creditNips: [String] = []
        var creditFrom: [Date] = []
        var creditUntil: [Date] = []
        var streakNips: [String] = []
        var streakFrom: [Int] = []
        var streakThrough: [Int] = []
        for (nip, weeks) in approvalWeeks {
            for week in weeks {
                creditNips.append(nip)
                creditFrom.append(JakartaCalendar.weekStart(week))
                creditUntil.append(JakartaCalendar.weekStart(week + 1))
            }
            streakNips.append(nip)
            streakFrom.append(weeks.min()! - max(longestStreak, 1))
            streakThrough.append(weeks.max()!)
        }

        let results = try await connection.pipeline([
            // Credits in the weeks of the batch's approvals (caps) and those of the batch's submissions
            // (reversals), without their breakdowns (the rules never read them back).
            """
            SELECT * FROM (
                SELECT \(unsafeSQL: creditColumns)
                FROM unnest(\(creditNips)::text[], \(creditFrom)::timestamptz[], \(creditUntil)::timestamptz[])
                     AS w(nip, since, until)
                JOIN ledger_entries e ON e.nip = w.nip AND e.kind IN ('award', 'bonus')
                                     AND e.activity_at >= w.since AND e.activity_at < w.until
                UNION ALL
                SELECT \(unsafeSQL: creditColumns) FROM ledger_entries e
                WHERE e.submission_id = ANY(\(findings + approvals)::uuid[]) AND e.kind IN ('award', 'bonus')
            ) AS credits ORDER BY seq
            """,
            // Weeks with approved work (streaks), counted by the award_weeks trigger; the awards loaded above are
            // taken off below, since the rules follow those themselves (one may be revoked in this batch).
            """
            SELECT a.nip, a.week, a.awards
            FROM unnest(\(streakNips)::text[], \(streakFrom)::int8[], \(streakThrough)::int8[]) AS w(nip, since, through)
            JOIN award_weeks a ON a.nip = w.nip AND a.week >= w.since AND a.week <= w.through
            WHERE a.awards > 0
            """,
            """
            SELECT nip, submission_id, activity_at FROM ledger_entries
            WHERE kind = 'penalty' AND nip = ANY(\(nips)::text[])
              AND (activity_at >= \(fraudLow) OR submission_id = ANY(\(findings)::uuid[]))
            -- (few penalties per ASN: the (nip, period, seq) index finds them)
            ORDER BY seq
            """,
            """
            SELECT nip, starts_at, ends_at FROM earning_bans
            WHERE nip = ANY(\(nips)::text[]) AND ends_at > \(banLow) ORDER BY starts_at
            """,
            """
            SELECT nip, submission_id FROM decision_inputs
            WHERE kind = 'revoked' AND submission_id = ANY(\(approvals)::uuid[])
            """,
            """
            SELECT \(unsafeSQL: Campaigns.columns) FROM campaigns
            WHERE starts_at < \(campaignHigh) AND ends_at > \(campaignLow)
            """,
        ])
        var states: [String: ASNLedgerState] = [:]
        var seen: Set<UUID> = []
        for row in results[0] {
            let entry = try PointsLedger.entry(row, breakdown: false)
            // An entry both near the batch and of one of its submissions comes twice.
            guard seen.insert(entry.id).inserted else { continue }
            states[entry.nip, default: ASNLedgerState()].credits.append(
                (entry, try row.decode("reversed", as: Bool.self)))
        }
        var awardsByWeek: [String: [Int: Int]] = [:]
        for row in results[1] {
            awardsByWeek[try row.decode("nip"), default: [:]][try row.decode("week")] = try row.decode("awards")
        }
        for (nip, state) in states {
            for (entry, reversed) in state.credits where entry.kind == .award && entry.points > 0 && !reversed {
                awardsByWeek[nip]?[JakartaCalendar.weekIndex(entry.activityAt)]? -= 1
            }
        }
        for (nip, weeks) in awardsByWeek {
            states[nip, default: ASNLedgerState()].activeWeeks = Set(weeks.filter { $0.value > 0 }.keys)
        }
        for row in results[2] {
            let nip: String = try row.decode("nip")
            states[nip, default: ASNLedgerState()].penalized.insert(try row.decode("submission_id"))
            states[nip, default: ASNLedgerState()].fraudTimes.append(try row.decode("activity_at"))
        }
        for row in results[3] {
            let nip: String = try row.decode("nip")
            let range: Range<Date> = try row.decode("starts_at", as: Date.self)..<row.decode("ends_at", as: Date.self)
            states[nip, default: ASNLedgerState()].bans.append(range)
        }
        for row in results[4] {
            states[try row.decode("nip"), default: ASNLedgerState()].revoked.insert(try row.decode("submission_id"))
        }
        return Loaded(states: states, campaigns: try results[5].map(Campaigns.campaign))
    }

    private static let creditColumns = """
        e.id, e.seq, e.nip, e.opd, e.submission_id, e.program, e.program_version, e.activity, e.kind, e.points,
        e.rule_version, e.period, e.activity_at, e.recorded_at, e.reverses, e.activity_period,
        EXISTS (SELECT 1 FROM ledger_entries r WHERE r.reverses = e.id AND r.kind = 'reversal') AS reversed
        """

    /// Records bans started by penalties just appended.
    static func recordBans(_ bans: [EarningBan], in connection: DatabaseConnection) async throws {
        guard !bans.isEmpty else { return }
        try await connection.query(
            """
            INSERT INTO earning_bans (penalty_entry_id, nip, starts_at, ends_at, fraud_count, rule_version)
            SELECT * FROM unnest(\(bans.map(\.penaltyEntryId))::uuid[], \(bans.map(\.nip))::text[],
                                 \(bans.map(\.range.lowerBound))::timestamptz[],
                                 \(bans.map(\.range.upperBound))::timestamptz[], \(bans.map(\.fraudCount))::int4[],
                                 \(bans.map(\.ruleVersion))::text[])
            ON CONFLICT DO NOTHING
            """
        )
    }

    /// The ban in force for `nip` at `date`, if any (the latest ending one).
    static func activeBan(of nip: String, at date: Date, in connection: DatabaseConnection) async throws
        -> Range<Date>?
    {
        let rows = try await connection.query(
            """
            SELECT starts_at, ends_at FROM earning_bans
            WHERE nip = \(nip) AND starts_at <= \(date) AND ends_at > \(date) ORDER BY ends_at DESC LIMIT 1
            """
        )
        guard let row = rows.first else { return nil }
        return try row.decode("starts_at", as: Date.self)..<row.decode("ends_at", as: Date.self)
    }
}
