import Contracts
import Database
import Eventing
import Foundation

/// `POST /v1/recompute` body.
struct RecomputeRequest: Codable, Sendable {
    var program: String
    /// The stored version to recompute under; the current one when absent.
    var version: Int?
    /// Report the differences without writing (default `true`: a real run must ask for it).
    var dryRun: Bool?
}

/// What a recompute found (and, unless a dry run, appended).
struct RecomputeReport: Codable, Sendable, Equatable {
    struct Difference: Codable, Sendable, Equatable {
        var nip: String
        var period: String
        /// The ledger's total now.
        var current: Int
        /// The total the rule version gives.
        var recomputed: Int
        var difference: Int
    }

    var program: String
    var version: Int
    var ruleVersion: String
    var dryRun: Bool
    var asnCompared: Int
    var asnDiffering: Int
    /// Differences per ASN and period (at most the first 5,000; `differenceCount` has them all).
    var differences: [Difference]
    var differenceCount: Int
    /// Correction entries appended (0 on a dry run).
    var entriesAppended: Int
}

/// Replay: recomputes every ASN's totals from the recorded decisions (`decision_inputs`, in the order they were
/// applied) under a stored rule version, with the same ``LedgerSimulator`` the consumer uses, and compares them
/// with the ledger per ASN, period and submission. A real run appends one `correction` entry per submission and
/// period that differs (never changing old entries) and publishes it (`points.awarded` with `entryKind`
/// `correction` for a gain, `points.reversed` for a loss).
///
/// ASNs are handled 500 at a time (one transaction each, under their per-ASN locks), so memory holds one chunk's
/// decisions and a long replay does not hold the whole ledger locked.
enum Recompute {
    static let chunk = 500
    static let maxReported = 5000

    static func run(
        _ request: RecomputeRequest, document: ProgramDocument, pool: DatabasePool
    ) async throws -> RecomputeReport {
        let dryRun = request.dryRun ?? true
        var report = RecomputeReport(
            program: document.program, version: document.version, ruleVersion: document.ruleVersion, dryRun: dryRun,
            asnCompared: 0, asnDiffering: 0, differences: [], differenceCount: 0, entriesAppended: 0)
        let campaigns = try await pool.withConnection { try await Campaigns.allWithCreation(in: $0) }
        let programCount = try await pool.withConnection { connection in
            try await connection.query("SELECT count(DISTINCT code)::int8 AS n FROM programs")[0].decode(
                "n", as: Int.self)
        }
        let code = document.program
        let simulator = LedgerSimulator(
            program: { requested in
                // Findings without a program belong to the only program there is.
                (requested ?? (programCount == 1 ? code : nil)) == code ? document : nil
            },
            campaigns: campaigns.map(\.campaign))
        var after = ""
        while true {
            let nips = try await pool.withConnection { connection in
                try await connection.query(
                    """
                    SELECT nip FROM (SELECT DISTINCT nip FROM decision_inputs WHERE nip > \(after)
                                     UNION SELECT DISTINCT nip FROM ledger_entries WHERE nip > \(after)
                                       AND program = \(code)) AS n
                    ORDER BY nip LIMIT \(chunk)
                    """
                ).map { try $0.decode("nip", as: String.self) }
            }
            guard let last = nips.last else { break }
            after = last
            try await pool.withTransaction { connection in
                if !dryRun { try await PointsLedger.lock(nips: nips, in: connection) }
                try await compare(
                    nips, code: code, document: document, simulator: simulator, campaigns: campaigns, dryRun: dryRun,
                    report: &report,
                    in: connection)
            }
            if nips.count < chunk { break }
        }
        return report
    }

    private struct Key: Hashable {
        var nip: String
        var submissionId: UUID
        var period: String
    }

    private struct Actual {
        var points: Int
        var opd: String
        var activity: String
        var activityAt: Date
        var lastEntry: UUID
    }

