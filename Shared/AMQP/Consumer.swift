import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Consumes one queue over its own connection and hands deliveries to a handler in batches.
///
/// `run()` owns the connection thread (see `AMQPPump`): it connects, declares `topology` if given, sets
/// `basic.qos(prefetch)` and subscribes with manual acknowledgements. The handler receives whatever is already
/// buffered, up to `maxBatch` deliveries; when the buffer was empty, the first delivery to arrive is held for
/// `linger` (a few milliseconds) so that those arriving right behind it join its batch (one transaction instead
/// of one per delivery; it never waits for a batch to fill), and returns one
/// `DeliveryDisposition` per delivery, which the pump applies. After a broker-initiated `basic.cancel` (queue
/// deleted, `rabbitmqctl`, node failure) or a channel error it resubscribes; after a connection loss it
/// reconnects with backoff (1→30 s), re-declares and re-consumes. Deliveries from a connection or channel that
/// is gone are never settled (their tags would be meaningless): the broker redelivers them.
///
/// Graceful shutdown: stop taking deliveries, let the in-flight batch finish, apply its dispositions, close.
package final class Consumer: Service, Sendable {
    private let configuration: AMQPConfiguration
    private let queue: String
    private let topology: Topology?
    private let prefetch: Int
    private let maxBatch: Int
    private let linger: Duration
    private let logger: Logger
    private let handler: @Sendable ([Delivery]) async -> [DeliveryDisposition]
    private let pump: AMQPPump<ConsumerEngine.Command>
    private let buffer = DeliveryBuffer()
    private let stop = StopSignal()

    /// Creates a consumer of `queue`; nothing connects until `run()`.
    package init(
        configuration: AMQPConfiguration,
        queue: String,
        topology: Topology?,
        prefetch: Int = 500,
        maxBatch: Int = 200,
        linger: Duration = .milliseconds(5),
        logger: Logger,
        handler: @escaping @Sendable ([Delivery]) async -> [DeliveryDisposition]
    ) {
        self.configuration = configuration
        self.queue = queue
        self.topology = topology
        self.prefetch = max(1, prefetch)
        self.maxBatch = max(1, maxBatch)
        self.linger = max(.zero, linger)
        self.logger = logger
        self.handler = handler
        pump = AMQPPump(configuration: configuration, logger: logger)
    }

    /// Consumes until graceful shutdown (or cancellation, or `shutdown()`), then drains and closes.
    package func run() async throws {
        pump.start(
            driver: ConsumerEngine(
                queue: queue, topology: topology, prefetch: prefetch, buffer: buffer, logger: logger
            )
        )
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await consumeLoop()
            } onGracefulShutdown: {
                self.shutdown()
            }
        } onCancel: {
            self.shutdown()
        }
        pump.requestStop(drain: .zero)
        await pump.waitUntilExited()
    }

    /// Starts a graceful shutdown without a service group (tests, tools).
    package func shutdown() {
        stop.fire()
        buffer.close()
    }

    /// Whether the consuming connection is up.
    package func isConnected() -> Bool {
        pump.isConnected
    }

    /// Whether graceful shutdown, cancellation or `shutdown()` has begun: a handler holding a batch should let go.
    package var isShuttingDown: Bool {
        stop.isFired
    }

    private func consumeLoop() async {
        while let items = await buffer.next(max: maxBatch, linger: linger) {
            let deliveries = items.map(\.delivery)
            var dispositions = await handler(deliveries)
            if dispositions.count != deliveries.count {
                logger.error(
                    "consumer handler returned \(dispositions.count) dispositions for \(deliveries.count) deliveries; requeueing the unanswered ones",
                    metadata: ["amqp.queue": "\(queue)"]
                )
                dispositions = Array(dispositions.prefix(deliveries.count))
                dispositions += Array(repeating: .requeue, count: deliveries.count - dispositions.count)
            }
            var byGeneration: [UInt64: [(UInt64, DeliveryDisposition)]] = [:]
            for (item, disposition) in zip(items, dispositions) where disposition != .leave {
                byGeneration[item.generation, default: []].append((item.delivery.deliveryTag, disposition))
            }
            for (generation, settlements) in byGeneration.sorted(by: { $0.key < $1.key }) {
                pump.enqueue(.settle(generation: generation, settlements))
            }
        }
    }
}

/// Deliveries received by the pump thread and not yet taken by the consumer loop.
final class DeliveryBuffer: Sendable {
    /// A delivery and the channel generation its tag belongs to.
    struct Item: Sendable {
        var delivery: Delivery
        var generation: UInt64
    }

    private struct State {
        var items: [Item] = []
        var waiter: CheckedContinuation<Void, Never>?
        var closed = false
    }

    private let state = Mutex(State())

