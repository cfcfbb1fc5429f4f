import Contracts
import Database
import Foundation

/// One row of the points ledger.
struct LedgerEntry: Sendable, Equatable {
    /// `award` (an approved submission), `reversal` (cancels an earlier entry), `penalty` (fraud), `bonus`
    /// (streak), `correction` (a replay under another rule version).
    enum Kind: String, Sendable, Codable {
        case award
        case reversal
        case penalty
        case bonus
        case correction
    }

    var id: UUID
    var nip: String
    var opd: String
    var submissionId: UUID
    var program: String
    /// `nil` when the program was unknown to scoring.
    var programVersion: Int?
    var activity: String
    var kind: Kind
    var points: Int
    var breakdown: [PointsComponent]
    var ruleVersion: String
    /// The quarter of `activityAt` in Jakarta time, e.g. `2026-Q1`.
    var period: String
    var activityAt: Date
    var recordedAt: Date
    /// The entry a reversal cancels.
    var reverses: UUID?
    /// For a late entry (its activity's quarter was closed when it was recorded): that quarter; `period` is then the
    /// open quarter it is counted in. `nil` when the entry is not late.
    var activityPeriod: String? = nil
}

/// The append-only points ledger (`ledger_entries`).
///
/// Rows are only ever inserted: a trigger refuses `UPDATE` and `DELETE`, a correction is a new `reversal` row.
/// A partial unique index keeps one award per submission and one reversal per award, so a duplicate approval is
/// absorbed (`ON CONFLICT DO NOTHING`) rather than failing the inbox transaction. Writers take a per-ASN
/// transaction lock first (``lock(nips:in:)``), so the history the rules see and the running totals published
/// are consistent even with competing consumers.
enum PointsLedger {
    /// The first key of the per-ASN advisory locks ("ASNL").
    static let lockClass: Int32 = 0x4153_4E4C

    /// Takes the transaction-scoped lock of each ASN in `nips`, in one order for every writer (no deadlocks).
    static func lock(nips: some Collection<String>, in connection: DatabaseConnection) async throws {
        guard !nips.isEmpty else { return }
        try await connection.query(
            """
            SELECT pg_advisory_xact_lock(\(lockClass), hashtext(nip))
            FROM (SELECT DISTINCT nip FROM unnest(\(Array(Set(nips)).sorted())::text[]) AS t(nip) ORDER BY nip) AS s
            """
        )
    }

    /// Appends entries of any kind in one statement, in order; returns the ids actually inserted with their
    /// `recorded_at` (an entry a unique index refuses — a second award, reversal, penalty or bonus of a
    /// submission — is skipped).
    static func append(_ entries: [LedgerEntry], causes: [String?], in connection: DatabaseConnection)
        async throws -> [UUID: Date]
    {
        guard !entries.isEmpty else { return [:] }
        let breakdowns = try entries.map { try encodeBreakdown($0.breakdown) }
        let rows = try await connection.query(
            """
            INSERT INTO ledger_entries (id, nip, opd, submission_id, program, program_version, activity, kind, points,
                                        breakdown, rule_version, period, activity_at, cause_event_id, reverses,
                                        activity_period, late)
            SELECT id, nip, opd, submission_id, program, NULLIF(program_version, 0), activity, kind, points,
                   breakdown::jsonb, rule_version, period, activity_at, NULLIF(cause, ''), reverses,
                   NULLIF(activity_period, ''), activity_period <> ''
            FROM unnest(\(entries.map(\.id))::uuid[], \(entries.map(\.nip))::text[], \(entries.map(\.opd))::text[],
                        \(entries.map(\.submissionId))::uuid[], \(entries.map(\.program))::text[],
                        \(entries.map { $0.programVersion ?? 0 })::int8[], \(entries.map(\.activity))::text[],
                        \(entries.map(\.kind.rawValue))::text[],
                        \(entries.map(\.points))::int8[], \(breakdowns)::text[], \(entries.map(\.ruleVersion))::text[],
                        \(entries.map(\.period))::text[], \(entries.map(\.activityAt))::timestamptz[],
                        \(causes.map { $0 ?? "" })::text[], \(entries.map { $0.reverses?.lowercased ?? "" })::text[],
                        \(entries.map { $0.activityPeriod ?? "" })::text[])
                 WITH ORDINALITY AS r(id, nip, opd, submission_id, program, program_version, activity, kind, points,
                                      breakdown, rule_version, period, activity_at, cause, reverses_text,
                                      activity_period, position)
                 CROSS JOIN LATERAL (SELECT NULLIF(reverses_text, '')::uuid AS reverses) AS x
            ORDER BY position
            ON CONFLICT DO NOTHING
            RETURNING id, recorded_at
            """
        )
        var inserted: [UUID: Date] = [:]
        for row in rows { inserted[try row.decode("id")] = try row.decode("recorded_at", as: Date.self) }
        return inserted
    }

