import Contracts
import Database
import Foundation
import Hummingbird
import ServiceSupport

/// Webhook subscriptions for dashboards and other agencies (roles `dashboard` and `operator`; `auditor` reads).
///
/// A dashboard sees and manages the endpoints it created; an operator sees and manages all.
struct WebhookRoutes: Sendable {
    let pool: DatabasePool
    let policy: WebhookTargetPolicy
    /// How long the previous secret keeps signing after a rotation.
    var rotationOverlap: Duration = .seconds(86400)

    static let roles: Set<String> = [Roles.dashboard, Roles.operator]

    struct Subscription: Decodable, Sendable {
        var url: String
        var eventTypes: [String]
        var description: String?
    }

    struct Endpoint: ResponseEncodable, Sendable {
        var id: String
        var url: String
        var eventTypes: [String]
        var description: String
        var enabled: Bool
        var disabledReason: String?
        var disabledAt: String?
        var createdAt: String
        var createdBy: String
        /// Only in the answer that creates the endpoint or rotates its secret: shown once.
        var secret: String?
    }

    struct EndpointList: ResponseEncodable, Sendable { var items: [Endpoint] }

    struct Attempt: Codable, Sendable {
        var attempt: Int
        var attemptedAt: String
        var statusCode: Int?
        var error: String?
        var durationMs: Int
    }

    struct Delivery: Codable, Sendable {
        var id: String
        var webhookId: String
        var eventId: String
        var eventType: String
        var status: String
        var attempts: Int
        var lastStatus: Int?
        var lastError: String?
        var nextAttemptAt: String?
        var createdAt: String
        var deliveredAt: String?
        var log: [Attempt]
    }

    struct DeliveryList: ResponseEncodable, Sendable {
        var items: [Delivery]
        /// Pass as `cursor` to get the next (older) page; absent on the last page.
        var nextCursor: String?
    }

    func add(to routes: RouteCollection<AuthenticatedRequestContext>) {
        routes.post("/v1/webhooks") { request, context in
            let identity = try context.require(roles: Self.roles)
            let subscription = try await request.decode(as: Subscription.self, context: context)
            let endpoint = try await create(subscription, by: identity)
            return try endpoint.response(status: .created)
        }
        routes.get("/v1/webhooks") { _, context in
            let identity = try context.require(roles: Self.roles)
            return EndpointList(items: try await list(for: identity))
        }
        routes.delete("/v1/webhooks/{id}") { _, context in
            let identity = try context.require(roles: Self.roles)
            let id = try Self.id(context)
            try await delete(id, for: identity)
            return Response(status: .noContent)
        }
        routes.post("/v1/webhooks/{id}/secret") { _, context in
            let identity = try context.require(roles: Self.roles)
            return try await rotate(try Self.id(context), for: identity)
        }
        routes.get("/v1/webhooks/{id}/deliveries") { request, context in
            let identity = try context.require(roles: Self.roles)
            let id = try Self.id(context)
            let limit = min(max(request.uri.queryParameters.get("limit", as: Int.self) ?? 50, 1), 200)
            var before: UUID?
            if let cursor = request.uri.queryParameters.get("cursor"), !cursor.isEmpty {
                guard let value = UUID(uuidString: cursor) else {
                    throw ProblemDetails.badRequest("Kursor tidak valid. Invalid cursor.", code: "INVALID_CURSOR")
                }
                before = value
            }
            _ = try await owned(id, by: identity)
            return try await deliveries(of: id, before: before, limit: limit)
        }
    }

    private static func id(_ context: AuthenticatedRequestContext) throws -> UUID {
        guard let id = context.parameters.get("id", as: UUID.self) else {
            throw ProblemDetails.badRequest("Nomor webhook tidak valid. Invalid webhook id.")
        }
        return id
    }

