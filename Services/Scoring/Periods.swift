import Contracts
import Database
import Foundation

/// A period as the API shows it (`GET /v1/periods`).
struct PeriodView: Codable, Sendable, Equatable {
    /// `2026-Q1`, `2026-S1`, `2026`.
    var id: String
    /// `quarter`, `semester` or `year`.
    var kind: String
    /// `Triwulan I 2026`.
    var name: String
    var startsAt: Date
    var endsAt: Date
    /// `open` or `closed`.
    var state: String
    var closedAt: Date?
    /// NIP of the scoring-admin who closed it.
    var closedBy: String?
    /// Whether the period has ended (only an ended period can be closed).
    var ended: Bool

    init(_ period: Period, state: String = "open", closedAt: Date? = nil, closedBy: String? = nil, now: Date) {
        id = period.description
        kind = period.kind.rawValue
        name = period.indonesianName
        startsAt = period.start
        endsAt = period.end
        self.state = state
        self.closedAt = closedAt
        self.closedBy = closedBy
        ended = period.end <= now
    }

    /// Writes `closedAt` and `closedBy` as `null` while open.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(kind, forKey: .kind)
        try container.encode(name, forKey: .name)
        try container.encode(startsAt, forKey: .startsAt)
        try container.encode(endsAt, forKey: .endsAt)
        try container.encode(state, forKey: .state)
        try container.encode(closedAt, forKey: .closedAt)
        try container.encode(closedBy, forKey: .closedBy)
        try container.encode(ended, forKey: .ended)
    }
}

/// Periods (DESIGN §4): quarters, semesters and years in Asia/Jakarta time, open until a scoring-admin closes them.
///
/// A period without a row in `periods` is open. Close order: a quarter once it has ended; a semester once both its
/// quarters are closed; a year once both its semesters are closed (see ``PeriodClose``).
///
/// **Late entries.** A ledger entry whose quarter is closed is counted in the next open quarter (`period`) and keeps
/// its activity quarter (`activity_period`, `late`). Writers take a shared transaction lock on each quarter they
/// append to (``assignLate(_:in:)``) and the close of a quarter takes it exclusively, so an entry is either in the
/// quarter's frozen standings or late, never lost between the two.
enum Periods {
    /// The first key of the per-quarter advisory locks ("PERD").
    static let lockClass: Int32 = 0x5045_5244

    /// Every period that has a row or ledger entries (with the semesters and years of those quarters) and the
    /// periods containing `now`, each before the periods that contain it: 2026-Q1, 2026-Q2, 2026-S1, …, 2026.
    static func list(now: Date, in connection: DatabaseConnection) async throws -> [PeriodView] {
        let results = try await connection.pipeline([
            "SELECT id, state, closed_at, closed_by FROM periods",
            // The distinct quarters of the ledger, one index probe each (a loose index scan).
            """
            WITH RECURSIVE q AS (
                (SELECT period FROM ledger_entries ORDER BY period LIMIT 1)
                UNION ALL
                SELECT (SELECT e.period FROM ledger_entries e WHERE e.period > q.period ORDER BY e.period LIMIT 1)
                FROM q WHERE q.period IS NOT NULL
            )
            SELECT period FROM q WHERE period IS NOT NULL
            """,
        ])
        var rows: [Period: PeriodView] = [:]
        for row in results[0] {
            guard let period = try? Period(parsing: try row.decode("id", as: String.self)) else { continue }
            rows[period] = PeriodView(
                period, state: try row.decode("state"), closedAt: try row.decode("closed_at", as: Date?.self),
                closedBy: try row.decode("closed_by", as: String?.self), now: now)
        }
        var periods = Set(rows.keys)
        for row in results[1] {
            if let quarter = try? Period(parsing: try row.decode("period", as: String.self)) { periods.insert(quarter) }
        }
        for kind in Period.Kind.allCases { periods.insert(Period.containing(now, kind: kind)) }
        for period in periods {
            for kind in Period.Kind.allCases where kind > period.kind {
                if let enclosing = period.enclosing(kind) { periods.insert(enclosing) }
            }
        }
        return periods.sorted(by: displayOrder).map { rows[$0] ?? PeriodView($0, now: now) }
    }

    /// Ends first, then shorter first: each period after the periods inside it.
    static func displayOrder(_ lhs: Period, _ rhs: Period) -> Bool {
        (lhs.end, lhs.kind.months) < (rhs.end, rhs.kind.months)
    }

    /// One period with its state.
    static func view(_ period: Period, now: Date, in connection: DatabaseConnection) async throws -> PeriodView {
        let rows = try await connection.query(
            "SELECT state, closed_at, closed_by FROM periods WHERE id = \(period.description)")
        guard let row = rows.first else { return PeriodView(period, now: now) }
        return PeriodView(
            period, state: try row.decode("state"), closedAt: try row.decode("closed_at", as: Date?.self),
            closedBy: try row.decode("closed_by", as: String?.self), now: now)
    }

    /// Which of `periods` are closed.
    static func closed(_ periods: [Period], in connection: DatabaseConnection) async throws -> Set<Period> {
        guard !periods.isEmpty else { return [] }
        let rows = try await connection.query(
            """
            SELECT id FROM periods WHERE id = ANY(\(periods.map(\.description))::text[]) AND state = 'closed'
            """)
        return Set(try rows.compactMap { try? Period(parsing: try $0.decode("id", as: String.self)) })
    }

    /// Moves entries whose quarter is closed to the next open quarter, marking them late (`activityPeriod` keeps the
    /// activity's quarter; an entry already late keeps its original one), and holds a shared lock on every quarter
    /// appended to until the transaction ends, so no close of those quarters runs meanwhile.
    static func assignLate(_ entries: [LedgerEntry], in connection: DatabaseConnection) async throws -> [LedgerEntry] {
        guard !entries.isEmpty else { return entries }
        var locked: Set<String> = []
        var wanted = Set(entries.map(\.period))
        var closedQuarters: Set<String> = []
        while true {
            let fresh = wanted.subtracting(locked).sorted()
            if !fresh.isEmpty {
                try await connection.query(
                    """
                    SELECT pg_advisory_xact_lock_shared(\(lockClass), hashtext(q))
                    FROM unnest(\(fresh)::text[]) WITH ORDINALITY AS t(q, n) ORDER BY n
                    """)
                locked.formUnion(fresh)
            }
            // Read after the locks: a close in progress has committed (or rolled back) by now.
            closedQuarters = Set(
                try await connection.query(
                    """
                    SELECT id FROM periods
                    WHERE kind = 'quarter' AND state = 'closed' AND id >= \(locked.min() ?? "")
                    """
                ).map { try $0.decode("id", as: String.self) })
            let targets = Set(entries.map { target(of: $0.period, closed: closedQuarters) })
            wanted = targets
            if targets.isSubset(of: locked) { break }
        }
        if closedQuarters.isEmpty { return entries }
        return entries.map { entry in
            let counted = target(of: entry.period, closed: closedQuarters)
            guard counted != entry.period else { return entry }
            var late = entry
            late.activityPeriod = entry.activityPeriod ?? entry.period
            late.period = counted
            return late
        }
    }

    /// The first quarter from `quarter` on that is not closed.
    private static func target(of quarter: String, closed: Set<String>) -> String {
        guard closed.contains(quarter), var period = try? Period(parsing: quarter) else { return quarter }
        while closed.contains(period.description) { period = period.next }
        return period.description
    }
}
