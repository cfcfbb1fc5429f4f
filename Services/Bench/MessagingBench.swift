import AMQP
import Contracts
import Database
import Eventing
import Foundation
import Logging

/// `asnreward-bench messaging [--count N] [--relay-batch N] [--relays N] [--concurrency N] [--window N] [--prefetch N] [--max-batch N]`:
/// measures, in one run and side by side,
/// (a) the raw publish rate through `Publisher` (windowed confirms, persistent 200-byte messages, quorum queue),
/// (b) the outbox relay rate: `--count` outbox rows inserted beforehand, then `OutboxRelay` until every row is
///     confirmed and marked published,
/// (c) the inbox rate: `InboxConsumer` taking the messages the relay published from their quorum queue, each
///     batch one transaction (inbox rows + one `effects` row per event), until all are committed.
///
/// Uses `AMQP_URL_TEST` and `DATABASE_URL_ADMIN` (environment or `.run/env`); creates a scratch database and
/// uniquely named exchanges and queues, and removes them afterwards.
package func runMessagingBench(arguments: [String]) async throws {
    var options = MessagingBenchOptions()
    var iterator = arguments.makeIterator()
    while let argument = iterator.next() {
        func number() -> Int? { iterator.next().flatMap(Int.init).flatMap { $0 > 0 ? $0 : nil } }
        switch argument {
        case "messaging": continue
        case "--count": options.count = number() ?? options.count
        case "--relay-batch": options.relayBatch = number() ?? options.relayBatch
        case "--relays": options.relays = number() ?? options.relays
        case "--concurrency": options.concurrency = number() ?? options.concurrency
        case "--window": options.window = number() ?? options.window
        case "--prefetch": options.prefetch = number() ?? options.prefetch
        case "--max-batch": options.maxBatch = number() ?? options.maxBatch
        default:
            print(
                "usage: asnreward-bench messaging [--count N] [--relay-batch N] [--relays N] [--concurrency N] [--window N] [--prefetch N] [--max-batch N]"
            )
            return
        }
    }
    try await MessagingBench(options: options).run()
}

/// The knobs of `asnreward-bench messaging`.
private struct MessagingBenchOptions {
    /// Messages per measurement.
    var count = 50_000
    /// `OutboxRelay.batchSize`.
    var relayBatch = 1_000
    /// Relays running on the outbox at once.
    var relays = 1
    /// `OutboxRelay.concurrentBatches` of each relay.
    var concurrency = 3
    /// `AMQPConfiguration.publishWindow` of the relay's publisher.
    var window = 2_000
    /// `InboxConsumer` prefetch.
    var prefetch = 2_000
    /// `InboxConsumer` batch (one transaction each).
    var maxBatch = 500
}

/// The three measurements of `asnreward-bench messaging`.
private struct MessagingBench {
    let options: MessagingBenchOptions
    let clock = ContinuousClock()

    func run() async throws {
        let amqpURL = try benchSetting("AMQP_URL_TEST")
        let adminURL = try benchSetting("DATABASE_URL_ADMIN")
        var logger = Logger(label: "asnreward.bench.messaging")
        logger.logLevel = .warning
        let cores = ProcessInfo.processInfo.activeProcessorCount
        print("asnreward-bench messaging: \(options.count) messages per measurement, \(cores) cores")
        print(
            "  relay: \(options.relays) × \(options.concurrency) batches of \(options.relayBatch), window \(options.window); inbox: prefetch \(options.prefetch), "
                + "batch \(options.maxBatch)\n")

        let raw = try await runRawPublishBench(url: amqpURL, count: options.count)
        report("(a) raw publish, windowed confirms", raw, note: "persistent, quorum queue")

        let suffix = UUID().uuidString.prefix(8).lowercased()
        let database = "asnreward_bench_msg_\(suffix)"
        let admin = try await DatabaseConnection.connect(
            configuration: DatabaseConfiguration(url: adminURL, applicationName: "asnreward-bench"), logger: logger)
        try await admin.execute(unsafeSQL: "CREATE DATABASE \(database) \(DatabaseConfiguration.createDatabaseOptions)")
        let topology = Topology(
            eventsExchange: "bench-\(suffix).events",
            deadLetterExchange: "bench-\(suffix).dead",
            queues: [QueueSpec(name: "bench-\(suffix).inbox", bindings: ["#"])]
        )
        var amqp = try AMQPConfiguration(url: amqpURL, connectionName: "messaging-bench-\(suffix)")
        amqp.publishWindow = 1_000
        let amqpAdmin = AMQPAdmin(configuration: amqp)
        do {
            let pool = DatabasePool(
                configuration: DatabaseConfiguration(
                    url: benchDatabaseURL(adminURL, database: database),
                    poolSize: 4 + options.relays * options.concurrency,
                    applicationName: "asnreward-bench"),
                logger: logger)
            try await MigrationRunner(
                service: "bench",
                migrations: MessagingSchema.migrations + [
                    Migration(
                        name: "1000_effects",
                        sql: "CREATE TABLE effects (n bigserial PRIMARY KEY, message_id text NOT NULL, subject text)")
                ],
                logger: logger
            ).run(on: pool)
            try await amqpAdmin.declare(topology)

            let relay = try await measureRelay(pool: pool, amqp: amqp, topology: topology, logger: logger)
            report(
                "(b) outbox relay → confirmed", relay,
                note: String(format: "%.0f%% of raw (goal ≥ 50%%)", 100 * relay / raw))

            let inbox = try await measureInbox(pool: pool, amqp: amqp, topology: topology, logger: logger)
            report("(c) consume → inbox → commit", inbox, note: "goal ≥ 10,000 msg/s")
            await pool.close()
        } catch {
            print("benchmark failed: \(error)")
        }
        try? await amqpAdmin.delete(topology)
        try? await admin.execute(unsafeSQL: "DROP DATABASE IF EXISTS \(database) WITH (FORCE)")
        await admin.close()
    }

