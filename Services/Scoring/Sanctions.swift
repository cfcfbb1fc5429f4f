import Contracts
import Database
import Foundation
import ServiceSupport

/// A sanction record: an OPD's for a missed commitment, or an ASN's for low performance. `GET /v1/sanctions`
/// shows it as it is.
struct Sanction: Sendable, Equatable, Codable {
    var id: UUID
    /// A `SanctionImposed.Kind` raw value.
    var kind: String
    var period: String
    var opd: String
    /// `nil` for an OPD sanction.
    var nip: String?
    var name: String?
    var commitmentId: UUID?
    var reason: String
    var tppAdjustmentPercent: Double?
    var imposedAt: Date

    /// The `sanction.imposed` payload.
    var imposed: SanctionImposed {
        SanctionImposed(
            sanctionId: id, kind: kind, opd: opd, nip: nip, period: period, reason: reason, imposedAt: imposedAt,
            commitmentId: commitmentId, tppAdjustmentPercent: tppAdjustmentPercent)
    }
}

/// Who may read which sanctions (and export rows): punishments are visible only to the ASN concerned, their OPD
/// head, BKPP (`scoring-admin`) and the Inspektorat (`auditor`).
struct SanctionAudience: Sendable, Equatable {
    /// Every row (scoring-admin, auditor).
    var everything: Bool
    /// The rows of this OPD (an `opd-head`, by the token's `opd` claim).
    var opd: String?
    /// The caller's own ASN rows (an `asn`, by the token's `sub`).
    var nip: String?

    /// The audience of `identity`, or `nil` when it may read no sanction at all.
    init?(_ identity: Identity) {
        everything = identity.has(Roles.scoringAdmin) || identity.has(Roles.auditor)
        let claim = identity.opd.trimmingCharacters(in: .whitespaces)
        opd = identity.has(Roles.opdHead) && !claim.isEmpty ? claim : nil
        nip = identity.has(Roles.asn) ? identity.nip : nil
        if !everything && opd == nil && nip == nil { return nil }
    }

    /// Whether `sanction` is visible.
    func sees(_ sanction: Sanction) -> Bool {
        everything || (opd != nil && sanction.opd == opd) || (nip != nil && sanction.nip == nip)
    }
}

/// The sanctions table.
enum Sanctions {
    static let columns = """
        seq, id, kind, period, opd, nip, name, commitment_id, reason, tpp_adjustment_percent, imposed_at
        """

    /// Stores sanctions, skipping those already stored (one per missed commitment, one low-performance sanction
    /// per ASN and period); returns those actually inserted, in order.
    static func insert(_ sanctions: [Sanction], in connection: DatabaseConnection) async throws -> [Sanction] {
        guard !sanctions.isEmpty else { return [] }
        let inserted = try await connection.query(
            """
            INSERT INTO sanctions (id, kind, period, opd, nip, name, commitment_id, reason, tpp_adjustment_percent,
                                   imposed_at)
            SELECT id, kind, period, opd, NULLIF(nip, ''), NULLIF(name, ''), NULLIF(commitment_id, '')::uuid, reason,
                   CASE WHEN has_tpp THEN tpp END, imposed_at
            FROM unnest(\(sanctions.map(\.id))::uuid[], \(sanctions.map(\.kind))::text[],
                        \(sanctions.map(\.period))::text[], \(sanctions.map(\.opd))::text[],
                        \(sanctions.map { $0.nip ?? "" })::text[], \(sanctions.map { $0.name ?? "" })::text[],
                        \(sanctions.map { $0.commitmentId?.uuidString.lowercased() ?? "" })::text[],
                        \(sanctions.map(\.reason))::text[], \(sanctions.map { $0.tppAdjustmentPercent ?? 0 })::float8[],
                        \(sanctions.map { $0.tppAdjustmentPercent != nil })::bool[],
                        \(sanctions.map(\.imposedAt))::timestamptz[])
                 WITH ORDINALITY AS s(id, kind, period, opd, nip, name, commitment_id, reason, tpp, has_tpp,
                                      imposed_at, position)
            ORDER BY position
            ON CONFLICT DO NOTHING
            RETURNING id
            """
        )
        let ids = Set(try inserted.map { try $0.decode("id", as: UUID.self) })
        return sanctions.filter { ids.contains($0.id) }
    }

    /// The sanctions `audience` may read, of `period` (every period when `nil`), after `cursor` (a `seq`), at most
    /// `limit`, in `seq` order; with the last `seq` read.
    static func page(
        period: String?, audience: SanctionAudience, after cursor: Int64, limit: Int, in connection: DatabaseConnection
    ) async throws -> (sanctions: [Sanction], lastSeq: Int64?) {
        let rows = try await connection.query(
            """
            SELECT \(unsafeSQL: columns) FROM sanctions
            WHERE seq > \(cursor) AND (\(period)::text IS NULL OR period = \(period))
              AND (\(audience.everything) OR opd = \(audience.opd) OR nip = \(audience.nip))
            ORDER BY seq LIMIT \(limit)
            """
        )
        let last = try rows.last.map { try $0.decode("seq", as: Int64.self) }
        return (try rows.map(sanction), last)
    }

    /// Every sanction of `period`, in `seq` order.
    static func all(period: String, in connection: DatabaseConnection) async throws -> [Sanction] {
        try await connection.query(
            "SELECT \(unsafeSQL: columns) FROM sanctions WHERE period = \(period) ORDER BY seq"
        ).map(sanction)
    }

    static func sanction(_ row: PostgresRow) throws -> Sanction {
        Sanction(
            id: try row.decode("id"), kind: try row.decode("kind"), period: try row.decode("period"),
            opd: try row.decode("opd"), nip: try row.decode("nip", as: String?.self),
            name: try row.decode("name", as: String?.self),
            commitmentId: try row.decode("commitment_id", as: UUID?.self), reason: try row.decode("reason"),
            tppAdjustmentPercent: try row.decode("tpp_adjustment_percent", as: Double?.self),
            imposedAt: try row.decode("imposed_at"))
    }
}
