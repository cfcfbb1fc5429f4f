import AMQP
import Foundation
import TestSupport
import Testing

/// Consumer behaviour against the dev broker (`deploy/dev up`), each test on its own exchanges and queues.
@Suite struct ConsumerTests {
    @Test func rejectedAndTooOftenRequeuedMessagesAreDeadLettered() async throws {
        let topology = TestBroker.topology(queues: [("work", ["work.*"])], deliveryLimit: 2)
        let queue = topology.queues[0]
        try await TestBroker.withTopology(topology) {
            let publisher = Publisher(
                configuration: try TestBroker.configuration(name: TestBroker.uniqueName("pub")),
                topology: topology, logger: testLogger("publisher")
            )
            let received = ReceivedMessages()
            let consumer = Consumer(
                configuration: try TestBroker.configuration(name: TestBroker.uniqueName("con")),
                queue: queue.name, topology: topology, logger: testLogger("consumer")
            ) { batch in
                await received.add(batch)
                return batch.map { $0.routingKey == "work.reject" ? .reject : .requeue }
            }
            try await withServices([publisher, consumer]) {
                var messages = makeMessages(2, exchange: topology.eventsExchange, routingKey: "work.reject")
                messages[1].routingKey = "work.retry"
                let outcomes = try await publisher.publish(messages)
                #expect(outcomes == [.confirmed, .confirmed])
                let admin = try TestBroker.admin()
                #expect(await eventually { (try? await admin.messageCount(queue: queue.deadLetterQueueName)) == 2 })
                let retries = await received.deliveries.filter { $0.routingKey == "work.retry" }
                #expect(retries.count == 3)  // first delivery + 2 redeliveries (x-delivery-limit 2)
                #expect(retries.map(\.deliveryCount) == [0, 1, 2])
                #expect(retries.dropFirst().allSatisfy { $0.redelivered })
            }
        }
    }

    @Test func resubscribesAfterQueueIsDeletedAndRecreated() async throws {
        let topology = TestBroker.topology(queues: [("events", ["#"])])
        let queue = topology.queues[0].name
        try await TestBroker.withTopology(topology) {
            let publisher = Publisher(
                configuration: try TestBroker.configuration(name: TestBroker.uniqueName("pub")),
                topology: topology, logger: testLogger("publisher")
            )
            let received = ReceivedMessages()
            let consumer = Consumer(
                configuration: try TestBroker.configuration(name: TestBroker.uniqueName("con")),
                queue: queue, topology: topology, logger: testLogger("consumer")
            ) { batch in
                await received.add(batch)
                return batch.map { _ in .ack }
            }
            try await withServices([publisher, consumer]) {
                let admin = try TestBroker.admin()
                #expect(await eventually { (try? await admin.consumerCount(queue: queue)) == 1 })
                try await admin.deleteQueues([queue])
                // The broker cancels the consumer; it re-declares its topology and subscribes again.
                #expect(await eventually { (try? await admin.consumerCount(queue: queue)) == 1 })
                let messages = makeMessages(5, exchange: topology.eventsExchange, routingKey: "x")
                let confirmed = try await publishUntilConfirmed(publisher, messages)
                #expect(confirmed)
                #expect(await eventually { await received.deliveries.count == 5 })
            }
        }
    }

    @Test func gracefulShutdownFinishesAndSettlesTheInFlightBatch() async throws {
        let topology = TestBroker.topology(queues: [("slow", ["#"])])
        let queue = topology.queues[0].name
        try await TestBroker.withTopology(topology) {
            let publisher = Publisher(
                configuration: try TestBroker.configuration(name: TestBroker.uniqueName("pub")),
                topology: topology, logger: testLogger("publisher")
            )
            try await withServices([publisher]) {
                let messages = makeMessages(20, exchange: topology.eventsExchange, routingKey: "x")
                let outcomes = try await publisher.publish(messages)
                #expect(outcomes.allSatisfy { $0 == .confirmed })
            }
            let started = ReceivedMessages()
            let finished = ReceivedMessages()
            let consumer = Consumer(
                configuration: try TestBroker.configuration(name: TestBroker.uniqueName("con")),
                queue: queue, topology: topology, prefetch: 20, maxBatch: 20, logger: testLogger("consumer")
            ) { batch in
                await started.add(batch)
                try? await Task.sleep(for: .seconds(1))
                await finished.add(batch)
                return batch.map { _ in .ack }
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await consumer.run() }
                #expect(await eventually { await started.deliveries.count > 0 })
                consumer.shutdown()
                try await group.waitForAll()
            }
            let handled = await finished.deliveries.count
            #expect(handled == (await started.deliveries.count))
            let admin = try TestBroker.admin()
            #expect(await eventually { (try? await admin.messageCount(queue: queue)) == 20 - handled })
        }
    }

    @Test func settlementsFromALostConnectionAreDroppedAndMessagesRedelivered() async throws {
        let topology = TestBroker.topology(queues: [("events", ["#"])])
        let queue = topology.queues[0].name
        let consumerName = TestBroker.uniqueName("con")
        try await TestBroker.withTopology(topology) {
            let publisher = Publisher(
                configuration: try TestBroker.configuration(name: TestBroker.uniqueName("pub")),
                topology: topology, logger: testLogger("publisher")
            )
            let received = ReceivedMessages()
            let consumer = Consumer(
                configuration: try TestBroker.configuration(name: consumerName),
                queue: queue, topology: topology, logger: testLogger("consumer")
            ) { batch in
                await received.add(batch)
                if batch.contains(where: { !$0.redelivered }) {
                    // Lose the connection while this batch is being handled: its acks must not reach the new one.
                    // (rabbitmqctl may not list a brand-new connection yet on a loaded machine: try again.)
                    for _ in 0..<10 {
                        if (try? await TestBroker.closeConnections(named: consumerName)) ?? 0 > 0 { break }
                        try? await Task.sleep(for: .milliseconds(300))
                    }
                    try? await Task.sleep(for: .seconds(2))
                }
                return batch.map { _ in .ack }
            }
            try await withServices([publisher, consumer]) {
                let messages = makeMessages(3, exchange: topology.eventsExchange, routingKey: "x")
                let outcomes = try await publisher.publish(messages)
                #expect(outcomes.allSatisfy { $0 == .confirmed })
                #expect(
                    await eventually(timeout: .seconds(90)) {
                        await received.deliveries.filter(\.redelivered).count >= 3
                    })
                let admin = try TestBroker.admin()
                #expect(await eventually { (try? await admin.messageCount(queue: queue)) == 0 })
                #expect(consumer.isConnected())
            }
        }
    }
}
