import AsyncHTTPClient
import Contracts
import Database
import Eventing
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import ServiceLifecycle
import ServiceSupport
import Synchronization
import TestSupport

@testable import Notification

/// Shared set-up of the notification tests: tokens, sample events, and the service's parts on a fresh database.
enum NotificationFixture {
    static let secret = "notification-test-secret-0123456789abcdef-0123"
    static let siti = "198503152010012001"
    static let budi = "199001012015031002"
    static let head = "197805202005011003"

    static let logger: Logger = {
        var logger = Logger(label: "notification.tests")
        logger.logLevel = .warning
        return logger
    }()

    static var configuration: ServiceConfiguration {
        ServiceConfiguration(serviceName: "notification", jwt: JWTSettings(hs256Secret: secret))
    }

    static func token(nip: String = siti, roles: [String] = ["asn"]) async throws -> String {
        try await TokenIssuer(hs256Secret: secret).token(nip: nip, name: "Siti Rahma", opd: "DLH", roles: roles)
    }

    static func auth(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)"] }

    /// Settings with short waits, loopback webhook targets allowed (the receivers run here).
    static func settings(_ change: (inout NotificationSettings) -> Void = { _ in }) -> NotificationSettings {
        var settings = NotificationSettings()
        settings.webhookRetrySchedule = [.milliseconds(200), .milliseconds(400)]
        settings.webhookTimeout = .seconds(5)
        settings.allowPrivateTargets = true
        settings.pollInterval = .milliseconds(100)
        settings.gateway.quietHours = nil
        settings.gateway.backoff = .milliseconds(50)
        settings.gateway.maxAttempts = 3
        settings.gateway.ratePerSecond = 100
        change(&settings)
        return settings
    }

    static func consumer() async throws -> NotificationConsumer {
        let templates = try await NotificationTemplates.load(directory: NotificationTemplates.bundledDirectory!)
        return NotificationConsumer(templates: templates, gatewayChannelName: "whatsapp", logger: logger)
    }

    static func inbound(_ event: CloudEvent) -> InboundEvent {
        InboundEvent(event: event, routingKey: event.eventName ?? "", redelivered: false, deliveryCount: 0)
    }

    /// Feeds `events` to the consumer as the inbox consumer does: inbox rows first, only new events, one
    /// transaction.
    static func deliver(_ events: [CloudEvent], to pool: DatabasePool) async throws {
        let consumer = try await consumer()
        try await pool.withTransaction { connection in
            let ids = Array(Set(events.map(\.id))).sorted()
            let inserted = try await connection.query(
                """
                INSERT INTO inbox (consumer, message_id) SELECT 'notification', id FROM unnest(\(ids)::text[]) AS t(id)
                ON CONFLICT DO NOTHING RETURNING message_id
                """)
            var new = Set(try inserted.map { try $0.decode("message_id", as: String.self) })
            let fresh = events.filter { new.remove($0.id) != nil }
            if !fresh.isEmpty { try await consumer.handle(fresh.map(inbound), in: connection) }
        }
    }

    // MARK: sample events

    static func program() throws -> CloudEvent {
        try CloudEvent(
            ProgramPublished(
                program: "peduli-sampah", programVersion: "1", name: "Peduli Sampah",
                activities: [
                    ActivityDefinition(
                        code: "bank_sampah", name: "Setor ke bank sampah", unit: "kg", places: ["office", "home"],
                        basePoints: 5),
                    ActivityDefinition(
                        code: "pilah_sampah", name: "Memilah sampah", unit: "count", places: ["office", "home"],
                        basePoints: 10),
                ],
                publishedAt: Date()), from: .scoring)
    }

    static func enrolled(
        _ nip: String, name: String = "Siti Rahma", opd: String = "DLH", phone: String? = "+6281234567890",
        optIn: Bool = true, head: Bool = false
    ) throws -> CloudEvent {
        try CloudEvent(
            ASNEnrolled(
                nip: nip, name: name, opd: opd, enrolledAt: Date(timeIntervalSinceNow: -86400), phone: phone,
                email: "\(nip)@semarangkota.go.id", messagingOptIn: optIn, isOPDHead: head), from: .scoring)
    }

    static func verified(_ submission: UUID, nip: String = siti, activity: String = "pilah_sampah", at: Date)
        throws -> CloudEvent
    {
        try CloudEvent(
            SubmissionVerified(
                submissionId: submission, nip: nip, opd: "DLH", program: "peduli-sampah", activity: activity,
                place: "office", activityAt: at, quantity: 1, decidedAt: Date(), decidedBy: "auto"),
            from: .verification)
    }

    static func awarded(
        _ submission: UUID = UUID(), nip: String = siti, activity: String = "pilah_sampah", points: Int = 10,
        total: Int = 140, period: String = "2026-Q1"
    ) throws -> CloudEvent {
        try CloudEvent(
            PointsAwarded(
                entryId: UUID(), submissionId: submission, nip: nip, opd: "DLH", program: "peduli-sampah",
                activity: activity, points: points, ruleVersion: "peduli-sampah@1", period: period, awardedAt: Date(),
                totalInPeriod: total, name: "Siti Rahma"), from: .scoring)
    }

