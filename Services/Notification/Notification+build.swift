import AMQP
import Contracts
import Database
import Foundation
import Logging
import ServiceSupport

/// The notification service assembled from its parts; `main` and the tests build it the same way.
struct NotificationService {
    /// Pool, outbox relay and the `notification.events` inbox consumer.
    let backbone: EventBackbone
    /// HTTP routes, health, metrics and the service group.
    let app: ServiceApp

    init(configuration: ServiceConfiguration, logger: Logger) throws {
        let inbox = InAppInbox(logger: logger)
        backbone = try EventBackbone(
            configuration: configuration,
            service: .notification,
            migrations: try notificationResources.migrations(),
            queues: [
                InboxQueue(
                    spec: QueueSpec(name: "notification.events", bindings: InAppInbox.routingKeys),
                    handler: { events, connection in try await inbox.handle(events, in: connection) }
                )
            ],
            logger: logger
        )
        app = ServiceApp(
            configuration: configuration,
            logger: logger,
            routes: NotificationRoutes(pool: backbone.pool).collection(),
            services: backbone.services,
            readinessChecks: backbone.readinessChecks,
            openAPIDocument: try notificationResources.openAPIDocument()
        )
    }

    /// Migrates the database, then runs until SIGTERM/SIGINT.
    func run() async throws {
        try await backbone.migrate()
        try await app.run()
    }
}

/// Migrations and the OpenAPI document bundled with the executable.
let notificationResources = ServiceResources(bundle: .module)
