import AMQP
import Foundation
import TestSupport
import Testing

/// A broker that stops answering (SIGSTOP) or restarts, on a throwaway RabbitMQ node of the test's own so the
/// shared dev broker keeps serving the other tests.
@Suite(.serialized) struct BrokerFreezeTests {
    @Test(.timeLimit(.minutes(5)))
    func frozenAndRestartedBrokerIsDetectedAndRecoveredWithoutLoss() async throws {
        let broker = try ThrowawayBroker()
        do {
            try await broker.start()
            try await freezeAndRestart(broker)
        } catch {
            await broker.destroy()
            throw error
        }
        await broker.destroy()
    }

    private func freezeAndRestart(_ broker: ThrowawayBroker) async throws {

        let heartbeat = Duration.seconds(2)
        var publisherConfiguration = try AMQPConfiguration(
            url: broker.url, connectionName: "freeze-pub", heartbeat: heartbeat)
        publisherConfiguration.connectTimeout = .seconds(3)
        var consumerConfiguration = publisherConfiguration
        consumerConfiguration.connectionName = "freeze-con"
        let topology = Topology(queues: [QueueSpec(name: "freeze.events", bindings: ["#"])])
        let publisher = Publisher(
            configuration: publisherConfiguration, topology: topology, logger: testLogger("publisher"))
        let received = ReceivedMessages()
        let consumer = Consumer(
            configuration: consumerConfiguration, queue: "freeze.events", topology: topology,
            logger: testLogger("consumer")
        ) { batch in
            await received.add(batch)
            return batch.map { _ in .ack }
        }

        try await withServices([publisher, consumer]) {
            var confirmed = Set<String>()
            func publishRound(_ prefix: String, _ count: Int) async throws -> [PublishOutcome] {
                let messages = makeMessages(count, exchange: topology.eventsExchange, routingKey: "e", prefix: prefix)
                let outcomes = try await publisher.publish(messages)
                for (message, outcome) in zip(messages, outcomes) where outcome == .confirmed {
                    confirmed.insert(message.properties.messageId!)
                }
                return outcomes
            }

            // Healthy: everything confirmed and delivered.
            let healthy = try await publishRound("healthy", 200)
            #expect(healthy.allSatisfy { $0 == .confirmed })
            #expect(await eventually { consumer.isConnected() })

            // Frozen: in-flight publishes fail and both sides notice within 2 × heartbeat; nothing hangs.
            try await broker.freeze()
            let frozenAt = ContinuousClock.now
            // Either one outcome per message, none confirmed, or a typed error saying the broker is unreachable.
            do {
                let duringFreeze = try await publishRound("frozen", 50)
                #expect(duringFreeze.count == 50)
                #expect(duringFreeze.allSatisfy { $0 != .confirmed })
            } catch {
                #expect(error is MessagingError, "publishing to a frozen broker failed with \(error)")
            }
            let publishReturnedAfter = ContinuousClock.now - frozenAt
            #expect(
                publishReturnedAfter < heartbeat * 2 + .seconds(3), "publish returned after \(publishReturnedAfter)")
            let consumerNoticed = await eventually(timeout: heartbeat * 2 + .seconds(3)) { !consumer.isConnected() }
            #expect(consumerNoticed, "consumer did not notice the frozen broker")
            #expect(!publisher.isConnected())
            // Still frozen: a publish gives up after the connect timeout instead of hanging.
            let started = ContinuousClock.now
            _ = try? await publishRound("still-frozen", 10)
            #expect(ContinuousClock.now - started < .seconds(10))

            // Thawed: both reconnect by themselves.
            try broker.thaw()
            #expect(await eventually(timeout: .seconds(60)) { publisher.isConnected() && consumer.isConnected() })
            #expect(
                try await publishUntilConfirmed(
                    publisher, makeMessages(100, exchange: topology.eventsExchange, routingKey: "e", prefix: "thawed")))
            for index in 0..<100 { confirmed.insert("thawed-\(index)") }

            // Restarted: the node stops and comes back on the same data; both reconnect again.
            await broker.stop()
            #expect(
                await eventually(timeout: heartbeat * 2 + .seconds(3)) {
                    !publisher.isConnected() && !consumer.isConnected()
                })
            try await broker.start()
            #expect(await eventually(timeout: .seconds(60)) { publisher.isConnected() && consumer.isConnected() })
            #expect(
                try await publishUntilConfirmed(
                    publisher,
                    makeMessages(100, exchange: topology.eventsExchange, routingKey: "e", prefix: "restarted")))
            for index in 0..<100 { confirmed.insert("restarted-\(index)") }

            // Lost = 0: every confirmed message reaches the consumer.
            let allDelivered = await eventually(timeout: .seconds(60)) {
                await received.messageIds.isSuperset(of: confirmed)
            }
            let missing = confirmed.subtracting(await received.messageIds)
            #expect(allDelivered, "lost \(missing.count) confirmed messages, e.g. \(missing.prefix(5))")
        }
    }
}
