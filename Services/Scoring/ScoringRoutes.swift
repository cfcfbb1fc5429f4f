import Contracts
import Database
import Foundation
import Hummingbird
import ServiceSupport

/// The scoring HTTP API under `/v1` (see `openapi.yaml`): an ASN's points per period and the programs.
struct ScoringRoutes: Sendable {
    var pool: DatabasePool
    /// The clock deciding the default period (the current quarter in Jakarta time).
    var now: @Sendable () -> Date

    func collection() -> RouteCollection<AuthenticatedRequestContext> {
        let routes = RouteCollection(context: AuthenticatedRequestContext.self)
        routes.get("/v1/asn/:nip/points") { request, context in try await points(request, context) }
        routes.get("/v1/programs") { _, context in try await programs(context) }
        routes.get("/v1/programs/:code") { request, context in try await program(request, context) }
        return routes
    }

    // MARK: Points

    /// `GET /v1/asn/{nip}/points?period=2026-Q1`: the ASN's ledger entries and total in a quarter, semester or
    /// year. The ASN may read their own; `scoring-admin` and `auditor` anyone's.
    private func points(_ request: Request, _ context: AuthenticatedRequestContext) async throws -> PointsResponse {
        let nip = try context.parameters.require("nip")
        do {
            _ = try NIP(nip)
        } catch let error as ContractError {
            throw ProblemDetails.badRequest(error.message, code: "INVALID_NIP")
        }
        try context.requireSelfOrRoles(nip: nip, roles: [Roles.scoringAdmin])
        let period: Period
        if let text = request.uri.queryParameters.get("period") {
            do {
                period = try Period(parsing: text)
            } catch let error as ContractError {
                throw ProblemDetails.badRequest(error.message, code: "INVALID_PERIOD")
            }
        } else {
            period = Period.containing(now(), kind: .quarter)
        }
        let quarters = period.subperiods(.quarter).map(\.description)
        let entries = try await pool.withConnection { connection in
            try await PointsLedger.entries(of: nip, in: quarters, connection: connection)
        }
        return PointsResponse(
            nip: nip,
            period: period.description,
            periodName: period.indonesianName,
            points: entries.reduce(0) { $0 + $1.points },
            entries: entries.map(PointsResponse.Entry.init)
        )
    }

    // MARK: Programs

    /// `GET /v1/programs`: the current version of every program (any authenticated caller).
    private func programs(_ context: AuthenticatedRequestContext) async throws -> ProgramList {
        _ = try context.requireIdentity()
        return ProgramList(programs: try await ProgramCatalog.list(pool: pool).map(ProgramView.init))
    }

    /// `GET /v1/programs/{code}?version=3`: one program, its current version unless `version` is given.
    private func program(_ request: Request, _ context: AuthenticatedRequestContext) async throws -> ProgramView {
        _ = try context.requireIdentity()
        let code = try context.parameters.require("code")
        var version: Int?
        if let text = request.uri.queryParameters.get("version") {
            guard let number = Int(text), number > 0 else {
                throw ProblemDetails.badRequest(
                    "Versi program harus bilangan bulat positif. The version must be a positive integer.",
                    code: "INVALID_VERSION")
            }
            version = number
        }
        guard let stored = try await ProgramCatalog.find(code, version: version, pool: pool) else {
            throw ProblemDetails.notFound(
                "Program '\(code)'\(version.map { " versi \($0)" } ?? "") tidak ditemukan. Program not found.",
                code: "PROGRAM_NOT_FOUND")
        }
        return ProgramView(stored)
    }
}

/// Body of `GET /v1/asn/{nip}/points`.
struct PointsResponse: ResponseCodable, Equatable {
    var nip: String
    /// `2026-Q1`, `2026-S1` or `2026`.
    var period: String
    /// `Triwulan I 2026`.
    var periodName: String
    /// The sum of `entries`.
    var points: Int
    var entries: [Entry]

    struct Entry: Codable, Equatable {
        var id: UUID
        var submissionId: UUID
        var program: String
        var activity: String
        var points: Int
        var kind: String
        var ruleVersion: String
        var period: String
        var activityAt: Date
        var recordedAt: Date
        var reverses: UUID?
        var breakdown: [PointsComponent]

        init(_ entry: LedgerEntry) {
            id = entry.id
            submissionId = entry.submissionId
            program = entry.program
            activity = entry.activity
            points = entry.points
            kind = entry.kind.rawValue
            ruleVersion = entry.ruleVersion
            period = entry.period
            activityAt = entry.activityAt
            recordedAt = entry.recordedAt
            reverses = entry.reverses
            breakdown = entry.breakdown
        }
    }
}

/// Body of `GET /v1/programs`.
struct ProgramList: ResponseCodable, Equatable {
    var programs: [ProgramView]
}

/// One program version as the API shows it.
struct ProgramView: ResponseCodable, Equatable {
    var program: String
    var version: Int
    var ruleVersion: String
    var name: String
    var description: String?
    var active: Bool
    var placeFactors: [String: Double]
    var verification: VerificationPolicy?
    var activities: [ActivityDefinition]
    var checksum: String
    var appliedAt: Date

    init(_ stored: StoredProgram) {
        let document = stored.document
        program = document.program
        version = document.version
        ruleVersion = document.ruleVersion
        name = document.name
        description = document.description
        active = document.isActive
        placeFactors = document.placeFactors ?? [:]
        verification = document.verification
        activities = document.activities
        checksum = stored.checksum
        appliedAt = stored.appliedAt
    }
}
