import Contracts
import Database
import Foundation

/// An OPD's *Lelang Kinerja* commitment: a target for a period, with the baseline it started from.
struct Commitment: Sendable, Equatable, Codable {
    var id: UUID
    var opd: String
    /// `2026-Q1`, `2026-S1` or `2026`.
    var period: String
    /// A `CommitmentEvaluated.Metric` raw value.
    var metric: String
    var target: Double
    var baseline: Double
    var createdBy: String
    var createdAt: Date
    /// Set once the period's close evaluated it.
    var result: Result?

    /// The outcome of the evaluation at close.
    struct Result: Sendable, Equatable, Codable {
        var actual: Double
        var met: Bool
        var inactiveCount: Int
        var evaluatedAt: Date
    }
}

/// What an OPD achieved in a period: the values commitments are measured against.
///
/// Definitions (DESIGN §4, *Lelang Kinerja*):
/// - an **approved activity** is an `award` ledger entry counted in the period that has not been reversed and that
///   the program could score (no `not_eligible` line: a submission DLH approved for an activity, place or program
///   the rules do not accept is not counted). Capped awards (0 points after a daily or weekly cap) count: the work
///   was done and approved;
/// - **approved activities** = the number of such entries of the OPD's ASN (net of reversals);
/// - **kg sorted** = the sum of the approved quantities (`decision_inputs.quantity`) of such entries for activities
///   measured in kg in their program (e.g. `bank_sampah`);
/// - **participation rate** = the share, in percent 0–100 rounded to hundredths, of the OPD's *active* roster ASN
///   with at least one approved activity in the period (0 when the OPD has no active ASN).
///
/// An ASN belongs to the OPD of the roster at evaluation time (the ledger's OPD for an ASN no longer in it), like
/// the standings. Inactive ASN are the OPD's active roster ASN with no approved activity in the period.
struct OPDAchievement: Sendable, Equatable {
    var opd: String
    var activeASN: Int
    var participatingASN: Int
    var approvedActivities: Int
    var kgSorted: Double

    /// Participation in percent, rounded to hundredths.
    var participationRate: Double {
        activeASN == 0 ? 0 : (Double(participatingASN) * 10_000 / Double(activeASN)).rounded() / 100
    }

    func value(of metric: CommitmentEvaluated.Metric) -> Double {
        switch metric {
        case .participationRate: participationRate
        case .kgSorted: (kgSorted * 1000).rounded() / 1000
        case .approvedActivities: Double(approvedActivities)
        }
    }
}

/// Commitments (`commitments`, `commitment_results`) and the achievements they are measured against.
enum Commitments {
    static let columns = """
        c.id, c.opd, c.period, c.metric, c.target, c.baseline, c.created_by, c.created_at, r.actual, r.met,
        r.inactive_count, r.evaluated_at
        """

    /// Stores a commitment; `false` when the OPD already has one for the period and metric.
    static func create(_ commitment: Commitment, in connection: DatabaseConnection) async throws -> Bool {
        !(try await connection.query(
            """
            INSERT INTO commitments (id, opd, period, metric, target, baseline, created_by, created_at)
            VALUES (\(commitment.id), \(commitment.opd), \(commitment.period), \(commitment.metric),
                    \(commitment.target), \(commitment.baseline), \(commitment.createdBy), \(commitment.createdAt))
            ON CONFLICT (opd, period, metric) DO NOTHING RETURNING id
            """
        ).isEmpty)
    }

    /// The commitments of `period` (every period when `nil`), of `opd` only when given, by period, OPD and metric.
    static func list(period: String?, opd: String?, in connection: DatabaseConnection) async throws -> [Commitment] {
        try await connection.query(
            """
            SELECT \(unsafeSQL: columns) FROM commitments c LEFT JOIN commitment_results r ON r.commitment_id = c.id
            WHERE (\(period)::text IS NULL OR c.period = \(period)) AND (\(opd)::text IS NULL OR c.opd = \(opd))
            ORDER BY c.period, c.opd, c.metric
            """
        ).map(commitment)
    }

    static func commitment(_ row: PostgresRow) throws -> Commitment {
        var result: Commitment.Result?
        if let actual = try row.decode("actual", as: Double?.self) {
            result = Commitment.Result(
                actual: actual, met: try row.decode("met"), inactiveCount: try row.decode("inactive_count"),
                evaluatedAt: try row.decode("evaluated_at"))
        }
        return Commitment(
            id: try row.decode("id"), opd: try row.decode("opd"), period: try row.decode("period"),
            metric: try row.decode("metric"), target: try row.decode("target"), baseline: try row.decode("baseline"),
            createdBy: try row.decode("created_by"), createdAt: try row.decode("created_at"), result: result)
    }

