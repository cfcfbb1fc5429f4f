import AMQP
import Contracts
import Database
import Foundation
import Logging
import ServiceSupport

/// The verification service assembled from its parts; `main` and the tests build it the same way.
struct VerificationService {
    /// Pool, outbox relay and the `verification.submissions` inbox consumer.
    let backbone: EventBackbone
    /// HTTP routes, health, metrics and the service group.
    let app: ServiceApp

    init(configuration: ServiceConfiguration, logger: Logger) throws {
        let checker = EvidenceChecker(source: ServiceName.verification.eventSource, logger: logger)
        backbone = try EventBackbone(
            configuration: configuration,
            service: .verification,
            migrations: try verificationResources.migrations(),
            queues: [
                InboxQueue(
                    spec: QueueSpec(name: "verification.submissions", bindings: [SubmissionReceived.eventName]),
                    handler: { events, connection in try await checker.handle(events, in: connection) }
                )
            ],
            logger: logger
        )
        app = ServiceApp(
            configuration: configuration,
            logger: logger,
            routes: DecisionRoutes(pool: backbone.pool).collection(),
            services: backbone.services,
            readinessChecks: backbone.readinessChecks,
            openAPIDocument: try verificationResources.openAPIDocument()
        )
    }

    /// Migrates the database, then runs until SIGTERM/SIGINT.
    func run() async throws {
        try await backbone.migrate()
        try await app.run()
    }
}

/// Migrations and the OpenAPI document bundled with the executable.
let verificationResources = ServiceResources(bundle: .module)
