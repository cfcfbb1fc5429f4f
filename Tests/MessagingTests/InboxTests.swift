import AMQP
import Contracts
import Database
import Eventing
import Foundation
import Logging
import TestSupport
import Testing

/// The inbox consumer against the dev PostgreSQL and RabbitMQ; each test has its own database and queues.
@Suite struct InboxTests {
    private struct Poison: Error {}

    /// A handler recording each new event as one `effects` row, and throwing for subject `poison`.
    private static func effectsHandler(log: HandlerLog)
        -> @Sendable ([InboundEvent], DatabaseConnection) async throws -> Void
    {
        { events, connection in
            await log.add(events)
            for event in events {
                if event.event.subject == "poison" { throw Poison() }
                let position = try event.event.decode(ASNEnrolled.self).position
                try await connection.query(
                    """
                    INSERT INTO effects (message_id, subject, position)
                    VALUES (\(event.event.id), \(event.event.subject), \(position))
                    """)
            }
        }
    }

    private static func inboxConsumer(
        pool: DatabasePool, topology: Topology, log: HandlerLog, prefetch: Int = 500, maxBatch: Int = 200
    ) throws -> InboxConsumer {
        InboxConsumer(
            consumer: "tests.inbox", queue: topology.queues[0].name, pool: pool,
            amqp: try TestBroker.configuration(name: TestBroker.uniqueName("inbox")), topology: topology,
            prefetch: prefetch, maxBatch: maxBatch, logger: OutboxInbox.logger("test.inbox", level: .critical),
            handler: effectsHandler(log: log))
    }

