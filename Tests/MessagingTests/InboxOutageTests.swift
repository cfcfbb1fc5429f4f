import AMQP
import Contracts
import Database
import Eventing
import Foundation
import Logging
import TestSupport
import Testing

/// A database outage while events keep arriving: nothing may reach `<queue>.dead` and every event must be applied
/// exactly once afterwards. The outage lasts `ASNREWARD_OUTAGE_SECONDS` (default 60 s) — far longer than a
/// requeue-with-backoff consumer can survive on a quorum queue with `x-delivery-limit` 5 (about 12 s).
@Suite struct InboxOutageTests {
    private static var outage: Duration {
        .seconds(Int(ProcessInfo.processInfo.environment["ASNREWARD_OUTAGE_SECONDS"] ?? "") ?? 60)
    }

    /// Records each new event as one `effects` row (no unique constraint: a second effect would show).
    private static let handler: @Sendable ([InboundEvent], DatabaseConnection) async throws -> Void = {
        events, connection in
        try await connection.query(
            """
            INSERT INTO effects (message_id, subject)
            SELECT * FROM unnest(\(events.map(\.event.id))::text[], \(events.map { $0.event.subject ?? "" })::text[])
            """)
    }

    /// Short client-side limits so that a frozen or refusing server is noticed within seconds.
    private static func pool(url: String) -> DatabasePool {
        DatabasePool(
            configuration: DatabaseConfiguration(
                url: url, poolSize: 2, statementTimeout: .seconds(5), applicationName: "asnreward-outage-test",
                connectTimeout: .seconds(2), operationDeadline: .seconds(6), acquireTimeout: .seconds(3)),
            logger: OutboxInbox.logger("test.outage.pool", level: .critical))
    }

    /// Publishes 20 events a second (as in the reproduction on the skeleton, where a 45 s outage dead-lettered a
    /// few) until `stop` is set; returns every id it got confirmed.
    private static func keepPublishing(
        _ publisher: Publisher, topology: Topology, until stop: StopFlag
    ) async throws -> [String] {
        var ids: [String] = []
        var position = 0
        while !(await stop.isSet) {
            let events = try (0..<2).map { _ in
                position += 1
                return try OutboxInbox.event(
                    "19900101202001\(String(format: "%04d", position % 10_000))", position: position)
            }
            try await OutboxInbox.publishConfirmed(
                publisher, events.map { OutboxInbox.message($0, exchange: topology.eventsExchange) })
            ids += events.map(\.id)
            try await Task.sleep(for: .milliseconds(100))
        }
        return ids
    }

    /// Runs a consumer on `pool` while events are published, calls `breakDatabase`, waits out the outage, calls
    /// `repairDatabase`, and checks that every event was applied once and nothing was dead-lettered.
    private static func survive(
        pool: DatabasePool,
        breakDatabase: @escaping @Sendable () async throws -> Void,
        repairDatabase: @escaping @Sendable () async throws -> Void
    ) async throws {
        let topology = TestBroker.topology(queues: [("inbox", ["#"])], deliveryLimit: 5)
        let queue = topology.queues[0]
        try await TestBroker.withTopology(topology) {
            let publisher = try OutboxInbox.publisher(topology)
            let consumer = InboxConsumer(
                consumer: "tests.outage", queue: queue.name, pool: pool,
                amqp: try TestBroker.configuration(name: TestBroker.uniqueName("outage")), topology: topology,
                prefetch: 100, maxBatch: 50, logger: OutboxInbox.logger("test.outage", level: .critical),
                handler: handler)
            let admin = try TestBroker.admin()
            try await withServices([pool, publisher, consumer]) {
                let stop = StopFlag()
                let publishing = Task { try await keepPublishing(publisher, topology: topology, until: stop) }
                try await Task.sleep(for: .seconds(2))
                try await breakDatabase()
                try await Task.sleep(for: outage)
                try await repairDatabase()
                try await Task.sleep(for: .seconds(1))
                await stop.set()
                let published = try await publishing.value
                let applied = try await eventually(timeout: .seconds(90)) {
                    (try? await OutboxInbox.count(pool, "effects")) ?? 0 >= published.count
                }
                #expect(applied, "every event published during the outage is applied afterwards")
                let rows: [String] = try await pool.withConnection { connection in
                    try await connection.query("SELECT message_id FROM effects").map { try $0.decode("message_id") }
                }
                #expect(rows.count == published.count, "each event applied exactly once")
                #expect(Set(rows) == Set(published))
                #expect(try await admin.messageCount(queue: queue.deadLetterQueueName) == 0, "nothing dead-lettered")
                #expect(try await admin.messageCount(queue: queue.name) == 0)
            }
        }
    }

