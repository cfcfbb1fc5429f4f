import AMQP
import Contracts
import Foundation
import TestSupport
import Testing

/// `asnreward dead-letters show|replay` stand on `AMQPAdmin.peek` and `move`: the real broker, its own vhost.
@Suite("Dead-letter show and replay", .timeLimit(.minutes(2)))
struct DeadLetterReplayTests {
    @Test("peek leaves dead letters in place; move puts them back on their queue with their CloudEvents identity")
    func peekAndMove() async throws {
        let topology = TestBroker.topology(queues: [("replay", ["nothing.binds.here"])])
        let queue = topology.queues[0]
        try await TestBroker.withTopology(topology) {
            let events = try (0..<3).map { try OutboxInbox.event("199001012020011001", position: $0) }
            let dead = events.map { event in
                var message = OutboxInbox.message(event, exchange: "", routingKey: queue.deadLetterQueueName)
                message.properties.headers["x-first-death-queue"] = queue.name  // as the broker sets it
                return message
            }
            let publisher = try OutboxInbox.publisher(topology)
            try await withServices([publisher]) { try await OutboxInbox.publishConfirmed(publisher, dead) }
            let admin = try TestBroker.admin()

            let peeked = try await admin.peek(queue: queue.deadLetterQueueName, limit: 2)
            #expect(peeked.map(\.properties.messageId) == events.prefix(2).map(\.id))
            #expect(try await admin.messageCount(queue: queue.deadLetterQueueName) == 3, "peek removes nothing")

            #expect(try await admin.move(from: queue.deadLetterQueueName, to: queue.name, limit: 100) == 3)
            #expect(try await admin.messageCount(queue: queue.deadLetterQueueName) == 0)
            #expect(try await admin.messageCount(queue: queue.name) == 3)
            let replayed = try await admin.peek(queue: queue.name, limit: 10)
            #expect(replayed.map(\.properties.messageId) == events.map(\.id))
            for (message, event) in zip(replayed, events) {
                #expect(message.properties.headers["ce-id"] == event.id)
                #expect(message.properties.headers["ce-type"] == event.type)
                #expect(message.properties.headers["x-first-death-queue"] == nil, "broker headers are dropped")
                #expect(message.body == OutboxInbox.message(event, exchange: "").body)
            }
            #expect(try await admin.move(from: queue.deadLetterQueueName, to: queue.name, limit: 100) == 0)
        }
    }
}
