import Database
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization

/// Works off the durable webhook delivery queue (`webhook_deliveries`).
///
/// It keeps up to `webhookConcurrency` sends in flight, at most `webhookEndpointConcurrency` of them for one endpoint
/// and `webhookFailingEndpointConcurrency` for one that is failing (so slow or dead endpoints never hold up the
/// others, and a backlog for a dead one waits instead of each delivery spending its timeout). Due deliveries are
/// claimed with `FOR UPDATE SKIP LOCKED` (so several instances share the work without sending one delivery twice at
/// a time), posted signed per Standard Webhooks, with a timeout of at most 15 s and without following redirects,
/// and what finished is settled in one transaction: the attempt log, the deliveries' next state, and the endpoints'
/// health. A 2xx is delivered; 410 Gone disables the endpoint; any other answer or error is retried on the schedule
/// (≈ 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, ±10 % jitter), after which the delivery has failed; an endpoint failing
/// without a single success for 5 days is disabled. A delivery whose claim lease ran out (the process died while
/// sending) is retried with the same `webhook-id`, which receivers use to ignore a repeat.
final class WebhookDispatcher: Service, Sendable {
    private let pool: DatabasePool
    private let listener: DatabaseListener
    private let settings: NotificationSettings
    private let policy: WebhookTargetPolicy
    private let logger: Logger
    static let batchSize = 200
    /// The settler's pause after recording a batch of finished sends.
    static let settlePause: Duration = .milliseconds(10)

    init(
        pool: DatabasePool, listenerConfiguration: DatabaseConfiguration, settings: NotificationSettings, logger: Logger
    ) {
        self.pool = pool
        self.listener = DatabaseListener(
            configuration: listenerConfiguration, channel: NotificationConsumer.webhookChannel, logger: logger)
        self.settings = settings
        self.policy = WebhookTargetPolicy(allowPrivate: settings.allowPrivateTargets)
        self.logger = logger
    }

    func run() async throws {
        let client = WebhookHTTPClient(maxIdlePerTarget: settings.webhookEndpointConcurrency)
        // Raised by a NOTIFY (deliveries were queued) and the poll ticker (retries fall due): worth a claim.
        let mayBeDue = Flag()
        // One wake-up signal for everything the dispatcher waits on: a finished send, a NOTIFY, the poll ticker.
        await withWakeUps(listener: listener, every: settings.pollInterval, onWork: { mayBeDue.raise() }) {
            signals, signal in
            await self.pump(client: client, signals: signals, signal: signal, mayBeDue: mayBeDue)
        }
        client.shutdown()
    }

    /// A flag raised by one task and lowered (read) by another.
    private final class Flag: Sendable {
        private let value = Atomic<Bool>(true)
        func raise() { value.store(true, ordering: .relaxed) }
        /// Lowers the flag; returns whether it was raised.
        func lower() -> Bool { value.exchange(false, ordering: .relaxed) }
    }

    /// Sends that finished: the settler takes their outcomes to record them, the pump takes them again to free
    /// their slots (and to see which endpoints answered 410 Gone).
    private final class Finished: Sendable {
        private let lists = Mutex<(unsettled: [Outcome], unfreed: [Outcome])>(([], []))

        func append(_ outcome: Outcome) {
            lists.withLock {
                $0.unsettled.append(outcome)
                $0.unfreed.append(outcome)
            }
        }

        func takeUnsettled() -> [Outcome] {
            lists.withLock { lists in
                defer { lists.unsettled = [] }
                return lists.unsettled
            }
        }

        func takeUnfreed() -> [Outcome] {
            lists.withLock { lists in
                defer { lists.unfreed = [] }
                return lists.unfreed
            }
        }
    }

