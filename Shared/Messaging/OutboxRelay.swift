import Contracts
import Database
import Foundation
import Logging
import Metrics
import ServiceLifecycle

/// Publishes the rows of the transactional outbox (`MessagingSchema.outbox`) to the broker, in batches, with
/// publisher confirms; a row is marked published only after the broker confirmed it.
///
/// ## One batch
/// In one transaction the relay claims up to `batchSize` due unpublished rows in `seq` order with
/// `FOR UPDATE SKIP LOCKED`, publishes them through the ``Publisher`` as CloudEvents in binary mode
/// (routing key = event name, `message_id` = id, persistent, `mandatory`), then sets `published_at` on the
/// confirmed rows and records a failed attempt on the others (`attempts`, `retry_at` with exponential backoff
/// from 0.5 s to 60 s, `last_error`), and commits. A `.returned` message had no queue bound for its routing key:
/// it is logged as an error and marked `unroutable` (it is retried too, in case a binding appears). If the
/// publisher throws (no connection, shutting down) the transaction rolls back and the relay backs off. A relay
/// that dies after claiming loses its locks with its connection; the rows are claimed again by the next relay.
/// The marking transaction commits with `synchronous_commit = off`: a database crash can at worst forget that
/// rows were published, and they are published again.
/// A relay that dies after publishing but before committing publishes those rows again: delivery is at least
/// once, and consumers de-duplicate through the inbox.
///
/// ## Order per aggregate, with any number of relays
/// Rows of one aggregate (`aggregatetype`, `aggregateid`) reach the broker in `seq` order. Relays claim with
/// `SKIP LOCKED`, so two relays hold disjoint sets of rows; a claimed row is published only if no *earlier*
/// unpublished row of its aggregate exists outside the relay's own claim. Such an earlier row is either locked by
/// another relay (which publishes it first) or waiting for its retry; in both cases the later row stays
/// unpublished until the earlier one is published (a relay that held rows back looks again after 100 ms). Rows
/// behind a row in backoff are not even candidates, so they do not crowd the batch out. Two exceptions, both logged: an earlier row that was *unroutable* does not hold
/// back its successors (no queue received it, so there is no order to keep), and when one message of a batch is
/// nacked or fails while a later message of its aggregate in the same batch is confirmed, the failed one is
/// delivered later, out of order. Consumers must tolerate that anyway (DESIGN §7: order comes from the ledger).
///
/// ## Waking up
/// With a `listenerConfiguration`, a ``DatabaseListener`` on channel `outbox` wakes the relay as soon as an
/// inserting transaction commits; without it (or when notifications are lost) the relay polls every
/// `pollInterval`. A full batch is followed by the next one at once. `concurrentBatches` loops run side by side
/// (each claims, publishes and commits its own batch), so the broker's confirm latency of one batch overlaps
/// with the database work of the next; they order themselves exactly like separate relays.
///
/// ## Housekeeping and metrics
/// Published rows older than `retention` are deleted (a few thousand at a time, at start and once a minute). Metrics:
/// `outbox_published_total`, `outbox_publish_failures_total{outcome=returned|nacked|failed}` and
/// `outbox_lag_seconds` (age of the oldest unpublished row, 0 when none).
///
/// ## Shutdown
/// On graceful shutdown the relay finishes the batch in progress and returns. In a `ServiceGroup` list it
/// after the pool and the publisher, so it stops before they do.
package final class OutboxRelay: Service, Sendable {
    private let pool: DatabasePool
    private let publisher: Publisher
    private let exchange: String
    private let listenerConfiguration: DatabaseConfiguration?
    private let batchSize: Int
    private let pollInterval: Duration
    private let retention: Duration
    private let concurrentBatches: Int
    private let logger: Logger
    /// One wake-up signal per batch loop.
    private let wakes: [RelayWakeSignal]
    private let stopping = RelayStopFlag()
    private let publishedCounter = Counter(label: "outbox_published_total")
    private let returnedCounter = Counter(label: "outbox_publish_failures_total", dimensions: [("outcome", "returned")])
    private let nackedCounter = Counter(label: "outbox_publish_failures_total", dimensions: [("outcome", "nacked")])
    private let failedCounter = Counter(label: "outbox_publish_failures_total", dimensions: [("outcome", "failed")])
    private let lagGauge = Gauge(label: "outbox_lag_seconds")

    /// How often published rows are pruned and how many at most per statement.
    private static let pruneInterval: Duration = .seconds(60)
    private static let pruneChunk = 5000
    /// How soon a loop looks again after it held rows back for order.
    private static let heldBackRetry: Duration = .milliseconds(100)
    /// How often the lag gauge is refreshed.
    private static let lagInterval: Duration = .seconds(1)

    /// Creates a relay; nothing happens until `run()`.
    ///
    /// - Parameters:
    ///   - pool: The service's database pool (each batch holds one connection for its transaction).
    ///   - publisher: A running publisher; the relay publishes with `mandatory` set.
    ///   - exchange: The events exchange, e.g. `EventCatalog.exchange`.
    ///   - listenerConfiguration: Where to `LISTEN outbox` for wake-ups; `nil` to rely on polling alone.
    ///   - batchSize: Rows claimed per transaction.
    ///   - pollInterval: How long the relay sleeps when there was nothing (more) to do.
    ///   - retention: How long published rows are kept.
    ///   - concurrentBatches: Batches in progress at once (each its own transaction): while one batch waits for
    ///     its confirms, the next is claimed and published, which keeps the publisher's window full.
    ///   - logger: Where the relay logs.
    package init(
        pool: DatabasePool,
        publisher: Publisher,
        exchange: String,
        listenerConfiguration: DatabaseConfiguration?,
        batchSize: Int = 500,
        pollInterval: Duration = .milliseconds(500),
        retention: Duration = .seconds(7 * 24 * 3600),
        concurrentBatches: Int = 3,
        logger: Logger
    ) {
        self.pool = pool
        self.publisher = publisher
        self.exchange = exchange
        self.listenerConfiguration = listenerConfiguration
        self.batchSize = max(1, batchSize)
        self.pollInterval = pollInterval
        self.retention = retention
        self.concurrentBatches = max(1, concurrentBatches)
        self.logger = logger
        wakes = (0..<max(1, concurrentBatches)).map { _ in RelayWakeSignal() }
    }

    /// Relays until graceful shutdown or cancellation; the batch in progress is finished first.
    package func run() async throws {
        let listener = listenerConfiguration.map {
            DatabaseListener(configuration: $0, channel: MessagingSchema.outboxChannel, logger: logger)
        }
        await withTaskGroup(of: Void.self) { group in
            if let listener {
                group.addTask { try? await listener.run() }
                group.addTask { [wakes] in
                    for await _ in listener.notifications {
                        for wake in wakes { wake.signal() }
                    }
                }
            }
            await withTaskCancellationHandler {
                await withGracefulShutdownHandler {
                    await withTaskGroup(of: Void.self) { loops in
                        for index in 0..<self.concurrentBatches {
                            loops.addTask { await self.relayLoop(index) }
                        }
                    }
                } onGracefulShutdown: {
                    self.stop()
                }
            } onCancel: {
                self.stop()
            }
            group.cancelAll()
        }
    }

    /// What one batch did.
    struct BatchResult: Sendable {
        /// Rows locked by the claim (including those held back for order).
        var locked: Int
        /// Rows published (handed to the broker), whatever the outcome.
        var attempted: Int
        /// Rows confirmed and marked published.
        var confirmed: Int
    }

    private func stop() {
        stopping.set()
        for wake in wakes { wake.signal() }
    }

    /// One batch loop; loop 0 also refreshes the lag gauge and prunes.
    private func relayLoop(_ index: Int) async {
        let wake = wakes[index]
        let housekeeping = index == 0
        let clock = ContinuousClock()
        var errorBackoff: Duration = .zero
        // Prune once at start, then every `pruneInterval`.
        var lastPrune = clock.now - Self.pruneInterval
        var lastLag = clock.now - Self.lagInterval
        while !stopping.isSet {
            do {
                let result = try await relayBatch()
                errorBackoff = .zero
                if housekeeping, clock.now - lastLag >= Self.lagInterval {
                    lastLag = clock.now
                    try await updateLag()
                }
                if housekeeping, clock.now - lastPrune >= Self.pruneInterval {
                    lastPrune = clock.now
                    try await prune()
                }
                // Rows this loop published may have held back rows of the same aggregates in sibling loops.
                if result.confirmed > 0 {
                    for (other, sibling) in wakes.enumerated() where other != index { sibling.signal() }
                }
                // A full claim that made progress: there is probably more; go on without waiting.
                if result.locked >= batchSize, result.attempted > 0 { continue }
                // Rows held back behind an earlier row of their aggregate that another relay is publishing: look
                // again soon, since that relay's commit sends no notification.
                if result.locked > result.attempted {
                    await wake.wait(
                        timeout: min(pollInterval, Self.heldBackRetry), ignoringSignals: false, stopping: stopping)
                    continue
                }
            } catch {
                if stopping.isSet || Task.isCancelled { break }
                errorBackoff = min(max(errorBackoff * 2, .milliseconds(200)), .seconds(5))
                logger.warning(
                    "outbox relay batch failed; retrying",
                    metadata: ["error": "\(error)", "retry_in": "\(errorBackoff)"]
                )
                await wake.wait(timeout: errorBackoff, ignoringSignals: true, stopping: stopping)
                continue
            }
            await wake.wait(timeout: pollInterval, ignoringSignals: false, stopping: stopping)
        }
    }

    /// Claims, publishes and settles one batch in one transaction.
    func relayBatch() async throws -> BatchResult {
        try await pool.withTransaction { connection in
            let claim = try await connection.query(
                """
                WITH claimed AS (
                    SELECT o.seq, o.aggregatetype, o.aggregateid
                    FROM outbox o
                    WHERE o.published_at IS NULL
                      AND (o.retry_at IS NULL OR o.retry_at <= now())
                      AND NOT EXISTS (
                          SELECT 1 FROM outbox e
                          WHERE e.aggregatetype = o.aggregatetype AND e.aggregateid = o.aggregateid
                            AND e.published_at IS NULL AND e.retry_at IS NOT NULL AND NOT e.unroutable
                            AND e.seq < o.seq AND e.retry_at > now())
                    ORDER BY o.seq
                    LIMIT \(batchSize)
                    FOR UPDATE OF o SKIP LOCKED
                )
                SELECT o.seq, o.id, o.type, o.payload::text AS payload, o.source, o.subject, o.time, o.dataschema,
                       o.extensions::text AS extensions, o.attempts, o.unroutable,
                       NOT EXISTS (
                           SELECT 1 FROM outbox e
                           WHERE e.aggregatetype = c.aggregatetype AND e.aggregateid = c.aggregateid
                             AND e.published_at IS NULL AND e.seq < c.seq AND NOT e.unroutable
                             AND e.seq NOT IN (SELECT seq FROM claimed)) AS publishable,
                       (SELECT count(*) FROM claimed) AS locked
                FROM claimed c JOIN outbox o ON o.seq = c.seq
                ORDER BY o.seq
                """
            )
            let locked = try claim.first.map { try $0.decode("locked", as: Int.self) } ?? 0
            var rows: [ClaimedRow] = []
            rows.reserveCapacity(claim.count)
            for row in claim where try row.decode("publishable", as: Bool.self) {
                rows.append(try ClaimedRow(row: row))
            }
            guard !rows.isEmpty else { return BatchResult(locked: locked, attempted: 0, confirmed: 0) }

            let messages = rows.map { $0.message(exchange: exchange) }
            let outcomes = try await publisher.publish(messages)

            var confirmed: [Int] = []
            var failedSeqs: [Int] = []
            var failedUnroutable: [Bool] = []
            var failedErrors: [String] = []
            for (row, outcome) in zip(rows, outcomes) {
                switch outcome {
                case .confirmed:
                    confirmed.append(row.seq)
                    if row.wasUnroutable {
                        logger.warning(
                            "outbox event published after it was unroutable; it may be out of order",
                            metadata: ["event.id": "\(row.event.id)", "event.type": "\(row.event.type)"]
                        )
                    }
                    continue
                case .returned(let code, let text):
                    returnedCounter.increment()
                    logger.error(
                        "outbox event is unroutable: no queue is bound for its routing key; it stays unpublished",
                        metadata: [
                            "event.id": "\(row.event.id)", "event.type": "\(row.event.type)",
                            "amqp.exchange": "\(exchange)", "amqp.routing_key": "\(row.routingKey)",
                            "amqp.reply": "\(code) \(text)", "attempts": "\(row.attempts + 1)",
                        ]
                    )
                    failedUnroutable.append(true)
                    failedErrors.append("returned \(code) \(text)")
                case .nacked:
                    nackedCounter.increment()
                    logger.warning(
                        "outbox event was nacked by the broker; will retry", metadata: ["event.id": "\(row.event.id)"])
                    failedUnroutable.append(false)
                    failedErrors.append("nacked")
                case .failed(let reason):
                    failedCounter.increment()
                    logger.warning(
                        "outbox event publish failed; will retry",
                        metadata: ["event.id": "\(row.event.id)", "error": "\(reason)"]
                    )
                    failedUnroutable.append(false)
                    failedErrors.append("failed: \(reason)")
                }
                failedSeqs.append(row.seq)
            }

            // Losing this commit in a database crash only means publishing these rows again, which consumers
            // de-duplicate; so the relay does not wait for the WAL flush.
            var statements: [SQLQuery] = ["SET LOCAL synchronous_commit = off"]
            if !confirmed.isEmpty {
                statements.append(
                    """
                    UPDATE outbox SET published_at = now(), retry_at = NULL, unroutable = false, last_error = NULL
                    WHERE seq = ANY(\(confirmed)::bigint[])
                    """
                )
            }
            if !failedSeqs.isEmpty {
                statements.append(
                    """
                    UPDATE outbox AS o
                    SET attempts = o.attempts + 1,
                        retry_at = now() + make_interval(secs => least(60, 0.5 * power(2, least(o.attempts, 16)))),
                        unroutable = f.unroutable,
                        last_error = f.error
                    FROM unnest(\(failedSeqs)::bigint[], \(failedUnroutable)::boolean[], \(failedErrors)::text[])
                         AS f(seq, unroutable, error)
                    WHERE o.seq = f.seq
                    """
                )
            }
            _ = try await connection.pipeline(statements)
            publishedCounter.increment(by: confirmed.count)
            return BatchResult(locked: locked, attempted: rows.count, confirmed: confirmed.count)
        }
    }

    /// Records the age of the oldest unpublished row.
    private func updateLag() async throws {
        let result = try await pool.withConnection { connection in
            try await connection.query(
                """
                SELECT EXTRACT(EPOCH FROM (now() - created_at))::float8 AS lag
                FROM outbox WHERE published_at IS NULL ORDER BY seq LIMIT 1
                """
            )
        }
        lagGauge.record(try result.first.map { try $0.decode("lag", as: Double.self) } ?? 0)
    }

    /// Deletes published rows older than `retention`, a chunk at a time.
    private func prune() async throws {
        let cutoff = Date().addingTimeInterval(-retention.seconds)
        var deleted = 0
        while !stopping.isSet {
            let result = try await pool.withConnection { connection in
                try await connection.query(
                    """
                    DELETE FROM outbox WHERE seq IN (
                        SELECT seq FROM outbox WHERE published_at IS NOT NULL AND published_at < \(cutoff)
                        LIMIT \(Self.pruneChunk))
                    """
                )
            }
            deleted += result.rowsAffected
            if result.rowsAffected < Self.pruneChunk { break }
        }
        if deleted > 0 { logger.debug("pruned published outbox rows", metadata: ["rows": "\(deleted)"]) }
    }
}

