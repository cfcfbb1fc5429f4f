import Database
import Foundation
import Hummingbird
import ServiceSupport

/// The ASN's in-app inbox over HTTP.
struct NotificationRoutes: Sendable {
    let pool: DatabasePool

    /// One notification as the API shows it.
    struct Item: Codable, Sendable {
        /// Lowercase UUID, like every id the other services show.
        var id: String
        var eventType: String
        var title: String
        var body: String
        var titleEn: String?
        var bodyEn: String?
        var submissionId: String?
        var createdAt: Date
        var readAt: Date?
    }

    /// The inbox page.
    struct Inbox: ResponseEncodable, Sendable {
        var items: [Item]
        var unread: Int
    }

    func collection() -> RouteCollection<AuthenticatedRequestContext> {
        let routes = RouteCollection(context: AuthenticatedRequestContext.self)
        routes.get("/v1/me/notifications") { request, context in
            let identity = try context.require(roles: [Roles.asn])
            let limit = min(max(request.uri.queryParameters.get("limit", as: Int.self) ?? 50, 1), 200)
            return try await inbox(nip: identity.nip, limit: limit)
        }
        routes.post("/v1/me/notifications/{id}/read") { _, context in
            let identity = try context.require(roles: [Roles.asn])
            guard let id = context.parameters.get("id", as: UUID.self) else {
                throw ProblemDetails.badRequest("Nomor pemberitahuan tidak valid. (Invalid notification id.)")
            }
            try await markRead(id: id, nip: identity.nip)
            return Response(status: .noContent)
        }
        return routes
    }

    func inbox(nip: String, limit: Int) async throws -> Inbox {
        try await pool.withConnection { connection in
            let rows = try await connection.query(
                """
                SELECT id, event_type, title, body, title_en, body_en, submission_id, created_at, read_at
                FROM notifications WHERE nip = \(nip) ORDER BY created_at DESC, id LIMIT \(limit)
                """
            )
            let unread = try await connection.query(
                "SELECT count(*)::bigint AS n FROM notifications WHERE nip = \(nip) AND read_at IS NULL"
            )
            return Inbox(
                items: try rows.map { row in
                    Item(
                        id: try row.decode("id", as: UUID.self).uuidString.lowercased(),
                        eventType: try row.decode("event_type"),
                        title: try row.decode("title"),
                        body: try row.decode("body"),
                        titleEn: try row.decode("title_en", as: String?.self),
                        bodyEn: try row.decode("body_en", as: String?.self),
                        submissionId: try row.decode("submission_id", as: UUID?.self)?.uuidString.lowercased(),
                        createdAt: try row.decode("created_at"),
                        readAt: try row.decode("read_at", as: Date?.self)
                    )
                },
                unread: try unread.first?.decode("n", as: Int.self) ?? 0
            )
        }
    }

    func markRead(id: UUID, nip: String) async throws {
        let result = try await pool.withConnection { connection in
            try await connection.query(
                "UPDATE notifications SET read_at = coalesce(read_at, now()) WHERE id = \(id) AND nip = \(nip)"
            )
        }
        guard result.rowsAffected == 1 else {
            throw ProblemDetails.notFound("Pemberitahuan tidak ditemukan. (Notification not found.)")
        }
    }
}
