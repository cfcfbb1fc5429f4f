import Contracts
import Database
import Foundation

/// One row of a ranking before privacy is applied.
struct RankedRow: Sendable, Equatable {
    var rank: Int
    var nip: String
    var name: String
    var opd: String
    var points: Int
}

/// Rankings of a period (DESIGN §4): every ASN with a ledger entry counted in the period, in points order, with
/// standard competition ranks (1, 2, 2, 4); for the city or one OPD. Sanctions are never part of a ranking.
///
/// Where the rows come from:
/// - a closed period: its frozen standings (`period_standings`, ranks stored by the close);
/// - an open quarter, city: `points_totals` (kept per ASN and quarter by the ledger's trigger) read in points
///   order from an index, so a page costs an index range and the first row's rank two index counts, whatever the
///   number of ASN;
/// - an open quarter for one OPD, or an open semester or year: the same totals, summed and ranked in one statement.
///
/// Rows with the same points are in NIP order; pages follow with a cursor `<points>:<nip>` of the last row. An
/// ASN's OPD and name are the roster's (for an ASN not in the roster, the OPD of their entries and no name).
enum Rankings {
    enum Scope: Sendable, Equatable, CustomStringConvertible {
        case city
        case opd(String)

        /// `city`, `opd:DLH`.
        init?(parsing text: String) {
            if text == "city" {
                self = .city
                return
            }
            guard text.hasPrefix("opd:") else { return nil }
            let code = String(text.dropFirst(4))
            guard (1...32).contains(code.count),
                code.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") })
            else { return nil }
            self = .opd(code)
        }

        var description: String {
            switch self {
            case .city: "city"
            case .opd(let code): "opd:\(code)"
            }
        }

        /// The `scope` of `ranking.published`: `city` or the OPD code.
        var eventScope: String {
            switch self {
            case .city: RankingPublished.cityScope
            case .opd(let code): code
            }
        }
    }

    /// The position after which a page starts: the last row's points and NIP.
    struct Cursor: Sendable, Equatable {
        var points: Int
        var nip: String

        init(points: Int, nip: String) {
            self.points = points
            self.nip = nip
        }

        init?(parsing text: String) {
            let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, let points = Int(parts[0]), !parts[1].isEmpty, parts[1].count <= 32,
                parts[1].allSatisfy(\.isNumber)
            else { return nil }
            self.points = points
            self.nip = String(parts[1])
        }

        var text: String { "\(points):\(nip)" }
    }

    struct Page: Sendable, Equatable {
        var rows: [RankedRow]
        var totalRanked: Int
        /// Whether the rows are the frozen standings of a closed period.
        var final: Bool
    }

    /// A page of the ranking of `period` in `scope`, after `cursor`, at most `limit` rows.
    static func page(
        _ period: Period, scope: Scope, after cursor: Cursor?, limit: Int, in connection: DatabaseConnection
    ) async throws -> Page {
        // Rows sort by (-points, nip); without a cursor start before any row.
        let afterKey = cursor.map { (-$0.points, $0.nip) } ?? (Int.min, "")
        if try await PeriodStandings.isClosed(period, in: connection) {
            return try await frozen(period, scope: scope, after: afterKey, limit: limit, in: connection)
        }
        if period.kind == .quarter, scope == .city {
            return try await openQuarterCity(period, after: afterKey, limit: limit, in: connection)
        }
        return try await openSummed(period, scope: scope, after: afterKey, limit: limit, in: connection)
    }

    private static func frozen(
        _ period: Period, scope: Scope, after: (Int, String), limit: Int, in connection: DatabaseConnection
    ) async throws -> Page {
        let id = period.description
        let results: [QueryResult]
        switch scope {
        case .city:
            results = try await connection.pipeline([
                """
                SELECT nip, name, opd, points, city_rank AS rank FROM period_standings
                WHERE period = \(id) AND (-points, nip) > (\(after.0)::int8, \(after.1)::text)
                ORDER BY -points, nip LIMIT \(limit)
                """,
                "SELECT count(*)::int8 AS n FROM period_standings WHERE period = \(id)",
            ])
        case .opd(let code):
            results = try await connection.pipeline([
                """
                SELECT nip, name, opd, points, opd_rank AS rank FROM period_standings
                WHERE period = \(id) AND opd = \(code) AND (-points, nip) > (\(after.0)::int8, \(after.1)::text)
                ORDER BY -points, nip LIMIT \(limit)
                """,
                "SELECT count(*)::int8 AS n FROM period_standings WHERE period = \(id) AND opd = \(code)",
            ])
        }
        return Page(rows: try results[0].map(row), totalRanked: try results[1][0].decode("n"), final: true)
    }

