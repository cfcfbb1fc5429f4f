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

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `asnreward-bench notification [--count N]`: events/s through the running notification service's consumer to
/// the in-app inbox plus one webhook endpoint.
///
/// Needs the notification service running against `.run/env`'s stack (`NOTIFICATION_URL`,
/// `DATABASE_URL_NOTIFICATION`) with `WEBHOOK_ALLOW_PRIVATE_TARGETS=true` (the receiver runs here on loopback).
/// Starts a webhook receiver (answers 204), subscribes it to `points.awarded` with an operator token, publishes
/// `--count` `points.awarded` events to `asnreward.events` with publisher confirms, and measures until every event
/// is in the inbox (`notifications`) and every delivery reached the receiver.
package func runNotificationBench(arguments: [String]) async throws {
    var count = 20_000
    var iterator = arguments.makeIterator()
    while let argument = iterator.next() {
        switch argument {
        case "--count": count = iterator.next().flatMap(Int.init) ?? count
        default:
            print("usage: asnreward-bench notification [--count N]")
            return
        }
    }
    var logger = Logger(label: "bench.notification")
    logger.logLevel = .warning
    let received = RequestCounter()
    let group = MultiThreadedEventLoopGroup.singleton
    let server = try await ServerBootstrap(group: group)
        .serverChannelOption(.backlog, value: 512)
        .childChannelInitializer { channel in
            channel.pipeline.configureHTTPServerPipeline().flatMap {
                channel.pipeline.addHandler(NoContentHandler(received: received))
            }
        }
        .bind(host: "127.0.0.1", port: 0).get()
    let port = server.localAddress?.port ?? 0
    defer { server.close(promise: nil) }

    let base = try DevEnvironment.value("NOTIFICATION_URL")
    let token = try await benchToken(roles: ["operator"])
    var request = URLRequest(url: URL(string: base + "/v1/webhooks")!)
    request.httpMethod = "POST"
    request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
    request.setValue("application/json", forHTTPHeaderField: "Content-Type")
    request.httpBody = Data(
        #"{"url":"http://127.0.0.1:\#(port)/hook","eventTypes":["points.awarded"],"description":"bench"}"#.utf8)
    let (body, response) = try await URLSession.shared.data(for: request)
    guard (response as? HTTPURLResponse)?.statusCode == 201,
        let webhookId = (try? JSONSerialization.jsonObject(with: body) as? [String: Any])?["id"] as? String
    else {
        print("could not subscribe the receiver: \(String(decoding: body, as: UTF8.self))")
        print("(start notification with WEBHOOK_ALLOW_PRIVATE_TARGETS=true)")
        return
    }

    let pool = DatabasePool(
        configuration: DatabaseConfiguration(url: try DevEnvironment.value("DATABASE_URL_NOTIFICATION"), poolSize: 1),
        logger: logger)
    let publisher = try benchPublisher(name: "bench-notification", logger: logger)
    try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await pool.run() }
        tasks.addTask { try await publisher.run() }
        defer { tasks.cancelAll() }
        let cpu = try await StackCPU.start(logger: logger)
        let fsync = FsyncProbe()
        let events = try (0..<count).map(benchPointsAwarded)
        let eventIds = events.map(\.id)
        let started = ContinuousClock.now
        for chunk in stride(from: 0, to: count, by: 1_000) {
            let slice = events[chunk..<min(count, chunk + 1_000)]
            _ = try await publisher.publish(slice.map { OutgoingMessage(event: $0, exchange: EventCatalog.exchange) })
        }
        let published = ContinuousClock.now - started
        var inboxDone: Duration?
        var webhookDone: Duration?
        // The receiver's count is in memory: looked at every 5 ms. The inbox needs a query: every 100 ms.
        var looks = 0
        while inboxDone == nil || webhookDone == nil {
            if ContinuousClock.now - started > .seconds(600) { break }
            try await Task.sleep(for: .milliseconds(5))
            looks += 1
            if inboxDone == nil, looks % 20 == 0 {
                // Cheap while the last event is not stored yet (by the unique index); then all of them are counted.
                let stored = try await pool.withConnection { connection in
                    let last = events.last?.id ?? ""
                    guard
                        try await connection.query("SELECT 1 FROM notifications WHERE event_id = \(last) LIMIT 1")
                            .isEmpty == false
                    else { return 0 }
                    return try await connection.query(
                        "SELECT count(DISTINCT event_id) AS n FROM notifications WHERE event_id = ANY(\(eventIds))"
                    ).first?.decode("n", as: Int.self) ?? 0
                }
                if stored >= count { inboxDone = ContinuousClock.now - started }
            }
            if webhookDone == nil, received.value.withLock({ $0 }) >= count {
                webhookDone = ContinuousClock.now - started
            }
        }
        func rate(_ duration: Duration?) -> String {
            guard let duration else { return "not finished within 600 s" }
            let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
            return String(format: "%.2f s, %.0f events/s", seconds, Double(count) / seconds)
        }
        let flushes = fsync.stop()
        print("notification bench: \(count) points.awarded events (webhook \(webhookId))")
        print("  published with confirms: \(rate(published))")
        print("  all in the in-app inbox: \(rate(inboxDone))")
        print("  all delivered to the webhook receiver: \(rate(webhookDone))")
        print(flushes)
        try await cpu.report(units: count, unit: "event")
        publisher.shutdown()
    }
    // Unsubscribe, so that the dev stack keeps no endpoint whose receiver is gone.
    var unsubscribe = URLRequest(url: URL(string: base + "/v1/webhooks/" + webhookId)!)
    unsubscribe.httpMethod = "DELETE"
    unsubscribe.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
    _ = try? await URLSession.shared.data(for: unsubscribe)
}

