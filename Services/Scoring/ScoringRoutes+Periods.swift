import Contracts
import Database
import Foundation
import HTTPTypes
import Hummingbird
import ServiceSupport

/// Periods, rankings and awards: `GET /v1/periods`, `POST /v1/periods/{id}/close`, `GET /v1/rankings`,
/// `GET /v1/awards`.
extension ScoringRoutes {
    func addPeriodRoutes(to routes: RouteCollection<AuthenticatedRequestContext>) {
        routes.get("/v1/periods") { _, context in try await periods(context) }
        routes.post("/v1/periods/:id/close") { _, context in try await closePeriod(context) }
        routes.get("/v1/rankings") { request, context in try await rankings(request, context) }
        routes.get("/v1/awards") { request, context in try await awards(request, context) }
    }

    /// `GET /v1/periods` (any signed-in role).
    private func periods(_ context: AuthenticatedRequestContext) async throws -> Response {
        _ = try context.requireIdentity()
        let now = now()
        let items = try await pool.withConnection { try await Periods.list(now: now, in: $0) }
        return try Self.json(PeriodList(items: items), status: .ok)
    }

    /// `POST /v1/periods/{id}/close` (scoring-admin): 200 with the closed period and what the close decided, also
    /// when it was closed before (`alreadyClosed`); 409 when it has not ended or a period inside it is still open.
    private func closePeriod(_ context: AuthenticatedRequestContext) async throws -> Response {
        let identity = try context.require(roles: [Roles.scoringAdmin])
        let period = try Self.parsePeriod(try context.parameters.require("id"))
        do {
            let outcome = try await PeriodClose.close(period, by: identity.nip, now: now(), pool: pool)
            return try Self.json(
                PeriodCloseResponse(
                    outcome.period, alreadyClosed: outcome.alreadyClosed, summary: outcome.summary),
                status: .ok)
        } catch PeriodCloseRefusal.notEnded(let period) {
            throw ProblemDetails.conflict(
                "\(period.indonesianName) belum berakhir (berakhir \(PointsRules.jakartaText(period.end))); periode "
                    + "hanya dapat ditutup setelah berakhir. The period has not ended yet.",
                code: "PERIOD_NOT_ENDED")
        } catch PeriodCloseRefusal.partsOpen(let period, let open) {
            throw ProblemDetails.conflict(
                "\(period.indonesianName) baru dapat ditutup setelah \(open.map(\.description).joined(separator: ", ")) "
                    + "ditutup. Close the periods inside it first: \(open.map(\.description).joined(separator: ", ")).",
                code: "PERIOD_ORDER")
        }
    }

    /// `GET /v1/rankings?period=&scope=city|opd:<code>&cursor=&limit=` (any signed-in role).
    private func rankings(_ request: Request, _ context: AuthenticatedRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let query = request.uri.queryParameters
        let now = now()
        let period =
            try query.get("period").flatMap { $0.isEmpty ? nil : $0 }.map(Self.parsePeriod)
            ?? Period.containing(now, kind: .quarter)
        let scopeText = query.get("scope").flatMap { $0.isEmpty ? nil : $0 } ?? "city"
        guard let scope = Rankings.Scope(parsing: scopeText) else {
            throw ProblemDetails.badRequest(
                "scope harus 'city' atau 'opd:<kode>' (mis. opd:DLH). scope must be city or opd:<code>.",
                code: "INVALID_SCOPE")
        }
        var cursor: Rankings.Cursor?
        if let text = query.get("cursor"), !text.isEmpty {
            guard let parsed = Rankings.Cursor(parsing: text) else {
                throw ProblemDetails.badRequest("Kursor tidak valid. Invalid cursor.", code: "INVALID_CURSOR")
            }
            cursor = parsed
        }
        var limit = 50
        if let text = query.get("limit") {
            guard let value = Int(text), (1...200).contains(value) else {
                throw ProblemDetails.badRequest("limit harus 1–200. limit must be 1–200.", code: "INVALID_LIMIT")
            }
            limit = value
        }
        let (page, privacy) = try await pool.withConnection { connection in
            let page = try await Rankings.page(period, scope: scope, after: cursor, limit: limit, in: connection)
            let programs = try await ProgramCatalog.currentPrograms(in: connection)
            return (page, LeaderboardPrivacy.strictest(programs.values.map(\.leaderboard)))
        }
        let privileged = identity.hasAny(of: [Roles.scoringAdmin, Roles.auditor])
        let items = page.rows.map { row -> RankingRow in
            if privileged || row.nip == identity.nip || privacy.showsName(atRank: row.rank) {
                return RankingRow(
                    rank: row.rank, nip: row.nip, name: row.name, opd: row.opd, points: row.points, masked: false,
                    me: row.nip == identity.nip)
            }
            return RankingRow(
                rank: row.rank, nip: nil, name: LeaderboardPrivacy.initials(row.name), opd: row.opd,
                points: row.points, masked: true, me: false)
        }
        let last = page.rows.last
        return try Self.json(
            RankingResponse(
                period: period.description, periodName: period.indonesianName, scope: scope.description,
                state: page.final ? "closed" : "open", final: page.final, totalRanked: page.totalRanked,
                privacy: RankingResponse.Privacy(
                    showNames: privacy.showNames ?? true, initialsBelowRank: privacy.initialsBelowRank),
                items: items,
                nextCursor: page.rows.count == limit
                    ? last.map { Rankings.Cursor(points: $0.points, nip: $0.nip).text }
                    : nil),
            status: .ok)
    }

