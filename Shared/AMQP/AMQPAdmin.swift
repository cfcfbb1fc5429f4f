import CRabbitMQ
import Foundation

/// One-off broker administration over a short-lived connection: declare or delete topology, count messages.
///
/// For tests, tools and the CLI; services use `Publisher` and `Consumer`. Each call opens a connection on its own
/// OS thread, does its work with synchronous AMQP requests and closes it.
package struct AMQPAdmin: Sendable {
    private let configuration: AMQPConfiguration

    /// Creates an admin for the broker in `configuration`.
    package init(configuration: AMQPConfiguration) {
        self.configuration = configuration
    }

    /// Connects, logs in and disconnects: throws unless the broker accepts AMQP connections.
    package func ping() async throws {
        try await run { _ throws(MessagingError) in }
    }

    /// Declares `topology` (idempotent).
    package func declare(_ topology: Topology) async throws {
        try await run { session throws(MessagingError) in try session.declare(topology) }
    }

    /// Deletes the queues and exchanges of `topology` (including the `.dead` queues); missing ones are skipped.
    package func delete(_ topology: Topology) async throws {
        try await deleteQueues(topology.queues.flatMap { [$0.name, $0.deadLetterQueueName] })
        try await deleteExchanges([topology.eventsExchange, topology.deadLetterExchange])
    }

    /// Deletes queues; missing ones are skipped.
    package func deleteQueues(_ names: [String]) async throws {
        try await run { session throws(MessagingError) in
            for name in names {
                do throws(MessagingError) {
                    _ = try session.deleteQueue(name)
                } catch {
                    guard case .channelClosed(404) = error.code else { throw error }
                    try session.reopenChannel()
                }
            }
        }
    }

    /// Deletes exchanges; missing ones are skipped.
    package func deleteExchanges(_ names: [String]) async throws {
        try await run { session throws(MessagingError) in
            for name in names {
                do throws(MessagingError) {
                    try session.deleteExchange(name)
                } catch {
                    guard case .channelClosed(404) = error.code else { throw error }
                    try session.reopenChannel()
                }
            }
        }
    }

    /// Number of ready messages in `queue` (throws `.channelClosed(404)` if it does not exist).
    package func messageCount(queue: String) async throws -> Int {
        try await run { session throws(MessagingError) in try session.inspectQueue(queue).messages }
    }

    /// Number of consumers subscribed to `queue`.
    package func consumerCount(queue: String) async throws -> Int {
        try await run { session throws(MessagingError) in try session.inspectQueue(queue).consumers }
    }

    /// Up to `limit` messages from the head of `queue`, left where they are (fetched unacknowledged; closing the
    /// connection returns them to the queue).
    package func peek(queue: String, limit: Int) async throws -> [Delivery] {
        try await run { session throws(MessagingError) in
            var messages: [Delivery] = []
            while messages.count < limit, let message = try session.get(queue: queue) {
                messages.append(
                    Delivery(
                        deliveryTag: message.deliveryTag, exchange: message.exchange, routingKey: message.routingKey,
                        body: message.body, properties: message.properties, redelivered: false, deliveryCount: 0))
            }
            return messages
        }
    }

    /// Moves up to `limit` messages from the head of `source` to the queue `destination`, one at a time: each is
    /// published to it through the default exchange with its body and properties (its CloudEvents identity),
    /// minus the broker's `x-` headers, and removed from `source` only after the broker confirmed the copy.
    /// A crash in between leaves a copy in both queues, which the consumer's inbox deduplicates by event id.
    ///
    /// - Returns: how many messages moved.
    package func move(from source: String, to destination: String, limit: Int) async throws -> Int {
        try await run { session throws(MessagingError) in
            try session.confirmSelect()
            var moved = 0
            while moved < limit, let message = try session.get(queue: source) {
                var properties = message.properties
                properties.headers = properties.headers.filter { !$0.key.hasPrefix("x-") }
                properties.persistent = true
                let copy = OutgoingMessage(
                    exchange: "", routingKey: destination, body: message.body, properties: properties, mandatory: true)
                let outcome = try session.publishConfirmed(copy, timeout: .seconds(10))
                guard outcome == .confirmed else {
                    throw MessagingError(.protocolError, "replay to \(destination) not confirmed: \(outcome)")
                }
                let status = session.settle(tag: message.deliveryTag, .ack)
                guard status == AMQP_STATUS_OK.rawValue else {
                    throw MessagingError(.connectionLost, AMQPSession.statusText(status))
                }
                moved += 1
            }
            return moved
        }
    }

    private func run<Result: Sendable>(
        _ body: @escaping @Sendable (AMQPSession) throws(MessagingError) -> Result
    ) async throws -> Result {
        let configuration = configuration
        return try await withCheckedThrowingContinuation { continuation in
            let thread = Thread {
                do throws(MessagingError) {
                    let session = try AMQPSession(configuration: configuration)
                    defer { session.close() }
                    continuation.resume(returning: try body(session))
                } catch {
                    continuation.resume(throwing: error)
                }
            }
            thread.name = "amqp admin"
            thread.start()
        }
    }
}
