import AMQP
import Foundation
import TestSupport
import Testing

/// Publisher behaviour against the dev broker (`deploy/dev up`), each test on its own exchanges and queues.
@Suite struct PublisherTests {
    @Test func confirmsAndDeliversWithProperties() async throws {
        let topology = TestBroker.topology(queues: [("orders", ["order.*"])])
        let queue = topology.queues[0].name
        try await TestBroker.withTopology(topology) {
            let publisher = Publisher(
                configuration: try TestBroker.configuration(name: TestBroker.uniqueName("pub")),
                topology: topology, logger: testLogger("publisher")
            )
            let received = ReceivedMessages()
            let consumer = Consumer(
                configuration: try TestBroker.configuration(name: TestBroker.uniqueName("con")),
                queue: queue, topology: topology, prefetch: 100, maxBatch: 50, logger: testLogger("consumer")
            ) { batch in
                await received.add(batch)
                return batch.map { _ in .ack }
            }
            try await withServices([publisher, consumer]) {
                let properties = MessageProperties(
                    contentType: "application/json", messageId: "first", type: "id.asnreward.order.placed.v1",
                    timestamp: Date(timeIntervalSince1970: 1_700_000_000), appId: "intake", persistent: true,
                    correlationId: "corr-1", headers: ["ce-specversion": "1.0", "ce-subject": "123"]
                )
                let first = OutgoingMessage(
                    exchange: topology.eventsExchange, routingKey: "order.placed", body: Array("{}".utf8),
                    properties: properties
                )
                let many = makeMessages(600, exchange: topology.eventsExchange, routingKey: "order.paid")
                let outcomes = try await publisher.publish([first] + many)
                #expect(outcomes.count == 601)
                #expect(outcomes.allSatisfy { $0 == .confirmed })
                #expect(await eventually { await received.deliveries.count == 601 })
                let delivered = try #require(await received.deliveries.first { $0.properties.messageId == "first" })
                #expect(delivered.properties == properties)
                #expect(delivered.routingKey == "order.placed")
                #expect(delivered.exchange == topology.eventsExchange)
                #expect(delivered.body == Array("{}".utf8))
                #expect(delivered.deliveryCount == 0)
                #expect(await received.batchSizes.allSatisfy { $0 <= 50 })
            }
        }
    }

    @Test func mandatoryUnroutableMessageIsReturnedNotConfirmed() async throws {
        let topology = TestBroker.topology(queues: [("bound", ["bound.key"])])
        try await TestBroker.withTopology(topology) {
            let publisher = Publisher(
                configuration: try TestBroker.configuration(name: TestBroker.uniqueName("pub")),
                topology: topology, logger: testLogger("publisher")
            )
            try await withServices([publisher]) {
                var messages = makeMessages(3, exchange: topology.eventsExchange, routingKey: "bound.key")
                messages[1].routingKey = "nobody.listens"
                let outcomes = try await publisher.publish(messages)
                #expect(outcomes[0] == .confirmed)
                #expect(outcomes[1] == .returned(code: 312, text: "NO_ROUTE"))
                #expect(outcomes[2] == .confirmed)
            }
        }
    }

    @Test func channelErrorFailsThatMessageAndConnectionStaysUsable() async throws {
        let topology = TestBroker.topology(queues: [("bound", ["bound.key"])])
        try await TestBroker.withTopology(topology) {
            let publisher = Publisher(
                configuration: try TestBroker.configuration(name: TestBroker.uniqueName("pub")),
                topology: topology, logger: testLogger("publisher")
            )
            try await withServices([publisher]) {
                let missing = makeMessages(1, exchange: TestBroker.uniqueName("no-such-exchange"), routingKey: "k")
                let outcomes = try await publisher.publish(missing)
                guard case .failed(let reason) = outcomes[0] else {
                    Issue.record("expected .failed, got \(outcomes[0])")
                    return
                }
                #expect(reason.contains("404"))
                #expect(publisher.isConnected())
                let next = try await publisher.publish(
                    makeMessages(5, exchange: topology.eventsExchange, routingKey: "bound.key")
                )
                #expect(next == Array(repeating: .confirmed, count: 5))
            }
        }
    }

    @Test func reconnectsAfterBrokerClosesTheConnection() async throws {
        let topology = TestBroker.topology(queues: [("events", ["#"])])
        let queue = topology.queues[0].name
        let publisherName = TestBroker.uniqueName("pub")
        let consumerName = TestBroker.uniqueName("con")
        try await TestBroker.withTopology(topology) {
            let publisher = Publisher(
                configuration: try TestBroker.configuration(name: publisherName),
                topology: topology, logger: testLogger("publisher")
            )
            let received = ReceivedMessages()
            let consumer = Consumer(
                configuration: try TestBroker.configuration(name: consumerName),
                queue: queue, topology: topology, logger: testLogger("consumer")
            ) { batch in
                await received.add(batch)
                return batch.map { _ in .ack }
            }
            try await withServices([publisher, consumer]) {
                let before = makeMessages(10, exchange: topology.eventsExchange, routingKey: "a", prefix: "before")
                let beforeOutcomes = try await publisher.publish(before)
                #expect(beforeOutcomes.allSatisfy { $0 == .confirmed })
                #expect(await eventually { await received.deliveries.count == 10 })
                #expect(await eventually { consumer.isConnected() })

                let closedPublishers = try await TestBroker.closeConnections(named: publisherName)
                #expect(closedPublishers == 1)
                let closedConsumers = try await TestBroker.closeConnections(named: consumerName)
                #expect(closedConsumers == 1)

                let after = makeMessages(10, exchange: topology.eventsExchange, routingKey: "a", prefix: "after")
                let afterConfirmed = try await publishUntilConfirmed(publisher, after)
                #expect(afterConfirmed)
                #expect(
                    await eventually {
                        await received.messageIds.isSuperset(of: after.compactMap(\.properties.messageId))
                    })
                #expect(publisher.isConnected())
                #expect(consumer.isConnected())
            }
        }
    }

    @Test func publishAfterShutdownThrows() async throws {
        let publisher = Publisher(
            configuration: try TestBroker.configuration(name: TestBroker.uniqueName("pub")),
            topology: nil, logger: testLogger("publisher")
        )
        try await withServices([publisher]) {
            #expect(await eventually { publisher.isConnected() })
        }
        await #expect(throws: MessagingError.self) {
            try await publisher.publish(makeMessages(1, exchange: "", routingKey: "x"))
        }
    }
}
