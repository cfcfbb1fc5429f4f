import Contracts
import Database
import Foundation
import Hummingbird
import ServiceSupport

/// Read access to decisions for DLH verifiers and auditors.
struct DecisionRoutes: Sendable {
    let pool: DatabasePool

    /// A decision as the API shows it.
    struct Decision: ResponseEncodable, Sendable {
        var submissionId: UUID
        var nip: String
        var activity: String
        var outcome: String
        var reasonCode: String?
        var reason: String?
        var decidedBy: String
        var decidedAt: Date
    }

    func collection() -> RouteCollection<AuthenticatedRequestContext> {
        let routes = RouteCollection(context: AuthenticatedRequestContext.self)
        routes.get("/v1/decisions/{submissionId}") { _, context in
            _ = try context.require(roles: [Roles.verifier, Roles.auditor], access: .read)
            guard let id = context.parameters.get("submissionId", as: UUID.self) else {
                throw ProblemDetails.badRequest("Nomor pengajuan tidak valid. (Invalid submission id.)")
            }
            return try await decision(id)
        }
        return routes
    }

    func decision(_ id: UUID) async throws -> Decision {
        let rows = try await pool.withConnection { connection in
            try await connection.query(
                """
                SELECT d.submission_id, s.nip, s.activity, d.outcome, d.reason_code, d.reason, d.decided_by, d.decided_at
                FROM decisions d JOIN submissions s ON s.id = d.submission_id
                WHERE d.submission_id = \(id)
                """
            )
        }
        guard let row = rows.first else {
            throw ProblemDetails.notFound("Keputusan untuk pengajuan ini tidak ditemukan. (No decision found.)")
        }
        return Decision(
            submissionId: try row.decode("submission_id"),
            nip: try row.decode("nip"),
            activity: try row.decode("activity"),
            outcome: try row.decode("outcome"),
            reasonCode: try row.decode("reason_code", as: String?.self),
            reason: try row.decode("reason", as: String?.self),
            decidedBy: try row.decode("decided_by"),
            decidedAt: try row.decode("decided_at")
        )
    }
}
