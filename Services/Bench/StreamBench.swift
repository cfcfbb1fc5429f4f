import AMQP
import Contracts
import Database
import Eventing
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceSupport
import Synchronization
import TestSupport

/// `asnreward-bench stream [--clients N] [--rate R] [--duration S]`: the live stream's fan-out, from an event's
/// publication on the broker to its arrival at each of N connected SSE clients.
///
/// Needs the notification service running against `.run/env`'s stack. Opens `--clients` (500) connections to
/// `GET /v1/stream` with a dashboard token, waits until each has its greeting, then publishes `points.awarded`
/// events to `asnreward.events` at `--rate` (50) per second for `--duration` (20) seconds. Every client parses the
/// frames it gets and notes when each event's frame arrived; the latency of a delivery is that moment less the
/// moment just before the event was handed to the publisher (one clock, one process). Prints the percentiles over
/// every (client, event) delivery, the deliveries that never came, and CPU per process.
package func runStreamBench(arguments: [String]) async throws {
    var clients = 500
    var rate = 50
    var duration = 20
    var iterator = arguments.makeIterator()
    while let argument = iterator.next() {
        switch argument {
        case "--clients": clients = iterator.next().flatMap(Int.init) ?? clients
        case "--rate": rate = iterator.next().flatMap(Int.init) ?? rate
        case "--duration": duration = iterator.next().flatMap(Int.init) ?? duration
        default:
            print("usage: asnreward-bench stream [--clients N] [--rate EVENTS_PER_S] [--duration S]")
            return
        }
    }
    var logger = Logger(label: "bench.stream")
    logger.logLevel = .warning
    guard let base = URLComponents(string: try DevEnvironment.value("NOTIFICATION_URL")), let host = base.host,
        let port = base.port
    else {
        print("NOTIFICATION_URL is not a http://host:port URL")
        return
    }
    let token = try await benchToken(roles: ["dashboard"])
    let record = StreamRecord()
    var channels: [any Channel] = []
    defer { for channel in channels { channel.close(promise: nil) } }
    for _ in 0..<clients {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(StreamClientHandler(record: record))
                }
            }
            .connect(host: host, port: port).get()
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/v1/stream")
        head.headers.add(name: "host", value: "\(host):\(port)")
        head.headers.add(name: "authorization", value: "Bearer \(token)")
        head.headers.add(name: "accept", value: "text/event-stream")
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        try await channel.writeAndFlush(HTTPClientRequestPart.end(nil)).get()
        channels.append(channel)
    }
    let connectDeadline = ContinuousClock.now + .seconds(60)
    while record.connected.load(ordering: .relaxed) < clients, ContinuousClock.now < connectDeadline {
        try await Task.sleep(for: .milliseconds(50))
    }
    let connected = record.connected.load(ordering: .relaxed)
    guard connected == clients else {
        print("only \(connected) of \(clients) stream clients got their greeting within 60 s")
        return
    }

    let publisher = try benchPublisher(name: "bench-stream", logger: logger)
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await publisher.run() }
        defer { tasks.cancelAll() }
        let cpu = try await StackCPU.start(logger: logger)
        let fsync = FsyncProbe()
        let count = rate * duration
        let interval = Duration.seconds(1) / rate
        let started = ContinuousClock.now
        for index in 0..<count {
            try await Task.sleep(until: started + interval * index)
            let event = try benchPointsAwarded(index)
            record.published(event.id)
            _ = try await publisher.publish([OutgoingMessage(event: event, exchange: EventCatalog.exchange)])
            record.confirmed(event.id)
        }
        let expected = count * clients
        let drainDeadline = ContinuousClock.now + .seconds(60)
        while record.deliveries.load(ordering: .relaxed) < expected, ContinuousClock.now < drainDeadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        let flushes = fsync.stop()
        let latencies = EndToEndReport.Percentiles(record.latenciesInSeconds())
        func ms(_ value: Double) -> String { String(format: "%.1f", value) }
        print(
            "stream bench: \(clients) SSE clients, \(count) points.awarded events at \(rate)/s "
                + "(\(expected) deliveries expected)")
        print(
            "  event → client latency (ms): p50 \(ms(latencies.p50)), p95 \(ms(latencies.p95)), "
                + "p99 \(ms(latencies.p99)), max \(ms(latencies.max))")
        print(
            "  deliveries: \(latencies.count) timed, \(expected - record.deliveries.load(ordering: .relaxed)) missing, "
                + "\(record.disconnected.load(ordering: .relaxed)) clients disconnected")
        // Where the slowest events lost their time: before the broker confirmed them, before the first client had
        // them (the consumer, the database, the pump), or in the fan-out to the last client.
        print("  slowest events (ms from publication): broker confirm / first client / last client")
        for event in record.slowestEvents(3) {
            print("    \(ms(event.confirm)) / \(ms(event.first)) / \(ms(event.last))")
        }
        print(flushes)
        try await cpu.report(units: count, unit: "event")
        publisher.shutdown()
    }
}

