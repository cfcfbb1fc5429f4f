import AMQP
import Contracts
import Database
import Eventing
import Foundation
import Hummingbird
import HummingbirdTesting
import ServiceLifecycle
import ServiceSupport
import TestSupport
import Testing

@testable import Intake

/// The whole service as `main` builds it: real PostgreSQL, the shared RabbitMQ (test virtual host, unique names).
@Suite("Intake wiring")
struct IntakeWiringTests {
    typealias F = IntakeFixture

    @Test("a submission's event leaves through the outbox relay, and a verification event comes back as a status")
    func endToEnd() async throws {
        let prefix = TestBroker.uniqueName("intake")
        let statusQueue = "\(prefix).status"
        let probe = QueueSpec(name: "\(prefix).probe", bindings: [SubmissionReceived.eventName])
        let admin = try TestBroker.admin()
        // The service's own queues too, so nothing published before its consumers start is unroutable.
        try await admin.declare(
            Topology(
                eventsExchange: "\(prefix).events",
                queues: [
                    probe, StatusProjection.queueSpec(name: statusQueue),
                    ProgramBook.queueSpec(name: "\(prefix).programs"),
                ]))
        do {
            try await run(prefix: prefix, statusQueue: statusQueue, probe: probe, admin: admin)
        } catch {
            await cleanUp()
            throw error
        }
        await cleanUp()

        func cleanUp() async {
            try? await admin.deleteQueues([
                probe.name, probe.deadLetterQueueName, statusQueue, statusQueue + ".dead", "\(prefix).programs",
                "\(prefix).programs.dead",
            ])
            try? await admin.deleteExchanges(["\(prefix).events"])
        }
    }

    private func run(prefix: String, statusQueue: String, probe: QueueSpec, admin: AMQPAdmin) async throws {
        try await withTestDatabaseURL(service: "intake", migrations: try intakeResources.allMigrations()) { url in
            var configuration = F.configuration
            configuration.databaseURL = url
            configuration.amqpURL = try TestBroker.url()
            configuration.eventsExchange = "\(prefix).events"
            let intake = try IntakeService(
                configuration: configuration, logger: F.logger, evidenceStore: InMemoryEvidenceStore(),
                statusQueueName: statusQueue, programsQueueName: "\(prefix).programs")
            let services = intake.backbone.services
            let pool = intake.backbone.pool
            try await withThrowingTaskGroup(of: Void.self) { group in
                for service in services { group.addTask { try await service.run() } }
                defer { group.cancelAll() }

                try await intake.backbone.migrate()
                let app = try await intake.app.buildApplication()
                try await app.test(.router) { client in
                    let token = try await F.token()
                    let created = try await client.execute(
                        uri: "/v1/submissions", method: .post, headers: F.headers(token: token), body: F.body())
                    #expect(created.status == .accepted)
                    let id = try #require(try JSONBody(created).string("id"))

                    #expect(await eventually { (try? await admin.messageCount(queue: probe.name)) == 1 })
                    #expect(await eventually { (try? await published(pool)) == 1 })

                    // Verification's decision, routed through the broker into intake.status (sent here through
                    // intake's own outbox, which publishes any event to the same exchange).
                    let verified = SubmissionVerified(
                        submissionId: UUID(uuidString: id)!, nip: F.nip, opd: "DLH", program: "peduli-sampah",
                        activity: "pilah_sampah", place: "office", activityAt: Date(), quantity: 2,
                        decidedAt: Date(), decidedBy: SubmissionVerified.automatic)
                    _ = try await pool.withTransaction { connection in
                        try await Outbox.enqueue(verified, source: ServiceName.verification.eventSource, in: connection)
                    }
                    let approved = await eventually {
                        let response = try? await client.execute(
                            uri: "/v1/submissions/\(id)", method: .get, headers: [.authorization: "Bearer \(token)"])
                        return response.flatMap { try? JSONBody($0).string("status") } == "approved"
                    }
                    #expect(approved)
                }
            }
        }
    }

    /// Outbox rows the relay marked published.
    private func published(_ pool: DatabasePool) async throws -> Int {
        try await pool.withConnection { connection in
            try await connection.query("SELECT count(*) AS n FROM outbox WHERE published_at IS NOT NULL")
                .first?.decode("n", as: Int.self) ?? 0
        }
    }
}

/// Polls `condition` every 100 ms until it holds or `timeout` passes.
func eventually(timeout: Duration = .seconds(20), _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(100))
    }
    return await condition()
}
