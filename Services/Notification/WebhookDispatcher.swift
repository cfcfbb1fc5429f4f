import AsyncHTTPClient
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
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(5), read: Self.timeAmount(settings.webhookTimeout)))
        configuration.connectionPool = .init(
            idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: settings.webhookEndpointConcurrency)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        // One wake-up signal for everything the dispatcher waits on: a finished send, a NOTIFY, the poll ticker.
        let (signals, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await self.listener.run() }
            group.addTask {
                for await _ in self.listener.notifications { signal.yield() }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: self.settings.pollInterval)
                    signal.yield()
                }
            }
            await self.pump(client: client, signals: signals, signal: signal)
            group.cancelAll()
        }
        try? await client.shutdown()
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

    /// Keeps up to `webhookConcurrency` sends in flight: claims more whenever there is room and never waits for one
    /// slow or dead endpoint before sending to the others. What finished is settled by ``settle(from:signals:)``
    /// beside it, so a slot is refilled as soon as its send returns, not after a round trip to record it.
    private func pump(client: HTTPClient, signals: AsyncStream<Void>, signal: AsyncStream<Void>.Continuation) async {
        let finished = Finished()
        let (settleSignals, settleSignal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        await withTaskGroup(of: Void.self) { settler in
            settler.addTask { await self.settle(from: finished, signals: settleSignals) }
            await withTaskGroup(of: Void.self) { sends in
                await claimAndSend(
                    client: client, signals: signals, signal: signal, finished: finished, settleSignal: settleSignal,
                    sends: &sends)
                // Shutting down: let the sends in flight finish; the settler records them and stops.
                await sends.waitForAll()
            }
            settleSignal.finish()
        }
    }

    /// The pump's loop: frees the slots of finished sends, claims due deliveries into the free ones and starts
    /// their sends, then waits for a finished send, a NOTIFY or the poll ticker.
    private func claimAndSend(
        client: HTTPClient, signals: AsyncStream<Void>, signal: AsyncStream<Void>.Continuation, finished: Finished,
        settleSignal: AsyncStream<Void>.Continuation, sends: inout TaskGroup<Void>
    ) async {
        let limit = max(1, settings.webhookConcurrency)
        var inFlight = 0
        // Sends in flight per endpoint, capped so that slow or dead endpoints never take every slot.
        var perEndpoint: [UUID: Int] = [:]
        var iterator = signals.makeAsyncIterator()
        var lastRecovery = ContinuousClock.now - .seconds(60)
        // Endpoints that answered 410 Gone: nothing more is claimed for them until the settler has disabled them
        // (the claim then skips them anyway); forgotten at the next lease recovery.
        var gone: Set<UUID> = []
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            let freed = finished.takeUnfreed()
            inFlight -= freed.count
            for outcome in freed {
                let endpoint = outcome.claimed.endpointId
                let left = perEndpoint[endpoint, default: 1] - 1
                perEndpoint[endpoint] = left > 0 ? left : nil
                if outcome.gone { gone.insert(endpoint) }
            }
            do {
                if ContinuousClock.now - lastRecovery > .seconds(10) {
                    try await recoverExpiredLeasesAndCancelDisabled()
                    lastRecovery = .now
                    gone = []
                }
                let room = min(Self.batchSize, limit - inFlight)
                if room > 0 {
                    var sending = perEndpoint
                    for endpoint in gone { sending[endpoint] = Int(Int32.max) }
                    let claimed = try await claim(limit: room, sending: sending)
                    for item in claimed { perEndpoint[item.endpointId, default: 0] += 1 }
                    var refused: [String: String] = [:]
                    for url in Set(claimed.map(\.url)) {
                        do { _ = try await policy.check(url) } catch { refused[url] = "\(error)" }
                    }
                    for item in claimed {
                        inFlight += 1
                        let refusal = refused[item.url]
                        sends.addTask {
                            let outcome =
                                if let refusal {
                                    Outcome(claimed: item, statusCode: nil, error: refusal, duration: .zero)
                                } else {
                                    await self.send(item, client: client)
                                }
                            finished.append(outcome)
                            settleSignal.yield()
                            signal.yield()
                        }
                    }
                    // A full claim means more may be due: look again at once.
                    if claimed.count == room, inFlight < limit { continue }
                }
            } catch {
                logger.error("webhook claim failed", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
            _ = await iterator.next()
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
        for await _ in signals { await settleFinished() }
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

    /// Claims due deliveries, oldest first, at most `limit` in all and for each endpoint its concurrency (less when
    /// it is failing) less those `sending` to it already; none of an endpoint disabled or deleted meanwhile.
    /// One statement (atomic without a transaction around it).
    private func claim(limit: Int, sending: [UUID: Int]) async throws -> [Claimed] {
        try await pool.withConnection { connection in
            let rows = try await connection.query(
                """
                WITH busy AS (
                    SELECT * FROM unnest(\(Array(sending.keys))::uuid[], \(Array(sending.values))::int8[])
                        AS b(endpoint_id, sending)
                ), due AS (
                    SELECT x.id, x.next_attempt_at
                    FROM webhook_endpoints e
                    LEFT JOIN busy b ON b.endpoint_id = e.id
                    CROSS JOIN LATERAL (
                        SELECT d.id, d.next_attempt_at FROM webhook_deliveries d
                        WHERE d.endpoint_id = e.id AND d.status = 'pending' AND d.next_attempt_at <= now()
                        ORDER BY d.next_attempt_at
                        LIMIT greatest(0, CASE WHEN e.failing_since IS NULL THEN \(settings.webhookEndpointConcurrency)
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

    /// Posts one delivery.
    ///
    /// Through AsyncHTTPClient's delegate API, not its `async` one: nothing reads what a receiver answers beyond its
    /// status, and the `async` API streams the request and the response body through async sequences of their own
    /// (a measurable share of the process at thousands of deliveries a second).
    private func send(_ item: Claimed, client: HTTPClient) async -> Outcome {
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
            let request = try HTTPClient.Request(
                url: item.url, method: .POST, headers: headers, body: .byteBuffer(body))
            let task = client.execute(
                request: request, delegate: ResponseStatus(),
                deadline: .now() + Self.timeAmount(settings.webhookTimeout))
            let status = try await withTaskCancellationHandler {
                try await task.futureResult.get()
            } onCancel: {
                task.cancel()
            }
            return Outcome(
                claimed: item, statusCode: Int(status), error: nil, duration: ContinuousClock.now - started)
        } catch {
            return Outcome(
                claimed: item, statusCode: nil, error: String(describing: error).prefix(500).description,
                duration: ContinuousClock.now - started)
        }
    }

    /// Keeps a response's status code and drops its body as it arrives.
    private final class ResponseStatus: HTTPClientResponseDelegate {
        typealias Response = UInt
        private let status = Mutex<UInt>(0)

        func didReceiveHead(task: HTTPClient.Task<UInt>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
            status.withLock { $0 = head.status.code }
            return task.eventLoop.makeSucceededVoidFuture()
        }

        func didReceiveBodyPart(task: HTTPClient.Task<UInt>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
            task.eventLoop.makeSucceededVoidFuture()
        }

        func didFinishRequest(task: HTTPClient.Task<UInt>) throws -> UInt { status.withLock { $0 } }
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
