import Foundation
import Logging
import ServiceLifecycle

/// Publishes messages over its own connection with publisher confirms, reporting each message's fate.
///
/// `run()` owns the connection thread (see `AMQPPump`): it connects, declares `topology` after every
/// (re)connect, puts the channel in confirm mode and reconnects with backoff (1→30 s) until graceful shutdown.
/// `publish` hands a batch to that thread, which keeps up to `AMQPConfiguration.publishWindow` messages in flight
/// and answers with one `PublishOutcome` per message: `.confirmed` only on the broker's ack, `.returned` for an
/// unroutable mandatory message (the ack that follows a return is not a confirmation), `.nacked`, or `.failed` on
/// channel errors, connection loss and confirm timeouts — the caller republishes whatever is not `.confirmed`.
package final class Publisher: Service, Sendable {
    private let configuration: AMQPConfiguration
    private let topology: Topology?
    private let logger: Logger
    private let pump: AMQPPump<PublisherEngine.Command>
    private let stop = StopSignal()

    /// Creates a publisher; nothing connects until `run()`.
    package init(configuration: AMQPConfiguration, topology: Topology?, logger: Logger) {
        self.configuration = configuration
        self.topology = topology
        self.logger = logger
        pump = AMQPPump(configuration: configuration, logger: logger)
    }

    /// Runs the connection until graceful shutdown (or cancellation, or `shutdown()`), then waits up to 5 s for
    /// outstanding confirms and closes the connection.
    package func run() async throws {
        pump.start(driver: PublisherEngine(configuration: configuration, topology: topology, logger: logger))
        await stop.waitForShutdown()
        pump.requestStop(drain: .seconds(5))
        await pump.waitUntilExited()
    }

    /// Starts a graceful shutdown without a service group (tests, tools).
    package func shutdown() {
        stop.fire()
    }

    /// Whether the publishing connection is up.
    package func isConnected() -> Bool {
        pump.isConnected
    }

    /// Publishes `messages` and waits for the broker's verdict on each; outcomes are in input order.
    ///
    /// Waits up to `AMQPConfiguration.connectTimeout` for a connection, then throws `.notConnected`; throws
    /// `.shutdown` once the publisher is shutting down. Every other problem is reported per message.
    package func publish(_ messages: [OutgoingMessage]) async throws -> [PublishOutcome] {
        guard !messages.isEmpty else { return [] }
        let waitLimit = monotonicNanos() + configuration.connectTimeout.nanoseconds
        while !pump.isConnected {
            if stop.isFired || pump.hasExited {
                throw MessagingError(.shutdown, "the publisher is shutting down")
            }
            if monotonicNanos() >= waitLimit {
                throw MessagingError(.notConnected, "no connection to \(configuration.host) within the timeout")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        if stop.isFired { throw MessagingError(.shutdown, "the publisher is shutting down") }
        let deadline = monotonicNanos() + configuration.confirmTimeout.nanoseconds
        let outcomes = await withCheckedContinuation { (continuation: CheckedContinuation<[PublishOutcome]?, Never>) in
            let batch = PublishBatch(messages: messages, deadline: deadline, continuation: continuation)
            if !pump.enqueue(.publish(batch)) { continuation.resume(returning: nil) }
        }
        guard let outcomes else { throw MessagingError(.shutdown, "the publisher has stopped") }
        return outcomes
    }
}

/// One `publish` call's messages and their outcomes so far.
///
/// `@unchecked Sendable`: after `publish` enqueues it, only the pump thread reads or writes it, and the pump
/// resumes the continuation exactly once, when the last outcome is known.
final class PublishBatch: @unchecked Sendable {
    let messages: [OutgoingMessage]
    /// Monotonic time after which unconfirmed messages are reported `.failed`.
    let deadline: UInt64
    private var outcomes: [PublishOutcome?]
    private var remaining: Int
    private var continuation: CheckedContinuation<[PublishOutcome]?, Never>?

    init(messages: [OutgoingMessage], deadline: UInt64, continuation: CheckedContinuation<[PublishOutcome]?, Never>) {
        self.messages = messages
        self.deadline = deadline
        self.continuation = continuation
        outcomes = Array(repeating: nil, count: messages.count)
        remaining = messages.count
    }

    /// Whether message `index` has its outcome.
    func isSettled(_ index: Int) -> Bool {
        outcomes[index] != nil
    }

    /// Records the outcome of message `index` (first outcome wins); resumes the caller after the last one.
    func settle(_ index: Int, _ outcome: PublishOutcome) {
        guard outcomes[index] == nil else { return }
        outcomes[index] = outcome
        remaining -= 1
        if remaining == 0, let continuation {
            self.continuation = nil
            continuation.resume(returning: outcomes.map { $0! })
        }
    }
}

/// The publisher's side of the frame pump: send window, confirm tracking, returns. Pump thread only.
final class PublisherEngine: AMQPPumpDriver {
    enum Command: Sendable {
        case publish(PublishBatch)
    }

    private struct Entry {
        let batch: PublishBatch
        let index: Int
        var message: OutgoingMessage { batch.messages[index] }
    }

    private let configuration: AMQPConfiguration
    private let topology: Topology?
    private let logger: Logger
    private var queue: [Entry] = []
    private var queueHead = 0
    private var inFlight: [UInt64: Entry] = [:]
    private var returns: [UInt64: (code: Int, text: String)] = [:]
    private var nextSequence: UInt64 = 1
    private var lowestSequence: UInt64 = 1
    private var blocked = false
    private var lastTimeoutScan: UInt64 = 0

    init(configuration: AMQPConfiguration, topology: Topology?, logger: Logger) {
        self.configuration = configuration
        self.topology = topology
        self.logger = logger
    }

    var isIdle: Bool { inFlight.isEmpty && queueHead == queue.count }

    func didConnect(_ session: AMQPSession) throws(MessagingError) {
        if let topology { try session.declare(topology) }
        try session.confirmSelect()
        resetSequence()
        blocked = false
    }

    func perform(_ commands: [Command], session: AMQPSession) throws(MessagingError) {
        for case .publish(let batch) in commands {
            for index in batch.messages.indices { queue.append(Entry(batch: batch, index: index)) }
        }
    }

    func reject(_ commands: [Command], reason: MessagingError) {
        for case .publish(let batch) in commands {
            for index in batch.messages.indices { batch.settle(index, .failed(reason.description)) }
        }
    }

    func flush(_ session: AMQPSession) throws(MessagingError) -> Bool {
        guard !blocked, queueHead < queue.count else { return false }
        if !session.channelOpen {
            try session.reopenChannel()
            try session.confirmSelect()
            resetSequence()
        }
        var sent = 0
        while queueHead < queue.count, inFlight.count < configuration.publishWindow, sent < 256 {
            let entry = queue[queueHead]
            queueHead += 1
            if entry.batch.isSettled(entry.index) { continue }
            let status = session.publish(entry.message)
            guard status == 0 else {
                queueHead -= 1  // still owed an outcome: didDisconnect fails it
                throw MessagingError(.connectionLost, "basic.publish: \(AMQPSession.statusText(status))")
            }
            inFlight[nextSequence] = entry
            nextSequence += 1
            sent += 1
        }
        if queueHead > 4096, queueHead * 2 > queue.count {
            queue.removeFirst(queueHead)
            queueHead = 0
        }
        return queueHead < queue.count && inFlight.count < configuration.publishWindow
    }

    func handle(_ event: AMQPEvent, session: AMQPSession) throws(MessagingError) {
        switch event {
        case .ack(let tag, let multiple):
            resolve(tag, multiple: multiple) { sequence in
                if let returned = returns.removeValue(forKey: sequence) {
                    return .returned(code: returned.code, text: returned.text)
                }
                return .confirmed
            }
        case .nack(let tag, let multiple):
            resolve(tag, multiple: multiple) { sequence in
                returns.removeValue(forKey: sequence)
                return .nacked
            }
        case .returned(let code, let text, let exchange, let routingKey, let properties):
            let candidates = inFlight.filter { sequence, entry in
                guard returns[sequence] == nil else { return false }
                if let id = properties.messageId { return entry.message.properties.messageId == id }
                return entry.message.properties.messageId == nil && entry.message.exchange == exchange
                    && entry.message.routingKey == routingKey
            }
            if let sequence = candidates.keys.min() {
                returns[sequence] = (code, text)
            } else {
                logger.warning(
                    "AMQP return matches no message in flight",
                    metadata: ["message_id": "\(properties.messageId ?? "-")", "routing_key": "\(routingKey)"]
                )
            }
        case .channelClosed(_, let code, let text):
            let error = MessagingError(.channelClosed(replyCode: code), text)
            logger.warning("AMQP publishing channel closed by the broker", metadata: ["error": "\(error)"])
            failInFlight(error)
            try session.reopenChannel()
            try session.confirmSelect()
        case .blocked(let reason):
            blocked = true
            logger.warning("AMQP connection blocked by the broker", metadata: ["reason": "\(reason)"])
        case .unblocked:
            blocked = false
            logger.info("AMQP connection unblocked")
        case .deliver, .cancel, .other:
            break
        }
    }

    func tick(now: UInt64, session: AMQPSession) throws(MessagingError) {
        guard now - lastTimeoutScan > 500_000_000 else { return }
        lastTimeoutScan = now
        let seconds = Int(configuration.confirmTimeout.seconds)
        for (sequence, entry) in inFlight where entry.batch.deadline < now {
            inFlight.removeValue(forKey: sequence)
            returns.removeValue(forKey: sequence)
            entry.batch.settle(entry.index, .failed("no confirm from the broker within \(seconds) s"))
        }
        for entry in queue[queueHead...] where entry.batch.deadline < now {
            let reason = blocked ? "connection blocked by the broker" : "not sent"
            entry.batch.settle(entry.index, .failed("\(reason) within \(seconds) s"))
        }
    }

    func didDisconnect(_ error: MessagingError) {
        failInFlight(error)
        for entry in queue[queueHead...] { entry.batch.settle(entry.index, .failed(error.description)) }
        queue.removeAll()
        queueHead = 0
        blocked = false
    }

    private func failInFlight(_ error: MessagingError) {
        for sequence in inFlight.keys.sorted() {
            let entry = inFlight[sequence]!
            entry.batch.settle(entry.index, .failed(error.description))
        }
        resetSequence()
    }

    private func resetSequence() {
        inFlight.removeAll()
        returns.removeAll()
        nextSequence = 1
        lowestSequence = 1
    }

    private func resolve(_ tag: UInt64, multiple: Bool, outcome: (UInt64) -> PublishOutcome) {
        if multiple {
            var sequence = lowestSequence
            while sequence <= tag {
                if let entry = inFlight.removeValue(forKey: sequence) {
                    entry.batch.settle(entry.index, outcome(sequence))
                }
                sequence += 1
            }
            lowestSequence = max(lowestSequence, tag + 1)
        } else if let entry = inFlight.removeValue(forKey: tag) {
            entry.batch.settle(entry.index, outcome(tag))
        }
        while lowestSequence < nextSequence, inFlight[lowestSequence] == nil { lowestSequence += 1 }
    }
}
