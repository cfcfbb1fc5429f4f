import Database
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import ServiceSupport
import Synchronization

/// One event on the live stream: its position in the retained window, name and CloudEvent JSON.
struct StreamEvent: Sendable {
    let seq: Int64
    /// The SSE frame: `id:`, `event:`, `data:` (one line: the JSON has no raw newlines). Made once and shared by
    /// every client's write (a `ByteBuffer` is copied on write only), not once per client.
    let frame: ByteBuffer

    init(seq: Int64, name: String, body: String) {
        self.seq = seq
        self.frame = ByteBuffer(string: "id: \(seq)\nevent: \(name)\ndata: \(body)\n\n")
    }
}

/// Fans events out to the connected SSE clients without ever waiting for one of them.
///
/// Each client has a bounded buffer (`STREAM_CLIENT_BUFFER` events). Publishing only appends to the buffers; a
/// client whose buffer is full is dropped (its stream ends once what it has is written) and comes back with
/// `Last-Event-ID`, resuming from the retained window. So a slow client costs the others nothing.
final class StreamHub: Sendable {
    enum Item: Sendable {
        case event(StreamEvent)
        case heartbeat
    }

    private struct Client {
        var continuation: AsyncStream<Item>.Continuation
        var dropped: Bool = false
    }

    private let clients = Mutex<[UUID: Client]>([:])
    private let droppedCount = Mutex(0)
    let bufferSize: Int

    init(bufferSize: Int) { self.bufferSize = max(1, bufferSize) }

    /// Registers a client; its items arrive on the returned stream.
    func subscribe() -> (UUID, AsyncStream<Item>) {
        let id = UUID()
        let (stream, continuation) = AsyncStream.makeStream(
            of: Item.self, bufferingPolicy: .bufferingOldest(bufferSize))
        clients.withLock { $0[id] = Client(continuation: continuation) }
        return (id, stream)
    }

    func unsubscribe(_ id: UUID) {
        let client = clients.withLock { $0.removeValue(forKey: id) }
        client?.continuation.finish()
    }

    /// Whether the hub dropped this client for being too slow.
    func isDropped(_ id: UUID) -> Bool { clients.withLock { $0[id]?.dropped ?? true } }

    /// Appends `items` to every client's buffer; drops the clients whose buffer overflows.
    func publish(_ items: [Item]) {
        guard !items.isEmpty else { return }
        var overflowed: [AsyncStream<Item>.Continuation] = []
        clients.withLock { clients in
            for (id, client) in clients where !client.dropped {
                for item in items {
                    if case .dropped = client.continuation.yield(item) {
                        clients[id]?.dropped = true
                        overflowed.append(client.continuation)
                        break
                    }
                }
            }
        }
        if !overflowed.isEmpty {
            droppedCount.withLock { $0 += overflowed.count }
            for continuation in overflowed { continuation.finish() }
        }
    }

    /// Connected clients (not yet dropped).
    var clientCount: Int { clients.withLock { $0.values.filter { !$0.dropped }.count } }
    /// Clients dropped for being slow since start.
    var dropped: Int { droppedCount.withLock { $0 } }
}

/// Feeds the hub from `stream_events`: woken by NOTIFY (from any instance's consumer), it reads the rows after the
/// last one seen in `seq` order; sends heartbeats; and trims the retained window (keeps at least the last
/// `STREAM_RETAIN_EVENTS` and everything younger than `STREAM_RETAIN`).
final class StreamPump: Service, Sendable {
    private let pool: DatabasePool
    private let hub: StreamHub
    private let listener: DatabaseListener
    private let settings: NotificationSettings
    private let logger: Logger
    private let lastSeq = Mutex<Int64?>(nil)

    init(
        pool: DatabasePool, hub: StreamHub, listenerConfiguration: DatabaseConfiguration,
        settings: NotificationSettings,
        logger: Logger
    ) {
        self.pool = pool
        self.hub = hub
        self.listener = DatabaseListener(
            configuration: listenerConfiguration, channel: NotificationConsumer.streamChannel, logger: logger)
        self.settings = settings
        self.logger = logger
    }

