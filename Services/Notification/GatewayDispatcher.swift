import AsyncHTTPClient
import Database
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle
import Synchronization

/// Sends the queued WhatsApp/SMS messages (`gateway_messages`) to the HTTP gateway.
///
/// `POST <GATEWAY_URL>` with `{"id","channel","to","text"}`, the configured authentication header and
/// `Idempotency-Key: <id>`. A 2xx is sent. A 4xx other than 408/429 is a permanent refusal (failed at once);
/// anything else is retried with exponential backoff and full jitter (`GATEWAY_BACKOFF` doubling per attempt)
/// until `GATEWAY_MAX_ATTEMPTS`, then the message has failed, with the last error recorded. During quiet hours
/// nothing is sent; what is due waits for their end. Sends are paced by a token bucket at
/// `GATEWAY_RATE_PER_SECOND` (per instance). At most once: a message left `sending` by a process that died is
/// marked `unknown`, never sent again.
final class GatewayDispatcher: Service, Sendable {
    private let pool: DatabasePool
    private let listener: DatabaseListener
    private let settings: GatewaySettings
    private let pollInterval: Duration
    private let logger: Logger
    /// The clock, replaceable so tests can place "now" inside or outside the quiet hours.
    private let now: @Sendable () -> Date

    init(
        pool: DatabasePool, listenerConfiguration: DatabaseConfiguration, settings: GatewaySettings,
        pollInterval: Duration, logger: Logger, now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.pool = pool
        self.listener = DatabaseListener(
            configuration: listenerConfiguration, channel: NotificationConsumer.gatewayChannel, logger: logger)
        self.settings = settings
        self.pollInterval = pollInterval
        self.logger = logger
        self.now = now
    }