    /// Each entry's ASN total in its period up to and including the entry (ledger order).
    ///
    /// Read from `points_totals` (kept by a trigger) minus the entries of the same ASN and period recorded after it
    /// — under the per-ASN lock those are only the caller's own later entries — so no history is re-summed.
    static func runningTotals(of ids: [UUID], in connection: DatabaseConnection) async throws -> [UUID: Int] {
        guard !ids.isEmpty else { return [:] }
        let rows = try await connection.query(
            """
            SELECT e.id,
                   (t.total - (SELECT COALESCE(sum(x.points), 0) FROM ledger_entries x
                               WHERE x.nip = e.nip AND x.period = e.period AND x.seq > e.seq))::int8 AS total
            FROM ledger_entries e JOIN points_totals t ON t.nip = e.nip AND t.period = e.period
            WHERE e.id = ANY(\(ids)::uuid[])
            """
        )
        var totals: [UUID: Int] = [:]
        for row in rows { totals[try row.decode("id")] = try row.decode("total", as: Int.self) }
        return totals
    }

    /// The (ASN, period) pairs whose kept total differs from the ledger's sum; empty when they all agree.
    static func totalsDisagreeingWithLedger(in connection: DatabaseConnection) async throws -> [String] {
        try await connection.query(
            """
            SELECT COALESCE(t.nip, l.nip) || ' ' || COALESCE(t.period, l.period) AS pair
            FROM points_totals t
            FULL JOIN (SELECT nip, period, sum(points) AS total, count(*) AS entries
                       FROM ledger_entries GROUP BY nip, period) l ON l.nip = t.nip AND l.period = t.period
            WHERE t.total IS DISTINCT FROM l.total OR t.entries IS DISTINCT FROM l.entries
            """
        ).map { try $0.decode("pair", as: String.self) }
    }

    /// The (ASN, week) pairs whose kept count of awards (`award_weeks`) differs from the ledger's; empty when they
    /// all agree.
    static func awardWeeksDisagreeingWithLedger(in connection: DatabaseConnection) async throws -> [String] {
        try await connection.query(
            """
            SELECT COALESCE(w.nip, l.nip) || ' ' || COALESCE(w.week, l.week) AS pair
            FROM (SELECT * FROM award_weeks WHERE awards <> 0) w
            FULL JOIN (SELECT e.nip, jakarta_week(e.activity_at) AS week, count(*)::int4 AS awards
                       FROM ledger_entries e
                       WHERE e.kind = 'award' AND e.points > 0
                         AND NOT EXISTS (SELECT 1 FROM ledger_entries r WHERE r.reverses = e.id AND r.kind = 'reversal')
                       GROUP BY 1, 2) l ON l.nip = w.nip AND l.week = w.week
            WHERE w.awards IS DISTINCT FROM l.awards
            """
        ).map { try $0.decode("pair", as: String.self) }
    }

    /// The entries of `nip` in `periods` (quarters), in ledger order, and their sum.
    static func entries(of nip: String, in periods: [String], connection: DatabaseConnection) async throws
        -> [LedgerEntry]
    {
        try await connection.query(
            """
            SELECT \(unsafeSQL: columns) FROM ledger_entries
            WHERE nip = \(nip) AND period = ANY(\(periods)::text[]) ORDER BY seq
            """
        ).map(entry)
    }

    /// A page of entries in ledger order after `seq` `after`: one ASN's or everyone's, in `periods` (quarters) or
    /// all; with the `seq` of the last entry (the next cursor).
    static func page(
        nip: String?, periods: [String]?, after: Int64, limit: Int, in connection: DatabaseConnection
    ) async throws -> (entries: [LedgerEntry], lastSeq: Int64?) {
        let rows = try await connection.query(
            """
            SELECT \(unsafeSQL: columns), seq FROM ledger_entries
            WHERE seq > \(after) AND (\(nip)::text IS NULL OR nip = \(nip))
              AND (\(periods == nil) OR period = ANY(\(periods ?? [])::text[]))
            ORDER BY seq LIMIT \(limit)
            """
        )
        let entries = try rows.map(entry)
        let last = try rows.last.map { try $0.decode("seq", as: Int64.self) }
        return (entries, last)
    }

    // MARK: Helpers

    private static let columns = """
        id, nip, opd, submission_id, program, program_version, activity, kind, points, breakdown, rule_version,
        period, activity_at, recorded_at, reverses, activity_period
        """

    static func entry(_ row: PostgresRow) throws -> LedgerEntry {
        try entry(row, breakdown: true)
    }

    /// An entry from a row; without decoding `breakdown` (left empty) when `breakdown` is false.
    static func entry(_ row: PostgresRow, breakdown: Bool) throws -> LedgerEntry {
        let kind: String = try row.decode("kind")
        return LedgerEntry(
            id: try row.decode("id"),
            nip: try row.decode("nip"),
            opd: try row.decode("opd"),
            submissionId: try row.decode("submission_id"),
            program: try row.decode("program"),
            programVersion: try row.decode("program_version", as: Int?.self),
            activity: try row.decode("activity"),
            kind: LedgerEntry.Kind(rawValue: kind) ?? .award,
            points: try row.decode("points"),
            breakdown: breakdown ? try row.decode("breakdown", as: PostgresJSON<[PointsComponent]>.self).value : [],
            ruleVersion: try row.decode("rule_version"),
            period: try row.decode("period"),
            activityAt: try row.decode("activity_at"),
            recordedAt: try row.decode("recorded_at"),
            reverses: try row.decode("reverses", as: UUID?.self),
            activityPeriod: try row.decode("activity_period", as: String?.self)
        )
    }

    private static func encodeBreakdown(_ breakdown: [PointsComponent]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(breakdown), as: UTF8.self)
    }
}