/// What the stream clients saw: when each event was published, and when each client got it.
private final class StreamRecord: Sendable {
    let connected = Atomic<Int>(0)
    let disconnected = Atomic<Int>(0)
    let deliveries = Atomic<Int>(0)
    private let publishedAt = Mutex<[String: UInt64]>([:])
    private let confirmedAt = Mutex<[String: UInt64]>([:])
    private let arrivals = Mutex<[(event: String, at: UInt64)]>([])

    func published(_ eventId: String) {
        let now = DispatchTime.now().uptimeNanoseconds
        publishedAt.withLock { $0[eventId] = now }
    }

    func confirmed(_ eventId: String) {
        let now = DispatchTime.now().uptimeNanoseconds
        confirmedAt.withLock { $0[eventId] = now }
    }

    /// The `count` events whose last client got them latest, in milliseconds from publication: when the broker
    /// confirmed each, when its first client and when its last client got it.
    func slowestEvents(_ count: Int) -> [(confirm: Double, first: Double, last: Double)] {
        let published = publishedAt.withLock { $0 }
        let confirmed = confirmedAt.withLock { $0 }
        var spans: [String: (first: UInt64, last: UInt64)] = [:]
        for arrival in arrivals.withLock({ $0 }) {
            let span = spans[arrival.event] ?? (arrival.at, arrival.at)
            spans[arrival.event] = (min(span.first, arrival.at), max(span.last, arrival.at))
        }
        func ms(_ at: UInt64, _ from: UInt64) -> Double { Double(Int64(at) - Int64(from)) / 1e6 }
        return spans.compactMap { event, span in
            guard let start = published[event], let confirm = confirmed[event] else { return nil }
            return (ms(confirm, start), ms(span.first, start), ms(span.last, start))
        }
        .sorted { $0.last > $1.last }
        .prefix(count).map { $0 }
    }

    func arrived(_ eventIds: [String], at time: UInt64) {
        arrivals.withLock { list in for id in eventIds { list.append((id, time)) } }
        deliveries.add(eventIds.count, ordering: .relaxed)
    }

    /// Every delivery's latency (arrival less publication) of an event this run published.
    func latenciesInSeconds() -> [Double] {
        let published = publishedAt.withLock { $0 }
        return arrivals.withLock { list in
            list.compactMap { arrival in
                published[arrival.event].map { Double(Int64(arrival.at) - Int64($0)) / 1e9 }
            }
        }
    }
}

/// One SSE client: reads the answer's body, splits it into frames at blank lines, and notes the CloudEvent id of
/// each event frame (`"id":"…"` in its `data:` line) with the time its last bytes arrived.
private final class StreamClientHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    private let record: StreamRecord
    private var pending: [UInt8] = []
    private var greeted = false

    init(record: StreamRecord) { self.record = record }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .body(let buffer) = unwrapInboundIn(data) else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        pending.append(contentsOf: buffer.readableBytesView)
        var ids: [String] = []
        var start = 0
        var index = 0
        while index + 1 < pending.count {
            guard pending[index] == 10, pending[index + 1] == 10 else {
                index += 1
                continue
            }
            if let id = Self.eventId(in: pending[start..<index]) {
                ids.append(id)
            } else if !greeted {
                // The first frame is the greeting (`retry:` and a comment): the client is subscribed.
                greeted = true
                record.connected.add(1, ordering: .relaxed)
            }
            start = index + 2
            index = start
        }
        pending.removeFirst(start)
        if !ids.isEmpty { record.arrived(ids, at: now) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        record.disconnected.add(1, ordering: .relaxed)
        context.fireChannelInactive()
    }

    /// The value of the first `"id":"` in a frame's `data:` line.
    private static func eventId(in frame: ArraySlice<UInt8>) -> String? {
        let key = Array(#""id":""#.utf8)
        guard let data = frame.firstRange(of: Array("data: ".utf8)) else { return nil }
        let rest = frame[data.upperBound...]
        guard let found = rest.firstRange(of: key) else { return nil }
        let value = rest[found.upperBound...]
        guard let end = value.firstIndex(of: UInt8(ascii: "\"")) else { return nil }
        return String(decoding: value[..<end], as: UTF8.self)
    }
}