    /// The fast path: an index range of `points_totals` in points order, ranks from the first row's position.
    private static func openQuarterCity(
        _ period: Period, after: (Int, String), limit: Int, in connection: DatabaseConnection
    ) async throws -> Page {
        let id = period.description
        let results = try await connection.pipeline([
            """
            SELECT t.nip, t.total::int8 AS points, COALESCE(r.name, '') AS name,
                   COALESCE(r.opd, (SELECT max(e.opd) FROM ledger_entries e WHERE e.nip = t.nip AND e.period = t.period))
                       AS opd
            FROM points_totals t LEFT JOIN roster r ON r.nip = t.nip
            WHERE t.period = \(id) AND (-t.total, t.nip) > (\(after.0)::int8, \(after.1)::text)
            ORDER BY -t.total, t.nip LIMIT \(limit)
            """,
            "SELECT count(*)::int8 AS n FROM points_totals WHERE period = \(id)",
        ])
        let total: Int = try results[1][0].decode("n")
        var rows: [RankedRow] = try results[0].map { row in
            RankedRow(
                rank: 0, nip: try row.decode("nip"), name: try row.decode("name"), opd: try row.decode("opd"),
                points: try row.decode("points"))
        }
        guard let first = rows.first else { return Page(rows: [], totalRanked: total, final: false) }
        // The first row's place: rows with more points, and rows with the same points and a lower NIP.
        let counts = try await connection.query(
            """
            SELECT count(*) FILTER (WHERE -total < \(-first.points)::int8)::int8 AS above,
                   count(*) FILTER (WHERE -total = \(-first.points)::int8 AND nip < \(first.nip))::int8 AS tied
            FROM points_totals WHERE period = \(id) AND -total <= \(-first.points)::int8
            """)
        let above: Int = try counts[0].decode("above")
        let tied: Int = try counts[0].decode("tied")
        var position = above + tied
        for index in rows.indices {
            if index > 0 && rows[index].points == rows[index - 1].points {
                rows[index].rank = rows[index - 1].rank
            } else {
                rows[index].rank = index == 0 ? above + 1 : position + 1
            }
            position += 1
        }
        return Page(rows: rows, totalRanked: total, final: false)
    }

    /// Totals summed over the period's quarters and ranked in one statement (an OPD, a semester, a year).
    private static func openSummed(
        _ period: Period, scope: Scope, after: (Int, String), limit: Int, in connection: DatabaseConnection
    ) async throws -> Page {
        let quarters = period.subperiods(.quarter).map(\.description)
        let opd: String? =
            switch scope {
            case .city: nil
            case .opd(let code): code
            }
        let rows = try await connection.query(
            """
            WITH summed AS (
                SELECT t.nip, sum(t.total)::int8 AS points FROM points_totals t
                WHERE t.period = ANY(\(quarters)::text[])
                  AND (\(opd)::text IS NULL
                       OR t.nip IN (SELECT r.nip FROM roster r WHERE r.opd = \(opd))
                       OR NOT EXISTS (SELECT 1 FROM roster r WHERE r.nip = t.nip))
                GROUP BY t.nip
            ), named AS (
                SELECT s.nip, s.points, COALESCE(r.name, '') AS name,
                       COALESCE(r.opd, (SELECT max(e.opd) FROM ledger_entries e
                                        WHERE e.nip = s.nip AND e.period = ANY(\(quarters)::text[]))) AS opd
                FROM summed s LEFT JOIN roster r ON r.nip = s.nip
            ), ranked AS (
                SELECT nip, name, opd, points, rank() OVER (ORDER BY points DESC)::int4 AS rank,
                       count(*) OVER ()::int8 AS n
                FROM named WHERE \(opd)::text IS NULL OR opd = \(opd)
            )
            SELECT nip, name, opd, points, rank, n FROM ranked
            WHERE (-points, nip) > (\(after.0)::int8, \(after.1)::text)
            ORDER BY -points, nip LIMIT \(limit)
            """)
        var total = try rows.first.map { try $0.decode("n", as: Int.self) }
        if total == nil && after.0 != Int.min {
            // An empty page past the end: count the ranked rows anyway.
            total = try await openSummed(period, scope: scope, after: (Int.min, ""), limit: 1, in: connection)
                .totalRanked
        }
        return Page(rows: try rows.map(row), totalRanked: total ?? 0, final: false)
    }

    private static func row(_ row: PostgresRow) throws -> RankedRow {
        RankedRow(
            rank: try row.decode("rank"), nip: try row.decode("nip"), name: try row.decode("name"),
            opd: try row.decode("opd"), points: try row.decode("points"))
    }
}
