import AMQP
import Contracts
import Database
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import ServiceSupport
import Synchronization

/// Everything `intake` runs: the HTTP application and the database/broker backbone under it; `main` and the
/// tests build it the same way.
package struct IntakeService {
    /// The HTTP application (routes, upload page, health, metrics) with the backbone's services.
    package let app: ServiceApp
    /// Pool, migrations, outbox relay and the `intake.status` inbox consumer.
    package let backbone: EventBackbone

    /// Builds intake from its configuration and dependencies; nothing connects until it runs.
    ///
    /// Service-specific settings (each also read with the `INTAKE_` prefix first):
    /// - `BLOB_DIRECTORY` names the evidence directory used by `main` (default `.run/blobs`); the store itself is
    ///   passed in here.
    /// - `UPLOAD_MEMORY_BUDGET_BYTES`: memory all uploads in flight may hold together (default 64 MiB, at least
    ///   the 16 MiB largest body, or an upload without `Content-Length` could never be taken).
    /// - `EVIDENCE_ORPHAN_GRACE_SECONDS`: age after which a photo no submission references is deleted (default
    ///   3600).
    /// - `EVIDENCE_COLLECT_INTERVAL_SECONDS`: time between orphan collection passes (default 3600; 0 turns it off).
    ///
    /// - `SUBMISSION_RATE_LIMIT` / `SUBMISSION_RATE_WINDOW_SECONDS` / `SUBMISSION_DAILY_CAP`: per-NIP limits
    ///   (default 10 per 60 s, 20 per Asia/Jakarta day; see ``AbuseLimits``).
    /// - `PROGRAM_REFRESH_SECONDS`: how long a process trusts its cached program (default 5).
    ///
    /// `statusQueueName` and `programsQueueName` are `intake.status` and `intake.programs` except in tests that
    /// share a broker.
    package init<Store: EvidenceStore>(
        configuration: ServiceConfiguration,
        logger: Logger,
        evidenceStore: Store,
        statusQueueName: String = StatusProjection.queueName,
        programsQueueName: String = ProgramBook.queueName
    ) throws {
        let settings = try IntakeSettings(configuration: configuration)
        let limits = try AbuseLimits(configuration: configuration)
        let refresh = try configuration.int("PROGRAM_REFRESH_SECONDS", default: 5)
        let projection = StatusProjection(logger: logger)
        let programBox = ProgramBookBox()
        let backbone = try EventBackbone(
            configuration: configuration,
            service: .intake,
            migrations: try intakeResources.migrations(),
            queues: [
                InboxQueue(spec: StatusProjection.queueSpec(name: statusQueueName)) { events, connection in
                    try await projection.handle(events, in: connection)
                },
                InboxQueue(spec: ProgramBook.queueSpec(name: programsQueueName)) { events, connection in
                    try await programBox.book?.handle(events, in: connection)
                },
            ],
            logger: logger
        )
        let programs = ProgramBook(pool: backbone.pool, refreshInterval: .seconds(max(0, refresh)), logger: logger)
        programBox.book = programs
        let routes = SubmissionRoutes(
            submissions: SubmissionStore(pool: backbone.pool, source: ServiceName.intake.eventSource),
            evidenceStore: evidenceStore,
            logger: logger,
            uploadBudget: UploadMemoryBudget(limitBytes: settings.uploadMemoryBudgetBytes),
            programs: programs,
            limits: limits
        )
        var services = backbone.services
        if let interval = settings.collectInterval {
            let collector = EvidenceCollector(
                store: evidenceStore, pool: backbone.pool, gracePeriod: settings.orphanGracePeriod, logger: logger)
            services.append(EvidenceCollectorService(collector: collector, interval: interval))
        }
        self.backbone = backbone
        app = try intakeApp(
            configuration: configuration,
            logger: logger,
            routes: routes.collection,
            services: services,
            // Uploads need only the database and the evidence store: while the broker is down, accepted
            // submissions wait in the outbox, so intake stays ready (the broker's state is still reported).
            readinessChecks: backbone.readinessChecks.filter { $0.key != "broker" },
            advisoryChecks: backbone.readinessChecks.filter { $0.key == "broker" }
        )
    }

    /// Migrates the database, then runs until SIGTERM/SIGINT.
    package func run() async throws {
        try await backbone.migrate()
        try await app.run()
    }
}