/// A claimed outbox row, rebuilt into the CloudEvent it was enqueued as.
private struct ClaimedRow {
    var seq: Int
    var event: CloudEvent
    var routingKey: String
    var attempts: Int
    var wasUnroutable: Bool

    init(row: PostgresRow) throws {
        seq = try row.decode("seq", as: Int.self)
        let extensionsText = try row.decode("extensions", as: String.self)
        let extensions =
            extensionsText == "{}"
            ? [:] : (try? JSONDecoder().decode([String: String].self, from: Data(extensionsText.utf8))) ?? [:]
        event = CloudEvent(
            id: try row.decode("id", as: UUID.self).uuidString.lowercased(),
            source: try row.decode("source", as: String.self),
            type: try row.decode("type", as: String.self),
            subject: try row.decode("subject", as: String?.self),
            time: try row.decode("time", as: Date.self),
            dataContentType: "application/json",
            dataSchema: try row.decode("dataschema", as: String?.self),
            data: Data(try row.decode("payload", as: String.self).utf8),
            extensions: extensions
        )
        routingKey = event.eventName ?? event.type
        attempts = try row.decode("attempts", as: Int.self)
        wasUnroutable = try row.decode("unroutable", as: Bool.self)
    }

    /// The AMQP message: CloudEvents binary mode, persistent, mandatory.
    func message(exchange: String) -> OutgoingMessage {
        OutgoingMessage(event: event, exchange: exchange)
    }
}

