import Contracts
import Database
import Foundation
import HTTPTypes
import Hummingbird
import ServiceSupport

/// The review queue, the audit trail and the evidence proxy of the DLH console (roles `verifier`, `auditor` reads).
struct ReviewRoutes: Sendable {
    let queue: ReviewQueue
    let evidence: EvidenceProxy

    func add(to routes: RouteCollection<AuthenticatedRequestContext>) {
        routes.get("/v1/reviews") { request, context in
            try context.require(roles: [Roles.verifier])
            let state = request.uri.queryParameters.get("state") ?? "open"
            guard ["open", "claimed", "decided"].contains(state) else {
                throw ProblemDetails.badRequest(
                    "state harus open, claimed atau decided. state must be open, claimed or decided.",
                    code: "INVALID_STATE")
            }
            let limit = min(max(Int(request.uri.queryParameters.get("limit") ?? "") ?? 100, 1), 500)
            let (items, counts) = try await queue.list(state: state, limit: limit)
            return try JSONResponse.make(ReviewList(state: state, counts: counts, items: items))
        }
        routes.get("/v1/reviews/{id}") { _, context in
            try context.require(roles: [Roles.verifier])
            return try JSONResponse.make(try await queue.detail(try Self.id(context)))
        }
        // The router prefers this literal path over `/v1/reviews/{id}`, so a GET here must say 405 itself.
        routes.get("/v1/reviews/claim") { _, _ -> Response in
            var headers = HTTPFields()
            headers[.allow] = "POST"
            throw HTTPError(.methodNotAllowed, headers: headers, message: "Metode GET tidak didukung.")
        }
        routes.post("/v1/reviews/claim") { request, context in
            let verifier = try context.require(roles: [Roles.verifier])
            var request = request
            let body = try await request.collectBody(maxBytes: 4096)
            var reviewId: UUID?
            if body.readableBytes > 0 {
                struct Claim: Decodable { var reviewId: UUID? }
                do {
                    reviewId = try JSONDecoder().decode(Claim.self, from: Data(body.readableBytesView)).reviewId
                } catch {
                    throw ProblemDetails.badRequest(
                        "Badan permintaan harus {\"reviewId\": \"…\"} atau kosong. Body must be empty or name a reviewId.",
                        code: "INVALID_BODY")
                }
            }
            guard let detail = try await queue.claim(reviewId, by: verifier) else {
                return Response(status: .noContent)
            }
            return try JSONResponse.make(detail)
        }
        routes.post("/v1/reviews/{id}/decision") { request, context in
            let verifier = try context.require(roles: [Roles.verifier])
            let decision = try await request.decode(as: ReviewQueue.Decision.self, context: context)
            return try JSONResponse.make(try await queue.decide(try Self.id(context), by: verifier, decision))
        }
        routes.post("/v1/reviews/{id}/release") { _, context in
            let verifier = try context.require(roles: [Roles.verifier])
            try await queue.release(try Self.id(context), by: verifier)
            return Response(status: .noContent)
        }
        routes.get("/v1/audit") { request, context in
            try context.require(roles: [Roles.verifier, Roles.auditor])
            let parameters = request.uri.queryParameters
            let limit = min(max(Int(parameters.get("limit") ?? "") ?? 200, 1), 1000)
            let after = Int64(parameters.get("after") ?? "") ?? 0
            if let text = parameters.get("submission") {
                guard let submission = UUID(uuidString: text) else {
                    throw ProblemDetails.badRequest("Nomor pengajuan tidak valid. Invalid submission id.")
                }
                return try JSONResponse.make(try await AuditTrail(pool: queue.pool).entries(submission: submission))
            }
            guard let text = parameters.get("since") else {
                throw ProblemDetails.badRequest(
                    "Sertakan submission atau since. Give submission= or since=.", code: "AUDIT_FILTER_REQUIRED")
            }
            guard let since = RFC3339.parse(text) else {
                throw ProblemDetails.badRequest("since harus waktu RFC 3339. since must be an RFC 3339 time.")
            }
            return try JSONResponse.make(
                try await AuditTrail(pool: queue.pool).entries(since: since, after: after, limit: limit))
        }
        routes.get("/v1/evidence/{sha256}") { request, context in
            try context.require(roles: [Roles.verifier])
            guard let sha = context.parameters.get("sha256")?.lowercased(), sha.utf8.count == 64,
                sha.allSatisfy(\.isHexDigit)
            else {
                throw ProblemDetails.badRequest("SHA-256 tidak valid. Invalid SHA-256.")
            }
            return try await evidence.fetch(sha, authorization: request.headers[.authorization] ?? "")
        }
    }

    private static func id(_ context: AuthenticatedRequestContext) throws -> UUID {
        guard let id = context.parameters.get("id", as: UUID.self) else {
            throw ProblemDetails.badRequest("Nomor item tinjauan tidak valid. Invalid review id.")
        }
        return id
    }

    struct ReviewList: Encodable {
        var state: String
        var counts: ReviewQueue.Counts
        var items: [ReviewQueue.Item]
    }
}

/// JSON responses encoded with the contracts' encoder (RFC 3339 times, sorted keys).
enum JSONResponse {
    static func make(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try ContractsJSON.encode(value)
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Reads the append-only audit trail.
struct AuditTrail: Sendable {
    let pool: DatabasePool

    struct Entry: Codable, Sendable, Equatable {
        var seq: Int64
        var submissionId: UUID
        var reviewId: UUID?
        var at: Date
        var actor: String
        var kind: String
        var code: String?
        var result: String?
        var details: Fact
    }

    struct Page: Codable, Sendable {
        var entries: [Entry]
        /// Pass as `after=` for the next page (with the same `since=`); `nil` on the last page.
        var next: Int64?
    }

    func entries(submission: UUID) async throws -> Page {
        let rows = try await pool.withConnection { connection in
            try await connection.query(
                """
                SELECT seq, submission_id, review_id, at, actor, kind, code, result, details::text AS details
                FROM audit_trail WHERE submission_id = \(submission) ORDER BY seq
                """)
        }
        return Page(entries: try rows.map(Self.entry), next: nil)
    }

    func entries(since: Date, after: Int64, limit: Int) async throws -> Page {
        let rows = try await pool.withConnection { connection in
            try await connection.query(
                """
                SELECT seq, submission_id, review_id, at, actor, kind, code, result, details::text AS details
                FROM audit_trail WHERE at >= \(since) AND seq > \(after) ORDER BY seq LIMIT \(limit)
                """)
        }
        let entries = try rows.map(Self.entry)
        return Page(entries: entries, next: entries.count == limit ? entries.last?.seq : nil)
    }

    private static func entry(_ row: PostgresRow) throws -> Entry {
        Entry(
            seq: try row.decode("seq"), submissionId: try row.decode("submission_id"),
            reviewId: try row.decode("review_id", as: UUID?.self), at: try row.decode("at"),
            actor: try row.decode("actor"), kind: try row.decode("kind"),
            code: try row.decode("code", as: String?.self),
            result: try row.decode("result", as: String?.self),
            details: try ContractsJSON.decode(Fact.self, from: Data(try row.decode("details", as: String.self).utf8)))
    }
}
