import AMQP
import Contracts
import Eventing
import Foundation
import Logging
import TestSupport
import Testing

/// A dashboard, with the broker user `deploy/dev` creates for it (`AMQP_URL_DASHBOARD`), can bind a queue of its own
/// to `asnreward.events` and read the CloudEvents — and can touch nothing else.
@Suite("Dashboards on the broker")
struct DashboardAccessTests {
    @Test("The dashboard user binds its own queue and reads CloudEvents from asnreward.events")
    func dashboardReadsEvents() async throws {
        let admin = try AMQPConfiguration(url: try DevEnvironment.value("AMQP_URL_ADMIN"), connectionName: "test-admin")
        let dashboard = try AMQPConfiguration(
            url: try DevEnvironment.value("AMQP_URL_DASHBOARD"), connectionName: "test-dashboard")
        // The exchanges belong to the services; declare them here as a service would at start.
        try await AMQPAdmin(configuration: admin).declare(Topology(queues: []))

        let queue = "dashboard.test-\(UUID().uuidString.prefix(8).lowercased())"
        let received = Received()
        let consumer = Consumer(
            configuration: dashboard,
            queue: queue,
            topology: Topology(
                queues: [QueueSpec(name: queue, bindings: [RankingPublished.eventName], kind: .transient)],
                ownsExchanges: false),
            logger: Logger(label: "test-dashboard"),
            handler: { batch in
                await received.add(batch)
                return batch.map { _ in .ack }
            }
        )
        let publisher = Publisher(configuration: admin, topology: nil, logger: Logger(label: "test-admin"))
        let services = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await consumer.run() }
                group.addTask { try await publisher.run() }
                try await group.waitForAll()
            }
        }
        defer { services.cancel() }
        let adminClient = AMQPAdmin(configuration: admin)
        let subscribed = try await poll { (try? await adminClient.consumerCount(queue: queue)) == 1 }
        try #require(subscribed, "the dashboard's queue has its consumer")

        let ranking = RankingPublished(
            period: "2026-Q4", scope: "city", program: "peduli-sampah", publishedAt: RFC3339.normalized(Date()),
            entries: [RankingEntry(rank: 1, nip: "198503152010012001", name: "Siti Rahma", opd: "DLH", points: 25)])
        let event = try CloudEvent(ranking, source: ServiceName.scoring.eventSource)
        let outcomes = try await publisher.publish([OutgoingMessage(event: event, exchange: "asnreward.events")])
        #expect(outcomes == [.confirmed])

        let arrived = try await poll { await received.deliveries.contains { $0.properties.messageId == event.id } }
        #expect(arrived)
        let delivery = try #require(await received.deliveries.first { $0.properties.messageId == event.id })
        let decoded = try CloudEventAMQPBinding.decode(
            headers: delivery.properties.headers, contentType: delivery.properties.contentType,
            messageId: delivery.properties.messageId, type: delivery.properties.type,
            timestamp: delivery.properties.timestamp, body: Data(delivery.body))
        #expect(try decoded.decode(RankingPublished.self) == ranking)
        #expect(delivery.properties.headers["ce-type"] == RankingPublished.eventType)
        #expect(delivery.properties.headers["ce-specversion"] == "1.0")
        consumer.shutdown()
        publisher.shutdown()
        _ = await services.result
    }

    @Test("The dashboard user may not declare service queues or configure the exchanges")
    func dashboardIsLeastPrivilege() async throws {
        let dashboard = AMQPAdmin(
            configuration: try AMQPConfiguration(
                url: try DevEnvironment.value("AMQP_URL_DASHBOARD"), connectionName: "test-dashboard-denied"))
        await #expect(throws: MessagingError.self) {
            try await dashboard.declare(
                Topology(
                    queues: [QueueSpec(name: "intake.intruder", bindings: ["#"], kind: .transient)],
                    ownsExchanges: false))
        }
        await #expect(throws: MessagingError.self) {
            try await dashboard.declare(Topology(queues: []))
        }
    }

    @Test(
        "The dashboard user binds only the public score events: no sanctions, penalties, submissions, roster or wildcard"
    )
    func dashboardBindsOnlyPublicEvents() async throws {
        let admin = AMQPAdmin(
            configuration: try AMQPConfiguration(
                url: try DevEnvironment.value("AMQP_URL_ADMIN"), connectionName: "test-admin"))
        try await admin.declare(Topology(queues: []))
        let dashboard = AMQPAdmin(
            configuration: try AMQPConfiguration(
                url: try DevEnvironment.value("AMQP_URL_DASHBOARD"), connectionName: "test-dashboard-topics"))
        let suffix = UUID().uuidString.prefix(8).lowercased()
        var declared: [String] = []
        defer {
            let names = declared
            Task { try? await admin.deleteQueues(names) }
        }
        let refused = [
            SanctionImposed.eventName, PenaltyApplied.eventName, SubmissionReceived.eventName, ASNEnrolled.eventName,
            ASNUpdated.eventName, "#", "*.imposed", "points.#",
        ]
        for (index, key) in refused.enumerated() {
            let queue = "dashboard.probe-\(suffix)-\(index)"
            declared.append(queue)
            await #expect(throws: MessagingError.self, "binding \(key) must be refused") {
                try await dashboard.declare(
                    Topology(queues: [QueueSpec(name: queue, bindings: [key], kind: .transient)], ownsExchanges: false))
            }
        }
        let allowed = "dashboard.probe-\(suffix)-public"
        declared.append(allowed)
        try await dashboard.declare(
            Topology(
                queues: [
                    QueueSpec(
                        name: allowed,
                        bindings: [
                            PointsAwarded.eventName, PointsReversed.eventName, RankingPublished.eventName,
                            AwardGranted.eventName, CommitmentEvaluated.eventName,
                        ], kind: .transient)
                ], ownsExchanges: false))
        try await admin.deleteQueues(declared)
    }

    actor Received {
        var deliveries: [Delivery] = []
        func add(_ batch: [Delivery]) { deliveries += batch }
    }

    func poll(timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }
}