    /// Keeps up to `webhookConcurrency` deliveries in hand: claims more whenever there is room and never waits for
    /// one slow or dead endpoint before sending to the others. What finished is settled by
    /// ``settle(from:signals:)`` beside it, so a slot is refilled as soon as its send returns, not after a round
    /// trip to record it.
    private func pump(
        client: WebhookHTTPClient, signals: AsyncStream<Void>, signal: AsyncStream<Void>.Continuation,
        mayBeDue: Flag
    ) async {
        let finished = Finished()
        let (settleSignals, settleSignal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        await withTaskGroup(of: Void.self) { settler in
            settler.addTask { await self.settle(from: finished, signals: settleSignals) }
            await withTaskGroup(of: Void.self) { sends in
                let unsent = await claimAndSend(
                    client: client, signals: signals, signal: signal, mayBeDue: mayBeDue, finished: finished,
                    settleSignal: settleSignal, sends: &sends)
                // Shutting down: what was claimed but not sent goes back to the queue at once (not after its lease);
                // the sends in flight finish, and the settler records them and stops.
                await release(unsent)
                await sends.waitForAll()
            }
            settleSignal.finish()
        }
    }

    /// A claimed delivery and where it goes (or why it may not).
    private typealias Held = (item: Claimed, target: Result<WebhookHTTPClient.Target, any Error>)

    /// The pump's loop: frees the slots of finished sends and starts deliveries waiting for them, claims due
    /// deliveries when it is worth a statement, then waits for a finished send, a NOTIFY or the poll ticker.
    ///
    /// An endpoint has at most `webhookEndpointConcurrency` sends in flight; a healthy one may have as many again
    /// claimed and waiting here, so that a finished send is followed by the next without a claim in between, and
    /// a claim takes a batch instead of a delivery or two. A claim is made when work may have arrived (a NOTIFY,
    /// the poll ticker), when the last claim took all it was allowed (more may be due), when nothing is in hand,
    /// or when an endpoint's worth of sends finished since the last one. Returns what was claimed but not sent.
    private func claimAndSend(
        client: WebhookHTTPClient, signals: AsyncStream<Void>, signal: AsyncStream<Void>.Continuation,
        mayBeDue: Flag, finished: Finished, settleSignal: AsyncStream<Void>.Continuation,
        sends: inout TaskGroup<Void>
    ) async -> [Claimed] {
        let limit = max(1, settings.webhookConcurrency)
        let endpointLimit = max(1, settings.webhookEndpointConcurrency)
        // Sending per endpoint, and what waits for a free send per endpoint (oldest first); together what is in hand.
        var sending: [UUID: Int] = [:]
        var waiting: [UUID: [Held]] = [:]
        var freedSinceClaim = 0
        var lastClaimFull = true
        var iterator = signals.makeAsyncIterator()
        var lastRecovery = ContinuousClock.now - .seconds(60)
        // Endpoints that answered 410 Gone: nothing more is claimed for them until the settler has disabled them
        // (the claim then skips them anyway); forgotten at the next lease recovery.
        var gone: Set<UUID> = []

        func start(_ held: Held, sends: inout TaskGroup<Void>) {
            sending[held.item.endpointId, default: 0] += 1
            sends.addTask {
                let outcome =
                    switch held.target {
                    case .success(let target): await self.send(held.item, to: target, client: client)
                    case .failure(let refusal):
                        Outcome(claimed: held.item, statusCode: nil, error: "\(refusal)", duration: .zero)
                    }
                finished.append(outcome)
                settleSignal.yield()
                signal.yield()
            }
        }

        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            let freed = finished.takeUnfreed()
            freedSinceClaim += freed.count
            var unsent: [Claimed] = []
            for outcome in freed {
                let endpoint = outcome.claimed.endpointId
                let stillSending = sending[endpoint, default: 1] - 1
                sending[endpoint] = stillSending > 0 ? stillSending : nil
                if outcome.gone { gone.insert(endpoint) }
                if outcome.succeeded {
                    if var queue = waiting[endpoint], !queue.isEmpty {
                        start(queue.removeFirst(), sends: &sends)
                        waiting[endpoint] = queue.isEmpty ? nil : queue
                    }
                } else if let queue = waiting.removeValue(forKey: endpoint) {
                    // A failing (or gone) endpoint's waiting deliveries go back to the queue unsent: the claims
                    // from now on hold it to its failing concurrency.
                    unsent += queue.map(\.item)
                }
            }
            await release(unsent)
            do {
                if ContinuousClock.now - lastRecovery > .seconds(10) {
                    try await recoverExpiredLeasesAndCancelDisabled()
                    lastRecovery = .now
                    gone = []
                }
                var held = sending
                for (endpoint, queue) in waiting { held[endpoint, default: 0] += queue.count }
                let inHand = held.values.reduce(0, +)
                let room = min(Self.batchSize, limit - inHand)
                let worthIt =
                    mayBeDue.lower() || lastClaimFull || inHand == 0
                    || freedSinceClaim >= endpointLimit
                if room > 0, worthIt {
                    for endpoint in gone { held[endpoint] = Int(Int32.max) }
                    let claimed = try await claim(limit: room, held: held)
                    freedSinceClaim = 0
                    lastClaimFull = claimed.count == room
                    // Checked once per claim and URL; a send connects to an address checked here.
                    var targets: [String: Result<WebhookHTTPClient.Target, any Error>] = [:]
                    for item in claimed {
                        let target: Result<WebhookHTTPClient.Target, any Error>
                        if let checked = targets[item.url] {
                            target = checked
                        } else {
                            target = await checkedTarget(item.url)
                            targets[item.url] = target
                        }
                        if sending[item.endpointId, default: 0] < endpointLimit {
                            start((item, target), sends: &sends)
                        } else {
                            waiting[item.endpointId, default: []].append((item, target))
                        }
                    }
                    // A full claim means more may be due: look again at once.
                    if lastClaimFull, inHand + claimed.count < limit { continue }
                }
            } catch {
                logger.error("webhook claim failed", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
            _ = await iterator.next()
        }
        return waiting.values.flatMap { $0.map(\.item) }
    }

    /// Puts deliveries claimed but not sent back in the queue, as they were before the claim.
    private func release(_ unsent: [Claimed]) async {
        guard !unsent.isEmpty else { return }
        do {
            try await pool.withConnection { connection in
                try await connection.query(
                    """
                    UPDATE webhook_deliveries SET status = 'pending', attempts = attempts - 1, lease_until = NULL
                    WHERE id = ANY (\(unsent.map(\.id))::uuid[]) AND status = 'sending'
                    """)
            }
        } catch {
            // Their leases run out and the next start (or another instance) sends them.
            logger.warning("could not release unsent webhook deliveries", metadata: ["error": "\(error)"])
        }
    }

    /// Records finished sends in set-based batches (all that finished while the previous batch was being recorded)
    /// until `signals` finishes, then records what is left.
    private func settle(from finished: Finished, signals: AsyncStream<Void>) async {
        func settleFinished() async {
            let done = finished.takeUnsettled()
            guard !done.isEmpty else { return }
            do { try await settle(done) } catch {
                // The deliveries stay `sending` until their lease runs out, and are then sent again (same id).
                logger.error("webhook settle failed", metadata: ["error": "\(error)"])
            }
        }
        for await _ in signals {
            await settleFinished()
            // Sends finish one by one; a short pause gathers them into fewer, larger statements (a delivery stays
            // `sending` that much longer, well within its lease).
            try? await Task.sleep(for: Self.settlePause)
        }
        await settleFinished()
    }

    /// Claimed work.
    struct Claimed: Sendable {
        var id: UUID
        var endpointId: UUID
        var body: String
        var attempt: Int
        var url: String
        var secrets: [String]
    }

    /// One attempt's outcome.
    struct Outcome: Sendable {
        var claimed: Claimed
        var statusCode: Int?
        var error: String?
        var duration: Duration
        var succeeded: Bool { statusCode.map { (200..<300).contains($0) } ?? false }
        var gone: Bool { statusCode == 410 }
    }

    /// Claims due deliveries, oldest first, at most `limit` in all and for each endpoint twice its concurrency
    /// (its concurrency when it is failing) less those `held` for it already; none of an endpoint disabled or
    /// deleted meanwhile. One statement (atomic without a transaction around it).
    private func claim(limit: Int, held: [UUID: Int]) async throws -> [Claimed] {
        try await pool.withConnection { connection in
            let rows = try await connection.query(
                """
                WITH busy AS (
                    SELECT * FROM unnest(\(Array(held.keys))::uuid[], \(Array(held.values))::int8[])
                        AS b(endpoint_id, sending)
                ), due AS (
                    SELECT x.id, x.next_attempt_at
                    FROM webhook_endpoints e
                    LEFT JOIN busy b ON b.endpoint_id = e.id
                    CROSS JOIN LATERAL (
                        SELECT d.id, d.next_attempt_at FROM webhook_deliveries d
                        WHERE d.endpoint_id = e.id AND d.status = 'pending' AND d.next_attempt_at <= now()
                        ORDER BY d.next_attempt_at
                        LIMIT greatest(0, CASE WHEN e.failing_since IS NULL THEN \(2 * settings.webhookEndpointConcurrency)
                                               ELSE \(settings.webhookFailingEndpointConcurrency) END
                                          - coalesce(b.sending, 0))
                        FOR UPDATE OF d SKIP LOCKED
                    ) x
                    WHERE e.enabled AND e.deleted_at IS NULL
                    ORDER BY x.next_attempt_at LIMIT \(limit)
                )
                UPDATE webhook_deliveries d
                SET status = 'sending', attempts = d.attempts + 1, lease_until = now() + interval '2 minutes'
                FROM due, webhook_endpoints e
                WHERE d.id = due.id AND e.id = d.endpoint_id
                RETURNING d.id, d.endpoint_id, d.body, d.attempts, e.url,
                    ARRAY(SELECT s.secret FROM webhook_secrets s
                          WHERE s.endpoint_id = e.id AND (s.expires_at IS NULL OR s.expires_at > now())
                          ORDER BY s.created_at DESC) AS secrets
                """)
            return try rows.map { row in
                Claimed(
                    id: try row.decode("id"), endpointId: try row.decode("endpoint_id"), body: try row.decode("body"),
                    attempt: try row.decode("attempts"), url: try row.decode("url"),
                    secrets: try row.decode("secrets"))
            }
        }
    }

    /// Checks `url` against the SSRF policy now and says where its deliveries go, or why they may not.
    private func checkedTarget(_ url: String) async -> Result<WebhookHTTPClient.Target, any Error> {
        do { return .success(try Self.target(try await policy.check(url))) } catch { return .failure(error) }
    }

    /// Where a checked URL's deliveries go.
    static func target(_ checked: WebhookTargetPolicy.Checked) throws -> WebhookHTTPClient.Target {
        guard let components = URLComponents(url: checked.url, resolvingAgainstBaseURL: false),
            let host = components.host
        else { throw WebhookTargetPolicy.Refusal(reason: "URL tidak lengkap. The URL is incomplete.") }
        let tls = components.scheme?.lowercased() == "https"
        var path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        if let query = components.percentEncodedQuery { path += "?" + query }
        return WebhookHTTPClient.Target(
            tls: tls, host: host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")),
            port: components.port ?? (tls ? 443 : 80), path: path, addresses: checked.addresses)
    }

    /// Posts one delivery.
    private func send(_ item: Claimed, to target: WebhookHTTPClient.Target, client: WebhookHTTPClient) async
        -> Outcome
    {
        let started = ContinuousClock.now
        let messageId = "msg_" + item.id.uuidString.lowercased()
        let timestamp = Int(Date().timeIntervalSince1970)
        let body = ByteBuffer(string: item.body)
        var headers = HTTPHeaders()
        headers.add(name: "content-type", value: "application/json")
        headers.add(name: "user-agent", value: "asnreward-notification/1")
        headers.add(name: "webhook-id", value: messageId)
        headers.add(name: "webhook-timestamp", value: String(timestamp))
        headers.add(
            name: "webhook-signature",
            value: StandardWebhooks.signatureHeader(
                id: messageId, timestamp: timestamp, body: body.readableBytesView, secrets: item.secrets))
        do {
            let status = try await client.post(
                to: target, headers: headers, body: body, deadline: .now() + Self.timeAmount(settings.webhookTimeout))
            return Outcome(claimed: item, statusCode: status, error: nil, duration: ContinuousClock.now - started)
        } catch {
            return Outcome(
                claimed: item, statusCode: nil, error: String(describing: error).prefix(500).description,
                duration: ContinuousClock.now - started)
        }
    }

    /// Records the attempts and moves deliveries and endpoints on, in one transaction.
    private func settle(_ outcomes: [Outcome]) async throws {
        var states: [String] = []
        var delays: [Int] = []
        for outcome in outcomes {
            if outcome.succeeded {
                states.append("delivered")
                delays.append(0)
            } else if outcome.gone {
                states.append("failed")
                delays.append(0)
            } else if outcome.claimed.attempt <= settings.webhookRetrySchedule.count {
                states.append("pending")
                let base = settings.webhookRetrySchedule[outcome.claimed.attempt - 1]
                let milliseconds = Double(base.components.seconds) * 1000 + Double(base.components.attoseconds) / 1e15
                delays.append(Int(milliseconds * Double.random(in: 0.9...1.1)))
            } else {
                states.append("failed")
                delays.append(0)
            }
        }
        let ids = outcomes.map(\.claimed.id)
        let codes = outcomes.map { $0.statusCode ?? 0 }
        let errors = outcomes.map { $0.error ?? "" }
        let durations = outcomes.map {
            Int($0.duration.components.seconds * 1000 + $0.duration.components.attoseconds / 1_000_000_000_000_000)
        }
        let succeeded = Array(Set(outcomes.filter(\.succeeded).map(\.claimed.endpointId)))
        let gone = Array(Set(outcomes.filter(\.gone).map(\.claimed.endpointId)))
        let failing = Array(Set(outcomes.filter { !$0.succeeded }.map(\.claimed.endpointId)).subtracting(succeeded))
        let disableAfterSeconds =
            Double(settings.webhookDisableAfter.components.seconds)
            + Double(settings.webhookDisableAfter.components.attoseconds) / 1e18
        // The attempts, the deliveries' next state, and the end of a failing spell for endpoints that answered now,
        // in one statement: all a batch of successes needs.
        let record: SQLQuery = """
            WITH u AS (
                SELECT * FROM unnest(\(ids)::uuid[], \(states)::text[], \(delays)::int8[], \(codes)::int8[],
                                     \(errors)::text[], \(durations)::int8[])
                    AS u(id, state, delay, code, error, duration)
            ), settled AS (
                UPDATE webhook_deliveries d
                SET status = u.state, lease_until = NULL, last_status = NULLIF(u.code, 0),
                    last_error = NULLIF(u.error, ''),
                    next_attempt_at = CASE WHEN u.state = 'pending' THEN now() + u.delay * interval '1 millisecond'
                                           ELSE d.next_attempt_at END,
                    delivered_at = CASE WHEN u.state = 'delivered' THEN now() END
                FROM u WHERE d.id = u.id
                RETURNING d.id, d.endpoint_id, d.attempts, u.code, u.error, u.duration
            ), recovered AS (
                UPDATE webhook_endpoints SET failing_since = NULL
                WHERE id = ANY (\(succeeded)::uuid[]) AND failing_since IS NOT NULL
            )
            INSERT INTO webhook_attempts (delivery_id, endpoint_id, attempt, status_code, error, duration_ms)
            SELECT id, endpoint_id, attempts, NULLIF(code, 0), NULLIF(error, ''), duration FROM settled
            """
        guard !failing.isEmpty || !gone.isEmpty else {
            try await pool.withConnection { connection in try await connection.query(record) }
            return
        }
        try await pool.withTransaction { connection in
            try await connection.query(record)
            var disabled: [UUID] = []
            if !failing.isEmpty {
                try await connection.query(
                    """
                    UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, now())
                    WHERE id = ANY (\(failing)::uuid[])
                    """)
                disabled += try await connection.query(
                    """
                    UPDATE webhook_endpoints
                    SET enabled = false, disabled_at = now(),
                        disabled_reason = 'Gagal terus-menerus sejak ' || to_char(failing_since AT TIME ZONE 'Asia/Jakarta', 'YYYY-MM-DD HH24:MI')
                            || ' WIB. Failing without a success since then.'
                    WHERE id = ANY (\(failing)::uuid[]) AND enabled
                      AND failing_since <= now() - \(disableAfterSeconds) * interval '1 second'
                    RETURNING id
                    """
                ).map { try $0.decode("id", as: UUID.self) }
            }
            if !gone.isEmpty {
                disabled += try await connection.query(
                    """
                    UPDATE webhook_endpoints
                    SET enabled = false, disabled_at = now(),
                        disabled_reason = 'Penerima menjawab 410 Gone. The endpoint answered 410 Gone.'
                    WHERE id = ANY (\(gone)::uuid[]) AND enabled
                    RETURNING id
                    """
                ).map { try $0.decode("id", as: UUID.self) }
            }
            if !disabled.isEmpty {
                try await connection.query(
                    """
                    UPDATE webhook_deliveries SET status = 'cancelled'
                    WHERE endpoint_id = ANY (\(disabled)::uuid[]) AND status = 'pending'
                    """)
            }
        }
    }

    /// Deliveries left `sending` by a process that died go back to the queue; those still pending for an endpoint
    /// disabled or deleted meanwhile are cancelled (disabling cancels them too, but a delivery may be queued while
    /// an endpoint is disabled).
    private func recoverExpiredLeasesAndCancelDisabled() async throws {
        try await pool.withConnection { connection in
            try await connection.query(
                "UPDATE webhook_deliveries SET status = 'pending' WHERE status = 'sending' AND lease_until < now()")
            try await connection.query(
                """
                UPDATE webhook_deliveries SET status = 'cancelled', lease_until = NULL
                WHERE status = 'pending'
                  AND endpoint_id IN (SELECT id FROM webhook_endpoints WHERE NOT enabled OR deleted_at IS NOT NULL)
                """)
        }
    }

    static func timeAmount(_ duration: Duration) -> TimeAmount {
        .milliseconds(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)
    }
}
