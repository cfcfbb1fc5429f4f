import Contracts
import Database
import Foundation
import HTTPTypes
import Hummingbird
import ServiceSupport

/// Commitments, sanctions, HR exports and the BKPP admin page.
extension ScoringRoutes {
    func addObligationRoutes(to routes: RouteCollection<AuthenticatedRequestContext>) {
        routes.post("/v1/commitments") { request, context in try await createCommitment(request, context) }
        routes.get("/v1/commitments") { request, context in try await commitments(request, context) }
        routes.get("/v1/sanctions") { request, context in try await sanctions(request, context) }
        routes.get("/v1/periods/:id/export.csv") { request, context in try await export(request, context, csv: true) }
        routes.get("/v1/periods/:id/export.json") { request, context in
            try await export(request, context, csv: false)
        }
        let page = Self.adminPage()
        routes.get("/admin") { _, _ in
            guard let page else { throw ProblemDetails.notFound("Halaman admin tidak terpasang. Page missing.") }
            var headers = HTTPFields()
            headers[.contentType] = "text/html; charset=utf-8"
            headers[.cacheControl] = "no-cache"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: page)))
        }
    }

    /// `Public/admin.html`, read once when the routes are built.
    static func adminPage() -> [UInt8]? {
        guard let directory = scoringResources.publicDirectory,
            let data = FileManager.default.contents(atPath: directory.appendingPathComponent("admin.html").path)
        else { return nil }
        return Array(data)
    }

    // MARK: Commitments

    /// `POST /v1/commitments` (scoring-admin): `{"opd", "period", "metric", "target", "baseline"}`. 201 with the
    /// commitment; 422 naming each bad field; 409 when the period is closed or the OPD already committed to the
    /// metric for the period.
    private func createCommitment(_ request: Request, _ context: AuthenticatedRequestContext) async throws -> Response {
        let identity = try context.require(roles: [Roles.scoringAdmin])
        var request = request
        let body = try await request.collectBody(maxBytes: 64 * 1024)
        guard let object = try? JSONDecoder().decode([String: LooseJSON].self, from: Data(body.readableBytesView))
        else {
            throw ProblemDetails.badRequest(
                "Isi permintaan harus objek JSON. The body must be a JSON object.", code: "INVALID_BODY")
        }
        var errors: [ProblemDetails.FieldError] = []
        func text(_ key: String) -> String? {
            guard let value = object[key], value != .null else {
                errors.append(.init(field: "/\(key)", message: "wajib diisi / required", code: "REQUIRED"))
                return nil
            }
            guard case .string(let string) = value, !string.trimmingCharacters(in: .whitespaces).isEmpty else {
                errors.append(.init(field: "/\(key)", message: "harus teks / must be a string", code: "TYPE"))
                return nil
            }
            return string.trimmingCharacters(in: .whitespaces)
        }
        func number(_ key: String) -> Double? {
            guard let value = object[key], value != .null else {
                errors.append(.init(field: "/\(key)", message: "wajib diisi / required", code: "REQUIRED"))
                return nil
            }
            guard case .number(let number) = value, number.isFinite else {
                errors.append(.init(field: "/\(key)", message: "harus angka / must be a number", code: "TYPE"))
                return nil
            }
            guard number >= 0 else {
                errors.append(
                    .init(field: "/\(key)", message: "tidak boleh negatif / must be ≥ 0", code: "OUT_OF_RANGE"))
                return nil
            }
            return number
        }
        let opdText = text("opd")
        let periodText = text("period")
        let metricText = text("metric")
        let target = number("target")
        let baseline = number("baseline")
        let opd = opdText?.uppercased()
        if let opd, opd.count > 32 || !opd.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) {
            errors.append(
                .init(field: "/opd", message: "kode OPD: huruf dan angka / letters and digits", code: "FORMAT"))
        }
        var period: Period?
        if let periodText {
            do {
                period = try Period(parsing: periodText)
            } catch let error as ContractError {
                errors.append(.init(field: "/period", message: error.message, code: "FORMAT"))
            }
        }
        var metric: CommitmentEvaluated.Metric?
        if let metricText {
            metric = CommitmentEvaluated.Metric(rawValue: metricText)
            if metric == nil {
                errors.append(
                    .init(
                        field: "/metric",
                        message: "harus salah satu dari / must be one of: "
                            + CommitmentEvaluated.Metric.allCases.map(\.rawValue).joined(separator: ", "),
                        code: "UNKNOWN"))
            }
        }
        if metric == .participationRate {
            for (key, value) in [("target", target), ("baseline", baseline)] where (value ?? 0) > 100 {
                errors.append(
                    .init(field: "/\(key)", message: "persen 0–100 / a percentage 0–100", code: "OUT_OF_RANGE"))
            }
        }
        for key in object.keys.sorted() where !["opd", "period", "metric", "target", "baseline"].contains(key) {
            errors.append(.init(field: "/\(key)", message: "kunci tidak dikenal / unknown key", code: "UNKNOWN_KEY"))
        }
        guard errors.isEmpty, let opd, let period, let metric, let target, let baseline else {
            throw ProblemDetails.unprocessable("Komitmen tidak valid. Invalid commitment.", errors: errors)
        }
        let commitment = Commitment(
            id: UUID.timeOrdered(), opd: opd, period: period.description, metric: metric.rawValue, target: target,
            baseline: baseline, createdBy: identity.nip, createdAt: now(), result: nil)
        try await pool.withTransaction { connection in
            // The period's row, created as the close creates it, is share-locked: a close running now either
            // finished (and is seen) or waits for this commitment and then evaluates it.
            try await connection.query(
                """
                INSERT INTO periods (id, kind, starts_at, ends_at)
                VALUES (\(period.description), \(period.kind.rawValue), \(period.start), \(period.end))
                ON CONFLICT (id) DO NOTHING
                """)
            let state = try await connection.query(
                "SELECT state FROM periods WHERE id = \(period.description) FOR SHARE"
            ).first.map { try $0.decode("state", as: String.self) }
            if state == "closed" {
                throw ProblemDetails.conflict(
                    "Periode \(period.indonesianName) sudah ditutup; komitmen tidak dapat ditambahkan. The period is "
                        + "closed.", code: "PERIOD_CLOSED")
            }
            guard try await Commitments.create(commitment, in: connection) else {
                throw ProblemDetails.conflict(
                    "OPD \(opd) sudah memiliki komitmen \(metric.rawValue) untuk \(period). The OPD already has a "
                        + "commitment for this metric and period.", code: "COMMITMENT_EXISTS")
            }
        }
        return try Self.json(CommitmentView(commitment), status: .created)
    }

    /// `GET /v1/commitments?period=&opd=`: scoring-admin and auditor every OPD's; an opd-head their own OPD's.
    private func commitments(_ request: Request, _ context: AuthenticatedRequestContext) async throws -> Response {
        let identity = try context.require(roles: [Roles.scoringAdmin, Roles.opdHead])
        let period = try periodParameter(request)
        var opd = request.uri.queryParameters.get("opd").flatMap { $0.isEmpty ? nil : $0.uppercased() }
        if !identity.has(Roles.scoringAdmin) && !identity.has(Roles.auditor) {
            guard !identity.opd.isEmpty else { throw Self.noOPDClaim }
            opd = identity.opd
        }
        let items = try await pool.withConnection { connection in
            try await Commitments.list(period: period?.description, opd: opd, in: connection)
        }
        return try Self.json(CommitmentList(items: items.map(CommitmentView.init)), status: .ok)
    }

    // MARK: Sanctions

    /// `GET /v1/sanctions?period=&cursor=&limit=`: an ASN their own, an opd-head their OPD's (the token's `opd`),
    /// scoring-admin and auditor all; anyone else 403.
    private func sanctions(_ request: Request, _ context: AuthenticatedRequestContext) async throws -> Response {
        let audience = try Self.sanctionAudience(context)
        let period = try periodParameter(request)
        let query = request.uri.queryParameters
        var after: Int64 = 0
        if let cursor = query.get("cursor"), !cursor.isEmpty {
            guard let value = Int64(cursor), value >= 0 else {
                throw ProblemDetails.badRequest("Kursor tidak valid. Invalid cursor.", code: "INVALID_CURSOR")
            }
            after = value
        }
        var limit = 500
        if let text = query.get("limit") {
            guard let value = Int(text), (1...5_000).contains(value) else {
                throw ProblemDetails.badRequest("limit harus 1–5000. limit must be 1–5000.", code: "INVALID_LIMIT")
            }
            limit = value
        }
        let page = try await pool.withConnection { connection in
            try await Sanctions.page(
                period: period?.description, audience: audience, after: after, limit: limit, in: connection)
        }
        return try Self.json(
            SanctionList(
                items: page.sanctions,
                nextCursor: page.sanctions.count == limit ? page.lastSeq.map { String($0) } : nil),
            status: .ok)
    }

    static func sanctionAudience(_ context: AuthenticatedRequestContext) throws -> SanctionAudience {
        let identity = try context.requireIdentity()
        guard let audience = SanctionAudience(identity) else {
            throw ProblemDetails.forbidden(
                "Sanksi hanya dapat dilihat oleh ASN yang bersangkutan, kepala OPD-nya, BKPP dan Inspektorat. "
                    + "Sanctions are visible only to the ASN concerned, their OPD head, BKPP and auditors.",
                code: "ROLE_REQUIRED")
        }
        return audience
    }

    static let noOPDClaim = ProblemDetails.forbidden(
        "Token kepala OPD tanpa klaim opd. The opd-head token has no opd claim.", code: "OPD_CLAIM_REQUIRED")

    // MARK: Exports

    /// `GET /v1/periods/{id}/export.csv|json`: scoring-admin and auditor every row (`?opd=` narrows), an opd-head
    /// the rows of their own OPD. An open period's export is computed now and marked provisional (the `status`
    /// column/field and the `Export-Status` header).
    private func export(_ request: Request, _ context: AuthenticatedRequestContext, csv: Bool) async throws
        -> Response
    {
        let identity = try context.require(roles: [Roles.scoringAdmin, Roles.opdHead])
        let id = try context.parameters.require("id")
        let period: Period
        do {
            period = try Period(parsing: id)
        } catch let error as ContractError {
            throw ProblemDetails.notFound(error.message, code: "PERIOD_NOT_FOUND")
        }
        var opd = request.uri.queryParameters.get("opd").flatMap { $0.isEmpty ? nil : $0.uppercased() }
        if !identity.has(Roles.scoringAdmin) && !identity.has(Roles.auditor) {
            guard !identity.opd.isEmpty else { throw Self.noOPDClaim }
            opd = identity.opd
        }
        let export = try await pool.withConnection { connection in
            try await Exports.load(period, opd: opd, in: connection)
        }
        var headers = HTTPFields()
        let name = "ekspor-\(period)\(opd.map { "-\($0)" } ?? "")\(export.provisional ? "-sementara" : "")"
        headers[HTTPField.Name("Export-Status")!] = export.status
        headers[.cacheControl] = "no-store"
        if csv {
            headers[.contentType] = "text/csv; charset=utf-8; header=present"
            headers[.contentDisposition] = "attachment; filename=\"\(name).csv\""
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: export.csv())))
        }
        headers[.contentType] = "application/json; charset=utf-8"
        headers[.contentDisposition] = "attachment; filename=\"\(name).json\""
        return Response(
            status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try export.json())))
    }

    private func periodParameter(_ request: Request) throws -> Period? {
        guard let text = request.uri.queryParameters.get("period"), !text.isEmpty else { return nil }
        do {
            return try Period(parsing: text)
        } catch let error as ContractError {
            throw ProblemDetails.badRequest(error.message, code: "INVALID_PERIOD")
        }
    }
}