    /// The achievement of every OPD that has active roster ASN or approved activities in `period`, by OPD code.
    ///
    /// - Parameter kgActivities: `program/activity` keys of the activities measured in kg (empty: kilograms are not
    ///   needed, e.g. for the collective rule alone, and the decisions are not read).
    static func achievements(
        _ period: Period, kgActivities: Set<String>, in connection: DatabaseConnection
    ) async throws -> [String: OPDAchievement] {
        let quarters = period.subperiods(.quarter).map(\.description)
        let rows = try await connection.query(
            """
            WITH kg AS (
                SELECT \(Array(kgActivities).sorted())::text[] AS keys
            ), approved AS (
                SELECT a.nip, COALESCE(r.opd, a.opd) AS opd, a.program || '/' || a.activity AS activity,
                       a.submission_id
                FROM ledger_entries a LEFT JOIN roster r USING (nip)
                WHERE a.period = ANY(\(quarters)::text[]) AND a.kind = 'award'
                  AND NOT a.breakdown @> '[{"kind": "not_eligible"}]'::jsonb
                  AND NOT EXISTS (SELECT 1 FROM ledger_entries x WHERE x.kind = 'reversal' AND x.reverses = a.id)
            ), per_opd AS (
                \(unsafeSQL: kgActivities.isEmpty ? perOPDWithoutQuantities : perOPDWithQuantities)
            ), participants AS (
                SELECT DISTINCT nip FROM approved
            ), active AS (
                -- A join, not `nip IN (…)`: a million approvals do not fit a hashed subplan's work_mem.
                SELECT r.opd, count(*)::int8 AS active, count(p.nip)::int8 AS participating
                FROM roster r LEFT JOIN participants p ON p.nip = r.nip WHERE r.active GROUP BY r.opd
            )
            SELECT COALESCE(a.opd, p.opd) AS opd, COALESCE(a.active, 0) AS active,
                   COALESCE(a.participating, 0) AS participating, COALESCE(p.activities, 0) AS activities,
                   COALESCE(p.kg, 0) AS kg
            FROM active a FULL JOIN per_opd p ON p.opd = a.opd
            """
        )
        var result: [String: OPDAchievement] = [:]
        for row in rows {
            let opd: String = try row.decode("opd")
            result[opd] = OPDAchievement(
                opd: opd, activeASN: try row.decode("active"), participatingASN: try row.decode("participating"),
                approvedActivities: try row.decode("activities"), kgSorted: try row.decode("kg"))
        }
        return result
    }

    /// Approvals per OPD with the kilograms of kg activities (`$kg` is replaced by the array of their keys).
    private static let perOPDWithQuantities = """
        SELECT p.opd, count(*)::int8 AS activities,
               COALESCE(sum(d.quantity) FILTER (WHERE p.activity = ANY(kg.keys)), 0)::float8 AS kg
        FROM approved p CROSS JOIN kg
        LEFT JOIN decision_inputs d ON d.kind = 'verified' AND d.submission_id = p.submission_id
        GROUP BY p.opd
        """

    /// Approvals per OPD when no activity is measured in kg (no join with the decisions).
    private static let perOPDWithoutQuantities = """
        SELECT p.opd, count(*)::int8 AS activities, 0::float8 AS kg FROM approved p GROUP BY p.opd
        """

    /// Active roster ASN of `opds` with no approved activity in `period`, by OPD then NIP.
    static func inactiveASN(
        _ period: Period, opds: [String], in connection: DatabaseConnection
    ) async throws -> [(nip: String, name: String, opd: String)] {
        guard !opds.isEmpty else { return [] }
        let quarters = period.subperiods(.quarter).map(\.description)
        return try await connection.query(
            """
            SELECT r.nip, r.name, r.opd FROM roster r
            WHERE r.active AND r.opd = ANY(\(opds)::text[])
              AND NOT EXISTS (
                SELECT 1 FROM ledger_entries a
                WHERE a.nip = r.nip AND a.period = ANY(\(quarters)::text[]) AND a.kind = 'award'
                  AND NOT a.breakdown @> '[{"kind": "not_eligible"}]'::jsonb
                  AND NOT EXISTS (SELECT 1 FROM ledger_entries x WHERE x.kind = 'reversal' AND x.reverses = a.id))
            ORDER BY r.opd, r.nip
            """
        ).map { row in (try row.decode("nip"), try row.decode("name"), try row.decode("opd")) }
    }

    /// `program/activity` keys of the kg activities of `programs`.
    static func kgActivities(_ programs: [ProgramDocument]) -> Set<String> {
        Set(
            programs.flatMap { program in
                program.activities.filter { $0.unit == "kg" }.map { "\(program.program)/\($0.code)" }
            })
    }
}
