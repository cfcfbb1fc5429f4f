import AMQP
import Contracts
import Database
import Foundation
import Logging
import ServiceSupport

/// The scoring service assembled from its parts; `main` and the tests build it the same way.
struct ScoringService {
    /// Database pool, outbox relay and the `scoring.decisions` inbox consumer.
    let backbone: EventBackbone
    /// The HTTP application description (routes, health, metrics, OpenAPI document).
    let app: ServiceApp
    /// The validated program files to apply at start.
    let programs: [ProgramDocument]
    let logger: Logger

    /// Batches of decisions in flight at once (competing consumers, as replicas would be): one batch's commit and
    /// acknowledgement overlap the other's statements.
    static let decisionConsumers = 2
    /// Most decisions applied per batch (one transaction).
    static let decisionBatch = 200

    /// Builds the scoring service from its dependencies; nothing connects until it runs.
    ///
    /// - Parameters:
    ///   - configuration: The service configuration (`ServiceConfiguration.fromEnvironment(serviceName: "scoring")`).
    ///   - logger: The application logger.
    ///   - programsDirectory: Directory of program files (`PROGRAMS_DIRECTORY`, default `deploy/programs`), loaded
    ///     and validated now so that an invalid file stops the start with a clear message.
    ///   - now: The clock deciding the default period of `GET /v1/asn/{nip}/points`.
    ///   - decisionsQueue: The name of the decisions queue (tests use unique names on the shared broker).
    ///   - decisionConsumers: Batches of decisions in flight at once (``decisionConsumers``).
    ///   - decisionBatch: Most decisions per batch (``decisionBatch``).
    /// - Throws: ``ProgramFileError``/``ProgramCatalogError`` for invalid program files; configuration errors.
    init(
        configuration: ServiceConfiguration,
        logger: Logger,
        programsDirectory: URL,
        now: @escaping @Sendable () -> Date = { Date() },
        decisionsQueue: String = DecisionHandler.queue.name,
        decisionConsumers: Int = ScoringService.decisionConsumers,
        decisionBatch: Int = ScoringService.decisionBatch
    ) throws {
        let programs = try ProgramCatalog.load(directory: programsDirectory)
        if programs.isEmpty {
            logger.warning("no program files found", metadata: ["directory": "\(programsDirectory.path)"])
        }
        let decisions = DecisionHandler(logger: logger)
        let backbone = try EventBackbone(
            configuration: configuration,
            service: .scoring,
            migrations: try scoringResources.migrations(),
            queues: [
                InboxQueue(
                    spec: QueueSpec(
                        name: decisionsQueue, bindings: DecisionHandler.queue.bindings,
                        deliveryLimit: DecisionHandler.queue.deliveryLimit),
                    maxBatch: decisionBatch, consumers: decisionConsumers
                ) { events, connection in
                    try await decisions.handle(events, in: connection)
                }
            ],
            logger: logger
        )
        self.backbone = backbone
        self.programs = programs
        self.logger = logger
        app = ServiceApp(
            configuration: configuration,
            logger: logger,
            routes: ScoringRoutes(pool: backbone.pool, now: now).collection(),
            services: backbone.services,
            readinessChecks: backbone.readinessChecks,
            openAPIDocument: try scoringResources.openAPIDocument(),
            publicDirectory: scoringResources.publicDirectory
        )
    }

    /// Migrates the database and stores the program files' versions (publishing each new version once).
    func prepare() async throws {
        try await backbone.migrate()
        for program in programs {
            try await ProgramCatalog.apply(program, pool: backbone.pool, logger: logger)
        }
    }

    /// ``prepare()``, then runs until SIGTERM/SIGINT.
    func run() async throws {
        try await prepare()
        try await app.run()
    }
}

/// Migrations and the OpenAPI document bundled with the executable.
let scoringResources = ServiceResources(bundle: .module)