    /// Inserts `count` outbox rows, then runs the relay(s) until all are published; returns messages/s.
    func measureRelay(pool: DatabasePool, amqp: AMQPConfiguration, topology: Topology, logger: Logger) async throws
        -> Double
    {
        let count = options.count
        let time = Date()
        try await pool.withTransaction { connection in
            var start = 0
            while start < count {
                let end = min(start + 2_000, count)
                let events = try (start..<end).map { index in
                    try CloudEvent(
                        ASNEnrolled(
                            nip: String(format: "19900101202001%04d", index % 5_000), name: "ASN \(index)", opd: "DLH",
                            enrolledAt: time, position: String(index)),
                        source: "/asnreward/bench", time: time)
                }
                try await Outbox.enqueue(events, in: connection)
                start = end
            }
        }
        var relayAMQP = amqp
        relayAMQP.publishWindow = options.window
        let publishers = (0..<options.relays).map { _ in
            Publisher(configuration: relayAMQP, topology: nil, logger: logger)
        }
        let relays = publishers.map { publisher in
            OutboxRelay(
                pool: pool, publisher: publisher, exchange: topology.eventsExchange, listenerConfiguration: nil,
                batchSize: options.relayBatch, pollInterval: .milliseconds(20),
                concurrentBatches: options.concurrency, logger: logger)
        }
        // Connect the publishers first so the measurement starts with the relays.
        return try await withThrowingTaskGroup(of: Void.self) { group in
            for publisher in publishers { group.addTask { try await publisher.run() } }
            for publisher in publishers {
                while !publisher.isConnected() { try await Task.sleep(for: .milliseconds(10)) }
            }
            let start = clock.now
            for relay in relays { group.addTask { try await relay.run() } }
            while try await unpublished(pool) > 0 { try await Task.sleep(for: .milliseconds(20)) }
            let elapsed = clock.now - start
            group.cancelAll()
            try await group.waitForAll()
            return Double(count) / elapsed.seconds
        }
    }

    /// Consumes what the relay published through an `InboxConsumer`; returns messages/s until all committed.
    func measureInbox(pool: DatabasePool, amqp: AMQPConfiguration, topology: Topology, logger: Logger) async throws
        -> Double
    {
        let count = options.count
        let consumer = InboxConsumer(
            consumer: "bench.inbox", queue: topology.queues[0].name, pool: pool, amqp: amqp, topology: nil,
            prefetch: options.prefetch, maxBatch: options.maxBatch, logger: logger
        ) { events, connection in
            try await connection.query(
                """
                INSERT INTO effects (message_id, subject)
                SELECT * FROM unnest(\(events.map(\.event.id))::text[], \(events.map { $0.event.subject ?? "" })::text[])
                """)
        }
        return try await withThrowingTaskGroup(of: Void.self) { group in
            let start = clock.now
            group.addTask { try await consumer.run() }
            while try await effects(pool) < count { try await Task.sleep(for: .milliseconds(20)) }
            let elapsed = clock.now - start
            group.cancelAll()
            try await group.waitForAll()
            return Double(count) / elapsed.seconds
        }
    }

    private func unpublished(_ pool: DatabasePool) async throws -> Int {
        try await pool.withConnection { connection in
            try await connection.query("SELECT count(*) AS n FROM outbox WHERE published_at IS NULL")[0].decode("n")
        }
    }

    private func effects(_ pool: DatabasePool) async throws -> Int {
        try await pool.withConnection { connection in
            try await connection.query("SELECT count(*) AS n FROM effects")[0].decode("n")
        }
    }

    private func report(_ path: String, _ rate: Double, note: String) {
        let padded = path.padding(toLength: 38, withPad: " ", startingAt: 0)
        print("\(padded) \(String(format: "%8.0f", rate)) msg/s   \(note)")
    }
}

/// Reads `name` from the environment, or from the nearest `.run/env` above the working directory.
private func benchSetting(_ name: String) throws -> String {
    if let value = ProcessInfo.processInfo.environment[name], !value.isEmpty { return value }
    var directory = URL(fileURLWithPath: FileManager.default.currentDirectoryPath).standardizedFileURL
    while true {
        let env = directory.appendingPathComponent(".run/env")
        if let text = try? String(contentsOf: env, encoding: .utf8) {
            for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                for word in line.split(separator: " ") where word.hasPrefix(name + "=") {
                    let value = word.dropFirst(name.count + 1)
                    return String(value.trimmingCharacters(in: CharacterSet(charactersIn: "'\"")))
                }
            }
        }
        let parent = directory.deletingLastPathComponent()
        if parent.path == directory.path { break }
        directory = parent
    }
    throw MessagingError(.notConnected, "\(name) is not set and no .run/env defines it: run deploy/dev up")
}

/// The URL of `database` on the server of `url`.
private func benchDatabaseURL(_ url: String, database: String) -> String {
    guard var components = URLComponents(string: url) else { return url }
    components.path = "/" + database
    return components.string ?? url
}
