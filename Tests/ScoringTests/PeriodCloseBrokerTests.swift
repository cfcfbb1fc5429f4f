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

/// A period closed concurrently by two scoring processes over one database, with their outbox relays publishing
/// to the real broker: one set of messages arrives.
@Suite("Scoring periods on the broker")
struct PeriodCloseBrokerTests {
    typealias F = ScoringFixture
    typealias P = PeriodsFixture

    @Test("two processes closing the same quarter at once publish one set of ranking and award messages")
    func concurrentCloseOnBroker() async throws {
        let prefix = TestBroker.uniqueName("periods")
        let results = "\(prefix).results"
        let decisions = "\(prefix).decisions"
        let admin = try TestBroker.admin()
        try await admin.declare(
            Topology(
                eventsExchange: "\(prefix).events",
                queues: [
                    QueueSpec(
                        name: results, bindings: [RankingPublished.eventName, AwardGranted.eventName],
                        deliveryLimit: 5)
                ]))
        let directory = try P.programsDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        do {
            try await run(prefix: prefix, results: results, decisions: decisions, directory: directory, admin: admin)
        } catch {
            try? await admin.deleteQueues([results, results + ".dead", decisions, decisions + ".dead"])
            try? await admin.deleteExchanges(["\(prefix).events"])
            throw error
        }
        try? await admin.deleteQueues([results, results + ".dead", decisions, decisions + ".dead"])
        try? await admin.deleteExchanges(["\(prefix).events"])
    }

    private func run(prefix: String, results: String, decisions: String, directory: URL, admin: AMQPAdmin)
        async throws
    {
        try await withTestDatabaseURL(service: "scoring", migrations: try scoringResources.allMigrations()) { url in
            var configuration = F.configuration(databaseURL: url)
            configuration.amqpURL = try TestBroker.url()
            configuration.eventsExchange = "\(prefix).events"
            var logger = F.logger
            logger.logLevel = .critical
            let first = try ScoringService(
                configuration: configuration, logger: logger, programsDirectory: directory, now: { P.now },
                decisionsQueue: decisions)
            let second = try ScoringService(
                configuration: configuration, logger: logger, programsDirectory: directory, now: { P.now },
                decisionsQueue: decisions)
            try await first.prepare()
            try await second.prepare()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for service in first.backbone.services + second.backbone.services {
                    group.addTask { try await service.run() }
                }
                defer { group.cancelAll() }
                let pool = first.backbone.pool
                try await P.enroll([(P.nip(1), "Ani", "DLH"), (P.nip(2), "Budi", "BKPP")], pool: pool)
                try await P.earn(P.nip(1), 2, from: F.jakarta(2025, 2, 3), pool: pool)
                try await P.earn(P.nip(2), 1, from: F.jakarta(2025, 2, 3), opd: "BKPP", pool: pool)
                let quarter = try Period(parsing: "2025-Q1")

                let outcomes = try await withThrowingTaskGroup(of: PeriodClose.Outcome.self) { closes in
                    for index in 0..<8 {
                        let pool = index.isMultiple(of: 2) ? first.backbone.pool : second.backbone.pool
                        closes.addTask {
                            try await PeriodClose.close(quarter, by: F.otherNIP, now: P.now, pool: pool)
                        }
                    }
                    var outcomes: [PeriodClose.Outcome] = []
                    for try await outcome in closes { outcomes.append(outcome) }
                    return outcomes
                }
                #expect(outcomes.filter { !$0.alreadyClosed }.count == 1)
                // city, DLH, BKPP rankings and one quarterly award.
                let expected = 3 + 1
                let published = await eventually(timeout: .seconds(60)) {
                    (try? await admin.messageCount(queue: results)) == expected
                }
                #expect(published)
                // Nothing more arrives later.
                try await Task.sleep(for: .seconds(1))
                #expect(try await admin.messageCount(queue: results) == expected)
                let messages = try await admin.peek(queue: results, limit: 10)
                #expect(messages.count == expected)
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
