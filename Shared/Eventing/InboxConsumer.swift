import AMQP
import Contracts
import Database
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// One event handed to an ``InboxConsumer`` handler: the decoded CloudEvent and how it was delivered.
package struct InboundEvent: Sendable {
    /// The event (its `id` is the message id recorded in the inbox).
    package var event: CloudEvent
    /// The routing key it was published with (the event name).
    package var routingKey: String
    /// Whether the broker delivered it before.
    package var redelivered: Bool
    /// How many times the quorum queue returned it after failed deliveries (`x-delivery-count`).
    package var deliveryCount: Int

    /// Creates an inbound event (tests use this to drive handlers directly).
    package init(event: CloudEvent, routingKey: String, redelivered: Bool, deliveryCount: Int) {
        self.event = event
        self.routingKey = routingKey
        self.redelivered = redelivered
        self.deliveryCount = deliveryCount
    }
}

/// Consumes a queue through the inbox: every event's effects commit exactly once, together with its inbox row.
///
/// Built on ``Consumer``. For each batch of deliveries:
/// 1. A message that is not a valid CloudEvent, or whose type `EventCatalog.isKnown(type:)` rejects, is
///    rejected (dead-lettered to `<queue>.dead`) and logged with its message id; the handler never sees it.
/// 2. The rest run in **one** transaction: `INSERT INTO inbox … ON CONFLICT DO NOTHING RETURNING message_id`
///    finds which events are new; the handler gets only those (once each, even if a batch holds copies), with
///    the transaction's connection, and writes its effects there; then the transaction commits and every
///    delivery of the batch is acknowledged — duplicates without effect.
/// 3. If that transaction fails (the handler threw, a constraint failed), it is rolled back and the batch is
///    retried in halves, each in its own transaction, down to single events, so one poison message does not hold
///    back the others (about 2·log₂(n) transactions for one poison message in n): an event whose transaction fails
///    alone is requeued (on a quorum queue that counts toward `x-delivery-limit`, after
///    which the broker dead-letters it with its `x-death` history), the others commit and are acknowledged.
/// 4. If the database is unreachable (``DatabaseError/isUnavailable``: down, refusing connections, frozen past the
///    operation deadline, pool exhausted), the batch is **held unacknowledged and retried in place** after a pause
///    that grows from 0.2 s to 5 s while the outage lasts. An outage is not a poison message: requeueing would
///    count toward the quorum queue's `x-delivery-limit` and dead-letter live events. The broker connection stays
///    up meanwhile (its pump thread answers heartbeats), and the prefetch window bounds what waits. On graceful
///    shutdown during an outage the held deliveries are left unsettled; closing the channel returns them.
///
/// Nothing is acknowledged before its transaction committed. Two consumers (or a redelivery racing the first
/// delivery) inserting the same inbox row serialise on the primary key: the second waits for the first to commit
/// and then sees a conflict, so the effect happens once. A commit whose outcome is unknown (connection lost at
/// `COMMIT`) is requeued; the inbox turns the redelivery into a no-op if it had committed.
///
/// Metrics: `inbox_events_total{outcome=processed|duplicate|rejected|requeued}`, and
/// `inbox_events_held_total` (events held back for another try during a database outage, counted per try).
package final class InboxConsumer: Service, Sendable {
    /// The inbox key's first part: the name of this consumer (e.g. `scoring.decisions`).
    package let consumer: String
    private let queue: String
    private let pool: DatabasePool
    private let logger: Logger
    private let handler: @Sendable ([InboundEvent], DatabaseConnection) async throws -> Void
    private let outage = Mutex<Duration>(.zero)
    private let processedCounter: Counter
    private let duplicateCounter: Counter
    private let rejectedCounter: Counter
    private let requeuedCounter: Counter
    private let heldCounter: Counter
    private let committedNew = Atomic<Int>(0)
    private let amqpConsumer = Mutex<Consumer?>(nil)
    private let settings: (amqp: AMQPConfiguration, topology: Topology?, prefetch: Int, maxBatch: Int)

    /// Creates an inbox consumer of `queue`; nothing connects until `run()`.
    ///
    /// - Parameters:
    ///   - consumer: The name recorded in the inbox (one per logical consumer; replicas share it).
    ///   - queue: The quorum queue to consume.
    ///   - pool: The service's database pool (one connection per batch transaction).
    ///   - amqp: Broker connection settings (a consuming connection of its own is opened).
    ///   - topology: Declared on every (re)connect when given.
    ///   - prefetch: Unacknowledged deliveries the broker may send ahead.
    ///   - maxBatch: Most deliveries per handler call (and per transaction).
    ///   - logger: Where the consumer logs.
    ///   - handler: Applies the effects of new events using the transaction's connection; throwing rolls the
    ///     batch back (see the type's documentation).
    package init(
        consumer: String,
        queue: String,
        pool: DatabasePool,
        amqp: AMQPConfiguration,
        topology: Topology?,
        prefetch: Int = 500,
        maxBatch: Int = 200,
        logger: Logger,
        handler: @escaping @Sendable ([InboundEvent], DatabaseConnection) async throws -> Void
    ) {
        self.consumer = consumer
        self.queue = queue
        self.pool = pool
        self.logger = logger
        self.handler = handler
        settings = (amqp, topology, prefetch, maxBatch)
        processedCounter = Counter(label: "inbox_events_total", dimensions: [("outcome", "processed")])
        duplicateCounter = Counter(label: "inbox_events_total", dimensions: [("outcome", "duplicate")])
        rejectedCounter = Counter(label: "inbox_events_total", dimensions: [("outcome", "rejected")])
        requeuedCounter = Counter(label: "inbox_events_total", dimensions: [("outcome", "requeued")])
        heldCounter = Counter(label: "inbox_events_held_total")
    }

    /// New events (not duplicates) whose effects this consumer has committed since it was created; benchmarks
    /// watch it to see, without querying the database, when a run has been applied.
    package var processed: Int { committedNew.load(ordering: .relaxed) }

    /// Consumes until graceful shutdown or cancellation; the batch in progress commits and is settled first.
    package func run() async throws {
        let amqpConsumer = Consumer(
            configuration: settings.amqp,
            queue: queue,
            topology: settings.topology,
            prefetch: settings.prefetch,
            maxBatch: settings.maxBatch,
            logger: logger
        ) { [self] deliveries in
            await self.handle(deliveries)
        }
        self.amqpConsumer.withLock { $0 = amqpConsumer }
        try await amqpConsumer.run()
    }

    /// Whether the consumer is shutting down (graceful shutdown or cancellation): a held batch stops retrying.
    private var isStopping: Bool {
        amqpConsumer.withLock { $0 }?.isShuttingDown ?? true
    }

    /// Whether the consuming connection is up.
    package func isConnected() -> Bool {
        amqpConsumer.withLock { $0 }?.isConnected() ?? false
    }

    /// Settles one batch: one disposition per delivery, in order.
    private func handle(_ deliveries: [Delivery]) async -> [DeliveryDisposition] {
        var dispositions = [DeliveryDisposition](repeating: .ack, count: deliveries.count)
        var accepted: [(index: Int, event: InboundEvent)] = []
        accepted.reserveCapacity(deliveries.count)
        for (index, delivery) in deliveries.enumerated() {
            switch decode(delivery) {
            case .success(let event):
                accepted.append((index, event))
            case .failure(let reason):
                dispositions[index] = .reject
                rejectedCounter.increment()
                logger.error(
                    "dead-lettering a message that is not a known CloudEvent",
                    metadata: [
                        "amqp.queue": "\(queue)", "message.id": "\(delivery.properties.messageId ?? "-")",
                        "amqp.routing_key": "\(delivery.routingKey)", "reason": "\(reason)",
                    ]
                )
            }
        }
        guard !accepted.isEmpty else { return dispositions }

        _ = await settle(accepted[...], into: &dispositions)
        return dispositions
    }

    /// Commits `items` in one transaction; if that fails for a reason other than an outage, splits them in halves
    /// and settles each half the same way, down to single events, which are requeued when they fail. One poison
    /// message in a batch of n costs about 2·log₂(n) transactions instead of n. Returns false when shutdown came
    /// during an outage: `items` from there on are left unsettled (the caller stops there too).
    private func settle(
        _ items: ArraySlice<(index: Int, event: InboundEvent)>, into dispositions: inout [DeliveryDisposition]
    ) async -> Bool {
        do {
            let (new, duplicates) = try await processHoldingThroughOutages(items.map(\.event))
            processedCounter.increment(by: new)
            committedNew.add(new, ordering: .relaxed)
            duplicateCounter.increment(by: duplicates)
            return true
        } catch {
            if Self.isOutage(error) {
                // Only when shutting down mid-outage: leave the rest unsettled for the broker to return.
                for item in items { dispositions[item.index] = .leave }
                return false
            }
            if items.count == 1, let item = items.first {
                dispositions[item.index] = .requeue
                requeuedCounter.increment()
                logFailure(of: item.event, error: error)
                return true
            }
            logger.warning(
                "inbox batch failed; retrying it in halves",
                metadata: ["amqp.queue": "\(queue)", "batch": "\(items.count)", "error": "\(error)"]
            )
        }
        let middle = items.startIndex + items.count / 2
        guard await settle(items[..<middle], into: &dispositions) else {
            for item in items[middle...] { dispositions[item.index] = .leave }
            return false
        }
        return await settle(items[middle...], into: &dispositions)
    }

    /// Logs an event whose transaction failed and that is requeued.
    private func logFailure(of event: InboundEvent, error: any Error) {
        logger.error(
            "inbox handler failed for an event; requeueing it (it is dead-lettered after the delivery limit)",
            metadata: [
                "amqp.queue": "\(queue)", "message.id": "\(event.event.id)", "event.type": "\(event.event.type)",
                "delivery_count": "\(event.deliveryCount)", "error": "\(error)",
            ]
        )
    }

    /// Runs the inbox insert and the handler for `events` in one transaction; returns (new, duplicate) counts.
    private func process(_ events: [InboundEvent]) async throws -> (Int, Int) {
        let ids = Array(Set(events.map(\.event.id))).sorted()  // one lock order for all consumers: no deadlocks
        return try await pool.withTransaction { connection in
            let inserted = try await connection.query(
                """
                INSERT INTO inbox (consumer, message_id)
                SELECT \(consumer), id FROM unnest(\(ids)::text[]) AS t(id) ORDER BY id
                ON CONFLICT DO NOTHING
                RETURNING message_id
                """
            )
            var new = Set<String>(minimumCapacity: inserted.count)
            for row in inserted { new.insert(try row.decode("message_id", as: String.self)) }
            var fresh: [InboundEvent] = []
            fresh.reserveCapacity(new.count)
            for event in events where new.remove(event.event.id) != nil {
                fresh.append(event)
            }
            if !fresh.isEmpty { try await handler(fresh, connection) }
            return (fresh.count, events.count - fresh.count)
        }
    }

    /// Runs ``process(_:)``, and while the database is unavailable keeps the events in hand and tries again after a
    /// pause growing from 0.2 s to 5 s; rethrows an outage only once shutdown was requested. A deadlock or
    /// serialization failure is retried in place too (up to five times, with a short random pause), since it says
    /// nothing about the events themselves.
    private func processHoldingThroughOutages(_ events: [InboundEvent]) async throws -> (Int, Int) {
        var conflicts = 0
        while true {
            do {
                let result = try await process(events)
                let recovered = outage.withLock { pause -> Bool in
                    defer { pause = .zero }
                    return pause != .zero
                }
                if recovered {
                    logger.info(
                        "database reachable again; the held batch committed", metadata: ["amqp.queue": "\(queue)"])
                }
                return result
            } catch let error as DatabaseError where error.code == .serializationFailure && conflicts < 5 {
                // A deadlock or serialization conflict with a competing consumer: the batch is fine, run it again.
                conflicts += 1
                logger.warning(
                    "inbox batch met a serialization conflict; retrying it in place",
                    metadata: ["amqp.queue": "\(queue)", "batch": "\(events.count)", "attempt": "\(conflicts)"])
                try? await Task.sleep(for: .milliseconds(Int.random(in: 10...100) * conflicts))
            } catch {
                guard Self.isOutage(error), !isStopping else { throw error }
                let pause = outage.withLock { pause -> Duration in
                    pause = min(max(pause * 2, .milliseconds(200)), .seconds(5))
                    return pause
                }
                heldCounter.increment(by: events.count)
                logger.error(
                    "database unavailable; holding the batch and retrying in place",
                    metadata: [
                        "amqp.queue": "\(queue)", "batch": "\(events.count)", "error": "\(error)",
                        "retry_in": "\(pause)",
                    ]
                )
                let deadline = ContinuousClock.now + pause
                while ContinuousClock.now < deadline, !isStopping {
                    try? await Task.sleep(for: min(.milliseconds(100), deadline - ContinuousClock.now))
                }
            }
        }
    }

    /// Whether `error` means the database cannot be reached (rather than this batch being bad).
    private static func isOutage(_ error: any Error) -> Bool {
        (error as? DatabaseError)?.isUnavailable ?? false
    }

    /// Decodes a delivery into a known CloudEvent, or says why not.
    private func decode(_ delivery: Delivery) -> Result<InboundEvent, InboxRejection> {
        let event: CloudEvent
        do {
            event = try CloudEventAMQPBinding.decode(
                headers: delivery.properties.headers,
                contentType: delivery.properties.contentType,
                messageId: delivery.properties.messageId,
                type: delivery.properties.type,
                timestamp: delivery.properties.timestamp,
                body: Data(delivery.body)
            )
        } catch {
            return .failure(InboxRejection("not a CloudEvent: \(error)"))
        }
        guard EventCatalog.isKnown(type: event.type) else {
            return .failure(InboxRejection("unknown event type '\(event.type)'"))
        }
        return .success(
            InboundEvent(
                event: event,
                routingKey: delivery.routingKey,
                redelivered: delivery.redelivered,
                deliveryCount: delivery.deliveryCount
            )
        )
    }
}

/// Why a delivery was dead-lettered without reaching the handler.
private struct InboxRejection: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
