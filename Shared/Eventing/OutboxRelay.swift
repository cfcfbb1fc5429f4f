import AMQP
import Contracts
import Database
import Foundation
import Logging
import Metrics
import ServiceLifecycle
import Synchronization

/// Publishes the rows of the transactional outbox (`MessagingSchema.outbox`) to the broker, in batches, with
/// publisher confirms; a row is marked published only after the broker confirmed it.
///
/// ## One batch: claim, publish, settle — no transaction open while the broker works
/// 1. **Claim** (one statement in a short transaction, one round trip): up to `batchSize` due unpublished rows
///    in `seq` order are locked with `FOR UPDATE SKIP LOCKED`, and those that may go now (see *Order* below) get
///    a lease: `claimed_by` = this relay, `claimed_until` = now + `lease` (migration
///    `0003_messaging_outbox_lease`).
/// 2. **Publish** through the ``Publisher`` as CloudEvents in binary mode (routing key = event name,
///    `message_id` = id, persistent, `mandatory`) and wait for the confirms. No database connection is held and
///    no transaction is open meanwhile, however long the broker takes.
/// 3. **Settle** (one short transaction, one round trip): confirmed rows get `published_at`; the others record a
///    failed attempt (`attempts`, `retry_at` with exponential backoff from 0.5 s to 60 s, `last_error`); both
///    lose their lease. A `.returned` message had no queue bound for its routing key: it is logged as an error
///    and marked `unroutable` (it is retried too, in case a binding appears). If the publisher throws (no
///    connection, shutting down) the leases are released and the relay backs off. The settling transaction
///    commits with `synchronous_commit = off`: a database crash can at worst forget that rows were published,
///    and they are published again.
///
/// A relay that dies after claiming leaves its leases behind; once they expire another relay claims the rows
/// again. A relay that dies after publishing but before settling therefore causes those rows to be published
/// twice: delivery is at least once, and consumers de-duplicate through the inbox. In normal operation every
/// row is published once. `lease` must exceed the longest publish (the publisher's connect wait plus its confirm
/// timeout); a publish that outlasts it is logged, since another relay may have published the rows meanwhile
/// (a duplicate, possibly out of order).
///
/// ## Order per aggregate, with any number of relays
/// Rows of one aggregate (`aggregatetype`, `aggregateid`) reach the broker in `seq` order. A row is claimed only
/// if no *earlier* unpublished row of its aggregate exists outside the same claim. Such an earlier row is either
/// in flight (leased by this or another relay, or locked by a claim in progress), or waiting for its retry; in
/// both cases the later row stays unclaimed until the earlier one is published. Rows behind a row in flight or
/// in backoff are not even candidates, so they do not crowd the batch out; because of that a relay can claim
/// batch N+1 while batch N waits for its confirms (`concurrentBatches`) without breaking the order: the two
/// batches never share an aggregate. Two exceptions, both logged: an earlier row that was *unroutable* does not
/// hold back its successors (no queue received it, so there is no order to keep), and when one message of a
/// batch is nacked or fails while a later message of its aggregate in the same batch is confirmed, the failed
/// one is delivered later, out of order. Consumers must tolerate that anyway (DESIGN §7: order comes from the
/// ledger).
///
/// ## Waking up
/// One loop per relay. With a `listenerConfiguration`, a ``DatabaseListener`` on channel `outbox` wakes it as
/// soon as an inserting transaction commits; the loop then waits `coalescing` (a few milliseconds) so that rows
/// committed right after join the same batch, and claims. Without a listener (or when notifications are lost)
/// it polls every `pollInterval`. A full claim is followed by the next one at once, up to `concurrentBatches`
/// batches in flight; a settled batch triggers a new claim (it may have unblocked later rows of its
/// aggregates). When rows were held back behind another relay's claim, the loop looks again after 100 ms, since
/// that relay's settling sends no notification.
///
/// ## Connections
/// `pool` should be the relay's own small pool (one or two connections; `EventBackbone` builds one), so the
/// HTTP handlers never wait for a connection behind the relay. A connection is held only for the claim and the
/// settle statements, never across a broker round trip.
///
/// ## Housekeeping and metrics
/// Published rows older than `retention` are deleted (a few thousand at a time, at start and once a minute). Metrics:
/// `outbox_published_total`, `outbox_publish_failures_total{outcome=returned|nacked|failed}` and
/// `outbox_lag_seconds` (age of the oldest unpublished row, 0 when none).
///
/// ## Shutdown
/// On graceful shutdown the relay finishes the batches in flight (publish and settle) and returns. In a
/// `ServiceGroup` list it after its pool and the publisher, so it stops before they do.
package final class OutboxRelay: Service, Sendable {
    private let pool: DatabasePool
    private let publisher: Publisher
    private let exchange: String
    private let listenerConfiguration: DatabaseConfiguration?
    private let batchSize: Int
    private let pollInterval: Duration
    private let retention: Duration
    private let concurrentBatches: Int
    private let lease: Duration
    private let coalescing: Duration
    private let logger: Logger
    /// This relay's identity in `claimed_by`; a new one per instance, so a restarted process never mistakes a
    /// dead relay's leases for its own.
    private let relayID = UUID()
    private let wake = RelayWakeSignal()
    private let stopping = RelayStopFlag()
    private let publishedCounter = Counter(label: "outbox_published_total")
    private let returnedCounter = Counter(label: "outbox_publish_failures_total", dimensions: [("outcome", "returned")])
    private let nackedCounter = Counter(label: "outbox_publish_failures_total", dimensions: [("outcome", "nacked")])
    private let failedCounter = Counter(label: "outbox_publish_failures_total", dimensions: [("outcome", "failed")])
    private let lagGauge = Gauge(label: "outbox_lag_seconds")

    /// How often published rows are pruned and how many at most per statement.
    private static let pruneInterval: Duration = .seconds(60)
    private static let pruneChunk = 5000
    /// How soon the loop looks again after rows were held back behind another relay's claim.
    private static let heldBackRetry: Duration = .milliseconds(100)
    /// How often the lag gauge is refreshed.
    private static let lagInterval: Duration = .seconds(1)
    /// For the claim and settle transactions: no wait for the WAL flush (a lost commit only means publishing
    /// again), and no JIT — the claim's estimated cost crosses `jit_above_cost` on a large backlog, and compiling
    /// it took seconds for a statement that runs in milliseconds.
    private static let shortTransactionSettings: SQLQuery =
        "SELECT set_config('synchronous_commit', 'off', true), set_config('jit', 'off', true)"
    /// The same for the claim, which must also walk `outbox_queue` in `seq` order and stop after
    /// `batchSize` rows: without fresh statistics (a new table, a bulk insert) the planner chose a bitmap scan of
    /// every unpublished row plus a sort, which made each claim cost O(backlog) — 565 ms instead of 36 ms for
    /// 1,000 of 50,000 rows.
    package static let claimSettings: SQLQuery = """
        SELECT set_config('synchronous_commit', 'off', true), set_config('jit', 'off', true),
               set_config('enable_bitmapscan', 'off', true), set_config('enable_seqscan', 'off', true)
        """

    /// Creates a relay; nothing happens until `run()`.
    ///
    /// - Parameters:
    ///   - pool: The relay's own pool (one or two connections suffice); each claim and each settle holds a
    ///     connection for one short statement.
    ///   - publisher: A running publisher; the relay publishes with `mandatory` set.
    ///   - exchange: The events exchange, e.g. `EventCatalog.exchange`.
    ///   - listenerConfiguration: Where to `LISTEN outbox` for wake-ups; `nil` to rely on polling alone.
    ///   - batchSize: Rows claimed at most per batch (one publish call, one confirm window).
    ///   - pollInterval: How long the relay sleeps when there was nothing (more) to do.
    ///   - retention: How long published rows are kept.
    ///   - concurrentBatches: Batches in flight at once: while one batch waits for its confirms, the next is
    ///     claimed and published (from other aggregates), which keeps the publisher's window full.
    ///   - lease: How long a claim is exclusive; after that another relay may publish the rows again. Must exceed
    ///     the longest publish: the publisher's `connectTimeout` plus its `confirmTimeout` (10 s + 30 s by
    ///     default).
    ///   - coalescing: How long the relay waits after a wake-up before it claims, so that rows committed
    ///     together end up in one batch.
    ///   - logger: Where the relay logs.
    package init(
        pool: DatabasePool,
        publisher: Publisher,
        exchange: String,
        listenerConfiguration: DatabaseConfiguration?,
        batchSize: Int = 500,
        pollInterval: Duration = .milliseconds(500),
        retention: Duration = .seconds(7 * 24 * 3600),
        concurrentBatches: Int = 2,
        lease: Duration = .seconds(60),
        coalescing: Duration = .milliseconds(10),
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
        self.lease = max(lease, .milliseconds(100))
        self.coalescing = max(coalescing, .zero)
        self.logger = logger
    }

    /// Relays until graceful shutdown or cancellation; the batches in flight are finished first.
    package func run() async throws {
        let listener = listenerConfiguration.map {
            DatabaseListener(configuration: $0, channel: MessagingSchema.outboxChannel, logger: logger)
        }
        await withTaskGroup(of: Void.self) { group in
            if let listener {
                group.addTask { try? await listener.run() }
                group.addTask { [wake] in
                    for await _ in listener.notifications { wake.signal() }
                }
            }
            await withTaskCancellationHandler {
                await withGracefulShutdownHandler {
                    await self.relayLoop()
                } onGracefulShutdown: {
                    self.stop()
                }
            } onCancel: {
                self.stop()
            }
            group.cancelAll()
        }
    }

    private func stop() {
        stopping.set()
        wake.signal()
    }

    /// Rows one claim leased to this relay.
    struct Claim: Sendable {
        /// Rows the claim locked, including those held back for order.
        var candidates: Int
        /// Rows leased to this relay, in `seq` order.
        fileprivate var rows: [ClaimedRow]
    }

    /// What became of one batch.
    enum Settled: Sendable {
        /// Published; `confirmed` rows were marked published.
        case settled(confirmed: Int)
        /// The publisher threw before any outcome (no connection, shutting down); the leases were released.
        case notPublished(any Error)
        /// Published, but the settle statement failed; the leases expire and the rows go out again.
        case settleFailed(any Error)
    }

    /// What the relay loop waits for: a batch settling, or a wake-up (`true`: a signal, `false`: a timeout).
    private enum LoopEvent: Sendable {
        case settled(Settled)
        case woken(Bool)
    }

    /// The relay loop: claims batches (up to `concurrentBatches` in flight), publishes and settles them in child
    /// tasks, keeps house, and otherwise waits for whichever comes first: a batch settling, a notification, or
    /// the poll.
    private func relayLoop() async {
        let clock = ContinuousClock()
        // Prune once at start, then every `pruneInterval`.
        var lastPrune = clock.now - Self.pruneInterval
        var lastLag = clock.now - Self.lagInterval
        var errorBackoff: Duration = .zero
        await withTaskGroup(of: LoopEvent.self) { group in
            var inFlight = 0
            var claimNow = true
            var heldBack = false
            // Whether a child task is waiting for a wake-up (there is at most one).
            var waiting = false
            while !stopping.isSet {
                do {
                    if clock.now - lastLag >= Self.lagInterval {
                        lastLag = clock.now
                        try await updateLag()
                    }
                    if clock.now - lastPrune >= Self.pruneInterval {
                        lastPrune = clock.now
                        try await prune()
                    }
                    if claimNow, inFlight < concurrentBatches {
                        // A notification arriving from now on is for rows this claim may not see: keep it.
                        wake.clear()
                        let claim = try await claimBatch()
                        errorBackoff = .zero
                        heldBack = claim.candidates > claim.rows.count
                        claimNow = false
                        if !claim.rows.isEmpty {
                            inFlight += 1
                            let rows = claim.rows
                            group.addTask { .settled(await self.publishAndSettle(rows)) }
                            // A full claim: there is probably more, from aggregates not in flight.
                            if claim.candidates >= batchSize { claimNow = true }
                            continue
                        }
                    }
                } catch {
                    if stopping.isSet || Task.isCancelled { break }
                    errorBackoff = await backOff(errorBackoff, "outbox relay database work failed; retrying", error)
                    claimNow = true
                    continue
                }
                if !waiting {
                    // With rows held back behind another relay's claim, whose settling notifies nobody, look
                    // again soon.
                    let timeout = heldBack ? min(pollInterval, Self.heldBackRetry) : pollInterval
                    waiting = true
                    group.addTask { [wake, stopping] in
                        .woken(await wake.wait(timeout: timeout, ignoringSignals: false, stopping: stopping))
                    }
                }
                guard let event = await group.next() else { break }
                // Whatever happened, look again: new rows, or settled rows that unblock later rows of their
                // aggregates.
                claimNow = true
                switch event {
                case .woken(let signalled):
                    waiting = false
                    if signalled, coalescing > .zero, !stopping.isSet {
                        // Let the transactions committing right now join this batch.
                        try? await Task.sleep(for: coalescing)
                    }
                case .settled(let settled):
                    inFlight -= 1
                    switch settled {
                    case .settled:
                        errorBackoff = .zero
                    case .notPublished(let error), .settleFailed(let error):
                        if stopping.isSet || Task.isCancelled { break }
                        errorBackoff = await backOff(errorBackoff, "outbox relay batch failed; retrying", error)
                    }
                }
            }
            // Graceful stop: `stop()` ends the wake-up wait, and the batches in flight finish (publish and
            // settle) before the group returns.
        }
    }

    /// Logs `error`, waits the next backoff step (0.2 s doubling to 5 s; only shutdown cuts it short) and
    /// returns that step.
    private func backOff(_ previous: Duration, _ message: Logger.Message, _ error: any Error) async -> Duration {
        let backoff = min(max(previous * 2, .milliseconds(200)), .seconds(5))
        logger.warning(message, metadata: ["error": "\(error)", "retry_in": "\(backoff)"])
        await wake.wait(timeout: backoff, ignoringSignals: true, stopping: stopping)
        return backoff
    }

    /// Claims up to `batchSize` rows: locks the due candidates, leases those that may go now, and commits — all
    /// in one round trip.
    func claimBatch() async throws -> Claim {
        let results = try await pool.withConnection { connection in
            try await connection.pipeline([
                "BEGIN",
                Self.claimSettings,
                Self.claimStatement(relayID: relayID, leaseSeconds: Self.seconds(lease), batchSize: batchSize),
                "COMMIT",
            ])
        }
        let claim = results[2]
        let candidates = try claim.first.map { try $0.decode("candidates", as: Int.self) } ?? 0
        var rows: [ClaimedRow] = []
        rows.reserveCapacity(claim.count)
        for row in claim where try !row.isNull("seq") {
            rows.append(try ClaimedRow(row: row))
        }
        return Claim(candidates: candidates, rows: rows)
    }

    /// The claim: up to `batchSize` claimable rows in `seq` order, leased to `relayID` for `leaseSeconds`,
    /// returned with the number of candidates found (run after ``claimSettings``, in one transaction).
    package static func claimStatement(relayID: UUID, leaseSeconds: Double, batchSize: Int) -> SQLQuery {
        """
        WITH candidates AS (
            SELECT o.seq, o.aggregatetype, o.aggregateid
            FROM outbox o
            -- `seq > 0` (always true) lets this scan, and only this one, use `outbox_queue`
            -- (MessagingSchema.outboxQueueIndex).
            WHERE o.published_at IS NULL AND o.seq > 0
              AND (o.retry_at IS NULL OR o.retry_at <= now())
              AND (o.claimed_until IS NULL OR o.claimed_until <= now())
              -- Not behind a row of its aggregate in flight or in backoff. A scalar subquery, not NOT
              -- EXISTS: the planner must probe the aggregate's index per row, not join the whole outbox.
              AND (SELECT true FROM outbox e
                   WHERE e.aggregatetype = o.aggregatetype AND e.aggregateid = o.aggregateid
                     AND e.published_at IS NULL AND e.seq < o.seq AND NOT e.unroutable
                     AND (e.retry_at > now() OR e.claimed_until > now())
                   LIMIT 1) IS NULL
            ORDER BY o.seq
            LIMIT \(batchSize)
            FOR UPDATE OF o SKIP LOCKED
        ),
        claimable AS (
            -- No earlier unpublished row of the aggregate outside this claim (e.g. locked by another).
            SELECT c.seq FROM candidates c
            WHERE (SELECT true FROM outbox e
                   WHERE e.aggregatetype = c.aggregatetype AND e.aggregateid = c.aggregateid
                     AND e.published_at IS NULL AND e.seq < c.seq AND NOT e.unroutable
                     AND e.seq NOT IN (SELECT seq FROM candidates)
                   LIMIT 1) IS NULL
        ),
        claimed AS (
            UPDATE outbox o
            SET claimed_by = \(relayID), claimed_until = now() + make_interval(secs => \(leaseSeconds))
            WHERE o.seq = ANY(ARRAY(SELECT seq FROM claimable))
            RETURNING o.seq, o.id, o.type, o.payload::text AS payload, o.source, o.subject, o.time,
                      o.dataschema, o.extensions::text AS extensions, o.attempts, o.unroutable
        )
        SELECT k.*, n.candidates
        FROM (SELECT count(*) AS candidates FROM candidates) n LEFT JOIN claimed k ON true
        ORDER BY k.seq
        """
    }

    /// Publishes claimed rows (no connection held, no transaction open), then settles them.
    private func publishAndSettle(_ rows: [ClaimedRow]) async -> Settled {
        let started = ContinuousClock.now
        let outcomes: [PublishOutcome]
        do {
            outcomes = try await publisher.publish(rows.map { $0.message(exchange: exchange) })
        } catch {
            await releaseLeases(rows)
            return .notPublished(error)
        }
        let took = ContinuousClock.now - started
        if took >= lease {
            logger.warning(
                "outbox publish outlasted the relay's lease; another relay may have published the rows again",
                metadata: ["took": "\(took)", "lease": "\(lease)", "rows": "\(rows.count)"]
            )
        }
        do {
            return .settled(confirmed: try await settle(rows, outcomes))
        } catch {
            return .settleFailed(error)
        }
    }

    /// Records the outcomes: confirmed rows are published, the others wait for a retry; all leases end.
    private func settle(_ rows: [ClaimedRow], _ outcomes: [PublishOutcome]) async throws -> Int {
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
        var statements: [SQLQuery] = ["BEGIN", Self.shortTransactionSettings]
        if !confirmed.isEmpty {
            // Whoever holds the lease now: the broker has the message, so the row is published.
            statements.append(
                """
                UPDATE outbox
                SET published_at = now(), retry_at = NULL, unroutable = false, last_error = NULL,
                    claimed_by = NULL, claimed_until = NULL
                WHERE seq = ANY(\(confirmed)::bigint[]) AND published_at IS NULL
                """
            )
        }
        if !failedSeqs.isEmpty {
            // Only rows still leased to this relay: a row whose lease expired may be in flight at another relay.
            statements.append(
                """
                UPDATE outbox AS o
                SET attempts = o.attempts + 1,
                    retry_at = now() + make_interval(secs => least(60, 0.5 * power(2, least(o.attempts, 16)))),
                    unroutable = f.unroutable,
                    last_error = f.error,
                    claimed_by = NULL, claimed_until = NULL
                FROM unnest(\(failedSeqs)::bigint[], \(failedUnroutable)::boolean[], \(failedErrors)::text[])
                     AS f(seq, unroutable, error)
                WHERE o.seq = f.seq AND o.claimed_by = \(relayID) AND o.published_at IS NULL
                """
            )
        }
        statements.append("COMMIT")
        _ = try await pool.withConnection { connection in try await connection.pipeline(statements) }
        publishedCounter.increment(by: confirmed.count)
        return confirmed.count
    }

    /// Gives the rows back without counting an attempt (the publisher was not there); if this fails too, the
    /// leases expire by themselves.
    private func releaseLeases(_ rows: [ClaimedRow]) async {
        let seqs = rows.map(\.seq)
        do {
            _ = try await pool.withConnection { connection in
                try await connection.query(
                    """
                    UPDATE outbox SET claimed_by = NULL, claimed_until = NULL
                    WHERE seq = ANY(\(seqs)::bigint[]) AND claimed_by = \(relayID) AND published_at IS NULL
                    """
                )
            }
        } catch {
            logger.warning(
                "outbox relay could not release its lease; the rows go out when it expires",
                metadata: ["error": "\(error)", "rows": "\(rows.count)", "lease": "\(lease)"]
            )
        }
    }

    /// Records the age of the oldest unpublished row.
    private func updateLag() async throws {
        let result = try await pool.withConnection { connection in
            try await connection.query(
                """
                SELECT EXTRACT(EPOCH FROM (now() - created_at))::float8 AS lag
                FROM outbox WHERE published_at IS NULL AND seq > 0 ORDER BY seq LIMIT 1
                """
            )
        }
        lagGauge.record(try result.first.map { try $0.decode("lag", as: Double.self) } ?? 0)
    }

    /// `duration` in (fractional) seconds.
    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// Deletes published rows older than `retention`, a chunk at a time.
    private func prune() async throws {
        let cutoff = Date().addingTimeInterval(-Self.seconds(retention))
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
    private let state = Mutex<(pending: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

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

    /// Forgets a remembered signal (the loop is about to look anyway).
    func clear() {
        state.withLock { $0.pending = false }
    }

    /// Waits until `signal()` (unless `ignoringSignals`, used for error backoff), `timeout`, or `stopping`;
    /// returns whether a signal ended the wait.
    @discardableResult
    func wait(timeout: Duration, ignoringSignals: Bool, stopping: RelayStopFlag) async -> Bool {
        if stopping.isSet { return false }
        if ignoringSignals {
            // Still wake for shutdown: poll the flag in short steps.
            let deadline = ContinuousClock.now + timeout
            while !stopping.isSet, ContinuousClock.now < deadline {
                try? await Task.sleep(for: min(.milliseconds(100), deadline - ContinuousClock.now))
            }
            return false
        }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await self.waitForSignal()
                return true
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return false
            }
            let signalled = await group.next() ?? false
            group.cancelAll()
            return signalled
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
    private let flag = Mutex(false)

    /// Whether stopping was requested.
    var isSet: Bool { flag.withLock { $0 } }

    /// Requests stopping.
    func set() { flag.withLock { $0 = true } }
}
