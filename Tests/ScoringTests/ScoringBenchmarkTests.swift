import AMQP
import Contracts
import Database
import Eventing
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import ServiceLifecycle
import ServiceSupport
import TestSupport
import Testing

@testable import Scoring

/// The issue's benchmarks for a city of 20,000 ASN with 1,000,000 ledger entries. Off by default (minutes of
/// work); run with `SCORING_BENCH=1 swift test --skip-build --disable-xctest --filter ScoringBenchmark`, or in
/// release with `-c release -Xswiftc -enable-testing --scratch-path .build/reltest` (a 14 min build here). Prints the
/// numbers; asserts only that the work was done.
@Suite("Scoring benchmark", .enabled(if: ProcessInfo.processInfo.environment["SCORING_BENCH"] != nil))
struct ScoringBenchmarkTests {
    typealias F = ScoringFixture
    static let asnCount = 20_000
    static let entriesPerASN = 50
    #if DEBUG
        static let build = "debug"
    #else
        static let build = "release"  // swift test -c release -Xswiftc -enable-testing
    #endif

    static func nip(_ index: Int) -> String {
        let year = 1960 + index / 999 % 40
        return "\(year)0101\(year + 25)01\(index % 2 + 1)\(String(format: "%03d", index % 999 + 1))"
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    @Test("20,000 ASN, 1,000,000 ledger entries: roster import, decisions/s, GET points latency")
    func benchmark() async throws {
        try await ScoringAdminRoutesTests.withApp { client, pool in try await run(client, pool) }
    }

    private func run(_ client: any TestClientProtocol, _ pool: DatabasePool) async throws {
        let clock = ContinuousClock()
        // 1. Roster import, 20,000 rows in one request.
        var csv = "nip,name,opd,unit,phone,email,office_lat,office_lon,home_lat,home_lon,active\n"
        for index in 0..<Self.asnCount {
            csv +=
                "\(Self.nip(index)),ASN \(index),OPD\(index % 40),,0812\(String(format: "%08d", index)),,"
                + "-6.99,110.42,-7.01,110.43,true\n"
        }
        var headers = try await F.bearer(nip: F.otherNIP, roles: ["scoring-admin"])
        headers[.contentType] = "text/csv"
        let rosterStart = clock.now
        let roster = try await client.execute(
            uri: "/v1/roster", method: .post, headers: headers, body: ByteBuffer(string: csv))
        let rosterTime = clock.now - rosterStart
        #expect(roster.status == .ok)
        print("SCORING BENCHMARK roster import, \(Self.asnCount) rows: \(Self.seconds(rosterTime)) s")

        // 2. 1,000,000 ledger entries (50 awards per ASN over 2026-Q1), written by SQL.
        let seedStart = clock.now
        // In statements of 1,000 ASN (50,000 rows) each, under the statement timeout.
        for offset in stride(from: 0, to: Self.asnCount, by: 1000) {
            try await pool.withConnection { connection in
                try await connection.query(
                    """
                    INSERT INTO ledger_entries (id, nip, opd, submission_id, program, program_version, activity, kind,
                                                points, breakdown, rule_version, period, activity_at)
                    SELECT gen_random_uuid(), r.nip, r.opd, gen_random_uuid(), 'peduli-sampah', 1, 'kurangi_plastik',
                           'award', 5, '[{"kind":"base","points":5}]'::jsonb, 'peduli-sampah@1', '2026-Q1',
                           timestamptz '2026-01-01 09:00+07' + (g * interval '36 hours')
                    FROM (SELECT nip, opd FROM roster ORDER BY nip OFFSET \(offset) LIMIT 1000) AS r
                    CROSS JOIN generate_series(0, \(Self.entriesPerASN - 1)) AS g
                    """
                )
            }
        }
        try await pool.withConnection { try await $0.execute(unsafeSQL: "ANALYZE") }
        let seedTime = clock.now - seedStart
        let entries = try await F.count("SELECT count(*) FROM ledger_entries", pool: pool)
        #expect(entries == Self.asnCount * Self.entriesPerASN)
        print("SCORING BENCHMARK seeded \(entries) ledger entries in \(Self.seconds(seedTime)) s")

        // 3. Decisions through the handler in inbox-sized batches (200), one transaction each, as the consumer
        // applies them (without the broker): approvals spread over the city, in March.
        let handler = DecisionHandler(logger: F.logger)
        let decisions = 20_000
        let events = try (0..<decisions).map { index in
            try F.event(
                F.verified(
                    nip: Self.nip((index * 7919) % Self.asnCount), activity: "pilah_sampah",
                    activityAt: F.jakarta(2026, 3, 2 + index % 20, 8 + index % 10)))
        }
        // First half by one consumer, second half by two competing consumers (two connections).
        let half = decisions / 2
        let decisionsStart = clock.now
        for start in stride(from: 0, to: half, by: 200) {
            let batch = Array(events[start..<min(half, start + 200)])
            try await pool.withTransaction { connection in try await handler.handle(batch, in: connection) }
        }
        let decisionsTime = clock.now - decisionsStart
        let competingStart = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<2 {
                group.addTask {
                    for start in stride(from: half + worker * 200, to: decisions, by: 400) {
                        let batch = Array(events[start..<min(decisions, start + 200)])
                        try await pool.withTransaction { connection in
                            try await handler.handle(batch, in: connection)
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let competingTime = clock.now - competingStart
        #expect(try await F.count("SELECT count(*) FROM decision_inputs", pool: pool) == decisions)

        // 4. GET /v1/asn/{nip}/points for random ASNs, one at a time, through the router.
        let adminHeaders = try await F.bearer(nip: F.otherNIP, roles: ["scoring-admin"])
        var latencies: [Double] = []
        for index in 0..<2000 {
            let nip = Self.nip((index * 104_729) % Self.asnCount)
            let start = clock.now
            let response = try await client.execute(
                uri: "/v1/asn/\(nip)/points?period=2026-Q1", method: .get, headers: adminHeaders)
            latencies.append(Self.seconds(clock.now - start) * 1000)
            #expect(response.status == .ok)
        }
        latencies.sort()

        // 5. Decisions through the consumer as it runs: one scoring service with its competing consumers on a queue of
        // the real broker, each message through the inbox, the handler and the outbox in one transaction.
        let consumed = try await Self.throughConsumers(
            count: 10_000, databaseURL: pool.configuration.url, existing: decisions)

        let p50 = latencies[latencies.count / 2]
        let p99 = latencies[latencies.count * 99 / 100]
        print(
            """
            SCORING BENCHMARK (\(Self.build) build, shared 2-core machine)
              roster import, \(Self.asnCount) rows, one request: \(String(format: "%.2f", Self.seconds(rosterTime))) s
              seed \(entries) ledger entries (SQL): \(String(format: "%.1f", Self.seconds(seedTime))) s
              decisions through the handler, one consumer: \(half) in \(String(format: "%.2f", Self.seconds(decisionsTime))) s \
            = \(Int(Double(half) / Self.seconds(decisionsTime)))/s (batches of 200)
              decisions through the handler, two competing consumers: \(decisions - half) in \
            \(String(format: "%.2f", Self.seconds(competingTime))) s \
            = \(Int(Double(decisions - half) / Self.seconds(competingTime)))/s
              decisions through the consumer (broker, inbox, handler, outbox), \(consumed.consumers) batches in flight: \
            \(consumed.count) in \(String(format: "%.2f", Self.seconds(consumed.time))) s \
            = \(Int(Double(consumed.count) / Self.seconds(consumed.time)))/s
                \(consumed.cpu)
              GET /v1/asn/{nip}/points: p50 \(String(format: "%.2f", p50)) ms, p99 \(String(format: "%.2f", p99)) ms \
            (2000 sequential requests, in-process router)
            """)
    }

    /// Publishes `count` approvals (in chunks of 500, with confirms) to a fresh queue consumed by one scoring service
    /// (`SCORING_BENCH_CONSUMERS` batches of up to `SCORING_BENCH_BATCH` in flight, by default the service's own) on
    /// the benchmark's database; the time until all are recorded (`existing` decisions were there).
    private static func throughConsumers(count: Int, databaseURL: String, existing: Int) async throws
        -> (count: Int, time: Duration, consumers: Int, cpu: String)
    {
        let prefix = TestBroker.uniqueName("sbench")
        let exchange = "\(prefix).events"
        var queue = DecisionHandler.queue
        queue.name = "\(prefix).decisions"
        // Where intake and notification would take scoring's events from (unroutable events would stay in the
        // outbox and be retried): the events the ledger publishes, not the decisions themselves (those reach other
        // services' queues too, but that is their consumers' cost, not the ledger's).
        let sink = QueueSpec(
            name: "\(prefix).sink",
            bindings: [PointsAwarded.eventName, PointsReversed.eventName, PenaltyApplied.eventName])
        let topology = Topology(eventsExchange: exchange, queues: [queue, sink])
        let admin = try TestBroker.admin()
        try await admin.declare(topology)
        defer { Task { try? await admin.delete(topology) } }
        var configuration = F.configuration(databaseURL: databaseURL)
        configuration.amqpURL = try TestBroker.url()
        configuration.eventsExchange = exchange
        var logger = F.logger
        logger.logLevel = .critical
        let service = try ScoringService(
            configuration: configuration, logger: logger, programsDirectory: F.programsDirectory,
            decisionsQueue: queue.name,
            decisionConsumers: Int(ProcessInfo.processInfo.environment["SCORING_BENCH_CONSUMERS"] ?? "")
                ?? ScoringService.decisionConsumers,
            decisionBatch: Int(ProcessInfo.processInfo.environment["SCORING_BENCH_BATCH"] ?? "")
                ?? ScoringService.decisionBatch)
        let pool = service.backbone.pool
        // The events the handler steps above queued count as relayed already: only this step's are measured.
        try await pool.withConnection { connection in
            try await connection.query("UPDATE outbox SET published_at = now() WHERE published_at IS NULL")
            try await connection.execute(unsafeSQL: "VACUUM ANALYZE outbox")
        }
        let publisher = Publisher(
            configuration: try TestBroker.configuration(name: "\(prefix)-pub"), topology: topology, logger: logger)
        let events = try (0..<count).map { index in
            try F.event(
                F.verified(
                    nip: Self.nip((index * 4_391) % Self.asnCount), activity: "kurangi_plastik",
                    activityAt: F.jakarta(2026, 3, 2 + index % 25, 7 + index % 12)))
        }
        // The PostgreSQL server (its backends are its children) and RabbitMQ, for the CPU they spend.
        let postmaster = try await pool.withConnection { await ProcessProbe.postmaster(of: $0) }
        let rabbit = ProcessProbe.rabbit()
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await publisher.run() }
            for part in service.backbone.services { group.addTask { try await part.run() } }
            defer { group.cancelAll() }
            let cpuBefore = CPUSample.take(postmaster: postmaster, rabbit: rabbit)
            let started = ContinuousClock.now
            try await publisher.publishConfirmed(events, exchange: exchange)
            // Done when the consumers have committed every decision: watched in memory every 5 ms (a count query
            // every 100 ms added up to 0.1 s, 3 % of a run, and CPU of its own), checked in the database below.
            let deadline = ContinuousClock.now + .seconds(600)
            while service.backbone.consumers.reduce(0, { $0 + $1.processed }) < count, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(5))
            }
            let time = ContinuousClock.now - started
            #expect(try await F.count("SELECT count(*) FROM decision_inputs", pool: pool) == existing + count)
            let cpuAfter = CPUSample.take(postmaster: postmaster, rabbit: rabbit)
            return (count, time, service.backbone.consumers.count, cpuAfter.report(since: cpuBefore, units: count))
        }
    }
}

/// CPU seconds of the processes a run through the consumer uses, from `/proc`: this test process (the publisher, the
/// consumers, the handler and the relay), the PostgreSQL server with its backends, RabbitMQ, and the whole machine.
private struct CPUSample {
    var own: Double?
    var postgres: Double?
    var rabbit: Double?
    var machine: Double?
    var taken: ContinuousClock.Instant

