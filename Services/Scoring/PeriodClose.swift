import Contracts
import Database
import Eventing
import Foundation

/// What a close decided, shown in the close's response.
struct PeriodCloseSummary: Codable, Sendable, Equatable {
    /// ASN in the frozen standings.
    var ranked: Int
    /// Awards granted by the close.
    var awards: [AwardView]
}

/// Why a period cannot be closed (409).
enum PeriodCloseRefusal: Error, Equatable {
    /// The period has not ended yet.
    case notEnded(Period)
    /// Periods inside it are still open (a semester's quarters, a year's semesters).
    case partsOpen(Period, [Period])
}

/// `POST /v1/periods/{id}/close`: freezes a period, exactly once.
///
/// One transaction: the `periods` row is inserted if missing and locked (`FOR UPDATE`), so a second or concurrent
/// close waits and then finds the period closed (`alreadyClosed`, nothing done again). For an open period:
/// 1. order: the period must have ended; a semester needs both its quarters closed, a year both its semesters;
/// 2. a quarter's per-quarter lock is taken exclusively: ledger writers appending to it finish first, later ones
///    see it closed and write late entries into the next open quarter;
/// 3. the standings are computed from the ledger and frozen in `period_standings`;
/// 4. the programs' award schemes of the period's stage are granted (``Awards``);
/// 5. ``PeriodObligations/evaluate(_:in:)`` (commitments, sanctions, collective rule);
/// 6. the period is marked closed; `ranking.published` (final: the city's top 50 and each OPD's top 50, with
///    `totalRanked`; names as the leaderboard privacy allows) and one `award.granted` per award go to the outbox.
enum PeriodClose {
    /// Entries per `ranking.published`.
    static let publishedTop = 50

    struct Outcome: Sendable {
        var period: PeriodView
        var alreadyClosed: Bool
        var summary: PeriodCloseSummary
    }

    static func close(_ period: Period, by closedBy: String, now: Date, pool: DatabasePool) async throws -> Outcome {
        try await pool.withTransaction { connection in
            try await connection.query(
                """
                INSERT INTO periods (id, kind, starts_at, ends_at)
                VALUES (\(period.description), \(period.kind.rawValue), \(period.start), \(period.end))
                ON CONFLICT (id) DO NOTHING
                """)
            let state = try await connection.query(
                "SELECT state FROM periods WHERE id = \(period.description) FOR UPDATE"
            )[0].decode("state", as: String.self)
            if state == "closed" {
                return Outcome(
                    period: try await Periods.view(period, now: now, in: connection), alreadyClosed: true,
                    summary: try await summary(period, in: connection))
            }
            guard period.end <= now else { throw PeriodCloseRefusal.notEnded(period) }
            if period.kind != .quarter {
                let parts = period.subperiods(period.kind == .year ? .semester : .quarter)
                let closed = try await Periods.closed(parts, in: connection)
                let open = parts.filter { !closed.contains($0) }
                guard open.isEmpty else { throw PeriodCloseRefusal.partsOpen(period, open) }
            } else {
                try await connection.query(
                    "SELECT pg_advisory_xact_lock(\(Periods.lockClass), hashtext(\(period.description)))")
            }

            let standings = try await PeriodStandings.compute(period, in: connection)
            try await freeze(standings, of: period, in: connection)
            let programs = Array(try await ProgramCatalog.currentPrograms(in: connection).values)
                .sorted { $0.program < $1.program }
            let awards = try await Awards.grant(
                period, standings: standings, programs: programs, at: now, in: connection)
            try await PeriodObligations.evaluate(
                .init(period: period, programs: programs, standings: standings, closedAt: now, closedBy: closedBy),
                in: connection)
            try await connection.query(
                """
                UPDATE periods SET state = 'closed', closed_at = \(now), closed_by = \(closedBy)
                WHERE id = \(period.description)
                """)
            var events = try await rankingEvents(
                period, standings: standings, programs: programs, at: now, in: connection)
            events += try awards.map(Awards.event)
            try await Outbox.enqueue(events, in: connection)
            return Outcome(
                period: try await Periods.view(period, now: now, in: connection), alreadyClosed: false,
                summary: PeriodCloseSummary(ranked: standings.count, awards: awards))
        }
    }