    func create(_ subscription: Subscription, by identity: Identity) async throws -> Endpoint {
        var errors: [ProblemDetails.FieldError] = []
        let types = Array(Set(subscription.eventTypes)).sorted()
        if types.isEmpty {
            errors.append(.init(field: "/eventTypes", message: "Pilih minimal satu jenis peristiwa.", code: "REQUIRED"))
        }
        for type in types where !NotificationConsumer.webhookEventNames.contains(type) {
            errors.append(
                .init(
                    field: "/eventTypes",
                    message: "Peristiwa '\(type)' tidak tersedia untuk webhook (tersedia: "
                        + NotificationConsumer.webhookEventNames.sorted().joined(separator: ", ") + ").",
                    code: "UNKNOWN_EVENT_TYPE"))
        }
        if (subscription.description ?? "").count > 500 {
            errors.append(
                .init(field: "/description", message: "Deskripsi terlalu panjang (maks. 500).", code: "TOO_LONG"))
        }
        do {
            _ = try await policy.check(subscription.url)
        } catch let refusal as WebhookTargetPolicy.Refusal {
            errors.append(.init(field: "/url", message: refusal.reason, code: "URL_NOT_ALLOWED"))
        }
        guard errors.isEmpty else {
            throw ProblemDetails.unprocessable("Langganan webhook tidak valid. Invalid subscription.", errors: errors)
        }
        let id = UUID.timeOrdered()
        let secret = StandardWebhooks.newSecret()
        let description = subscription.description ?? ""
        let createdAt = try await pool.withTransaction { connection in
            let row = try await connection.query(
                """
                INSERT INTO webhook_endpoints (id, url, event_types, description, created_by)
                VALUES (\(id), \(subscription.url), \(types)::text[], \(description), \(identity.nip))
                RETURNING created_at
                """)
            try await connection.query(
                "INSERT INTO webhook_secrets (endpoint_id, secret) VALUES (\(id), \(secret))")
            return try row.first!.decode("created_at", as: Date.self)
        }
        return Endpoint(
            id: id.uuidString.lowercased(), url: subscription.url, eventTypes: types, description: description,
            enabled: true, createdAt: RFC3339.format(createdAt), createdBy: identity.nip, secret: secret)
    }

    func list(for identity: Identity) async throws -> [Endpoint] {
        let everyone = identity.has(Roles.operator) || identity.has(Roles.auditor)
        return try await pool.withConnection { connection in
            try await connection.query(
                """
                SELECT id, url, event_types, description, enabled, disabled_reason, disabled_at, created_at, created_by
                FROM webhook_endpoints
                WHERE deleted_at IS NULL AND (\(everyone) OR created_by = \(identity.nip))
                ORDER BY created_at, id
                """
            ).map(Self.endpoint)
        }
    }

    private static func endpoint(_ row: PostgresRow) throws -> Endpoint {
        Endpoint(
            id: try row.decode("id", as: UUID.self).uuidString.lowercased(), url: try row.decode("url"),
            eventTypes: try row.decode("event_types"), description: try row.decode("description"),
            enabled: try row.decode("enabled"), disabledReason: try row.decode("disabled_reason", as: String?.self),
            disabledAt: try row.decode("disabled_at", as: Date?.self).map { RFC3339.format($0) },
            createdAt: RFC3339.format(try row.decode("created_at", as: Date.self)),
            createdBy: try row.decode("created_by"))
    }

    /// The endpoint if the caller may see it, else 404 (others' endpoints are not revealed).
    private func owned(_ id: UUID, by identity: Identity) async throws -> Endpoint {
        guard let endpoint = try await list(for: identity).first(where: { $0.id == id.uuidString.lowercased() }) else {
            throw ProblemDetails.notFound("Webhook tidak ditemukan. Webhook not found.")
        }
        return endpoint
    }

    func delete(_ id: UUID, for identity: Identity) async throws {
        _ = try await owned(id, by: identity)
        try await pool.withTransaction { connection in
            try await connection.query(
                """
                UPDATE webhook_endpoints SET deleted_at = now(), enabled = false, disabled_at = coalesce(disabled_at, now()),
                    disabled_reason = coalesce(disabled_reason, 'Dihapus oleh ' || \(identity.nip) || '. Deleted.')
                WHERE id = \(id)
                """)
            try await connection.query(
                "UPDATE webhook_deliveries SET status = 'cancelled' WHERE endpoint_id = \(id) AND status = 'pending'")
        }
    }