    static func rejected(nip: String = budi, onAppeal: Bool? = nil) throws -> CloudEvent {
        try CloudEvent(
            SubmissionRejected(
                submissionId: UUID(), nip: nip, opd: "DLH", reasonCode: "DUPLICATE_EVIDENCE", reason: "",
                decidedAt: Date(), decidedBy: "auto", fraud: true, program: "peduli-sampah", activity: "bank_sampah",
                reasonCodes: ["DUPLICATE_EVIDENCE"], appealable: onAppeal == nil, onAppeal: onAppeal),
            from: .verification)
    }

    struct Stored: Sendable {
        var nip: String
        var kind: String
        var title: String
        var body: String
        var bodyEn: String
    }

    static func notifications(_ pool: DatabasePool) async throws -> [Stored] {
        try await pool.withConnection { connection in
            try await connection.query("SELECT nip, kind, title, body, body_en FROM notifications ORDER BY seq").map {
                Stored(
                    nip: try $0.decode("nip"), kind: try $0.decode("kind"), title: try $0.decode("title"),
                    body: try $0.decode("body"), bodyEn: try $0.decode("body_en"))
            }
        }
    }

    static func count(_ pool: DatabasePool, _ sql: String) async throws -> Int {
        try await pool.withConnection { connection in
            try await connection.query(SQLQuery(unsafeSQL: sql)).first?.decode(0, as: Int.self) ?? 0
        }
    }

    // MARK: the service's parts on a fresh database

    struct Stack: Sendable {
        var pool: DatabasePool
        var hub: StreamHub
        var pump: StreamPump
        var databaseURL: String
    }

    enum Part: Sendable { case pump, webhooks, gateway }

    /// Runs `body` with the notification routes (as `main` builds them) on a fresh database, and the long-lived
    /// parts in `parts` running beside it.
    static func withStack(
        settings: NotificationSettings = settings(), parts: Set<Part> = [], testing: TestingSetup = .router,
        now: @escaping @Sendable () -> Date = { Date() },
        _ body: @escaping @Sendable (any TestClientProtocol, Stack) async throws -> Void
    ) async throws {
        try await withTestDatabaseURL(service: "notification", migrations: try notificationResources.allMigrations()) {
            url in
            let database = DatabaseConfiguration(url: url, poolSize: 6, applicationName: "notification-tests")
            var listenerDatabase = database
            listenerDatabase.poolSize = 1
            let pool = DatabasePool(configuration: database, logger: logger)
            let hub = StreamHub(bufferSize: settings.streamClientBuffer)
            let pump = StreamPump(
                pool: pool, hub: hub, listenerConfiguration: listenerDatabase, settings: settings, logger: logger)
            var services: [any Service] = [pool]
            if parts.contains(.pump) { services.append(pump) }
            if parts.contains(.webhooks) {
                services.append(
                    WebhookDispatcher(
                        pool: pool, listenerConfiguration: listenerDatabase, settings: settings, logger: logger))
            }
            if parts.contains(.gateway) {
                services.append(
                    GatewayDispatcher(
                        pool: pool, listenerConfiguration: listenerDatabase, settings: settings.gateway,
                        pollInterval: settings.pollInterval, logger: logger, now: now))
            }
            let routes = RouteCollection(context: AuthenticatedRequestContext.self)
            NotificationRoutes(pool: pool).add(to: routes)
            WebhookRoutes(pool: pool, policy: WebhookTargetPolicy(allowPrivate: settings.allowPrivateTargets))
                .add(to: routes)
            StreamRoutes(pool: pool, hub: hub).add(to: routes)
            let app = try await ServiceApp(
                configuration: configuration, logger: logger, routes: routes,
                openAPIDocument: try notificationResources.openAPIDocument(),
                publicDirectory: notificationResources.publicDirectory
            ).buildApplication()
            let stack = Stack(pool: pool, hub: hub, pump: pump, databaseURL: url)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for service in services { group.addTask { try await service.run() } }
                do {
                    try await app.test(testing) { client in try await body(client, stack) }
                } catch {
                    group.cancelAll()
                    try? await group.waitForAll()
                    throw error
                }
                group.cancelAll()
                try? await group.waitForAll()
            }
        }
    }
}

/// Polls `condition` until it holds or `timeout` passes (generous: the machine is shared).
func eventually(
    timeout: Duration = .seconds(30), interval: Duration = .milliseconds(50),
    _ condition: @Sendable () async throws -> Bool
) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if (try? await condition()) == true { return true }
        try? await Task.sleep(for: interval)
    }
    return (try? await condition()) == true
}

/// A decoded JSON response body.
struct JSONBody {
    let object: [String: Any]

    init(_ response: TestResponse) throws {
        object =
            (try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView))) as? [String: Any] ?? [:]
    }

    subscript(key: String) -> Any? { object[key] }
}
