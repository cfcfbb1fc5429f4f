import AMQP
import Foundation
import Logging

/// Publishes `count` persistent 200-byte messages to a fresh quorum queue through a `Publisher` (confirms,
/// windowed) and returns the confirmed messages per second. The queue and exchanges are deleted afterwards.
package func runRawPublishBench(url: String, count: Int) async throws -> Double {
    let suffix = UUID().uuidString.prefix(8).lowercased()
    let topology = Topology(
        eventsExchange: "bench-\(suffix).events",
        deadLetterExchange: "bench-\(suffix).dead",
        queues: [QueueSpec(name: "bench-\(suffix)", bindings: ["bench.#"])]
    )
    var configuration = try AMQPConfiguration(url: url, connectionName: "publish-bench-\(suffix)")
    configuration.publishWindow = 1000
    var logger = Logger(label: "publish-bench")
    logger.logLevel = .warning
    let publisher = Publisher(configuration: configuration, topology: topology, logger: logger)
    let admin = AMQPAdmin(configuration: configuration)
    let body = [UInt8](repeating: UInt8(ascii: "x"), count: 200)

    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await publisher.run() }
        defer { publisher.shutdown() }
        let batchSize = 1000
        var confirmed = 0
        let clock = ContinuousClock()
        let start = clock.now
        var sent = 0
        // Two batches in flight at a time so the window never runs dry between calls.
        try await withThrowingTaskGroup(of: Int.self) { batches in
            var running = 0
            while sent < count || running > 0 {
                while sent < count, running < 2 {
                    let size = min(batchSize, count - sent)
                    let messages = (0..<size).map { index in
                        OutgoingMessage(
                            exchange: topology.eventsExchange,
                            routingKey: "bench.message",
                            body: body,
                            properties: MessageProperties(messageId: "\(suffix)-\(sent + index)")
                        )
                    }
                    sent += size
                    running += 1
                    batches.addTask { try await publisher.publish(messages).filter { $0 == .confirmed }.count }
                }
                if let done = try await batches.next() {
                    confirmed += done
                    running -= 1
                }
            }
        }
        let elapsed = (clock.now - start).seconds
        try? await admin.delete(topology)
        publisher.shutdown()
        try await group.waitForAll()
        guard confirmed == count else {
            throw MessagingError(.protocolError, "only \(confirmed) of \(count) messages were confirmed")
        }
        return Double(count) / max(elapsed, 1e-9)
    }
}