    /// A new secret; the previous ones keep signing for `rotationOverlap` so receivers can switch without loss.
    func rotate(_ id: UUID, for identity: Identity) async throws -> Endpoint {
        var endpoint = try await owned(id, by: identity)
        let secret = StandardWebhooks.newSecret()
        let overlap = Double(rotationOverlap.components.seconds)
        try await pool.withTransaction { connection in
            try await connection.query(
                """
                UPDATE webhook_secrets SET expires_at = least(coalesce(expires_at, 'infinity'),
                                                              now() + \(overlap) * interval '1 second')
                WHERE endpoint_id = \(id)
                """)
            try await connection.query(
                "INSERT INTO webhook_secrets (endpoint_id, secret) VALUES (\(id), \(secret))")
        }
        endpoint.secret = secret
        return endpoint
    }

    /// A page of an endpoint's delivery log, newest first (ids are time-ordered): the `limit` deliveries older than
    /// `before` (a delivery id; the newest when nil), each with its attempts.
    func deliveries(of id: UUID, before: UUID?, limit: Int) async throws -> DeliveryList {
        try await pool.withConnection { connection in
            let found = try await connection.query(
                """
                SELECT id, event_id, event_type, status, attempts, last_status, last_error, next_attempt_at,
                       created_at, delivered_at
                FROM webhook_deliveries
                WHERE endpoint_id = \(id) AND id < \(before ?? Self.afterEveryId)
                ORDER BY id DESC LIMIT \(limit + 1)
                """)
            let rows = found.prefix(limit)
            let ids: [UUID] = try rows.map { try $0.decode("id") }
            let attempts = try await connection.query(
                """
                SELECT delivery_id, attempt, attempted_at, status_code, error, duration_ms
                FROM webhook_attempts WHERE delivery_id = ANY (\(ids)::uuid[]) ORDER BY id
                """)
            var log: [UUID: [Attempt]] = [:]
            for row in attempts {
                log[try row.decode("delivery_id"), default: []].append(
                    Attempt(
                        attempt: try row.decode("attempt"),
                        attemptedAt: RFC3339.format(try row.decode("attempted_at", as: Date.self)),
                        statusCode: try row.decode("status_code", as: Int?.self),
                        error: try row.decode("error", as: String?.self), durationMs: try row.decode("duration_ms")))
            }
            let items = try rows.map { row in
                let deliveryId: UUID = try row.decode("id")
                let status: String = try row.decode("status")
                return Delivery(
                    id: deliveryId.uuidString.lowercased(), webhookId: "msg_" + deliveryId.uuidString.lowercased(),
                    eventId: try row.decode("event_id"), eventType: try row.decode("event_type"), status: status,
                    attempts: try row.decode("attempts"), lastStatus: try row.decode("last_status", as: Int?.self),
                    lastError: try row.decode("last_error", as: String?.self),
                    nextAttemptAt: status == "pending"
                        ? RFC3339.format(try row.decode("next_attempt_at", as: Date.self)) : nil,
                    createdAt: RFC3339.format(try row.decode("created_at", as: Date.self)),
                    deliveredAt: try row.decode("delivered_at", as: Date?.self).map { RFC3339.format($0) },
                    log: log[deliveryId] ?? [])
            }
            return DeliveryList(items: items, nextCursor: found.count > limit ? items.last?.id : nil)
        }
    }

    /// Greater than every delivery id: the first page's `before`.
    static let afterEveryId = UUID(
        uuid: (255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255))
}

extension ResponseEncodable {
    /// This value as JSON with `status`.
    func response(status: HTTPResponse.Status) throws -> Response {
        let data = try JSONEncoder().encode(self)
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