    @Test func sameMessageDeliveredThreeTimesSeriallyHasOneEffect() async throws {
        let topology = TestBroker.topology(queues: [("inbox", ["#"])])
        try await TestBroker.withTopology(topology) {
            try await withTestDatabase(service: "inbox-tests", migrations: OutboxInbox.migrations) { pool in
                let log = HandlerLog()
                let publisher = try OutboxInbox.publisher(topology)
                let consumer = try Self.inboxConsumer(pool: pool, topology: topology, log: log)
                let first = try OutboxInbox.event("199001012020011001", position: 1)
                let second = try OutboxInbox.event("199001012020011002", position: 2)
                try await withServices([publisher, consumer]) {
                    // One copy at a time, each processed before the next is sent.
                    let admin = try TestBroker.admin()
                    for _ in 1...3 {
                        try await OutboxInbox.publishConfirmed(
                            publisher, [OutboxInbox.message(first, exchange: topology.eventsExchange)])
                        let settled = try await eventually(timeout: .seconds(30)) {
                            let inbox = try await OutboxInbox.count(pool, "inbox")
                            let ready = try await admin.messageCount(queue: topology.queues[0].name)
                            return inbox == 1 && ready == 0
                        }
                        #expect(settled)
                        try await Task.sleep(for: .milliseconds(200))
                    }
                    // Three copies in one burst, likely one batch.
                    try await OutboxInbox.publishConfirmed(
                        publisher,
                        Array(repeating: OutboxInbox.message(second, exchange: topology.eventsExchange), count: 3))
                    #expect(
                        try await eventually(timeout: .seconds(30)) { try await OutboxInbox.count(pool, "inbox") == 2 })
                    try await Task.sleep(for: .milliseconds(500))
                }
                #expect(try await OutboxInbox.count(pool, "effects WHERE message_id = '\(first.id)'") == 1)
                #expect(try await OutboxInbox.count(pool, "effects WHERE message_id = '\(second.id)'") == 1)
                #expect(try await OutboxInbox.count(pool, "effects") == 2)
                #expect(await log.ids.sorted() == [first.id, second.id].sorted())
                // Every copy was acknowledged: nothing comes back after the consumer closed.
                #expect(try await TestBroker.admin().messageCount(queue: topology.queues[0].name) == 0)
            }
        }
    }

    @Test func copiesConsumedConcurrentlyByTwoConsumersHaveOneEffectEach() async throws {
        let topology = TestBroker.topology(queues: [("inbox", ["#"])])
        try await TestBroker.withTopology(topology) {
            try await withTestDatabase(service: "inbox-tests", migrations: OutboxInbox.migrations, poolSize: 8) {
                pool in
                let log = HandlerLog()
                let publisher = try OutboxInbox.publisher(topology)
                // Small batches so the copies of one event land in different batches of both consumers.
                let consumers = try (0..<2).map { _ in
                    try Self.inboxConsumer(pool: pool, topology: topology, log: log, prefetch: 20, maxBatch: 7)
                }
                let events = try (0..<150).map {
                    try OutboxInbox.event(String(format: "1990010120200110%02d", $0 % 40), position: $0)
                }
                var messages: [OutgoingMessage] = []
                for event in events {
                    for _ in 0..<3 { messages.append(OutboxInbox.message(event, exchange: topology.eventsExchange)) }
                }
                try await withServices([publisher] + consumers) {
                    try await OutboxInbox.publishConfirmed(publisher, messages)
                    #expect(
                        try await eventually(timeout: .seconds(90)) {
                            try await OutboxInbox.count(pool, "inbox") == events.count
                        })
                    #expect(
                        try await eventually(timeout: .seconds(30)) {
                            try await TestBroker.admin().messageCount(queue: topology.queues[0].name) == 0
                        })
                    try await Task.sleep(for: .milliseconds(500))
                }
                #expect(try await OutboxInbox.count(pool, "effects") == events.count)
                #expect(
                    try await OutboxInbox.count(pool, "(SELECT DISTINCT message_id FROM effects) AS e") == events.count)
                #expect(Set(await log.ids).count == events.count)
                #expect(await log.ids.count == events.count, "the handler never saw a duplicate")
                #expect(try await TestBroker.admin().messageCount(queue: topology.queues[0].name) == 0)
            }
        }
    }

    @Test func poisonMessageIsDeadLetteredWhileOthersFlow() async throws {
        let topology = TestBroker.topology(queues: [("inbox", ["#"])], deliveryLimit: 3)
        let queue = topology.queues[0]
        try await TestBroker.withTopology(topology) {
            try await withTestDatabase(service: "inbox-tests", migrations: OutboxInbox.migrations) { pool in
                let log = HandlerLog()
                let dead = DeliveryLog()
                let publisher = try OutboxInbox.publisher(topology)
                let consumer = try Self.inboxConsumer(pool: pool, topology: topology, log: log)
                let deadRecorder = try OutboxInbox.recorder(queue.deadLetterQueueName, topology: topology, into: dead)
                var events = try (0..<30).map { try OutboxInbox.event("199001012020011001", position: $0) }
                let poison = try CloudEvent(
                    ASNEnrolled(nip: "poison", name: "Poison", opd: "DLH", enrolledAt: Date(), position: "x"),
                    source: OutboxInbox.source)
                events.insert(poison, at: 10)
                try await withServices([publisher, consumer, deadRecorder]) {
                    try await OutboxInbox.publishConfirmed(
                        publisher, events.map { OutboxInbox.message($0, exchange: topology.eventsExchange) })
                    // 90 s: under the full suite with fsync on, a checkpoint syncing tens of thousands of files made
                    // every commit slow (≈0.8 s each), and the 30 events once took over 30 s.
                    #expect(
                        try await eventually(timeout: .seconds(90)) {
                            try await OutboxInbox.count(pool, "effects") == 30
                        })
                    #expect(await eventually(timeout: .seconds(30)) { await dead.count >= 1 })
                    // More events keep flowing after the poison message died.
                    let later = try OutboxInbox.event("199001012020011003", position: 99)
                    try await OutboxInbox.publishConfirmed(
                        publisher, [OutboxInbox.message(later, exchange: topology.eventsExchange)])
                    #expect(
                        try await eventually(timeout: .seconds(30)) {
                            try await OutboxInbox.count(pool, "effects") == 31
                        })
                }
                let deadLetters = await dead.deliveries
                #expect(deadLetters.map(\.properties.messageId) == [poison.id])
                let xDeath = deadLetters.first?.properties.headers["x-death"] ?? ""
                #expect(xDeath.contains("delivery_limit"), "x-death: \(xDeath)")
                #expect(xDeath.contains(queue.name))
                // The failed batch is retried in halves: about 2·log₂(31) handler calls, not one per event (a batch
                // of 31 retried one by one took 36 calls, and ~25 s under the full suite with fsync on).
                let calls = await log.calls
                #expect(calls <= 20, "handler calls: \(calls)")
                let poisonAttempts = await log.events.filter { $0.event.id == poison.id }
                #expect(poisonAttempts.count >= queue.deliveryLimit)
                #expect(poisonAttempts.map(\.deliveryCount).max() ?? 0 >= queue.deliveryLimit - 1)
                #expect(try await OutboxInbox.count(pool, "inbox WHERE message_id = '\(poison.id)'") == 0)
                #expect(try await OutboxInbox.count(pool, "inbox") == 31)
                #expect(try await TestBroker.admin().messageCount(queue: queue.name) == 0)
            }
        }
    }

    @Test func unknownTypesAndNonCloudEventsAreDeadLetteredWithoutReachingTheHandler() async throws {
        let topology = TestBroker.topology(queues: [("inbox", ["#"])])
        let queue = topology.queues[0]
        try await TestBroker.withTopology(topology) {
            try await withTestDatabase(service: "inbox-tests", migrations: OutboxInbox.migrations) { pool in
                let log = HandlerLog()
                let dead = DeliveryLog()
                let publisher = try OutboxInbox.publisher(topology)
                let consumer = try Self.inboxConsumer(pool: pool, topology: topology, log: log)
                let deadRecorder = try OutboxInbox.recorder(queue.deadLetterQueueName, topology: topology, into: dead)

                var unknown = try OutboxInbox.event("199001012020011001")
                unknown.type = "id.asnreward.asn.teleported.v1"
                let unknownMessage = OutboxInbox.message(
                    unknown, exchange: topology.eventsExchange, routingKey: "asn.teleported")
                let plainId = UUID().uuidString.lowercased()
                let plain = OutgoingMessage(
                    exchange: topology.eventsExchange, routingKey: "asn.enrolled", body: Array("{\"nip\":\"1\"}".utf8),
                    properties: MessageProperties(contentType: "application/json", messageId: plainId))
                let valid = try OutboxInbox.event("199001012020011002")
                try await withServices([publisher, consumer, deadRecorder]) {
                    try await OutboxInbox.publishConfirmed(
                        publisher,
                        [unknownMessage, plain, OutboxInbox.message(valid, exchange: topology.eventsExchange)])
                    #expect(await eventually(timeout: .seconds(30)) { await dead.count >= 2 })
                    #expect(
                        try await eventually(timeout: .seconds(30)) {
                            try await OutboxInbox.count(pool, "effects") == 1
                        })
                    try await Task.sleep(for: .milliseconds(300))
                }
                #expect(Set(await dead.messageIds) == [unknown.id, plainId])
                for letter in await dead.deliveries {
                    #expect(letter.properties.headers["x-death"]?.contains("rejected") == true)
                }
                #expect(await log.ids == [valid.id])
                #expect(try await OutboxInbox.count(pool, "inbox") == 1)
            }
        }
    }

    /// While the database is unreachable nothing is acknowledged: the batch is requeued (after a pause, so the
    /// delivery limit is not burnt through), and a consumer with a working database processes it afterwards.
    @Test func databaseOutageRequeuesWithoutAcknowledging() async throws {
        let topology = TestBroker.topology(queues: [("inbox", ["#"])], deliveryLimit: 5)
        let queue = topology.queues[0]
        try await TestBroker.withTopology(topology) {
            try await withTestDatabase(service: "inbox-tests", migrations: OutboxInbox.migrations) { pool in
                let log = HandlerLog()
                let publisher = try OutboxInbox.publisher(topology)
                let unreachable = DatabasePool(
                    configuration: DatabaseConfiguration(
                        url: "postgres://nobody@127.0.0.1:1/nothing?connect_timeout=1", poolSize: 1),
                    logger: OutboxInbox.logger("test.unreachable", level: .critical))
                let events = try (0..<3).map { try OutboxInbox.event("199001012020011001", position: $0) }
                let down = try Self.inboxConsumer(pool: unreachable, topology: topology, log: log)
                let admin = try TestBroker.admin()
                try await withServices([publisher, down]) {
                    try await OutboxInbox.publishConfirmed(
                        publisher, events.map { OutboxInbox.message($0, exchange: topology.eventsExchange) })
                    try await Task.sleep(for: .seconds(3))
                }
                #expect(await log.events.isEmpty)
                // The broker puts the unacknowledged deliveries of the closed connection back into the queue.
                let stillQueued = try await eventually(timeout: .seconds(10)) {
                    try await admin.messageCount(queue: queue.name) == events.count
                }
                #expect(stillQueued, "nothing was acknowledged")
                #expect(try await admin.messageCount(queue: queue.deadLetterQueueName) == 0)

                let up = try Self.inboxConsumer(pool: pool, topology: topology, log: log)
                try await withServices([up]) {
                    let processed = try await eventually(timeout: .seconds(30)) {
                        try await OutboxInbox.count(pool, "effects") == events.count
                    }
                    #expect(processed)
                }
                #expect(Set(await log.ids) == Set(events.map(\.id)))
            }
        }
    }

    /// Relay and inbox together: events committed through the outbox reach the consumer's effects exactly once.
    /// The relay polls only every two minutes, so the events arrive in time only because `NOTIFY` wakes it.
    @Test func outboxToInboxEndToEnd() async throws {
        let topology = TestBroker.topology(queues: [("inbox", ["asn.*"])])
        try await TestBroker.withTopology(topology) {
            try await withTestDatabase(service: "inbox-tests", migrations: OutboxInbox.migrations, poolSize: 6) {
                pool in
                let log = HandlerLog()
                let publisher = try OutboxInbox.publisher(topology)
                let relay = OutboxRelay(
                    pool: pool, publisher: publisher, exchange: topology.eventsExchange,
                    listenerConfiguration: pool.configuration, pollInterval: .seconds(120),
                    logger: OutboxInbox.logger("test.relay"))
                let consumer = try Self.inboxConsumer(pool: pool, topology: topology, log: log)
                try await withServices([publisher, consumer, relay]) {
                    // Let the relay find the outbox empty and go to sleep first.
                    try await Task.sleep(for: .seconds(1))
                    for batch in 0..<5 {
                        try await pool.withTransaction { connection in
                            for position in 0..<20 {
                                try await Outbox.enqueue(
                                    OutboxInbox.enrolled(
                                        "1990010120200110\(batch)\(position % 10)", position: position),
                                    source: OutboxInbox.source, in: connection)
                            }
                        }
                    }
                    #expect(
                        try await eventually(timeout: .seconds(30)) {
                            try await OutboxInbox.count(pool, "effects") == 100
                        })
                }
                #expect(try await OutboxInbox.count(pool, "outbox WHERE published_at IS NULL") == 0)
                #expect(try await OutboxInbox.count(pool, "inbox") == 100)
            }
        }
    }
}