/// Answers every request with 204 and counts them.
private final class NoContentHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart
    let received: RequestCounter

    init(received: RequestCounter) { self.received = received }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = unwrapInboundIn(data) else { return }
        received.value.withLock { $0 += 1 }
        var headers = HTTPHeaders()
        headers.add(name: "content-length", value: "0")
        context.write(
            wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .noContent, headers: headers))),
            promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}

/// Requests the receiver answered.
private final class RequestCounter: Sendable {
    let value = Mutex(0)
}

/// CPU per process over a bench run, as the end-to-end bench reads it: a snapshot at `start`, another at `report`.
struct StackCPU {
    private let admin: DatabaseConnection
    private let processes: StackProcesses
    private let before: ResourceSnapshot

    static func start(logger: Logger) async throws -> StackCPU {
        let admin = try await DatabaseConnection.connect(
            configuration: DatabaseConfiguration(url: try DevEnvironment.value("DATABASE_URL_ADMIN")), logger: logger)
        let processes = await StackProcesses.discover(root: FileManager.default.currentDirectoryPath, admin: admin)
        let before = try await ResourceSnapshot.take(processes: processes, admin: admin, statements: false)
        return StackCPU(admin: admin, processes: processes, before: before)
    }

    /// Prints the machine's and each process's CPU since `start`, per `unit` of work, and the rate the cores allow
    /// at that cost; closes the admin connection.
    func report(units: Int, unit: String) async throws {
        let after = try await ResourceSnapshot.take(processes: processes, admin: admin, statements: false)
        await admin.close()
        let seconds = after.taken - before.taken
        let busy = after.machineBusy - before.machineBusy
        print(
            String(
                format: "  CPU over %.1f s: machine %.1f of %.1f core-seconds; ", seconds, busy,
                seconds * Double(ProcessProbe.cores)) + "CPU-ms per \(unit):")
        for (name, cpuAfter) in after.cpu.sorted(by: { $0.key < $1.key }) {
            guard let cpuBefore = before.cpu[name] else { continue }
            print("    \(name) " + String(format: "%.3f", (cpuAfter - cpuBefore) * 1000 / Double(units)))
        }
        if busy > 0 {
            print(
                String(
                    format: "    machine %.3f: at this cost the %d cores allow %.0f ", busy * 1000 / Double(units),
                    ProcessProbe.cores, ProcessProbe.rateAllowed(units: units, busyCPUSeconds: busy)) + "\(unit)s/s")
        }
    }
}

/// A token for the bench's own calls to the services, with `roles`.
func benchToken(roles: [String]) async throws -> String {
    try await TokenIssuer(hs256Secret: try DevEnvironment.value("JWT_HS256_SECRET")).token(
        nip: "198503152010011001", name: "Bench", opd: "KOMINFO", roles: roles)
}

/// The admin publisher to `asnreward.events` the notification and stream benches publish with (not running yet).
func benchPublisher(name: String, logger: Logger) throws -> Publisher {
    var configuration = try AMQPConfiguration(url: try DevEnvironment.value("AMQP_URL_ADMIN"), connectionName: name)
    configuration.publishWindow = 2_000
    return Publisher(configuration: configuration, topology: nil, logger: logger)
}

/// The `index`-th `points.awarded` event of a bench run (one of 50,000 NIPs, a running total).
func benchPointsAwarded(_ index: Int) throws -> CloudEvent {
    try CloudEvent(
        PointsAwarded(
            entryId: UUID(), submissionId: UUID(),
            nip: String(format: "1985031520100%05d", index % 50_000), opd: "DLH", program: "peduli-sampah",
            activity: "pilah_sampah", points: 10, ruleVersion: "peduli-sampah@1", period: "2026-Q1",
            awardedAt: Date(), totalInPeriod: 10 * (index + 1)), from: .scoring)
}
