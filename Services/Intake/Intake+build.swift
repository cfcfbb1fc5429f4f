import Contracts
import Database
import Foundation
import Hummingbird
import Logging
import Messaging
import ServiceLifecycle
import ServiceSupport

/// Everything `intake` runs: the HTTP application and the database/broker backbone under it.
package struct IntakeService {
    /// The HTTP application (routes, upload page, health, metrics) with the backbone's services.
    package var app: ServiceApp
    /// Pool, migrations, outbox relay and the `intake.status` inbox consumer.
    package var backbone: EventBackbone
}

/// Builds intake from its configuration and dependencies; `main` and tests call this, never each other.
///
/// Service-specific settings: `BLOB_DIRECTORY` (`INTAKE_BLOB_DIRECTORY` first) names the evidence directory
/// used by `main` (default `.run/blobs`); the store itself is passed in here. `statusQueueName` is
/// `intake.status` except in tests that share a broker.
package func buildIntake(
    configuration: ServiceConfiguration,
    logger: Logger,
    evidenceStore: some EvidenceStore,
    statusQueueName: String = StatusProjection.queueName
) throws -> IntakeService {
    let projection = StatusProjection(logger: logger)
    let backbone = try EventBackbone(
        configuration: configuration,
        service: .intake,
        migrations: try intakeResources.migrations(),
        queues: [
            InboxQueue(spec: StatusProjection.queueSpec(name: statusQueueName)) { events, connection in
                try await projection.handle(events, in: connection)
            }
        ],
        logger: logger
    )
    let routes = SubmissionRoutes(
        submissions: SubmissionStore(pool: backbone.pool, source: ServiceName.intake.eventSource),
        evidenceStore: evidenceStore,
        logger: logger
    )
    let app = try intakeApp(
        configuration: configuration,
        logger: logger,
        routes: routes.collection,
        services: backbone.services,
        readinessChecks: backbone.readinessChecks
    )
    return IntakeService(app: app, backbone: backbone)
}

/// The intake `ServiceApp` around `routes`: its OpenAPI document and upload page. Tests use it with routes built
/// on a test database and no broker.
package func intakeApp(
    configuration: ServiceConfiguration,
    logger: Logger,
    routes: RouteCollection<AuthenticatedRequestContext>,
    services: [any Service] = [],
    readinessChecks: [String: @Sendable () async -> Bool] = [:]
) throws -> ServiceApp {
    ServiceApp(
        configuration: configuration,
        logger: logger,
        routes: routes,
        services: services,
        readinessChecks: readinessChecks,
        openAPIDocument: try intakeResources.openAPIDocument(),
        publicDirectory: intakeResources.publicDirectory
    )
}

/// The evidence directory configured by `BLOB_DIRECTORY` (default `.run/blobs`, relative to the working directory).
package func evidenceDirectory(configuration: ServiceConfiguration) -> URL {
    let path = configuration.string("BLOB_DIRECTORY", default: ".run/blobs")
    return URL(fileURLWithPath: path, isDirectory: true)
}