    func run() async throws {
        guard let url = settings.url else {
            logger.notice("GATEWAY_URL belum diisi: pesan WhatsApp/SMS disimpan dalam antrean, tidak dikirim")
            try await gracefulShutdown()
            return
        }
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(5), read: WebhookDispatcher.timeAmount(settings.timeout)))
        configuration.connectionPool = .init(idleTimeout: .seconds(60))
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        await withWakeUps(listener: listener, every: pollInterval) { wakeUps, _ in
            await self.loop(client: client, url: url, wakeUps: wakeUps)
        }
        try? await client.shutdown()
    }

    private func loop(client: HTTPClient, url: String, wakeUps: AsyncStream<Void>) async {
        var iterator = wakeUps.makeAsyncIterator()
        var bucket = TokenBucket(ratePerSecond: settings.ratePerSecond)
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            var worked = false
            do {
                worked = try await round(client: client, url: url, bucket: &bucket) > 0
            } catch {
                logger.error("gateway round failed", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
            if worked { continue }
            // A NOTIFY (messages were queued) or the poll ticker (retries and quiet hours' end fall due).
            _ = await iterator.next()
        }
    }

    struct Claimed: Sendable {
        var id: UUID
        var channel: String
        var phone: String
        var body: String
        var attempt: Int
    }

    /// Claims due messages (none during quiet hours) and sends them one by one at the paced rate.
    func round(client: HTTPClient, url: String, bucket: inout TokenBucket) async throws -> Int {
        try await pool.withConnection { connection in
            try await connection.query(
                """
                UPDATE gateway_messages SET status = 'unknown', lease_until = NULL,
                    last_error = 'Proses berhenti saat mengirim; tidak dikirim ulang. Interrupted while sending.'
                WHERE status = 'sending' AND lease_until < now()
                """)
        }
        if let quiet = settings.quietHours, quiet.contains(now()) { return 0 }
        let leaseSeconds = Double(settings.timeout.components.seconds + 60)
        let claimed = try await pool.withTransaction { connection in
            try await connection.query(
                """
                WITH due AS (
                    SELECT id FROM gateway_messages WHERE status = 'pending' AND next_attempt_at <= now()
                    ORDER BY next_attempt_at LIMIT 50 FOR UPDATE SKIP LOCKED
                )
                UPDATE gateway_messages g SET status = 'sending', attempts = g.attempts + 1,
                    lease_until = now() + \(leaseSeconds) * interval '1 second'
                FROM due WHERE g.id = due.id
                RETURNING g.id, g.channel, g.phone, g.body, g.attempts
                """
            ).map { row in
                Claimed(
                    id: try row.decode("id"), channel: try row.decode("channel"), phone: try row.decode("phone"),
                    body: try row.decode("body"), attempt: try row.decode("attempts"))
            }
        }
        for message in claimed {
            if let wait = bucket.take() { try? await Task.sleep(for: wait) }
            let (statusCode, error) = await send(message, client: client, url: url)
            try await settle(message, statusCode: statusCode, error: error)
        }
        return claimed.count
    }

    private func send(_ message: Claimed, client: HTTPClient, url: String) async -> (Int?, String?) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.headers.add(name: "idempotency-key", value: message.id.uuidString.lowercased())
        if let auth = settings.authHeader { request.headers.add(name: auth.name, value: auth.value) }
        let body =
            "{\"id\":\(CloudEventJSON.quote(message.id.uuidString.lowercased())),"
            + "\"channel\":\(CloudEventJSON.quote(message.channel)),\"to\":\(CloudEventJSON.quote(message.phone)),"
            + "\"text\":\(CloudEventJSON.quote(message.body))}"
        request.body = .bytes(ByteBuffer(string: body))
        do {
            let response = try await client.execute(request, timeout: WebhookDispatcher.timeAmount(settings.timeout))
            let answer = try? await response.body.collect(upTo: 16 * 1024)
            let code = Int(response.status.code)
            if (200..<300).contains(code) { return (code, nil) }
            let text = answer.map { String(buffer: $0).prefix(300) } ?? ""
            return (code, "HTTP \(code) \(text)")
        } catch {
            return (nil, String(describing: error).prefix(500).description)
        }
    }

    private func settle(_ message: Claimed, statusCode: Int?, error: String?) async throws {
        let sent = statusCode.map { (200..<300).contains($0) } ?? false
        let permanent = statusCode.map { (400..<500).contains($0) && $0 != 408 && $0 != 429 } ?? false
        let state: String
        var delayMilliseconds = 0
        if sent {
            state = "sent"
        } else if permanent || message.attempt >= settings.maxAttempts {
            state = "failed"
            logger.warning(
                "pesan gateway gagal dan tidak dicoba lagi (gave up)",
                metadata: ["message.id": "\(message.id)", "attempts": "\(message.attempt)", "error": "\(error ?? "")"])
        } else {
            state = "pending"
            let base =
                Double(settings.backoff.components.seconds) * 1000
                + Double(settings.backoff.components.attoseconds) / 1e15
            let ceiling = base * pow(2, Double(message.attempt - 1))
            delayMilliseconds = Int(Double.random(in: 0.5...1.0) * ceiling)
        }
        try await pool.withConnection { connection in
            try await connection.query(
                """
                UPDATE gateway_messages
                SET status = \(state), lease_until = NULL, last_error = \(error),
                    sent_at = CASE WHEN \(sent) THEN now() END,
                    next_attempt_at = now() + \(delayMilliseconds) * interval '1 millisecond'
                WHERE id = \(message.id)
                """)
        }
    }
}

/// A token bucket: `take()` answers how long to wait before the next send (nil: go now).
struct TokenBucket: Sendable {
    var ratePerSecond: Double
    private var tokens: Double
    private var updated = ContinuousClock.now

    init(ratePerSecond: Double) {
        self.ratePerSecond = max(0.001, ratePerSecond)
        self.tokens = max(1, ratePerSecond)
    }

    mutating func take() -> Duration? {
        let now = ContinuousClock.now
        let elapsed = now - updated
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        tokens = min(max(1, ratePerSecond), tokens + seconds * ratePerSecond)
        updated = now
        if tokens >= 1 {
            tokens -= 1
            return nil
        }
        let wait = (1 - tokens) / ratePerSecond
        tokens -= 1
        return .milliseconds(Int64(wait * 1000))
    }
}