    private static func compare(
        _ nips: [String], code: String, document: ProgramDocument, simulator: LedgerSimulator,
        campaigns: [(campaign: Campaign, createdAt: Date)], dryRun: Bool,
        report: inout RecomputeReport, in connection: DatabaseConnection
    ) async throws {
        let results = try await connection.pipeline([
            """
            SELECT kind, submission_id, nip, opd, program, activity, place, quantity, activity_at, decided_at, fraud,
                   reason_code, reason, name, recorded_at
            FROM decision_inputs WHERE nip = ANY(\(nips)::text[]) ORDER BY nip, seq
            """,
            """
            SELECT nip, submission_id, COALESCE(activity_period, period) AS period, sum(points)::int8 AS points,
                   min(opd) AS opd, min(activity) AS activity, min(activity_at) AS activity_at,
                   (array_agg(id ORDER BY seq DESC) FILTER (WHERE kind <> 'reversal'))[1] AS last_entry
            FROM ledger_entries WHERE nip = ANY(\(nips)::text[]) AND program = \(code)
            -- late entries compare under the quarter of their activity, as the rules compute them
            GROUP BY nip, submission_id, COALESCE(activity_period, period)
            """,
        ])
        var outcome = LedgerSimulator.Outcome()
        var states: [String: ASNLedgerState] = [:]
        for row in results[0] {
            guard let input = try decisionInput(row) else { continue }
            if case .verified(let approval) = input, approval.program != code { continue }
            // The campaigns the consumer could see when it applied the decision: one created later with a start in
            // the past (a campaign day set up the day after) counts for decisions applied after its creation only,
            // as it did live, so a replay agrees with the ledger.
            let applied: Date = try row.decode("recorded_at")
            var simulator = simulator
            simulator.campaigns = campaigns.filter { $0.createdAt <= applied }.map(\.campaign)
            simulator.apply(input, to: &states[input.nip, default: ASNLedgerState()], outcome: &outcome)
        }
        var expected: [Key: (points: Int, entry: LedgerEntry)] = [:]
        for entry in outcome.entries {
            let key = Key(nip: entry.nip, submissionId: entry.submissionId, period: entry.period)
            expected[key, default: (0, entry)].points += entry.points
        }
        var actual: [Key: Actual] = [:]
        for row in results[1] {
            let key = Key(
                nip: try row.decode("nip"), submissionId: try row.decode("submission_id"),
                period: try row.decode("period"))
            actual[key] = Actual(
                points: try row.decode("points"), opd: try row.decode("opd"), activity: try row.decode("activity"),
                activityAt: try row.decode("activity_at"), lastEntry: try row.decode("last_entry"))
        }
        report.asnCompared += nips.count
        var corrections: [LedgerEntry] = []
        var perPeriod: [String: [String: (current: Int, recomputed: Int)]] = [:]
        for key in Set(expected.keys).union(actual.keys).sorted(by: { ($0.nip, $0.period) < ($1.nip, $1.period) }) {
            let want = expected[key]?.points ?? 0
            let have = actual[key]?.points ?? 0
            perPeriod[key.nip, default: [:]][key.period, default: (0, 0)].current += have
            perPeriod[key.nip, default: [:]][key.period, default: (0, 0)].recomputed += want
            guard want != have else { continue }
            let template = expected[key]?.entry
            let difference = want - have
            corrections.append(
                LedgerEntry(
                    id: UUID.timeOrdered(), nip: key.nip, opd: template?.opd ?? actual[key]?.opd ?? "",
                    submissionId: key.submissionId, program: code, programVersion: document.version,
                    activity: template?.activity ?? actual[key]?.activity ?? "", kind: .correction,
                    points: difference,
                    breakdown: [
                        PointsComponent(
                            kind: PointsRules.Kind.correction, points: difference,
                            detail: "penghitungan ulang dengan \(document.ruleVersion): \(have) → \(want) / recompute")
                    ],
                    ruleVersion: document.ruleVersion, period: key.period,
                    activityAt: template?.activityAt ?? actual[key]?.activityAt ?? Date(), recordedAt: Date(),
                    reverses: actual[key]?.lastEntry))
        }
        for (nip, periods) in perPeriod.sorted(by: { $0.key < $1.key }) {
            var differs = false
            for (period, totals) in periods.sorted(by: { $0.key < $1.key }) where totals.current != totals.recomputed {
                differs = true
                report.differenceCount += 1
                if report.differences.count < maxReported {
                    report.differences.append(
                        RecomputeReport.Difference(
                            nip: nip, period: period, current: totals.current, recomputed: totals.recomputed,
                            difference: totals.recomputed - totals.current))
                }
            }
            if differs { report.asnDiffering += 1 }
        }
        guard !dryRun, !corrections.isEmpty else { return }
        // `reverses` only names the entry a loss corrects, for the event; the ledger links reversals only.
        let stored = try await Periods.assignLate(
            corrections.map { entry -> LedgerEntry in
                var entry = entry
                entry.reverses = nil
                return entry
            }, in: connection)
        let cause = "recompute:\(document.ruleVersion):\(UUID().lowercased)"
        let inserted = try await PointsLedger.append(stored, causes: stored.map { _ in cause }, in: connection)
        let totals = try await PointsLedger.runningTotals(of: Array(inserted.keys), in: connection)
        var events: [CloudEvent] = []
        let countedIn = Dictionary(uniqueKeysWithValues: stored.map { ($0.id, $0.period) })
        for var entry in corrections {
            entry.period = countedIn[entry.id] ?? entry.period
            guard let recordedAt = inserted[entry.id], let total = totals[entry.id] else { continue }
            if entry.points >= 0 {
                events.append(
                    try DecisionHandler.event(
                        for: entry, recordedAt: recordedAt, total: total, outcome: LedgerSimulator.Outcome()))
            } else {
                events.append(
                    try CloudEvent(
                        PointsReversed(
                            entryId: entry.id, reversesEntryId: entry.reverses ?? entry.id,
                            submissionId: entry.submissionId, nip: entry.nip, points: entry.points,
                            reason: entry.breakdown.first?.detail ?? "penghitungan ulang", opd: entry.opd,
                            reasonCode: "RECOMPUTE", period: entry.period, reversedAt: recordedAt,
                            totalInPeriod: total),
                        from: .scoring, time: recordedAt))
            }
        }
        try await Outbox.enqueue(events, in: connection)
        report.entriesAppended += inserted.count
    }

