import Contracts
import Database
import Foundation

/// One ASN's place in a period: the row behind rankings, awards and exports.
struct Standing: Sendable, Equatable, Codable {
    var nip: String
    var name: String
    var opd: String
    var points: Int
    /// Standard competition rank in the city (1, 2, 2, 4).
    var cityRank: Int
    /// Standard competition rank within the ASN's OPD.
    var opdRank: Int
    /// Ledger seq of the ASN's last entry that changed their total in the period (award tie-break: lower first).
    var reachedSeq: Int64
}

/// The standings of a period: frozen in `period_standings` once the period is closed, computed from the ledger
/// while it is open.
///
/// Every ASN with a ledger entry counted in the period is ranked; name and OPD come from the roster (the ledger's
/// OPD for an ASN no longer in it). Rows are in city rank order, ties by `reachedSeq`, then NIP.
enum PeriodStandings {
    /// The period's standings: frozen ones for a closed period, else computed now.
    static func load(_ period: Period, in connection: DatabaseConnection) async throws -> [Standing] {
        let frozen = try await connection.query(
            """
            SELECT nip, name, opd, points, city_rank, opd_rank, reached_seq FROM period_standings
            WHERE period = \(period.description) ORDER BY city_rank, reached_seq, nip
            """
        )
        if !frozen.isEmpty {
            return try frozen.map(standing)
        }
        if try await isClosed(period, in: connection) {
            return []
        }
        return try await compute(period, in: connection)
    }

    /// The period's standings computed from the ledger (what the close freezes).
    static func compute(_ period: Period, in connection: DatabaseConnection) async throws -> [Standing] {
        let quarters = period.subperiods(.quarter).map(\.description)
        return try await connection.query(
            """
            WITH per_asn AS (
                SELECT nip, sum(points)::int8 AS points, max(opd) AS ledger_opd,
                       COALESCE(max(seq) FILTER (WHERE points <> 0), min(seq)) AS reached_seq
                FROM ledger_entries WHERE period = ANY(\(quarters)::text[]) GROUP BY nip
            ), named AS (
                SELECT p.nip, COALESCE(r.name, '') AS name, COALESCE(r.opd, p.ledger_opd) AS opd, p.points,
                       p.reached_seq
                FROM per_asn p LEFT JOIN roster r USING (nip)
            )
            SELECT nip, name, opd, points,
                   rank() OVER (ORDER BY points DESC)::int4 AS city_rank,
                   rank() OVER (PARTITION BY opd ORDER BY points DESC)::int4 AS opd_rank,
                   reached_seq
            FROM named ORDER BY city_rank, reached_seq, nip
            """
        ).map(standing)
    }

    /// Whether `period` is closed.
    static func isClosed(_ period: Period, in connection: DatabaseConnection) async throws -> Bool {
        !(try await connection.query(
            "SELECT 1 FROM periods WHERE id = \(period.description) AND state = 'closed'"
        ).isEmpty)
    }

    private static func standing(_ row: PostgresRow) throws -> Standing {
        Standing(
            nip: try row.decode("nip"),
            name: try row.decode("name"),
            opd: try row.decode("opd"),
            points: try row.decode("points"),
            cityRank: try row.decode("city_rank"),
            opdRank: try row.decode("opd_rank"),
            reachedSeq: try row.decode("reached_seq")
        )
    }
}