    /// `GET /v1/awards?period=` (any signed-in role): the awards of a period, or all awards without `period`.
    /// Names are hidden (initials) from ordinary callers only when the program shows no names at all.
    private func awards(_ request: Request, _ context: AuthenticatedRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let period = try request.uri.queryParameters.get("period").flatMap { $0.isEmpty ? nil : $0 }.map(
            Self.parsePeriod)
        let (awards, programs) = try await pool.withConnection { connection in
            (
                try await Awards.list(period: period, in: connection),
                try await ProgramCatalog.currentPrograms(in: connection)
            )
        }
        let privileged = identity.hasAny(of: [Roles.scoringAdmin, Roles.auditor])
        let items = awards.map { award -> AwardView in
            var award = award
            if !privileged, award.nip != identity.nip, programs[award.program]?.leaderboard?.showNames == false {
                award.name = award.name.map(LeaderboardPrivacy.initials)
            }
            return award
        }
        return try Self.json(AwardList(period: period?.description, items: items), status: .ok)
    }

    static func parsePeriod(_ text: String) throws -> Period {
        do {
            return try Period(parsing: text)
        } catch let error as ContractError {
            throw ProblemDetails.badRequest(error.message, code: "INVALID_PERIOD")
        }
    }
}

/// Body of `GET /v1/periods`.
struct PeriodList: Codable, Sendable, Equatable {
    var items: [PeriodView]
}

/// Body of `POST /v1/periods/{id}/close`: the period's fields, whether it was closed before, and what the close
/// decided.
struct PeriodCloseResponse: Codable, Sendable, Equatable {
    var period: PeriodView
    var alreadyClosed: Bool
    var summary: PeriodCloseSummary

    private enum CodingKeys: String, CodingKey {
        case alreadyClosed, summary
    }

    init(_ period: PeriodView, alreadyClosed: Bool, summary: PeriodCloseSummary) {
        self.period = period
        self.alreadyClosed = alreadyClosed
        self.summary = summary
    }

    init(from decoder: any Decoder) throws {
        period = try PeriodView(from: decoder)
        let container = try decoder.container(keyedBy: CodingKeys.self)
        alreadyClosed = try container.decode(Bool.self, forKey: .alreadyClosed)
        summary = try container.decode(PeriodCloseSummary.self, forKey: .summary)
    }

    func encode(to encoder: any Encoder) throws {
        try period.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(alreadyClosed, forKey: .alreadyClosed)
        try container.encode(summary, forKey: .summary)
    }
}

/// One row of `GET /v1/rankings`.
struct RankingRow: Codable, Sendable, Equatable {
    var rank: Int
    /// Absent when the row is reduced to initials.
    var nip: String?
    /// The name, or initials (`S. R.`) when `masked`.
    var name: String
    var opd: String
    var points: Int
    /// Whether the leaderboard privacy reduced the row to initials.
    var masked: Bool
    /// Whether the row is the caller's own.
    var me: Bool
}

/// Body of `GET /v1/rankings`.
struct RankingResponse: Codable, Sendable, Equatable {
    struct Privacy: Codable, Sendable, Equatable {
        var showNames: Bool
        var initialsBelowRank: Int?
    }

    var period: String
    var periodName: String
    /// `city` or `opd:<code>`.
    var scope: String
    /// `open` (provisional, from the live totals) or `closed` (frozen at close).
    var state: String
    var final: Bool
    var totalRanked: Int
    var privacy: Privacy
    var items: [RankingRow]
    /// Pass as `cursor` for the next page; absent on the last page.
    var nextCursor: String?
}

/// Body of `GET /v1/awards`.
struct AwardList: Codable, Sendable, Equatable {
    var period: String?
    var items: [AwardView]
}