/// Intake's own settings, read from its configuration (see ``IntakeService/init(configuration:logger:evidenceStore:statusQueueName:)``).
package struct IntakeSettings: Sendable, Equatable {
    /// `UPLOAD_MEMORY_BUDGET_BYTES`.
    package var uploadMemoryBudgetBytes: Int
    /// `EVIDENCE_ORPHAN_GRACE_SECONDS`.
    package var orphanGracePeriod: Duration
    /// `EVIDENCE_COLLECT_INTERVAL_SECONDS`, `nil` when 0 (collection off).
    package var collectInterval: Duration?

    /// Reads the settings.
    /// - Throws: ``ConfigurationError`` naming a malformed or out-of-range key.
    package init(configuration: ServiceConfiguration) throws {
        uploadMemoryBudgetBytes = try configuration.int(
            "UPLOAD_MEMORY_BUDGET_BYTES", default: SubmissionRules.defaultUploadMemoryBudgetBytes)
        guard uploadMemoryBudgetBytes >= SubmissionRules.maxBodyBytes else {
            throw ConfigurationError.invalid(
                key: "UPLOAD_MEMORY_BUDGET_BYTES",
                reason: "minimal \(SubmissionRules.maxBodyBytes) byte (at least the largest upload body)")
        }
        let grace = try configuration.int("EVIDENCE_ORPHAN_GRACE_SECONDS", default: 3600)
        guard grace >= 60 else {
            throw ConfigurationError.invalid(
                key: "EVIDENCE_ORPHAN_GRACE_SECONDS", reason: "minimal 60 detik (at least 60 seconds)")
        }
        orphanGracePeriod = .seconds(grace)
        let interval = try configuration.int("EVIDENCE_COLLECT_INTERVAL_SECONDS", default: 3600)
        guard interval >= 0 else {
            throw ConfigurationError.invalid(
                key: "EVIDENCE_COLLECT_INTERVAL_SECONDS", reason: "tidak boleh negatif (must not be negative)")
        }
        collectInterval = interval == 0 ? nil : .seconds(interval)
    }
}

/// The intake `ServiceApp` around `routes`: its OpenAPI document and upload page. Tests use it with routes built
/// on a test database and no broker.
package func intakeApp(
    configuration: ServiceConfiguration,
    logger: Logger,
    routes: RouteCollection<AuthenticatedRequestContext>,
    services: [any Service] = [],
    readinessChecks: [String: @Sendable () async -> Bool] = [:],
    advisoryChecks: [String: @Sendable () async -> Bool] = [:]
) throws -> ServiceApp {
    ServiceApp(
        configuration: configuration,
        logger: logger,
        routes: routes,
        services: services,
        readinessChecks: readinessChecks,
        advisoryChecks: advisoryChecks,
        openAPIDocument: try intakeResources.openAPIDocument(),
        publicDirectory: intakeResources.publicDirectory
    )
}

/// The evidence directory configured by `BLOB_DIRECTORY` (default `.run/blobs`, relative to the working directory).
package func evidenceDirectory(configuration: ServiceConfiguration) -> URL {
    let path = configuration.string("BLOB_DIRECTORY", default: ".run/blobs")
    return URL(fileURLWithPath: path, isDirectory: true)
}

/// Hands the ``ProgramBook`` (which needs the backbone's pool) to the inbox handler declared before the pool exists.
/// Set once during `IntakeService.init`, before any service runs.
private final class ProgramBookBox: Sendable {
    private let value = Mutex<ProgramBook?>(nil)
    var book: ProgramBook? {
        get { value.withLock { $0 } }
        set { value.withLock { $0 = newValue } }
    }
}
