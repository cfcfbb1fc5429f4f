import AMQP
import Contracts
import Database
import Eventing
import Foundation
import Logging
import ServiceLifecycle
import ServiceSupport

/// The queues verification consumes.
enum QueueSpecs {
    /// Submissions to check and appeals to queue for review.
    static func submissions(name: String = "verification.submissions") -> QueueSpec {
        QueueSpec(name: name, bindings: [SubmissionReceived.eventName, AppealFiled.eventName])
    }
    /// Scoring's roster, programs and bans (local copies).
    static func reference(name: String = "verification.reference") -> QueueSpec {
        QueueSpec(
            name: name,
            bindings: [
                ProgramPublished.eventName, ASNEnrolled.eventName, ASNUpdated.eventName, PenaltyApplied.eventName,
            ])
    }
}

/// Verification's own settings (each also read with the `VERIFICATION_` prefix first).
struct VerificationSettings: Sendable {
    /// `REVIEW_LEASE_SECONDS`: how long a claim holds a review item (default 900).
    var lease: Duration
    /// `INTAKE_URL`: intake's base URL, for evidence photos in the console.
    var intakeURL: URL?

    init(configuration: ServiceConfiguration) throws {
        let seconds = try configuration.int("REVIEW_LEASE_SECONDS", default: 900)
        guard seconds >= 1 else {
            throw ConfigurationError.invalid(key: "REVIEW_LEASE_SECONDS", reason: "minimal 1 detik (at least 1 second)")
        }
        lease = .seconds(seconds)
        intakeURL = configuration.optionalString("INTAKE_URL").flatMap(URL.init(string:))
    }

    init(lease: Duration, intakeURL: URL?) {
        self.lease = lease
        self.intakeURL = intakeURL
    }
}

/// The verification service assembled from its parts; `main` and the tests build it the same way.
struct VerificationService {
    /// Pool, outbox relay and the inbox consumers.
    let backbone: EventBackbone
    /// HTTP routes, console, health, metrics and the service group.
    let app: ServiceApp
    /// The review queue (tests drive it directly too).
    let queue: ReviewQueue
    /// Most submissions checked per batch. What a batch costs besides its checks (lock, round trips, commit,
    /// acknowledgement, index catch-up) was ≈29 of ≈100 ms at 200; in four paired runs of the benchmark, 400 checked
    /// 5–11 % more per second than 200 (2,163 vs 2,053, 1,645 vs 1,482, 1,601 vs 1,512, 1,737 vs 1,620).
    static let submissionBatch = 400
    /// Batches of submissions in flight at once. The advisory lock lets one batch check at a time; a second one
    /// meanwhile takes its deliveries, records them in the inbox and waits, and the first one's commit and
    /// acknowledgement no longer leave the checks idle.
    static let submissionConsumers = 2

    init(
        configuration: ServiceConfiguration, logger: Logger, settings: VerificationSettings? = nil,
        queueNames: (submissions: String, reference: String) = ("verification.submissions", "verification.reference"),
        submissionBatch: Int = VerificationService.submissionBatch,
        submissionConsumers: Int = VerificationService.submissionConsumers
    ) throws {
        let settings = try settings ?? VerificationSettings(configuration: configuration)
        let source = ServiceName.verification.eventSource
        let checker = EvidenceChecker(source: source, logger: logger)
        let reference = ReferenceData(logger: logger)
        // The queue needs the pool, which the backbone creates: the appeal handler gets it from the backbone below.
        let appeals = AppealHandler(source: source, logger: logger)
        backbone = try EventBackbone(
            configuration: configuration,
            service: .verification,
            migrations: try verificationResources.migrations(),
            queues: [
                InboxQueue(
                    spec: QueueSpecs.submissions(name: queueNames.submissions), maxBatch: submissionBatch,
                    consumers: submissionConsumers
                ) {
                    events, connection in
                    try await checker.handle(events, in: connection)
                    try await appeals.handle(events, in: connection)
                },
                InboxQueue(spec: QueueSpecs.reference(name: queueNames.reference)) { events, connection in
                    try await reference.handle(events, in: connection)
                },
            ],
            logger: logger
        )
        queue = ReviewQueue(pool: backbone.pool, lease: settings.lease, source: source, logger: logger)
        app = try verificationApp(
            configuration: configuration, logger: logger, pool: backbone.pool, queue: queue,
            intakeURL: settings.intakeURL, services: backbone.services, readinessChecks: backbone.readinessChecks)
    }

    /// Migrates the database, then runs until SIGTERM/SIGINT.
    func run() async throws {
        try await backbone.migrate()
        try await app.run()
    }
}

/// Queues `appeal.filed` events for review (the review queue's logic without its pool).
struct AppealHandler: Sendable {
    let source: String
    let logger: Logger

    func handle(_ events: [InboundEvent], in connection: DatabaseConnection) async throws {
        let appeals = events.filter { $0.event.type == AppealFiled.eventType }
        guard !appeals.isEmpty else { return }
        try await ReviewQueue.enqueueAppeals(appeals, source: source, logger: logger, in: connection)
    }
}

/// The verification `ServiceApp`: its routes, OpenAPI document and console. Tests build it on a test database.
func verificationApp(
    configuration: ServiceConfiguration, logger: Logger, pool: DatabasePool, queue: ReviewQueue, intakeURL: URL?,
    services: [any Service] = [], readinessChecks: [String: @Sendable () async -> Bool] = [:]
) throws -> ServiceApp {
    let routes = DecisionRoutes(pool: pool).collection()
    ReviewRoutes(queue: queue, evidence: EvidenceProxy(pool: pool, intakeURL: intakeURL)).add(to: routes)
    return ServiceApp(
        configuration: configuration,
        logger: logger,
        routes: routes,
        services: services,
        readinessChecks: readinessChecks,
        openAPIDocument: try verificationResources.openAPIDocument(),
        publicDirectory: verificationResources.publicDirectory
    )
}

/// Migrations, the OpenAPI document and the console bundled with the executable.
let verificationResources = ServiceResources(bundle: .module)