    private static func decisionInput(_ row: PostgresRow) throws -> DecisionInput? {
        let kind: String = try row.decode("kind")
        let submissionId: UUID = try row.decode("submission_id")
        let nip: String = try row.decode("nip")
        let opd: String = try row.decode("opd")
        let decidedAt: Date = try row.decode("decided_at")
        switch kind {
        case "verified":
            guard let program = try row.decode("program", as: String?.self),
                let activity = try row.decode("activity", as: String?.self),
                let activityAt = try row.decode("activity_at", as: Date?.self)
            else { return nil }
            return .verified(
                ScoringInput(
                    submissionId: submissionId, nip: nip, program: program, activity: activity,
                    place: try row.decode("place", as: String?.self) ?? "",
                    quantity: try row.decode("quantity", as: Double?.self) ?? 0, activityAt: activityAt,
                    decidedAt: decidedAt, opd: opd, name: try row.decode("name", as: String?.self)))
        case "rejected", "revoked":
            let finding = FindingInput(
                submissionId: submissionId, nip: nip, opd: opd, program: try row.decode("program", as: String?.self),
                activity: try row.decode("activity", as: String?.self), decidedAt: decidedAt,
                fraud: try row.decode("fraud"), reasonCode: try row.decode("reason_code", as: String?.self) ?? "",
                reason: try row.decode("reason", as: String?.self) ?? "")
            return kind == "rejected" ? .rejected(finding) : .revoked(finding)
        default:
            return nil
        }
    }
}
