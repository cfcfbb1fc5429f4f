import AMQP
import Contracts
import Database
import Eventing
import Foundation
import Logging
import ServiceLifecycle
import ServiceSupport
import TestSupport
import Testing

@testable import Scoring

/// Two scoring processes as `main` builds them, competing on one decisions queue of the real broker over one
/// database.
@Suite("Scoring wiring")
struct ScoringWiringTests {
    typealias F = ScoringFixture

    /// A program without caps or streaks, so every approval is worth exactly 5 points.
    static let program = """
        program: peduli-sampah
        version: 1
        name: Uji antrean
        activities:
          - code: pilah_sampah
            name: Memilah sampah
            unit: count
            places: [office, home]
            basePoints: 5
        """

    @Test("competing consumers on one ASN: every decision once, totals serialised, duplicates absorbed")
    func competingConsumers() async throws {
        let prefix = TestBroker.uniqueName("scoring")
        let queue = "\(prefix).decisions"
        let admin = try TestBroker.admin()
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("programs-\(prefix)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Self.program.write(to: directory.appendingPathComponent("uji.yaml"), atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: directory) }
        do {
            try await run(prefix: prefix, queue: queue, directory: directory)
        } catch {
            try? await admin.deleteQueues([queue, queue + ".dead"])
            try? await admin.deleteExchanges(["\(prefix).events"])
            throw error
        }
        try? await admin.deleteQueues([queue, queue + ".dead"])
        try? await admin.deleteExchanges(["\(prefix).events"])
    }

    private func run(prefix: String, queue: String, directory: URL) async throws {
        try await withTestDatabaseURL(service: "scoring", migrations: try scoringResources.allMigrations()) { url in
            var configuration = F.configuration(databaseURL: url)
            configuration.amqpURL = try TestBroker.url()
            configuration.eventsExchange = "\(prefix).events"
            // Quiet: the services' own events (points.awarded, …) have no queue on this test exchange.
            var logger = F.logger
            logger.logLevel = .critical
            let first = try ScoringService(
                configuration: configuration, logger: logger, programsDirectory: directory, decisionsQueue: queue)
            let second = try ScoringService(
                configuration: configuration, logger: logger, programsDirectory: directory, decisionsQueue: queue)
            try await first.prepare()
            try await second.prepare()
            let pool = first.backbone.pool
            try await withThrowingTaskGroup(of: Void.self) { group in
                for service in first.backbone.services + second.backbone.services {
                    group.addTask { try await service.run() }
                }
                defer { group.cancelAll() }

                // 300 approvals of one ASN on different days, plus 60 repeats of them under new message ids and
                // a revocation, published by "verification" through an outbox on the same broker.
                let approvals = (0..<300).map { day in
                    F.verified(activityAt: F.jakarta(2026, 1, 1).addingTimeInterval(Double(day) * 3600))
                }
                var events = try approvals.map { try CloudEvent($0, from: .verification) }
                events += try approvals.prefix(60).map { try CloudEvent($0, from: .verification) }
                events.append(try CloudEvent(F.revoked(approvals[10]), from: .verification))
                for chunk in stride(from: 0, to: events.count, by: 50) {
                    try await pool.withTransaction { connection in
                        try await Outbox.enqueue(Array(events[chunk..<min(events.count, chunk + 50)]), in: connection)
                    }
                }
                let done = await eventually(timeout: .seconds(120)) {
                    let inputs = try? await F.count("SELECT count(*) FROM decision_inputs", pool: pool)
                    let consumed = try? await F.count("SELECT count(*) FROM inbox", pool: pool)
                    return inputs == 301 && consumed == events.count
                }
                #expect(done)
                #expect(
                    try await F.count("SELECT count(*) FROM ledger_entries WHERE kind = 'award'", pool: pool) == 300)
                // The revocation either reversed the award or (had it overtaken the approval) left it at 0 points.
                #expect(
                    try await F.count(
                        "SELECT count(*) FROM ledger_entries WHERE kind = 'reversal' OR (kind = 'award' AND points = 0)",
                        pool: pool) == 1)
                #expect(try await F.count("SELECT sum(points) FROM ledger_entries", pool: pool) == 299 * 5)
                try await DecisionHandlerTests.expectTotalsMatchLedger(pool, pairs: 1)
                // Serialised per ASN: each published running total is the ledger's sum up to its entry.
                let running = try await pool.withConnection { connection in
                    try await connection.query(
                        """
                        SELECT id, (sum(points) OVER (ORDER BY seq))::int8 AS total FROM ledger_entries
                        """
                    ).map { (try $0.decode("id", as: UUID.self), try $0.decode("total", as: Int.self)) }
                }
                let expected = Dictionary(uniqueKeysWithValues: running)
                let awarded = try await F.outbox(PointsAwarded.self, pool: pool)
                let reversed = try await F.outbox(PointsReversed.self, pool: pool)
                #expect(awarded.count == 300)
                for event in awarded { #expect(event.totalInPeriod == expected[event.entryId]) }
                for event in reversed { #expect(event.totalInPeriod == expected[event.entryId]) }
            }
        }
    }
}

/// Polls `condition` every 200 ms until it holds or `timeout` passes.
private func eventually(timeout: Duration, _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(200))
    }
    return await condition()
}