    /// Adds a delivery (pump thread).
    func append(_ item: Item) {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.items.append(item)
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Drops deliveries older than `generation`: their channel is gone.
    func dropBefore(_ generation: UInt64) {
        state.withLock { $0.items.removeAll { $0.generation < generation } }
    }

    /// Stops handing out deliveries; a waiting `next` returns nil.
    func close() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.closed = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Waits for at least one delivery and returns up to `max` of those buffered; nil once closed. When the buffer
    /// was empty, waits `linger` more after the first delivery arrives.
    func next(max: Int, linger: Duration = .zero) async -> [Item]? {
        var waited = false
        while true {
            let taken = state.withLock { state -> [Item]?? in
                if state.closed { return .some(nil) }
                guard !state.items.isEmpty else { return nil }
                let count = min(max, state.items.count)
                defer { state.items.removeFirst(count) }
                return .some(Array(state.items.prefix(count)))
            }
            if let taken { return taken }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { state -> Bool in
                    if state.closed || !state.items.isEmpty { return true }
                    state.waiter = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
            if !waited, linger > .zero {
                // The buffer was empty: let the deliveries right behind this one join its batch.
                waited = true
                try? await Task.sleep(for: linger)
            }
        }
    }
}

/// The consumer's side of the frame pump: subscription, resubscription, settlements. Pump thread only.
final class ConsumerEngine: AMQPPumpDriver {
    enum Command: Sendable {
        case settle(generation: UInt64, [(UInt64, DeliveryDisposition)])
    }

    private let queue: String
    private let topology: Topology?
    private let prefetch: Int
    private let buffer: DeliveryBuffer
    private let logger: Logger
    /// Changes whenever delivery tags stop being valid (new connection, reopened channel).
    private var generation: UInt64 = 1
    /// Every delivery tag of this channel up to this one is settled (tags count from 1 on each channel).
    private var settledThrough: UInt64 = 0
    private var consuming = false
    private var resubscribeAt: UInt64?
    private var resubscribeBackoff: Double = 1

    init(queue: String, topology: Topology?, prefetch: Int, buffer: DeliveryBuffer, logger: Logger) {
        self.queue = queue
        self.topology = topology
        self.prefetch = prefetch
        self.buffer = buffer
        self.logger = logger
    }

    var isIdle: Bool { true }

    func didConnect(_ session: AMQPSession) throws(MessagingError) {
        newGeneration()
        resubscribeBackoff = 1
        do {
            try subscribe(session)
        } catch {
            guard case .channelClosed = error.code else { throw error }
            scheduleResubscribe(after: error)
        }
    }

    func perform(_ commands: [Command], session: AMQPSession) throws(MessagingError) {
        for case .settle(let settledGeneration, let settlements) in commands {
            guard settledGeneration == generation, session.channelOpen else {
                logger.debug(
                    "dropping settlements of deliveries from a closed channel",
                    metadata: ["amqp.queue": "\(queue)", "count": "\(settlements.count)"]
                )
                continue
            }
            // A batch that continues the settled tags without a gap and acknowledges all of them is one
            // `basic.ack(multiple)`: one frame, and one settlement in the quorum queue's log instead of one each.
            guard let last = settlements.last?.0 else { continue }
            let continues = settlements.enumerated().allSatisfy { $1.0 == settledThrough + 1 + UInt64($0) }
            if continues, settlements.allSatisfy({ $0.1 == .ack }) {
                let status = session.ackMultiple(upTo: last)
                guard status == 0 else {
                    throw MessagingError(.connectionLost, "settle: \(AMQPSession.statusText(status))")
                }
            } else {
                for (tag, disposition) in settlements {
                    let status = session.settle(tag: tag, disposition)
                    guard status == 0 else {
                        throw MessagingError(.connectionLost, "settle: \(AMQPSession.statusText(status))")
                    }
                }
            }
            if continues { settledThrough = last }
        }
    }

    func reject(_ commands: [Command], reason: MessagingError) {
        // Settlements for a connection that is gone are void: the broker requeues those deliveries itself.
    }

    func flush(_ session: AMQPSession) throws(MessagingError) -> Bool {
        false
    }

    func handle(_ event: AMQPEvent, session: AMQPSession) throws(MessagingError) {
        switch event {
        case .deliver(let delivery):
            buffer.append(DeliveryBuffer.Item(delivery: delivery, generation: generation))
        case .cancel(let consumerTag, let noWait):
            consuming = false
            if !noWait { _ = session.sendCancelOk(consumerTag: consumerTag) }
            logger.warning("AMQP consumer cancelled by the broker; resubscribing", metadata: ["amqp.queue": "\(queue)"])
            resubscribeBackoff = 1
            resubscribeAt = monotonicNanos() + 200_000_000
        case .channelClosed(_, let code, let text):
            let error = MessagingError(.channelClosed(replyCode: code), text)
            logger.warning(
                "AMQP consuming channel closed by the broker; reopening",
                metadata: ["amqp.queue": "\(queue)", "error": "\(error)"]
            )
            newGeneration()
            consuming = false
            resubscribeBackoff = 1
            resubscribeAt = monotonicNanos()
        case .blocked, .unblocked, .ack, .nack, .returned, .other:
            break
        }
    }

    func tick(now: UInt64, session: AMQPSession) throws(MessagingError) {
        guard let at = resubscribeAt, now >= at else { return }
        do {
            try subscribe(session)
            logger.info("AMQP consumer resubscribed", metadata: ["amqp.queue": "\(queue)"])
        } catch {
            guard case .channelClosed = error.code else { throw error }
            scheduleResubscribe(after: error)
        }
    }

    func didDisconnect(_ error: MessagingError) {
        consuming = false
        resubscribeAt = nil
        newGeneration()
    }

    private func subscribe(_ session: AMQPSession) throws(MessagingError) {
        if !session.channelOpen {
            try session.reopenChannel()
            newGeneration()
        }
        if let topology { try session.declare(topology) }
        try session.qos(prefetch: prefetch)
        _ = try session.consume(queue: queue)
        consuming = true
        resubscribeAt = nil
        resubscribeBackoff = 1
    }

    private func scheduleResubscribe(after error: MessagingError) {
        consuming = false
        logger.warning(
            "AMQP consumer not subscribed; retrying in \(Int(resubscribeBackoff)) s",
            metadata: ["amqp.queue": "\(queue)", "error": "\(error)"]
        )
        resubscribeAt = monotonicNanos() + UInt64(resubscribeBackoff * 1e9)
        resubscribeBackoff = min(resubscribeBackoff * 2, 30)
    }

    private func newGeneration() {
        generation += 1
        settledThrough = 0
        buffer.dropBefore(generation)
    }
}
