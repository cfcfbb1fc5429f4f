import AMQP
import Foundation
import Logging
import ServiceLifecycle
import TestSupport

/// Collects what a test consumer received.
actor ReceivedMessages {
    private(set) var deliveries: [Delivery] = []
    private(set) var batchSizes: [Int] = []

    func add(_ batch: [Delivery]) {
        deliveries += batch
        batchSizes.append(batch.count)
    }

    var messageIds: Set<String> { Set(deliveries.compactMap(\.properties.messageId)) }
}

/// A logger for broker tests (warnings and up, so reconnects show in the test output).
func testLogger(_ label: String) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = .warning
    return logger
}

/// Runs `services` while `body` runs, then cancels them (which is their graceful stop) and waits for them.
func withServices<Result: Sendable>(
    _ services: [any Service],
    _ body: () async throws -> Result
) async throws -> Result {
    try await withThrowingTaskGroup(of: Void.self) { group in
        for service in services {
            group.addTask { try await service.run() }
        }
        do {
            let result = try await body()
            group.cancelAll()
            try await group.waitForAll()
            return result
        } catch {
            group.cancelAll()
            try? await group.waitForAll()
            throw error
        }
    }
}

/// Polls `condition` every 50 ms until it holds or `timeout` passes; returns whether it held.
func eventually(timeout: Duration = .seconds(15), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}

/// `count` small JSON messages to `exchange` with `routingKey`, message ids `<prefix>-<n>`.
func makeMessages(_ count: Int, exchange: String, routingKey: String, prefix: String = "m") -> [OutgoingMessage] {
    (0..<count).map { index in
        OutgoingMessage(
            exchange: exchange,
            routingKey: routingKey,
            body: Array("{\"n\":\(index)}".utf8),
            properties: MessageProperties(contentType: "application/json", messageId: "\(prefix)-\(index)")
        )
    }
}

/// Publishes `messages`, republishing whatever is not confirmed, until all are confirmed or `timeout` passes.
func publishUntilConfirmed(
    _ publisher: Publisher,
    _ messages: [OutgoingMessage],
    timeout: Duration = .seconds(60)
) async throws -> Bool {
    var pending = messages
    let deadline = ContinuousClock.now + timeout
    while !pending.isEmpty, ContinuousClock.now < deadline {
        do {
            let outcomes = try await publisher.publish(pending)
            pending = zip(pending, outcomes).filter { $0.1 != .confirmed }.map(\.0)
        } catch {
            try await Task.sleep(for: .milliseconds(200))
        }
        if !pending.isEmpty { try await Task.sleep(for: .milliseconds(200)) }
    }
    return pending.isEmpty
}
