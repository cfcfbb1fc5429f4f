import AMQP
import Contracts
import Database
import Eventing
import Foundation
import Logging
import TestSupport
import Testing

/// The transactional outbox and its relay against the dev PostgreSQL and RabbitMQ; each test has its own
/// database and its own exchanges and queues.
@Suite struct OutboxTests {
    private struct Abort: Error {}

    @Test func rolledBackTransactionNeverEmits() async throws {
        let topology = TestBroker.topology(queues: [("events", ["#"])])
        try await TestBroker.withTopology(topology) {
            try await withTestDatabase(service: "outbox-tests", migrations: OutboxInbox.migrations) { pool in
                await #expect(throws: Abort.self) {
                    try await pool.withTransaction { connection in
                        try await Outbox.enqueue(
                            OutboxInbox.enrolled("rolled-back"), source: OutboxInbox.source, in: connection)
                        throw Abort()
                    }
                }
                let committed = try await pool.withTransaction { connection in
                    try await Outbox.enqueue(
                        OutboxInbox.enrolled("committed"), source: OutboxInbox.source, in: connection)
                }
                let received = DeliveryLog()
                let publisher = try OutboxInbox.publisher(topology)
                let relay = OutboxRelay(
                    pool: pool, publisher: publisher, exchange: topology.eventsExchange, listenerConfiguration: nil,
                    pollInterval: .milliseconds(100), logger: OutboxInbox.logger("test.relay"))
                let recorder = try OutboxInbox.recorder(topology.queues[0].name, topology: topology, into: received)
                try await withServices([publisher, recorder, relay]) {
                    #expect(await eventually(timeout: .seconds(30)) { await received.count >= 1 })
                    // Give a wrongly emitted message time to show up.
                    try await Task.sleep(for: .seconds(1))
                }
                #expect(await received.messageIds == [committed.id])
                #expect(try await OutboxInbox.count(pool, "outbox") == 1)
                #expect(try await OutboxInbox.count(pool, "outbox WHERE published_at IS NOT NULL") == 1)
            }
        }
    }

    /// Events committed while no relay runs, and claimed by a relay that then died holding its locks, are
    /// published by the next relay; the message is the CloudEvent that was enqueued.
    @Test func committedEventsArePublishedAfterARelayCrash() async throws {
        let topology = TestBroker.topology(queues: [("events", ["asn.*"])])
        try await TestBroker.withTopology(topology) {
            try await withTestDatabase(service: "outbox-tests", migrations: OutboxInbox.migrations) { pool in
                let time = Date(timeIntervalSince1970: 1_770_000_123.456789)
                let events = try await pool.withTransaction { connection in
                    var events: [CloudEvent] = []
                    for position in 0..<3 {
                        events.append(
                            try await Outbox.enqueue(
                                OutboxInbox.enrolled("199001012020011001", position: position),
                                source: OutboxInbox.source, in: connection, time: time))
                    }
                    return events
                }
                // A relay that claimed the rows and crashed before publishing: its transaction holds the row locks.
                let crashed = try await DatabaseConnection.connect(
                    configuration: pool.configuration, logger: OutboxInbox.logger("test.crashed"))
                try await crashed.execute(unsafeSQL: "BEGIN")
                let locked = try await crashed.query("SELECT seq FROM outbox WHERE published_at IS NULL FOR UPDATE")
                #expect(locked.count == 3)
                let pid: Int32 = try await crashed.query("SELECT pg_backend_pid() AS pid")[0].decode("pid")

                let received = DeliveryLog()
                let publisher = try OutboxInbox.publisher(topology)
                let relay = OutboxRelay(
                    pool: pool, publisher: publisher, exchange: topology.eventsExchange,
                    listenerConfiguration: pool.configuration, pollInterval: .milliseconds(100),
                    logger: OutboxInbox.logger("test.relay"))
                let recorder = try OutboxInbox.recorder(topology.queues[0].name, topology: topology, into: received)
                try await withServices([publisher, recorder, relay]) {
                    try await Task.sleep(for: .seconds(1))
                    #expect(await received.count == 0, "rows locked by another relay must not be published")
                    // The crashed relay's session ends; its locks go with it.
                    _ = try await pool.withConnection { connection in
                        try await connection.query("SELECT pg_terminate_backend(\(pid))")
                    }
                    #expect(await eventually(timeout: .seconds(30)) { await received.count >= 3 })
                    #expect(
                        try await eventually(timeout: .seconds(30)) {
                            try await OutboxInbox.count(pool, "outbox WHERE published_at IS NOT NULL") == 3
                        })
                }
                await crashed.close()

                let deliveries = await received.deliveries
                #expect(deliveries.map(\.properties.messageId) == events.map(\.id))
                for (delivery, event) in zip(deliveries, events) {
                    #expect(delivery.routingKey == "asn.enrolled")
                    #expect(delivery.properties.persistent)
                    #expect(delivery.properties.contentType == "application/json")
                    #expect(delivery.properties.type == event.type)
                    #expect(delivery.properties.headers["ce-specversion"] == "1.0")
                    let decoded = try CloudEventAMQPBinding.decode(
                        headers: delivery.properties.headers, contentType: delivery.properties.contentType,
                        messageId: delivery.properties.messageId, type: delivery.properties.type,
                        timestamp: delivery.properties.timestamp, body: Data(delivery.body))
                    #expect(decoded.id == event.id)
                    #expect(decoded.source == event.source)
                    #expect(decoded.type == event.type)
                    #expect(decoded.subject == event.subject)
                    #expect(decoded.time == event.time)
                    #expect(decoded.dataSchema == event.dataSchema)
                    #expect(try decoded.decode(ASNEnrolled.self) == event.decode(ASNEnrolled.self))
                }
            }
        }
    }

    /// A `mandatory` message nobody is bound for comes back: its row stays unpublished (and is retried with
    /// backoff), while a routable row of the same batch is published.
    @Test func unroutableEventStaysUnpublished() async throws {
        let topology = TestBroker.topology(queues: [("events", ["submission.#"])])
        try await TestBroker.withTopology(topology) {
            try await withTestDatabase(service: "outbox-tests", migrations: OutboxInbox.migrations) { pool in
                let routable = CloudEvent(
                    id: UUID().uuidString.lowercased(), source: OutboxInbox.source,
                    type: "id.asnreward.submission.received.v1", subject: UUID().uuidString.lowercased(), time: Date(),
                    dataSchema: "urn:asnreward:schema:submission.received:v1", data: Data("{\"n\":1}".utf8))
                let unroutable = try OutboxInbox.event("198501012010011002")
                try await pool.withTransaction { connection in
                    try await Outbox.enqueue([unroutable, routable], in: connection)
                }
                let received = DeliveryLog()
                let publisher = try OutboxInbox.publisher(topology)
                let relay = OutboxRelay(
                    pool: pool, publisher: publisher, exchange: topology.eventsExchange, listenerConfiguration: nil,
                    pollInterval: .milliseconds(100), logger: OutboxInbox.logger("test.relay", level: .critical))
                let recorder = try OutboxInbox.recorder(topology.queues[0].name, topology: topology, into: received)
                try await withServices([publisher, recorder, relay]) {
                    #expect(await eventually(timeout: .seconds(30)) { await received.count >= 1 })
                    let retried = try await eventually(timeout: .seconds(30)) {
                        try await OutboxInbox.count(pool, "outbox WHERE attempts >= 2") == 1
                    }
                    #expect(retried, "the unroutable row is retried")
                }
                #expect(await received.messageIds == [routable.id])
                let row = try await pool.withConnection { connection in
                    try await connection.query(
                        """
                        SELECT published_at IS NULL AS unpublished, unroutable, last_error FROM outbox
                        WHERE id = \(UUID(uuidString: unroutable.id)!)
                        """)[0]
                }
                #expect(try row.decode("unpublished", as: Bool.self))
                #expect(try row.decode("unroutable", as: Bool.self))
                #expect(try row.decode("last_error", as: String.self).hasPrefix("returned 312"))
                #expect(try await OutboxInbox.count(pool, "outbox WHERE published_at IS NOT NULL") == 1)
            }
        }
    }

    /// Published rows older than the retention are pruned; recent and unpublished ones stay.
    @Test func relayPrunesOldPublishedRows() async throws {
        let topology = TestBroker.topology(queues: [("events", ["#"])])
        try await TestBroker.withTopology(topology) {
            try await withTestDatabase(service: "outbox-tests", migrations: OutboxInbox.migrations) { pool in
                let events = try (0..<4).map { try OutboxInbox.event("199001012020011001", position: $0) }
                try await pool.withTransaction { connection in
                    try await Outbox.enqueue(events, in: connection)
                    // Two rows published long ago, one published recently, one never (it stays behind a retry).
                    try await connection.query(
                        """
                        UPDATE outbox SET published_at = now() - interval '8 days' WHERE seq IN (
                            SELECT seq FROM outbox ORDER BY seq LIMIT 2)
                        """)
                    try await connection.query(
                        """
                        UPDATE outbox SET published_at = now() - interval '1 day' WHERE seq = (
                            SELECT seq FROM outbox ORDER BY seq OFFSET 2 LIMIT 1)
                        """)
                    try await connection.query(
                        "UPDATE outbox SET retry_at = now() + interval '1 hour' WHERE published_at IS NULL")
                }
                let publisher = try OutboxInbox.publisher(topology)
                let relay = OutboxRelay(
                    pool: pool, publisher: publisher, exchange: topology.eventsExchange, listenerConfiguration: nil,
                    pollInterval: .milliseconds(100), retention: .seconds(7 * 24 * 3600),
                    logger: OutboxInbox.logger("test.relay"))
                try await withServices([publisher, relay]) {
                    let pruned = try await eventually(timeout: .seconds(30)) {
                        try await OutboxInbox.count(pool, "outbox") == 2
                    }
                    #expect(pruned)
                }
                let remaining = try await pool.withConnection { connection in
                    try await connection.query("SELECT id FROM outbox ORDER BY seq").map {
                        try $0.decode("id", as: UUID.self).uuidString.lowercased()
                    }
                }
                #expect(remaining == [events[2].id, events[3].id])
            }
        }
    }

    @Test func batchEnqueueRejectsNonUUIDIds() async throws {
        try await withTestDatabase(service: "outbox-tests", migrations: OutboxInbox.migrations) { pool in
            var event = try OutboxInbox.event("199001012020011001")
            event.id = "not-a-uuid"
            await #expect(throws: MessagingError.self) {
                try await pool.withTransaction { connection in try await Outbox.enqueue([event], in: connection) }
            }
            #expect(try await OutboxInbox.count(pool, "outbox") == 0)
        }
    }
}