/// A commitment as the API shows it.
struct CommitmentView: ResponseCodable, Equatable {
    var id: UUID
    var opd: String
    var period: String
    var metric: String
    var target: Double
    var baseline: Double
    var createdBy: String
    var createdAt: Date
    /// `pending` until the period's close, then `met` or `missed`.
    var status: String
    var actual: Double?
    var met: Bool?
    var inactiveCount: Int?
    var evaluatedAt: Date?

    init(_ commitment: Commitment) {
        id = commitment.id
        opd = commitment.opd
        period = commitment.period
        metric = commitment.metric
        target = commitment.target
        baseline = commitment.baseline
        createdBy = commitment.createdBy
        createdAt = commitment.createdAt
        status = commitment.result.map { $0.met ? "met" : "missed" } ?? "pending"
        actual = commitment.result?.actual
        met = commitment.result?.met
        inactiveCount = commitment.result?.inactiveCount
        evaluatedAt = commitment.result?.evaluatedAt
    }
}

/// Body of `GET /v1/commitments`.
struct CommitmentList: ResponseCodable, Equatable {
    var items: [CommitmentView]
}

/// Body of `GET /v1/sanctions`.
struct SanctionList: ResponseCodable, Equatable {
    var items: [Sanction]
    /// Pass as `cursor` for the next page; absent on the last page.
    var nextCursor: String?
}

/// A JSON value as far as request validation needs it: field errors name a wrong type instead of failing decoding.
enum LooseJSON: Decodable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case other

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else {
            self = .other
        }
    }
}