    static func take(postmaster: Int?, rabbit: Int?) -> CPUSample {
        CPUSample(
            own: ProcessProbe.cpuSeconds(Int(ProcessInfo.processInfo.processIdentifier)),
            postgres: postmaster.flatMap(ProcessProbe.treeCPUSeconds), rabbit: rabbit.flatMap(ProcessProbe.cpuSeconds),
            machine: ProcessProbe.machineCPUSeconds()?.busy, taken: .now)
    }

    /// CPU-ms per unit of work of each process since `before`, and the rate the machine's cores would allow at that
    /// cost if nothing else ran.
    func report(since before: CPUSample, units: Int) -> String {
        func perUnit(_ after: Double?, _ before: Double?) -> String {
            guard let after, let before else { return "?" }
            return String(format: "%.3f", (after - before) * 1000 / Double(units))
        }
        let elapsed = ScoringBenchmarkTests.seconds(taken - before.taken)
        var text =
            "CPU-ms per decision: test process \(perUnit(own, before.own)), "
            + "PostgreSQL \(perUnit(postgres, before.postgres)), RabbitMQ \(perUnit(rabbit, before.rabbit)), "
            + "machine \(perUnit(machine, before.machine))"
        if let machine, let busyBefore = before.machine, machine > busyBefore {
            text += String(
                format: " (%.0f %% of %d cores busy; at this cost the cores allow %.0f/s)",
                (machine - busyBefore) * 100 / (elapsed * Double(ProcessProbe.cores)), ProcessProbe.cores,
                ProcessProbe.rateAllowed(units: units, busyCPUSeconds: machine - busyBefore))
        }
        return text
    }
}