    /// Writes the standings into `period_standings`.
    private static func freeze(_ standings: [Standing], of period: Period, in connection: DatabaseConnection)
        async throws
    {
        guard !standings.isEmpty else { return }
        try await connection.query(
            """
            INSERT INTO period_standings (period, nip, name, opd, points, city_rank, opd_rank, reached_seq)
            SELECT \(period.description), * FROM unnest(
                \(standings.map(\.nip))::text[], \(standings.map(\.name))::text[], \(standings.map(\.opd))::text[],
                \(standings.map(\.points))::int8[], \(standings.map(\.cityRank))::int4[],
                \(standings.map(\.opdRank))::int4[], \(standings.map(\.reachedSeq))::int8[])
            """)
    }

    /// The summary of a period closed earlier.
    private static func summary(_ period: Period, in connection: DatabaseConnection) async throws
        -> PeriodCloseSummary
    {
        let ranked = try await connection.query(
            "SELECT count(*)::int8 AS n FROM period_standings WHERE period = \(period.description)"
        )[0].decode("n", as: Int.self)
        return PeriodCloseSummary(ranked: ranked, awards: try await Awards.list(period: period, in: connection))
    }

    /// `ranking.published` for the city and each OPD, final, the top ``publishedTop`` rows each.
    static func rankingEvents(
        _ period: Period, standings: [Standing], programs: [ProgramDocument], at now: Date,
        in connection: DatabaseConnection
    ) async throws -> [CloudEvent] {
        let privacy = LeaderboardPrivacy.strictest(programs.map(\.leaderboard))
        let program = programs.count == 1 ? programs[0].program : programs.map(\.program).joined(separator: ",")
        let ruleVersion = programs.count == 1 ? programs[0].ruleVersion : nil
        let city = Array(standings.prefix(publishedTop))
        let byOPD = Dictionary(grouping: standings, by: \.opd)
        let opdTops = byOPD.keys.sorted().map { code in
            (code, byOPD[code]!.sorted { ($0.opdRank, $0.reachedSeq, $0.nip) < ($1.opdRank, $1.reachedSeq, $1.nip) })
        }
        var seqs = Set(city.map(\.reachedSeq))
        for (_, rows) in opdTops { seqs.formUnion(rows.prefix(publishedTop).map(\.reachedSeq)) }
        var reachedAt: [Int64: Date] = [:]
        for row in try await connection.query(
            "SELECT seq, recorded_at FROM ledger_entries WHERE seq = ANY(\(Array(seqs))::int8[])")
        {
            reachedAt[try row.decode("seq")] = try row.decode("recorded_at", as: Date.self)
        }
        func entries(_ rows: some Sequence<Standing>, rank: (Standing) -> Int) -> [RankingEntry] {
            rows.map { standing in
                RankingEntry(
                    rank: rank(standing), nip: standing.nip,
                    name: privacy.showsName(atRank: rank(standing))
                        ? standing.name : LeaderboardPrivacy.initials(standing.name),
                    opd: standing.opd, points: standing.points, reachedAt: reachedAt[standing.reachedSeq])
            }
        }
        var events = [
            try CloudEvent(
                RankingPublished(
                    period: period.description, scope: RankingPublished.cityScope, program: program, publishedAt: now,
                    entries: entries(city, rank: \.cityRank), final: true, totalRanked: standings.count,
                    ruleVersion: ruleVersion),
                from: .scoring, time: now)
        ]
        for (code, rows) in opdTops {
            events.append(
                try CloudEvent(
                    RankingPublished(
                        period: period.description, scope: code, program: program, publishedAt: now,
                        entries: entries(rows.prefix(publishedTop), rank: \.opdRank), final: true,
                        totalRanked: rows.count, ruleVersion: ruleVersion),
                    from: .scoring, time: now))
        }
        return events
    }
}
