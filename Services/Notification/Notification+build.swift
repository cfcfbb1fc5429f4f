import AMQP
import Contracts
import Database
import Eventing
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import ServiceSupport

/// The notification service assembled from its parts; `main` and the tests build it the same way.
struct NotificationService {
    /// Pool, outbox relay and the `notification.events` inbox consumer.
    let backbone: EventBackbone
    /// HTTP routes, health, metrics and the service group.
    let app: ServiceApp
    let settings: NotificationSettings
    let templates: NotificationTemplates
    /// The live stream's fan-out and its feeder.
    let hub: StreamHub
    let pump: StreamPump
    let webhooks: WebhookDispatcher
    let gateway: GatewayDispatcher

    /// Batches of events in flight at once (competing consumers, as two instances would be; at most once per channel
    /// holds across them): one batch's commit and acknowledgement overlap the other's statements.
    static let eventConsumers = 2

    /// Builds the service; reads and checks the templates first (a broken one stops the start here).
    init(
        configuration: ServiceConfiguration, logger: Logger, settings: NotificationSettings? = nil,
        queueName: String = "notification.events", now: @escaping @Sendable () -> Date = { Date() }
    ) async throws {
        let settings = try settings ?? NotificationSettings.from(configuration)
        guard let directory = settings.templatesDirectory ?? NotificationTemplates.bundledDirectory else {
            throw TemplateError(
                file: "Templates", line: nil, problem: "direktori templat tidak ada (no templates directory)")
        }
        let templates = try await NotificationTemplates.load(directory: directory)
        let consumer = NotificationConsumer(
            templates: templates, gatewayChannelName: settings.gateway.channel, logger: logger)
        backbone = try EventBackbone(
            configuration: configuration,
            service: .notification,
            migrations: try notificationResources.migrations(),
            queues: [
                InboxQueue(
                    spec: QueueSpec(name: queueName, bindings: NotificationConsumer.routingKeys),
                    consumers: Self.eventConsumers,
                    handler: { events, connection in try await consumer.handle(events, in: connection) }
                )
            ],
            logger: logger
        )
        var listenerDatabase = try configuration.databaseConfiguration(
            poolSize: 1, applicationName: "notification-listen")
        listenerDatabase.poolSize = 1
        let pool = backbone.pool
        let hub = StreamHub(bufferSize: settings.streamClientBuffer)
        pump = StreamPump(
            pool: pool, hub: hub, listenerConfiguration: listenerDatabase, settings: settings, logger: logger)
        webhooks = WebhookDispatcher(
            pool: pool, listenerConfiguration: listenerDatabase, settings: settings, logger: logger)
        gateway = GatewayDispatcher(
            pool: pool, listenerConfiguration: listenerDatabase, settings: settings.gateway,
            pollInterval: settings.pollInterval, logger: logger, now: now)
        let routes = RouteCollection(context: AuthenticatedRequestContext.self)
        NotificationRoutes(pool: pool).add(to: routes)
        WebhookRoutes(pool: pool, policy: WebhookTargetPolicy(allowPrivate: settings.allowPrivateTargets))
            .add(to: routes)
        StreamRoutes(pool: pool, hub: hub).add(to: routes)
        app = ServiceApp(
            configuration: configuration,
            logger: logger,
            routes: routes,
            services: backbone.services + [pump, webhooks, gateway],
            readinessChecks: backbone.readinessChecks,
            openAPIDocument: try notificationResources.openAPIDocument(),
            publicDirectory: notificationResources.publicDirectory
        )
        self.settings = settings
        self.templates = templates
        self.hub = hub
    }

    /// Migrates the database, then runs until SIGTERM/SIGINT.
    func run() async throws {
        try await backbone.migrate()
        try await app.run()
    }
}

/// Migrations and the OpenAPI document bundled with the executable.
let notificationResources = ServiceResources(bundle: .module)
