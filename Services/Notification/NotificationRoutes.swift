import Contracts
import Database
import Foundation
import Hummingbird
import ServiceSupport

/// The ASN's in-app inbox over HTTP: newest first, with a cursor and the unread count.
struct NotificationRoutes: Sendable {
    let pool: DatabasePool

    /// One notification as the API shows it.
    struct Item: Codable, Sendable {
        /// Lowercase UUID, like every id the other services show.
        var id: String
        var kind: String?
        var eventType: String
        var title: String
        var body: String
        var titleEn: String?
        var bodyEn: String?
        var submissionId: String?
        var createdAt: String
        var readAt: String?
    }

    /// One page of the inbox.
    struct Inbox: ResponseEncodable, Sendable {
        var items: [Item]
        var unread: Int
        /// Pass as `cursor` to get the next (older) page; absent on the last page.
        var nextCursor: String?
    }

    /// The answer of read-all.
    struct ReadAll: ResponseEncodable, Sendable {
        var marked: Int
        var unread: Int
    }

    func add(to routes: RouteCollection<AuthenticatedRequestContext>) {
        routes.get("/v1/me/notifications") { request, context in
            let identity = try context.require(roles: [Roles.asn], access: .read)
            let limit = min(max(request.uri.queryParameters.get("limit", as: Int.self) ?? 20, 1), 100)
            var before: Int64?
            if let cursor = request.uri.queryParameters.get("cursor"), !cursor.isEmpty {
                guard let value = Int64(cursor), value > 0 else {
                    throw ProblemDetails.badRequest("Kursor tidak valid. Invalid cursor.", code: "INVALID_CURSOR")
                }
                before = value
            }
            return try await inbox(nip: identity.nip, limit: limit, before: before)
        }
        routes.post("/v1/me/notifications/read-all") { _, context in
            let identity = try context.require(roles: [Roles.asn])
            let marked = try await pool.withConnection { connection in
                try await connection.query(
                    "UPDATE notifications SET read_at = now() WHERE nip = \(identity.nip) AND read_at IS NULL"
                ).rowsAffected
            }
            return ReadAll(marked: marked, unread: 0)
        }
        routes.post("/v1/me/notifications/{id}/read") { _, context in
            let identity = try context.require(roles: [Roles.asn])
            guard let id = context.parameters.get("id", as: UUID.self) else {
                throw ProblemDetails.badRequest("Nomor pemberitahuan tidak valid. (Invalid notification id.)")
            }
            try await markRead(id: id, nip: identity.nip)
            return Response(status: .noContent)
        }
    }

    func inbox(nip: String, limit: Int, before: Int64?) async throws -> Inbox {
        try await pool.withConnection { connection in
            let rows = try await connection.query(
                """
                SELECT id, seq, kind, event_type, title, body, title_en, body_en, submission_id, created_at, read_at,
                       (SELECT count(*) FROM notifications u WHERE u.nip = \(nip) AND u.read_at IS NULL) AS unread
                FROM notifications
                WHERE nip = \(nip) AND seq < \(before ?? Int64.max)
                ORDER BY seq DESC LIMIT \(limit + 1)
                """
            )
            var items: [Item] = []
            var lastSeq: Int64 = 0
            for row in rows.prefix(limit) {
                lastSeq = try row.decode("seq")
                items.append(
                    Item(
                        id: try row.decode("id", as: UUID.self).uuidString.lowercased(),
                        kind: try row.decode("kind", as: String?.self),
                        eventType: try row.decode("event_type"),
                        title: try row.decode("title"),
                        body: try row.decode("body"),
                        titleEn: try row.decode("title_en", as: String?.self),
                        bodyEn: try row.decode("body_en", as: String?.self),
                        submissionId: try row.decode("submission_id", as: UUID?.self)?.uuidString.lowercased(),
                        createdAt: RFC3339.format(try row.decode("created_at", as: Date.self)),
                        readAt: try row.decode("read_at", as: Date?.self).map { RFC3339.format($0) }
                    ))
            }
            let unread: Int
            if let first = rows.first {
                unread = try first.decode("unread")
            } else {
                unread =
                    try await connection.query(
                        "SELECT count(*) AS n FROM notifications WHERE nip = \(nip) AND read_at IS NULL"
                    ).first?.decode("n", as: Int.self) ?? 0
            }
            return Inbox(items: items, unread: unread, nextCursor: rows.count > limit ? String(lastSeq) : nil)
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
