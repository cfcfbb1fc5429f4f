import AMQP
import Contracts
import Database
import Eventing
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import ServiceLifecycle
import ServiceSupport
import TestSupport
import Testing

@testable import Notification

/// The whole service as `main` builds it, on the real PostgreSQL and RabbitMQ (test virtual host, unique names).
@Suite("Notification wiring")
struct NotificationWiringTests {
    typealias F = NotificationFixture

    @Test("events published twice on the broker give one inbox entry, one webhook delivery and one stream event")
    func duplicateDeliveryThroughTheBroker() async throws {
        let prefix = TestBroker.uniqueName("notif")
        let queue = "\(prefix).notification"
        let admin = try TestBroker.admin()
        let receiver = TestReceiver { _, _ in .ok }
        do {
            try await receiver.run { base in
                try await run(prefix: prefix, queue: queue, admin: admin, hook: base + "/hook", receiver: receiver)
            }
        } catch {
            try? await admin.deleteQueues([queue, queue + ".dead"])
            try? await admin.deleteExchanges(["\(prefix).events", "\(prefix).dead"])
            throw error
        }
        try? await admin.deleteQueues([queue, queue + ".dead"])
        try? await admin.deleteExchanges(["\(prefix).events", "\(prefix).dead"])
    }

    private func run(prefix: String, queue: String, admin: AMQPAdmin, hook: String, receiver: TestReceiver) async throws
    {
        try await withTestDatabaseURL(service: "notification", migrations: try notificationResources.allMigrations()) {
            url in
            var configuration = F.configuration
            configuration.databaseURL = url
            configuration.amqpURL = try TestBroker.url()
            configuration.eventsExchange = "\(prefix).events"
            let service = try await NotificationService(
                configuration: configuration, logger: F.logger, settings: F.settings(), queueName: queue)
            let services = service.app.services
            let pool = service.backbone.pool
            try await withThrowingTaskGroup(of: Void.self) { group in
                for part in services { group.addTask { try await part.run() } }
                defer { group.cancelAll() }
                try await service.backbone.migrate()
                #expect(
                    await eventually {
                        (try? await admin.consumerCount(queue: queue)) == NotificationService.eventConsumers
                    })
                let app = try await service.app.buildApplication()
                try await app.test(.router) { client in
                    let dashboard = try await F.token(nip: F.head, roles: ["dashboard"])
                    let body = try JSONSerialization.data(withJSONObject: [
                        "url": hook, "eventTypes": ["points.awarded"],
                    ])
                    let created = try await client.execute(
                        uri: "/v1/webhooks", method: .post, headers: F.auth(dashboard), body: ByteBuffer(bytes: body))
                    #expect(created.status == .created)

                    let publisher = Publisher(
                        configuration: try TestBroker.configuration(name: TestBroker.uniqueName("pub")), topology: nil,
                        logger: F.logger)
                    let publishing = Task { try await publisher.run() }
                    defer {
                        publisher.shutdown()
                        publishing.cancel()
                    }
                    let enrolled = try F.enrolled(F.siti)
                    let awarded = try F.awarded()
                    let exchange = "\(prefix).events"
                    let enrolling = try await publisher.publish([OutgoingMessage(event: enrolled, exchange: exchange)])
                    #expect(enrolling == [.confirmed])
                    // Two consumers compete for the queue: the enrolment must be committed before the points arrive,
                    // or the points may be handled first, without the WhatsApp contact.
                    #expect(await eventually { (try? await F.count(pool, "SELECT count(*) FROM inbox")) == 1 })
                    let outcomes = try await publisher.publish(
                        [
                            OutgoingMessage(event: awarded, exchange: exchange),
                            OutgoingMessage(event: awarded, exchange: exchange),
                        ])
                    #expect(outcomes == [.confirmed, .confirmed])

                    let token = try await F.token()
                    #expect(
                        await eventually {
                            let inbox = try await client.execute(
                                uri: "/v1/me/notifications", method: .get, headers: F.auth(token))
                            return (try JSONBody(inbox)["items"] as? [Any])?.count == 1
                        })
                    #expect(await eventually { receiver.requests(path: "/hook").count == 1 })
                    try await Task.sleep(for: .seconds(1))
                    #expect(receiver.requests(path: "/hook").count == 1)
                    #expect(try await F.count(pool, "SELECT count(*) FROM notifications") == 1)
                    #expect(try await F.count(pool, "SELECT count(*) FROM gateway_messages") == 1)
                    #expect(try await F.count(pool, "SELECT count(*) FROM stream_events") == 1)
                    #expect(try await F.count(pool, "SELECT count(*) FROM inbox") == 2)
                }
            }
        }
    }
}
