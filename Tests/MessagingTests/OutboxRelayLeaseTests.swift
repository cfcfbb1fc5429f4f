import AMQP
import Contracts
import Database
import Eventing
import Foundation
import Logging
import TestSupport
import Testing

/// The relay's claim–publish–settle cycle: no transaction open while the broker works, leases that outlive a
/// crashed relay, exactly-once publishing and per-aggregate order with two relays on many aggregates.
@Suite struct OutboxRelayLeaseTests {
    /// While the broker does not answer (its VM frozen with SIGSTOP, so the relay waits for confirms that never
    /// come), the relay holds no transaction open; once the broker is back every row is published.
    @Test(.timeLimit(.minutes(5)))
    func noTransactionIsOpenWhileConfirmsAreStalled() async throws {
        let broker = try ThrowawayBroker()
        do {
            try await broker.start()
            try await stallConfirms(on: broker)
        } catch {
            await broker.destroy()
            throw error
        }
        await broker.destroy()
    }

    private func stallConfirms(on broker: ThrowawayBroker) async throws {
        var amqp = try AMQPConfiguration(url: broker.url, connectionName: "stall-pub", heartbeat: .seconds(2))
        amqp.connectTimeout = .seconds(3)
        var consumerAMQP = amqp
        consumerAMQP.connectionName = "stall-rec"
        let topology = Topology(queues: [QueueSpec(name: "stall.events", bindings: ["#"])])
        try await withTestDatabase(service: "outbox-tests", migrations: OutboxInbox.migrations) { pool in
            let application = TestBroker.uniqueName("relay")
            let relayPool = DatabasePool(
                configuration: DatabaseConfiguration(
                    url: pool.configuration.url, poolSize: 2, applicationName: application),
                logger: OutboxInbox.logger("test.relay-pool"))
            let publisher = Publisher(configuration: amqp, topology: topology, logger: OutboxInbox.logger("test.pub"))
            let received = DeliveryLog()
            let recorder = Consumer(
                configuration: consumerAMQP, queue: "stall.events", topology: topology, prefetch: 1000,
                logger: OutboxInbox.logger("test.recorder")
            ) { deliveries in
                await received.add(deliveries)
                return deliveries.map { _ in .ack }
            }
            let relay = OutboxRelay(
                pool: relayPool, publisher: publisher, exchange: topology.eventsExchange,
                listenerConfiguration: relayPool.configuration, pollInterval: .milliseconds(100),
                logger: OutboxInbox.logger("test.relay", level: .critical))
            let nip = "199001012020011001"
            var ids: [String] = []
            try await withServices([relayPool, publisher, recorder, relay]) {
                // Healthy first: the relay and its connections are up.
                for position in 0..<5 {
                    let event = try OutboxInbox.event(nip, position: position)
                    ids.append(event.id)
                    try await pool.withTransaction { try await Outbox.enqueue([event], in: $0) }
                }
                #expect(await eventually(timeout: .seconds(30)) { await received.count >= 5 })

                try await broker.freeze()
                for position in 5..<15 {
                    let event = try OutboxInbox.event(nip, position: position)
                    ids.append(event.id)
                    try await pool.withTransaction { try await Outbox.enqueue([event], in: $0) }
                }
                // Sample the relay's sessions while it waits for confirms (about 2 × heartbeat) and then for a
                // connection (connectTimeout). Its claim and settle transactions last milliseconds (well under a
                // second even when the whole suite loads both cores); one open for two seconds is held across the
                // broker round trip (the old relay's stayed open for the whole freeze).
                var leasedSamples = 0
                var openTransactionSamples = 0
                let until = ContinuousClock.now + .seconds(5)
                while ContinuousClock.now < until {
                    let row = try await pool.withConnection { connection in
                        try await connection.query(
                            """
                            SELECT
                                (SELECT count(*) FROM outbox
                                 WHERE published_at IS NULL AND claimed_until > now()) AS leased,
                                (SELECT count(*) FROM pg_stat_activity
                                 WHERE application_name = \(application)
                                   AND xact_start < now() - interval '2 seconds') AS open
                            """)[0]
                    }
                    if try row.decode("leased", as: Int.self) > 0 { leasedSamples += 1 }
                    if try row.decode("open", as: Int.self) > 0 { openTransactionSamples += 1 }
                    try await Task.sleep(for: .milliseconds(25))
                }
                #expect(leasedSamples > 0, "the relay never published during the freeze: the test proved nothing")
                #expect(openTransactionSamples == 0, "the relay kept a transaction open while the broker was stalled")
                #expect(try await OutboxInbox.count(pool, "outbox WHERE published_at IS NULL") == 10)

                try broker.thaw()
                #expect(
                    try await eventually(timeout: .seconds(90)) {
                        try await OutboxInbox.count(pool, "outbox WHERE published_at IS NULL") == 0
                    })
                #expect(await eventually(timeout: .seconds(30)) { Set(await received.messageIds).isSuperset(of: ids) })
            }
        }
    }

    /// Rows leased by a relay that crashed after claiming are left alone while the lease lasts, and so are the
    /// later rows of their aggregate; once it expires another relay publishes them, each once, in order. Other
    /// aggregates are not held up meanwhile.
    @Test func rowsOfACrashedRelayAreRepublishedAfterItsLeaseExpires() async throws {
        let topology = TestBroker.topology(queues: [("events", ["#"])])
        try await TestBroker.withTopology(topology) {
            try await withTestDatabase(service: "outbox-tests", migrations: OutboxInbox.migrations) { pool in
                let leasedNIP = "199001012020011001"
                let otherNIP = "199001012020011002"
                let leased = try (0..<3).map { try OutboxInbox.event(leasedNIP, position: $0) }
                let other = try OutboxInbox.event(otherNIP)
                let deadRelay = UUID()
                try await pool.withTransaction { connection in
                    try await Outbox.enqueue(leased + [other], in: connection)
                    // The dead relay claimed the first two rows of the aggregate and never settled them. The lease
                    // is long so that a slow machine cannot end it early; the test ends it below.
                    try await connection.query(
                        """
                        UPDATE outbox SET claimed_by = \(deadRelay), claimed_until = now() + interval '1 hour'
                        WHERE seq IN (SELECT seq FROM outbox WHERE aggregateid = \(leasedNIP) ORDER BY seq LIMIT 2)
                        """)
                }
                let received = DeliveryLog()
                let publisher = try OutboxInbox.publisher(topology)
                let relay = OutboxRelay(
                    pool: pool, publisher: publisher, exchange: topology.eventsExchange, listenerConfiguration: nil,
                    pollInterval: .milliseconds(100), logger: OutboxInbox.logger("test.relay"))
                let recorder = try OutboxInbox.recorder(topology.queues[0].name, topology: topology, into: received)
                try await withServices([publisher, recorder, relay]) {
                    #expect(await eventually(timeout: .seconds(30)) { await received.count >= 1 })
                    // Many polls later, the leased rows and the row behind them are still waiting.
                    try await Task.sleep(for: .seconds(1))
                    #expect(
                        await received.messageIds == [other.id],
                        "leased rows and the rows behind them wait for the lease to expire")
                    #expect(try await OutboxInbox.count(pool, "outbox WHERE published_at IS NULL") == 3)
                    // The lease runs out.
                    try await pool.withConnection { connection in
                        try await connection.query(
                            """
                            UPDATE outbox SET claimed_until = now() - interval '1 second'
                            WHERE claimed_by = \(deadRelay)
                            """)
                    }
                    #expect(await eventually(timeout: .seconds(30)) { await received.count >= 4 })
                    try await Task.sleep(for: .milliseconds(500))
                }
                #expect(await received.messageIds == [other.id] + leased.map(\.id))
                #expect(try await OutboxInbox.count(pool, "outbox WHERE published_at IS NULL") == 0)
                #expect(try await OutboxInbox.count(pool, "outbox WHERE claimed_by IS NOT NULL") == 0)
            }
        }
    }

    /// Two relays, each with its own pool, on 100 aggregates × 50 events committed while they run: every row
    /// arrives exactly once, and each aggregate's events in the order they were enqueued.
    @Test func twoRelaysOnManyAggregatesPublishEachRowOnceInOrder() async throws {
        let topology = TestBroker.topology(queues: [("events", ["#"])])
        let aggregates = (0..<100).map { String(format: "199001012020011%03d", $0) }
        let perAggregate = 50
        try await TestBroker.withTopology(topology) {
            try await withTestDatabase(service: "outbox-tests", migrations: OutboxInbox.migrations) { pool in
                let received = DeliveryLog()
                let relayPools = (0..<2).map { index in
                    DatabasePool(
                        configuration: DatabaseConfiguration(
                            url: pool.configuration.url, poolSize: 2, applicationName: "test-relay-\(index)"),
                        logger: OutboxInbox.logger("test.relay-pool"))
                }
                let publishers = try [OutboxInbox.publisher(topology), OutboxInbox.publisher(topology)]
                let relays = (0..<2).map { index in
                    OutboxRelay(
                        pool: relayPools[index], publisher: publishers[index], exchange: topology.eventsExchange,
                        listenerConfiguration: relayPools[index].configuration, batchSize: 97 + index * 34,
                        pollInterval: .milliseconds(50), logger: OutboxInbox.logger("test.relay.\(index)"))
                }
                let recorder = try OutboxInbox.recorder(topology.queues[0].name, topology: topology, into: received)
                try await withServices(relayPools + publishers + [recorder] + relays) {
                    // Each transaction enqueues one event of every aggregate, in a shuffled order.
                    for position in 0..<perAggregate {
                        try await pool.withTransaction { connection in
                            let events = try aggregates.shuffled().map { try OutboxInbox.event($0, position: position) }
                            try await Outbox.enqueue(events, in: connection)
                        }
                        if position % 10 == 0 { try await Task.sleep(for: .milliseconds(20)) }
                    }
                    #expect(
                        await eventually(timeout: .seconds(120)) {
                            await received.count >= aggregates.count * perAggregate
                        })
                    // Give a duplicate time to show up.
                    try await Task.sleep(for: .seconds(1))
                }
                let deliveries = await received.deliveries
                let ids = deliveries.compactMap(\.properties.messageId)
                #expect(ids.count == aggregates.count * perAggregate)
                #expect(Set(ids).count == ids.count, "no row is published twice")
                var lastPosition: [String: Int] = [:]
                var outOfOrder = 0
                for delivery in deliveries {
                    let payload = try JSONDecoder().decode(EnrolledPosition.self, from: Data(delivery.body))
                    let position = Int(payload.position) ?? -1
                    if let last = lastPosition[payload.nip], position <= last { outOfOrder += 1 }
                    lastPosition[payload.nip] = position
                }
                #expect(outOfOrder == 0)
                #expect(lastPosition.count == aggregates.count)
                #expect(try await OutboxInbox.count(pool, "outbox WHERE published_at IS NULL") == 0)
                #expect(try await OutboxInbox.count(pool, "outbox WHERE attempts > 0") == 0)
            }
        }
    }

    /// The claim probes each candidate's aggregate through `outbox_unpublished_aggregate` even when the
    /// statistics say nothing is unpublished (the outbox was last analyzed while the relay was caught up, as it
    /// usually is), and a backlog arrives: otherwise each probe walks every earlier unpublished row, and a claim
    /// costs O(batch × backlog) — 215 ms per claim in the scoring benchmark instead of a few.
    @Test func claimProbesAggregatesByTheirIndexWhenStatisticsSayTheQueueIsEmpty() async throws {
        try await withTestDatabase(service: "outbox-tests", migrations: OutboxInbox.migrations) { pool in
            let nip = { (index: Int) in String(format: "1990010120%08d", index) }
            let published = try (0..<2_000).map { try OutboxInbox.event(nip($0 % 700)) }
            try await pool.withTransaction { try await Outbox.enqueue(published, in: $0) }
            try await pool.withConnection { connection in
                try await connection.query("UPDATE outbox SET published_at = now()")
                try await connection.execute(unsafeSQL: "VACUUM ANALYZE outbox")
            }
            // The backlog: 1,500 rows, the first 500 in flight at another relay.
            let backlog = try (0..<1_500).map { try OutboxInbox.event(nip(($0 * 37) % 700)) }
            try await pool.withTransaction { try await Outbox.enqueue(backlog, in: $0) }
            try await pool.withConnection { connection in
                try await connection.query(
                    """
                    UPDATE outbox SET claimed_by = \(UUID()), claimed_until = now() + interval '1 hour'
                    WHERE seq IN (SELECT seq FROM outbox WHERE published_at IS NULL ORDER BY seq LIMIT 500)
                    """)
            }
            let claim = OutboxRelay.claimStatement(relayID: UUID(), leaseSeconds: 60, batchSize: 500)
            let plan = try await pool.withTransaction { connection in
                _ = try await connection.query(OutboxRelay.claimSettings)
                return try await connection.query(
                    SQLQuery(unsafeSQL: "EXPLAIN (FORMAT JSON) " + claim.sql, binds: claim.binds)
                )[0].decode(0, as: String.self)
            }
            var scans: [(index: String, inSubPlan: Bool)] = []
            func walk(_ node: [String: Any], inSubPlan: Bool) {
                let inSubPlan = inSubPlan || (node["Parent Relationship"] as? String) == "SubPlan"
                if let index = node["Index Name"] as? String { scans.append((index, inSubPlan)) }
                for child in node["Plans"] as? [[String: Any]] ?? [] { walk(child, inSubPlan: inSubPlan) }
            }
            let document = try JSONSerialization.jsonObject(with: Data(plan.utf8)) as? [[String: Any]]
            walk(try #require(document?.first?["Plan"] as? [String: Any]), inSubPlan: false)
            let probes = scans.filter(\.inSubPlan).map(\.index)
            #expect(probes.count == 2, "the two per-aggregate probes: \(scans)")
            #expect(probes.allSatisfy { $0 == "outbox_unpublished_aggregate" }, "\(scans)")
            #expect(scans.filter { !$0.inSubPlan }.map(\.index).contains("outbox_queue"), "\(scans)")
        }
    }

    /// One relay, 5,000 rows, some committed before it starts and the rest while it runs (woken by `NOTIFY`
    /// only: it polls every two minutes): each row reaches the queue exactly once.
    @Test func eachRowIsPublishedOnceInNormalOperation() async throws {
        let topology = TestBroker.topology(queues: [("events", ["#"])])
        try await TestBroker.withTopology(topology) {
            try await withTestDatabase(service: "outbox-tests", migrations: OutboxInbox.migrations) { pool in
                let total = 5_000
                let before = try (0..<2_000).map { try OutboxInbox.event(String(format: "1990010120%08d", $0)) }
                try await pool.withTransaction { try await Outbox.enqueue(before, in: $0) }
                let received = DeliveryLog()
                let relayPool = DatabasePool(
                    configuration: DatabaseConfiguration(
                        url: pool.configuration.url, poolSize: 2, applicationName: "test-relay"),
                    logger: OutboxInbox.logger("test.relay-pool"))
                let publisher = try OutboxInbox.publisher(topology)
                let relay = OutboxRelay(
                    pool: relayPool, publisher: publisher, exchange: topology.eventsExchange,
                    listenerConfiguration: relayPool.configuration, pollInterval: .seconds(120),
                    logger: OutboxInbox.logger("test.relay"))
                let recorder = try OutboxInbox.recorder(topology.queues[0].name, topology: topology, into: received)
                try await withServices([relayPool, publisher, recorder, relay]) {
                    // 3,000 more, one row per transaction, from ten writers at once (each NOTIFYs).
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for worker in 0..<10 {
                            group.addTask {
                                for round in 0..<300 {
                                    let event = try OutboxInbox.event(String(format: "1991%02d%03d", worker, round))
                                    try await pool.withTransaction { try await Outbox.enqueue([event], in: $0) }
                                }
                            }
                        }
                        try await group.waitForAll()
                    }
                    #expect(await eventually(timeout: .seconds(120)) { await received.count >= total })
                    // Give a duplicate time to show up.
                    try await Task.sleep(for: .seconds(1))
                }
                let ids = await received.messageIds
                #expect(ids.count == total)
                #expect(Set(ids).count == total, "no row is published twice")
                #expect(try await OutboxInbox.count(pool, "outbox WHERE published_at IS NULL") == 0)
            }
        }
    }
}

/// The two payload fields the ordering test reads.
private struct EnrolledPosition: Decodable {
    var nip: String
    var position: String
}