    func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: self.settings.streamHeartbeat)
                    self.hub.publish([.heartbeat])
                }
            }
            // Woken by a NOTIFY (rows were appended) or the poll ticker.
            await withWakeUps(listener: listener, every: settings.pollInterval) { wakeUps, _ in
                await self.loop(wakeUps: wakeUps)
            }
            group.cancelAll()
        }
    }

    private func loop(wakeUps: AsyncStream<Void>) async {
        var iterator = wakeUps.makeAsyncIterator()
        var lastPrune = ContinuousClock.now
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            var more = false
            do {
                more = try await pumpOnce() > 0
                if ContinuousClock.now - lastPrune > .seconds(60) {
                    try await prune()
                    lastPrune = .now
                }
            } catch {
                logger.error("stream pump failed", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
            if more { continue }
            _ = await iterator.next()
        }
    }

    /// Publishes the rows after the last seen one; returns how many.
    func pumpOnce() async throws -> Int {
        let events = try await pool.withConnection { connection -> [StreamEvent] in
            guard let after = lastSeq.withLock({ $0 }) else {
                let top = try await connection.query("SELECT coalesce(max(seq), 0) AS seq FROM stream_events")
                lastSeq.withLock { $0 = try? top.first?.decode("seq", as: Int64.self) }
                return []
            }
            // A round never hands a client more than half its buffer at once: a burst larger than that would drop
            // even clients that keep up.
            return try await Self.read(after: after, limit: max(1, min(1000, hub.bufferSize / 2)), in: connection)
        }
        guard let last = events.last else { return 0 }
        lastSeq.withLock { $0 = last.seq }
        hub.publish(events.map { .event($0) })
        return events.count
    }

    /// The highest `seq` published so far.
    var publishedSeq: Int64? { lastSeq.withLock { $0 } }

    static func read(after seq: Int64, limit: Int, in connection: DatabaseConnection) async throws -> [StreamEvent] {
        try await connection.query(
            "SELECT seq, event_name, body FROM stream_events WHERE seq > \(seq) ORDER BY seq LIMIT \(limit)"
        ).map { StreamEvent(seq: try $0.decode("seq"), name: try $0.decode("event_name"), body: try $0.decode("body")) }
    }

    /// Deletes what is outside the retained window: older than `streamRetain` and before the last
    /// `streamRetainEvents` rows (counted as rows: `seq` has gaps where a transaction rolled back). Rows are
    /// appended in `seq` order at (nearly) increasing times, so the old ones are at the low end of `seq`: it looks at
    /// batches from there, by the primary key, instead of at every row of the window each minute (a million rows on
    /// a campaign day). Returns how many rows it deleted.
    @discardableResult
    func prune() async throws -> Int {
        let seconds = Double(settings.streamRetain.components.seconds)
        let batch = 5_000
        var total = 0
        while true {
            let deleted = try await pool.withConnection { connection in
                try await connection.query(
                    """
                    WITH kept_from AS (
                        SELECT seq FROM stream_events ORDER BY seq DESC OFFSET \(settings.streamRetainEvents - 1) LIMIT 1
                    )
                    DELETE FROM stream_events
                    WHERE seq IN (
                            SELECT seq FROM stream_events WHERE seq < (SELECT seq FROM kept_from)
                            ORDER BY seq LIMIT \(batch))
                      AND created_at < now() - \(seconds) * interval '1 second'
                    """
                ).rowsAffected
            }
            total += deleted
            if deleted < batch { return total }
        }
    }
}

/// `GET /v1/stream`: Server-Sent Events for dashboards.
struct StreamRoutes: Sendable {
    let pool: DatabasePool
    let hub: StreamHub

    func add(to routes: RouteCollection<AuthenticatedRequestContext>) {
        routes.get("/v1/stream") { request, context in
            try context.require(roles: [Roles.dashboard], access: .read)
            // Only an event-stream client gets the endless answer (browsers' EventSource always asks for it).
            guard request.headers[values: .accept].contains(where: { $0.contains("text/event-stream") }) else {
                throw ProblemDetails(
                    status: .notAcceptable, title: "Hanya text/event-stream",
                    detail: "Kirim Accept: text/event-stream. Send Accept: text/event-stream.", code: "NOT_ACCEPTABLE")
            }
            let header = request.headers[HTTPField.Name("Last-Event-ID")!]
            let resumeText = header ?? request.uri.queryParameters.get("lastEventId")
            var resumeAfter: Int64?
            if let resumeText, !resumeText.isEmpty {
                guard let value = Int64(resumeText.trimmingCharacters(in: .whitespaces)), value >= 0 else {
                    throw ProblemDetails.badRequest(
                        "Last-Event-ID tidak valid. Invalid Last-Event-ID.", code: "INVALID_LAST_EVENT_ID")
                }
                resumeAfter = value
            }
            var headers = HTTPFields()
            headers[.contentType] = "text/event-stream; charset=utf-8"
            headers[.cacheControl] = "no-store"
            headers[HTTPField.Name("X-Accel-Buffering")!] = "no"
            let hub = hub
            let pool = pool
            let resume = resumeAfter
            return Response(
                status: .ok, headers: headers,
                body: ResponseBody { writer in
                    let (id, items) = hub.subscribe()
                    defer { hub.unsubscribe(id) }
                    try await writer.write(ByteBuffer(string: "retry: 2000\n: tersambung (connected)\n\n"))
                    var last: Int64 = -1
                    if let resumeAfter = resume {
                        // Subscribed first, then the backlog: what arrives meanwhile is in both and skipped once.
                        var after = resumeAfter
                        while true {
                            let backlog = try await pool.withConnection { connection in
                                try await StreamPump.read(after: after, limit: 1000, in: connection)
                            }
                            guard let tail = backlog.last else { break }
                            var frames = ByteBuffer()
                            for event in backlog { frames.writeImmutableBuffer(event.frame) }
                            try await writer.write(frames)
                            after = tail.seq
                            last = tail.seq
                        }
                        last = max(last, resumeAfter)
                    }
                    // On graceful shutdown the stream ends, so the server need not wait for it; clients come back
                    // with Last-Event-ID to another instance or after the restart.
                    try await withGracefulShutdownHandler {
                        for await item in items {
                            if hub.isDropped(id) { break }
                            switch item {
                            case .heartbeat:
                                try await writer.write(ByteBuffer(string: ": heartbeat\n\n"))
                            case .event(let event) where event.seq > last:
                                last = event.seq
                                try await writer.write(event.frame)
                            case .event:
                                continue
                            }
                        }
                    } onGracefulShutdown: {
                        hub.unsubscribe(id)
                    }
                    try await writer.finish(nil)
                })
        }
    }
}