/// Wakes the relay loop early: set by `NOTIFY outbox` and by shutdown; remembers one signal given while nobody
/// waits.
private final class RelayWakeSignal: Sendable {
    private let state = Locked<(pending: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    /// Wakes the waiter, or the next one.
    func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.pending = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    /// Waits until `signal()` (unless `ignoringSignals`, used for error backoff), `timeout`, or `stopping`.
    func wait(timeout: Duration, ignoringSignals: Bool, stopping: RelayStopFlag) async {
        if stopping.isSet { return }
        if ignoringSignals {
            // Still wake for shutdown: poll the flag in short steps.
            let deadline = ContinuousClock.now + timeout
            while !stopping.isSet, ContinuousClock.now < deadline {
                try? await Task.sleep(for: min(.milliseconds(100), deadline - ContinuousClock.now))
            }
            return
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForSignal() }
            group.addTask { try? await Task.sleep(for: timeout) }
            await group.next()
            group.cancelAll()
        }
    }

    private func waitForSignal() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.pending || Task.isCancelled {
                        state.pending = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }
}

/// Set once the relay should stop after the batch in progress.
private final class RelayStopFlag: Sendable {
    private let flag = Locked(false)

    /// Whether stopping was requested.
    var isSet: Bool { flag.withLock { $0 } }

    /// Requests stopping.
    func set() { flag.withLock { $0 = true } }
}