    /// The consumer's own database refuses connections (as when DLH's database server is down) while the broker
    /// and the publishers carry on.
    @Test func oneConsumersDatabaseUnreachableDeadLettersNothing() async throws {
        try await withTestDatabaseURL(service: "inbox-tests", migrations: OutboxInbox.migrations) { url in
            let name = URL(string: url)?.lastPathComponent ?? ""
            let adminURL = try TestDatabase.adminURL()
            let admin = { @Sendable (sql: String) async throws -> Void in
                let connection = try await DatabaseConnection.connect(
                    configuration: DatabaseConfiguration(url: adminURL), logger: OutboxInbox.logger("test.admin"))
                try await connection.execute(unsafeSQL: sql)
                await connection.close()
            }
            try await Self.survive(
                pool: Self.pool(url: url),
                breakDatabase: {
                    try await admin(
                        """
                        ALTER DATABASE "\(name)" WITH ALLOW_CONNECTIONS false;
                        SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '\(name)';
                        """)
                },
                repairDatabase: { try await admin("ALTER DATABASE \"\(name)\" WITH ALLOW_CONNECTIONS true") }
            )
        }
    }

    /// The whole PostgreSQL server is stopped (a server of the test's own, so the other tests keep theirs).
    @Test func wholeServerStoppedDeadLettersNothing() async throws {
        let server = try ThrowawayPostgres()
        try await server.start()
        let pool = Self.pool(url: server.url())
        try await MigrationRunner(
            service: "outage-tests", migrations: OutboxInbox.migrations, logger: OutboxInbox.logger("test.migrate")
        ).run(on: pool)
        do {
            try await Self.survive(
                pool: pool,
                breakDatabase: { try await server.stop() },
                repairDatabase: { try await server.start() }
            )
        } catch {
            await server.destroy()
            throw error
        }
        await server.destroy()
    }
}

/// Transient conflicts are retried in place too: they say nothing about the events.
@Suite struct InboxConflictTests {
    /// Fails its first `failures` calls with a serialization failure, then records effects.
    actor FlakyHandler {
        private var calls = 0
        private(set) var seen: [InboundEvent] = []
        let failures: Int

        init(failures: Int) { self.failures = failures }

        func handle(_ events: [InboundEvent], _ connection: DatabaseConnection) async throws {
            calls += 1
            seen += events
            if calls <= failures {
                throw DatabaseError(.serializationFailure, sqlState: "40P01", message: "deadlock detected (test)")
            }
            try await connection.query(
                "INSERT INTO effects (message_id) SELECT unnest(\(events.map(\.event.id))::text[])")
        }
    }

    @Test func aDeadlockIsRetriedInPlaceNotRequeued() async throws {
        let topology = TestBroker.topology(queues: [("inbox", ["#"])], deliveryLimit: 2)
        let queue = topology.queues[0]
        try await TestBroker.withTopology(topology) {
            try await withTestDatabase(service: "inbox-tests", migrations: OutboxInbox.migrations) { pool in
                let flaky = FlakyHandler(failures: 3)
                let publisher = try OutboxInbox.publisher(topology)
                let consumer = InboxConsumer(
                    consumer: "tests.conflict", queue: queue.name, pool: pool,
                    amqp: try TestBroker.configuration(name: TestBroker.uniqueName("conflict")), topology: topology,
                    logger: OutboxInbox.logger("test.conflict", level: .critical),
                    handler: { try await flaky.handle($0, $1) })
                let event = try OutboxInbox.event("199001012020011001")
                try await withServices([publisher, consumer]) {
                    try await OutboxInbox.publishConfirmed(
                        publisher, [OutboxInbox.message(event, exchange: topology.eventsExchange)])
                    #expect(
                        try await eventually(timeout: .seconds(20)) {
                            try await OutboxInbox.count(pool, "effects") == 1
                        })
                }
                let seen = await flaky.seen
                #expect(seen.count == 4, "three conflicts, then success")
                #expect(seen.allSatisfy { !$0.redelivered && $0.deliveryCount == 0 }, "never requeued")
                #expect(try await TestBroker.admin().messageCount(queue: queue.deadLetterQueueName) == 0)
            }
        }
    }
}

/// Set once, read by a loop in another task.
actor StopFlag {
    private(set) var isSet = false

    /// Sets the flag.
    func set() { isSet = true }
}
