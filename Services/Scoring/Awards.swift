import Contracts
import Database
import Foundation

/// One award as the API shows it (`GET /v1/awards`, the close's summary).
struct AwardView: Codable, Sendable, Equatable {
    var awardId: UUID
    var program: String
    var scheme: String
    /// The scheme's display name, e.g. `ASN Teladan Triwulan`.
    var schemeName: String
    /// `quarterly`, `semester` or `yearly`.
    var stage: String
    var period: String
    var nip: String
    var name: String?
    var opd: String
    /// The place within the award (1, 2, …): points, then who reached the score first; ineligible ASN skipped.
    var rank: Int
    /// The place in the period's city ranking (ties share it).
    var cityRank: Int?
    var points: Int
    var prize: String
    var prizeAmountRupiah: Int?
    var grantedAt: Date
}

/// Grants the award schemes of the programs at a period's close, and reads awards back.
///
/// For each scheme of the period's stage (quarterly at a quarter's close, and so on): the candidates are the ASN of
/// the frozen standings with at least one point (and `minPoints`), restricted by `requires` to those who received
/// the named earlier-stage scheme in a period inside this one; they are ordered by points, then by who reached
/// their score first (`reachedSeq`, lower first), then NIP; the first `top` (all when absent) receive it.
enum Awards {
    /// The awards the period's close grants; stored in `awards`, returned in grant order.
    static func grant(
        _ period: Period, standings: [Standing], programs: [ProgramDocument], at grantedAt: Date,
        in connection: DatabaseConnection
    ) async throws -> [AwardView] {
        let stage = AwardScheme.Stage(period.kind)
        var granted: [AwardView] = []
        for program in programs.sorted(by: { $0.program < $1.program }) {
            let byScheme = Dictionary((program.awards ?? []).map { ($0.scheme, $0) }, uniquingKeysWith: { a, _ in a })
            for scheme in program.awards ?? [] where scheme.stage == stage {
                var eligible: Set<String>?
                if let required = scheme.requires, let earlier = byScheme[required] {
                    let inside = period.subperiods(earlier.stage.periodKind).map(\.description)
                    eligible = Set(
                        try await connection.query(
                            """
                            SELECT DISTINCT nip FROM awards
                            WHERE program = \(program.program) AND scheme = \(required)
                              AND period = ANY(\(inside)::text[])
                            """
                        ).map { try $0.decode("nip", as: String.self) })
                }
                let floor = max(1, scheme.minPoints ?? 1)
                let candidates = standings.filter { $0.points >= floor && (eligible?.contains($0.nip) ?? true) }
                    .sorted { ($1.points, $0.reachedSeq, $0.nip) < ($0.points, $1.reachedSeq, $1.nip) }
                for (place, standing) in candidates.prefix(scheme.top ?? candidates.count).enumerated() {
                    granted.append(
                        AwardView(
                            awardId: UUID.timeOrdered(), program: program.program, scheme: scheme.scheme,
                            schemeName: scheme.displayName, stage: stage.rawValue, period: period.description,
                            nip: standing.nip, name: standing.name.isEmpty ? nil : standing.name, opd: standing.opd,
                            rank: place + 1, cityRank: standing.cityRank, points: standing.points, prize: scheme.prize,
                            prizeAmountRupiah: scheme.prizeAmountRupiah, grantedAt: grantedAt))
                }
            }
        }
        guard !granted.isEmpty else { return [] }
        try await connection.query(
            """
            INSERT INTO awards (award_id, program, scheme, scheme_name, stage, period, nip, name, opd, rank, city_rank,
                                points, prize, prize_amount_rupiah, granted_at)
            SELECT a, p, s, sn, st, pe, n, NULLIF(nm, ''), o, r, cr, pt, pz, NULLIF(amt, -1), \(grantedAt)
            FROM unnest(\(granted.map(\.awardId))::uuid[], \(granted.map(\.program))::text[],
                        \(granted.map(\.scheme))::text[], \(granted.map(\.schemeName))::text[],
                        \(granted.map(\.stage))::text[], \(granted.map(\.period))::text[], \(granted.map(\.nip))::text[],
                        \(granted.map { $0.name ?? "" })::text[], \(granted.map(\.opd))::text[],
                        \(granted.map(\.rank))::int4[], \(granted.map { $0.cityRank ?? 1 })::int4[],
                        \(granted.map(\.points))::int8[], \(granted.map(\.prize))::text[],
                        \(granted.map { $0.prizeAmountRupiah ?? -1 })::int8[])
                 AS t(a, p, s, sn, st, pe, n, nm, o, r, cr, pt, pz, amt)
            """)
        return granted
    }

    /// The awards of `period` (all periods when `nil`), by period, stage, scheme and place.
    static func list(period: Period?, in connection: DatabaseConnection) async throws -> [AwardView] {
        let rows = try await connection.query(
            """
            SELECT award_id, program, scheme, COALESCE(scheme_name, scheme) AS scheme_name, stage, period, nip, name,
                   opd, rank, city_rank, points, prize, prize_amount_rupiah, granted_at
            FROM awards WHERE (\(period?.description)::text IS NULL OR period = \(period?.description))
            ORDER BY granted_at, period, CASE stage WHEN 'quarterly' THEN 1 WHEN 'semester' THEN 2 ELSE 3 END,
                     program, scheme, rank
            """)
        return try rows.map { row in
            AwardView(
                awardId: try row.decode("award_id"), program: try row.decode("program"),
                scheme: try row.decode("scheme"), schemeName: try row.decode("scheme_name"),
                stage: try row.decode("stage"), period: try row.decode("period"), nip: try row.decode("nip"),
                name: try row.decode("name", as: String?.self), opd: try row.decode("opd"),
                rank: try row.decode("rank"), cityRank: try row.decode("city_rank", as: Int?.self),
                points: try row.decode("points"), prize: try row.decode("prize"),
                prizeAmountRupiah: try row.decode("prize_amount_rupiah", as: Int?.self),
                grantedAt: try row.decode("granted_at"))
        }
    }

    /// The `award.granted` event of an award.
    static func event(_ award: AwardView) throws -> CloudEvent {
        let stage = AwardScheme.Stage(rawValue: award.stage)?.periodKind.rawValue ?? award.stage
        return try CloudEvent(
            AwardGranted(
                awardId: award.awardId, scheme: award.scheme, stage: stage, period: award.period, nip: award.nip,
                name: award.name, opd: award.opd, rank: award.rank, points: award.points, prize: award.prize,
                prizeAmountRupiah: award.prizeAmountRupiah, grantedAt: award.grantedAt),
            from: .scoring, time: award.grantedAt)
    }
}
