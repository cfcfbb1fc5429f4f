import Contracts
import Database
import Eventing
import Foundation
import HTTPTypes
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
        routes.get("/v1/ledger") { request, context in try await ledger(request, context) }
        routes.get("/v1/programs") { _, context in try await programs(context) }
        routes.get("/v1/programs/:code") { request, context in try await program(request, context) }
        routes.put("/v1/programs/:code") { request, context in try await putProgram(request, context) }
        routes.post("/v1/roster") { request, context in try await importRoster(request, context) }
        routes.get("/v1/roster/:nip") { request, context in try await rosterRecord(request, context) }
        routes.post("/v1/campaigns") { request, context in try await createCampaign(request, context) }
        routes.get("/v1/campaigns") { _, context in try await campaigns(context) }
        routes.post("/v1/campaigns/:id/stop") { request, context in try await stopCampaign(request, context) }
        routes.post("/v1/programs/:code/republish") { request, context in try await republish(request, context) }
        routes.post("/v1/recompute") { request, context in try await recompute(request, context) }
        addObligationRoutes(to: routes)
        addPeriodRoutes(to: routes)
        return routes
    }

    // MARK: Points

    /// `GET /v1/asn/{nip}/points?period=2026-Q1`: the ASN's total (kept incrementally in `points_totals`) and
    /// ledger entries in a quarter, semester or year. The ASN may read their own; `scoring-admin` and `auditor`
    /// anyone's.
    private func points(_ request: Request, _ context: AuthenticatedRequestContext) async throws -> PointsResponse {
        let nip = try context.parameters.require("nip")
        try Self.validateNIP(nip)
        try context.requireSelfOrRoles(nip: nip, roles: [Roles.scoringAdmin])
        let period = try period(request) ?? Period.containing(now(), kind: .quarter)
        let quarters = period.subperiods(.quarter).map(\.description)
        let (total, entries) = try await pool.withConnection { connection in
            let total = try await connection.query(
                """
                SELECT COALESCE(sum(total), 0)::int8 AS total FROM points_totals
                WHERE nip = \(nip) AND period = ANY(\(quarters)::text[])
                """
            )[0].decode("total", as: Int.self)
            return (total, try await PointsLedger.entries(of: nip, in: quarters, connection: connection))
        }
        return PointsResponse(
            nip: nip,
            period: period.description,
            periodName: period.indonesianName,
            points: total,
            entries: entries.map(PointsResponse.Entry.init)
        )
    }

    /// `GET /v1/ledger?nip=&period=&cursor=&limit=`: ledger entries in ledger order, a page at a time. An ASN must
    /// name themselves; `scoring-admin` and `auditor` may name anyone or no one (every ASN).
    private func ledger(_ request: Request, _ context: AuthenticatedRequestContext) async throws -> LedgerPage {
        let query = request.uri.queryParameters
        let nip = query.get("nip").flatMap { $0.isEmpty ? nil : $0 }
        if let nip {
            try Self.validateNIP(nip)
            try context.requireSelfOrRoles(nip: nip, roles: [Roles.scoringAdmin])
        } else {
            try context.require(roles: [Roles.scoringAdmin])
        }
        let quarters = try period(request).map { $0.subperiods(.quarter).map(\.description) }
        var after: Int64 = 0
        if let cursor = query.get("cursor"), !cursor.isEmpty {
            guard let value = Int64(cursor), value >= 0 else {
                throw ProblemDetails.badRequest("Kursor tidak valid. Invalid cursor.", code: "INVALID_CURSOR")
            }
            after = value
        }
        var limit = 100
        if let text = query.get("limit") {
            guard let value = Int(text), (1...500).contains(value) else {
                throw ProblemDetails.badRequest("limit harus 1–500. limit must be 1–500.", code: "INVALID_LIMIT")
            }
            limit = value
        }
        let page = try await pool.withConnection { connection in
            try await PointsLedger.page(nip: nip, periods: quarters, after: after, limit: limit, in: connection)
        }
        return LedgerPage(
            entries: page.entries.map(PointsResponse.Entry.init),
            nextCursor: page.entries.count == limit ? page.lastSeq.map { String($0) } : nil)
    }

    private func period(_ request: Request) throws -> Period? {
        guard let text = request.uri.queryParameters.get("period"), !text.isEmpty else { return nil }
        do {
            return try Period(parsing: text)
        } catch let error as ContractError {
            throw ProblemDetails.badRequest(error.message, code: "INVALID_PERIOD")
        }
    }

    static func validateNIP(_ nip: String) throws {
        do {
            _ = try NIP(nip)
        } catch let error as ContractError {
            throw ProblemDetails.badRequest(error.message, code: "INVALID_NIP")
        }
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

    /// `PUT /v1/programs/{code}` (scoring-admin, YAML body): validates and stores a new version and publishes
    /// `program.published`; 201 when stored, 200 when the same version with the same content was stored before,
    /// 409 when the version exists with other content, 422 naming line, column and field of every problem.
    private func putProgram(_ request: Request, _ context: AuthenticatedRequestContext) async throws -> Response {
        try context.require(roles: [Roles.scoringAdmin])
        let code = try context.parameters.require("code")
        var request = request
        let body = try await request.collectBody(maxBytes: 512 * 1024)
        let yaml = String(buffer: body)
        let document: ProgramDocument
        do {
            document = try ProgramCatalog.parse(yaml, file: "\(code).yaml")
        } catch let error as ProgramFileError {
            throw Self.unprocessable(error)
        }
        guard document.program == code else {
            throw ProblemDetails.unprocessable(
                "Kode program di berkas ('\(document.program)') berbeda dengan alamat ('\(code)'). The file's program "
                    + "code differs from the URL.",
                code: "PROGRAM_MISMATCH",
                errors: [ProblemDetails.FieldError(field: "program", message: "harus '\(code)'", code: "MISMATCH")])
        }
        let outcome: ProgramApplyOutcome
        do {
            outcome = try await pool.withTransaction { connection in
                try await ProgramCatalog.apply(document, in: connection)
            }
        } catch let error as ProgramCatalogError {
            throw ProblemDetails.conflict(error.description, code: "VERSION_CONFLICT")
        }
        guard let stored = try await ProgramCatalog.find(code, version: document.version, pool: pool) else {
            throw ProblemDetails.internalError()
        }
        return try Self.json(ProgramView(stored), status: outcome == .published ? .created : .ok)
    }

    static func unprocessable(_ error: ProgramFileError) -> ProblemDetails {
        var problem = ProblemDetails.unprocessable(
            "Berkas program tidak valid: " + error.problems.joined(separator: "; "),
            code: "INVALID_PROGRAM",
            errors: error.details.map {
                ProblemDetails.FieldError(field: $0.field, message: $0.text, code: "INVALID_FIELD")
            })
        problem.extensions["problems"] = .array(
            error.details.map { detail in
                var object: [String: ProblemValue] = [
                    "field": .string(detail.field), "message": .string(detail.message),
                ]
                if let line = detail.line { object["line"] = .int(line) }
                if let column = detail.column { object["column"] = .int(column) }
                return .object(object)
            })
        return problem
    }

    // MARK: Roster

    /// `POST /v1/roster?dryRun=&partial=` (scoring-admin, `text/csv`).
    private func importRoster(_ request: Request, _ context: AuthenticatedRequestContext) async throws -> Response {
        try context.require(roles: [Roles.scoringAdmin])
        let contentType = request.headers[.contentType]?.lowercased() ?? ""
        guard contentType.hasPrefix("text/csv") || contentType.hasPrefix("application/csv") else {
            throw ProblemDetails.unsupportedMediaType(
                "Kirim berkas CSV dengan Content-Type text/csv. Send the roster as text/csv.")
        }
        let query = request.uri.queryParameters
        let dryRun = try Self.flag(query.get("dryRun"), name: "dryRun")
        let partial = try Self.flag(query.get("partial"), name: "partial")
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > Roster.maxBytes {
            throw ProblemDetails.contentTooLarge(limit: Roster.maxBytes)
        }
        do {
            let report = try await Roster.importCSV(request.body, dryRun: dryRun, partial: partial, pool: pool)
            return try Self.json(report, status: .ok)
        } catch RosterImportRefused.tooLarge {
            throw ProblemDetails.contentTooLarge(limit: Roster.maxBytes)
        } catch RosterImportRefused.invalid(let report) {
            var problem = ProblemDetails.unprocessable(
                "Berkas roster berisi \(report.errorCount) kesalahan; tidak ada yang diubah. The roster file has "
                    + "\(report.errorCount) errors; nothing was changed (use partial=true to import the valid rows).",
                code: "INVALID_ROSTER",
                errors: report.errors.map {
                    ProblemDetails.FieldError(
                        field: "baris \($0.line): \($0.field)", message: $0.message, code: $0.code)
                })
            problem.extensions["report"] = try Self.problemValue(report)
            throw problem
        }
    }

    /// `GET /v1/roster/{nip}`: scoring-admin and auditor anyone; an ASN themselves.
    private func rosterRecord(_ request: Request, _ context: AuthenticatedRequestContext) async throws -> Response {
        let nip = try context.parameters.require("nip")
        try Self.validateNIP(nip)
        try context.requireSelfOrRoles(nip: nip, roles: [Roles.scoringAdmin])
        guard let record = try await Roster.find(nip, pool: pool) else {
            throw ProblemDetails.notFound("ASN \(nip) tidak ada di roster. Not in the roster.", code: "ASN_NOT_FOUND")
        }
        return try Self.json(record, status: .ok)
    }

    // MARK: Campaigns

    struct CampaignBody: Decodable {
        var name: String
        var multiplier: Double
        var activities: [String]?
        var program: String?
        var startsAt: Date
        var endsAt: Date
    }

    /// `POST /v1/campaigns` (scoring-admin, operator).
    private func createCampaign(_ request: Request, _ context: AuthenticatedRequestContext) async throws -> Response {
        let identity = try context.require(roles: [Roles.scoringAdmin, Role.operator.rawValue])
        let body = try await request.decode(as: CampaignBody.self, context: context)
        var errors: [ProblemDetails.FieldError] = []
        let name = body.name.trimmingCharacters(in: .whitespaces)
        if name.isEmpty || name.count > 200 {
            errors.append(.init(field: "/name", message: "nama wajib diisi (≤ 200 karakter)", code: "REQUIRED"))
        }
        // Stored as numeric(6,3): below 0.001 it would round to 0, which the table refuses (was a 500).
        if !body.multiplier.isFinite || body.multiplier < 0.001 || body.multiplier > 10 {
            errors.append(
                .init(field: "/multiplier", message: "pengali harus ≥ 0,001 dan ≤ 10", code: "OUT_OF_RANGE"))
        }
        if body.endsAt <= body.startsAt {
            errors.append(.init(field: "/endsAt", message: "waktu selesai harus setelah waktu mulai", code: "ORDER"))
        }
        let programs = try await pool.withConnection { try await ProgramCatalog.currentPrograms(in: $0) }
        if let program = body.program, programs[program] == nil {
            errors.append(.init(field: "/program", message: "program '\(program)' tidak dikenal", code: "UNKNOWN"))
        }
        let known = Set(
            programs.values.filter { body.program == nil || $0.program == body.program }.flatMap {
                $0.activities.map(\.code)
            })
        for (index, activity) in (body.activities ?? []).enumerated() where !known.contains(activity) {
            errors.append(
                .init(field: "/activities/\(index)", message: "kegiatan '\(activity)' tidak dikenal", code: "UNKNOWN"))
        }
        guard errors.isEmpty else {
            throw ProblemDetails.unprocessable("Kampanye tidak valid. Invalid campaign.", errors: errors)
        }
        let campaign = Campaign(
            id: UUID.timeOrdered(), name: name, multiplier: body.multiplier,
            activities: (body.activities?.isEmpty ?? true) ? nil : body.activities, program: body.program,
            startsAt: body.startsAt, endsAt: body.endsAt)
        try await pool.withConnection { connection in
            try await Campaigns.create(campaign, by: identity.nip, in: connection)
        }
        return try Self.json(CampaignView(campaign), status: .created)
    }

    /// `GET /v1/campaigns` (scoring-admin, operator, auditor).
    private func campaigns(_ context: AuthenticatedRequestContext) async throws -> CampaignList {
        try context.require(roles: [Roles.scoringAdmin, Role.operator.rawValue, Roles.auditor])
        let campaigns = try await pool.withConnection { try await Campaigns.all(in: $0) }
        return CampaignList(campaigns: campaigns.map(CampaignView.init))
    }

    /// `POST /v1/campaigns/{id}/stop` (scoring-admin, operator): ends a campaign now; decisions from now on no
    /// longer get its multiplier. A campaign that has already ended is answered as it is.
    private func stopCampaign(_ request: Request, _ context: AuthenticatedRequestContext) async throws -> CampaignView {
        try context.require(roles: [Roles.scoringAdmin, Role.operator.rawValue])
        guard let id = UUID(uuidString: try context.parameters.require("id")) else {
            throw ProblemDetails.notFound("Kampanye tidak ditemukan. Campaign not found.", code: "CAMPAIGN_NOT_FOUND")
        }
        let stopped = try await pool.withConnection { connection in
            try await connection.query(
                """
                UPDATE campaigns SET ends_at = GREATEST(starts_at + interval '1 millisecond', LEAST(ends_at, now())) WHERE id = \(id)
                RETURNING \(unsafeSQL: Campaigns.columns)
                """
            ).map(Campaigns.campaign).first
        }
        guard let stopped else {
            throw ProblemDetails.notFound("Kampanye tidak ditemukan. Campaign not found.", code: "CAMPAIGN_NOT_FOUND")
        }
        return CampaignView(stopped)
    }

    /// `POST /v1/programs/{code}/republish` (scoring-admin, operator): publishes the current version's
    /// `program.published` again, through the outbox, for a consumer added after it was first published.
    private func republish(_ request: Request, _ context: AuthenticatedRequestContext) async throws -> Response {
        try context.require(roles: [Roles.scoringAdmin, Role.operator.rawValue])
        let code = try context.parameters.require("code")
        guard let stored = try await ProgramCatalog.find(code, pool: pool) else {
            throw ProblemDetails.notFound("Program '\(code)' tidak ditemukan.", code: "PROGRAM_NOT_FOUND")
        }
        try await pool.withTransaction { connection in
            try await Outbox.enqueue(
                stored.document.published(at: stored.appliedAt), source: ServiceName.scoring.eventSource,
                in: connection)
        }
        return try Self.json(ProgramView(stored), status: .accepted)
    }

    // MARK: Recompute

    /// `POST /v1/recompute` (scoring-admin, operator): `{"program": …, "version": …, "dryRun": true}`.
    private func recompute(_ request: Request, _ context: AuthenticatedRequestContext) async throws -> Response {
        try context.require(roles: [Roles.scoringAdmin, Role.operator.rawValue])
        let body = try await request.decode(as: RecomputeRequest.self, context: context)
        if let version = body.version, version < 1 {
            throw ProblemDetails.unprocessable(
                "Versi harus ≥ 1.", errors: [.init(field: "/version", message: "harus ≥ 1", code: "OUT_OF_RANGE")])
        }
        guard let stored = try await ProgramCatalog.find(body.program, version: body.version, pool: pool) else {
            throw ProblemDetails.notFound(
                "Program '\(body.program)'\(body.version.map { " versi \($0)" } ?? "") tidak ditemukan.",
                code: "PROGRAM_NOT_FOUND")
        }
        let report = try await Recompute.run(body, document: stored.document, pool: pool)
        return try Self.json(report, status: .ok)
    }

    // MARK: Helpers

    static func flag(_ text: String?, name: String) throws -> Bool {
        switch text?.lowercased() {
        case nil, "", "false", "0": return false
        case "true", "1": return true
        default:
            throw ProblemDetails.badRequest("\(name) harus true atau false.", code: "INVALID_PARAMETER")
        }
    }

    static func json(_ value: some Encodable, status: HTTPResponse.Status) throws -> Response {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = try encoder.encode(value)
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func problemValue(_ value: some Encodable) throws -> ProblemValue {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        return try JSONDecoder().decode(ProblemValue.self, from: encoder.encode(value))
    }
}

/// Body of `GET /v1/ledger`.
struct LedgerPage: ResponseCodable, Equatable {
    var entries: [PointsResponse.Entry]
    /// Pass as `cursor` for the next page; absent on the last page.
    var nextCursor: String?
}

/// A campaign as the API shows it.
struct CampaignView: ResponseCodable, Equatable {
    var id: UUID
    var name: String
    var multiplier: Double
    var activities: [String]?
    var program: String?
    var startsAt: Date
    var endsAt: Date

    init(_ campaign: Campaign) {
        id = campaign.id
        name = campaign.name
        multiplier = campaign.multiplier
        activities = campaign.activities
        program = campaign.program
        startsAt = campaign.startsAt
        endsAt = campaign.endsAt
    }
}

/// Body of `GET /v1/campaigns`.
struct CampaignList: ResponseCodable, Equatable {
    var campaigns: [CampaignView]
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
        /// Whether the entry is late: its activity's quarter (`activityPeriod`) was closed when it was recorded, so
        /// it counts in `period`, the next open quarter.
        var late: Bool
        /// The quarter of the activity (equal to `period` unless late).
        var activityPeriod: String

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
            late = entry.activityPeriod != nil
            activityPeriod = entry.activityPeriod ?? entry.period
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
    var maxClaimAgeDays: Int?
    var streak: StreakRule?
    var fraud: FraudRule?
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
        maxClaimAgeDays = document.maxClaimAgeDays
        streak = document.streak
        fraud = document.fraud
        checksum = stored.checksum
        appliedAt = stored.appliedAt
    }
}
