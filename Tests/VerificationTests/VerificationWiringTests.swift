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

@testable import Verification

/// The whole service as `main` builds it, on the real PostgreSQL and the shared RabbitMQ (unique names): scoring's
/// reference events and intake's submissions arrive through the broker and the inbox.
@Suite("Verification wiring")
struct VerificationWiringTests {
    @Test("reference data and a submission delivered twice through the broker give one decision, published once")
    func duplicateDelivery() async throws {
        let prefix = TestBroker.uniqueName("verification")
        let queues = (submissions: "\(prefix).submissions", reference: "\(prefix).reference")
        let probe = QueueSpec(name: "\(prefix).probe", bindings: [SubmissionVerified.eventName])
        let admin = try TestBroker.admin()
        // The service's own queues too, so nothing published before its consumers start is unroutable.
        try await admin.declare(
            Topology(
                eventsExchange: "\(prefix).events",
                queues: [
                    probe, QueueSpecs.submissions(name: queues.submissions),
                    QueueSpecs.reference(name: queues.reference),
                ]))
        func cleanUp() async {
            try? await admin.deleteQueues(
                [
                    probe.name, probe.deadLetterQueueName, queues.submissions, queues.submissions + ".dead",
                    queues.reference, queues.reference + ".dead",
                ])
            try? await admin.deleteExchanges(["\(prefix).events"])
        }
        do {
            try await withTestDatabaseURL(
                service: "verification", migrations: try verificationResources.allMigrations()
            ) {
                url in
                var configuration = VF.configuration
                configuration.databaseURL = url
                configuration.amqpURL = try TestBroker.url()
                configuration.eventsExchange = "\(prefix).events"
                let service = try VerificationService(
                    configuration: configuration, logger: VF.logger,
                    settings: VerificationSettings(lease: .seconds(60), intakeURL: nil), queueNames: queues)
                try await service.backbone.migrate()
                let pool = service.backbone.pool
                let publisher = service.backbone.publisher
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for part in service.backbone.services { group.addTask { try await part.run() } }
                    defer { group.cancelAll() }
                    let exchange = "\(prefix).events"
                    func publish(_ events: [CloudEvent]) async throws {
                        // The publisher connects in the background: retry until the broker confirms.
                        let sent = await eventually {
                            guard
                                let outcomes = try? await publisher.publish(
                                    events.map { OutgoingMessage(event: $0, exchange: exchange) })
                            else { return false }
                            return outcomes.count == events.count && outcomes.allSatisfy { $0 == .confirmed }
                        }
                        #expect(sent)
                    }
                    try await publish([
                        try CloudEvent(VF.program(), from: .scoring),
                        try CloudEvent(VF.enrolled(VF.siti, opd: "DINKES"), from: .scoring),
                    ])
                    let rosterArrived = await eventually {
                        (try? await pool.withConnection { try await $0.query("SELECT 1 FROM roster") })?.count == 1
                    }
                    #expect(rosterArrived)

                    let submission = VF.received()
                    let event = try CloudEvent(submission, from: .intake)
                    let republished = try CloudEvent(submission, from: .intake)  // same submission, new event id
                    try await publish([event, event])
                    try await publish([republished])

                    let published = await eventually {
                        (try? await admin.messageCount(queue: probe.name)) == 1
                    }
                    #expect(published)
                    let inbox = await eventually {
                        let rows = try? await pool.withConnection {
                            try await $0.query("SELECT count(*) AS n FROM inbox").first?.decode("n", as: Int.self)
                        }
                        return rows == 4  // program, roster, the submission's two event ids
                    }
                    #expect(inbox)
                    try await Task.sleep(for: .milliseconds(500))
                    #expect(try await VF.events(SubmissionVerified.self, pool: pool).count == 1)
                    #expect(try await admin.messageCount(queue: probe.name) == 1)
                    #expect(try await VF.decision(submission.submissionId, pool: pool)?.outcome == "approved")
                }
            }
        } catch {
            await cleanUp()
            throw error
        }
        await cleanUp()
    }
}
