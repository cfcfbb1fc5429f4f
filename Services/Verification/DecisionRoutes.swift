import Contracts
import Database
import Foundation
import Hummingbird
import ServiceSupport

/// Read access to decisions for DLH verifiers and auditors.
struct DecisionRoutes: Sendable {
    let pool: DatabasePool

    /// A decision as the API shows it.
    struct Decision: Codable, Sendable {
        var submissionId: UUID
        var nip: String
        var activity: String
        var outcome: String
        var reasonCode: String?
        var reason: String?
        var decidedBy: String
        var decidedAt: Date
        var reasonCodes: [String]
        var method: String
        var fraud: Bool
        var appealable: Bool
        var sampledForAudit: Bool
        var onAppeal: Bool
        var note: String?
    }

    func collection() -> RouteCollection<AuthenticatedRequestContext> {
        let routes = RouteCollection(context: AuthenticatedRequestContext.self)
        routes.get("/v1/decisions/{submissionId}") { _, context in
            _ = try context.require(roles: [Roles.verifier, Roles.auditor], access: .read)
            guard let id = context.parameters.get("submissionId", as: UUID.self) else {
                throw ProblemDetails.badRequest("Nomor pengajuan tidak valid. (Invalid submission id.)")
            }
            return try JSONResponse.make(try await decision(id))
        }
        return routes
    }

    func decision(_ id: UUID) async throws -> Decision {
        let rows = try await pool.withConnection { connection in
            try await connection.query(
                """
                SELECT d.submission_id, s.nip, s.activity, d.outcome, d.reason_code, d.reason, d.decided_by, d.decided_at,
                       d.reason_codes, d.method, d.fraud, d.appealable, d.sampled_for_audit, d.on_appeal, d.note
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
            decidedAt: try row.decode("decided_at"),
            reasonCodes: try row.decode("reason_codes"),
            method: try row.decode("method"),
            fraud: try row.decode("fraud"),
            appealable: try row.decode("appealable"),
            sampledForAudit: try row.decode("sampled_for_audit"),
            onAppeal: try row.decode("on_appeal"),
            note: try row.decode("note", as: String?.self)
        )
    }
}
