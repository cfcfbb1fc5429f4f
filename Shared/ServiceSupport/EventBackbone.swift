import AMQP
import Contracts
import Database
import Eventing
import Foundation
import Logging
import ServiceLifecycle

/// One queue a service consumes through the inbox: which events it binds and what it does with a batch.
package struct InboxQueue: Sendable {
    /// The queue's specification (name `<service>.<purpose>`, routing keys, delivery limit).
    package var spec: QueueSpec
    /// Applies a batch of new (never seen before) events inside the inbox transaction.
    package var handler: @Sendable ([InboundEvent], DatabaseConnection) async throws -> Void
    /// Most deliveries per batch (one transaction); the broker may send twice that ahead (the prefetch).
    package var maxBatch: Int
    /// How many batches of this queue are in flight at once: one consumer (connection and prefetch) each, competing
    /// on the queue as replicas would. With two, one batch's commit, acknowledgement and next fetch overlap the
    /// other's statements.
    package var consumers: Int

    /// Creates the description of one consumed queue.
    package init(
        spec: QueueSpec, maxBatch: Int = 200, consumers: Int = 1,
        handler: @escaping @Sendable ([InboundEvent], DatabaseConnection) async throws -> Void
    ) {
        self.spec = spec
        self.maxBatch = maxBatch
        self.consumers = max(1, consumers)
        self.handler = handler
    }
}

/// The database and broker parts every service runs, built the same way in all four services:
/// the connection pool and its migrations, the publisher with the transactional outbox relay, and one inbox
/// consumer per queue.
///
/// ```swift
/// let backbone = try EventBackbone(configuration: configuration, service: .verification,
///                                  migrations: migrations, queues: [InboxQueue(spec: …, handler: …)], logger: logger)
/// try await backbone.migrate()
/// try await ServiceApp(configuration: configuration, logger: logger, routes: routes,
///                      services: backbone.services, readinessChecks: backbone.readinessChecks, …).run()
/// ```
/// Each service declares only its own queues (its broker user may not configure anybody else's); the publisher
/// declares the two shared exchanges.
package struct EventBackbone: Sendable {
    /// Which service this is; the CloudEvents `source` of everything it publishes.
    package let service: ServiceName
    /// The service's connection pool.
    package let pool: DatabasePool
    /// The publishing connection used by the outbox relay.
    package let publisher: Publisher
    /// Publishes committed outbox rows.
    package let relay: OutboxRelay
    /// The inbox consumers: `InboxQueue.consumers` for each consumed queue, in `queues` order.
    package let consumers: [InboxConsumer]
    /// What each consumer declares on the broker (its queue, dead-letter queue and bindings), in `queues` order;
    /// `deploy/rabbitmq/definitions.json` is checked against these.
    package let consumerTopologies: [Topology]
    /// The service's migrations: the shared outbox/inbox schema first, then its own files.
    package let migrations: [Migration]
    /// The outbox relay's own small pool (application name `<service>-relay`), so HTTP handlers never wait for a
    /// connection behind the relay.
    private let relayPool: DatabasePool
    private let logger: Logger

    /// Builds (but does not start) the backbone of `service`.
    package init(
        configuration: ServiceConfiguration,
        service: ServiceName,
        migrations: [Migration],
        queues: [InboxQueue],
        poolSize: Int = 8,
        logger: Logger
    ) throws {
        self.service = service
        self.logger = logger
        self.migrations = MessagingSchema.migrations + migrations
        let database = try configuration.databaseConfiguration(poolSize: poolSize, applicationName: service.rawValue)
        let pool = DatabasePool(configuration: database, logger: logger)
        self.pool = pool
        let exchanges = Topology(eventsExchange: configuration.eventsExchange, queues: [])
        publisher = Publisher(
            configuration: try AMQPConfiguration(
                url: configuration.amqpURL, connectionName: "\(service.rawValue)-publisher"),
            topology: exchanges,
            logger: logger
        )
        // The relay holds a connection only for its short claim and settle statements (one each at a time);
        // its listener opens one more connection of its own.
        var relayDatabase = database
        relayDatabase.poolSize = 2
        relayDatabase.applicationName = "\(service.rawValue)-relay"
        relayPool = DatabasePool(configuration: relayDatabase, logger: logger)
        relay = OutboxRelay(
            pool: relayPool,
            publisher: publisher,
            exchange: configuration.eventsExchange,
            listenerConfiguration: relayDatabase,
            logger: logger
        )
        let exchange = configuration.eventsExchange
        let amqpURL = configuration.amqpURL
        consumerTopologies = queues.map { Topology(eventsExchange: exchange, queues: [$0.spec]) }
        consumers = try zip(queues, consumerTopologies).flatMap { queue, topology in
            try (1...queue.consumers).map { number in
                InboxConsumer(
                    consumer: service.rawValue,
                    queue: queue.spec.name,
                    pool: pool,
                    amqp: try AMQPConfiguration(
                        url: amqpURL,
                        connectionName: "\(service.rawValue)-\(queue.spec.name)" + (number > 1 ? "-\(number)" : "")),
                    topology: topology,
                    prefetch: max(500, 2 * queue.maxBatch),
                    maxBatch: queue.maxBatch,
                    logger: logger,
                    handler: queue.handler
                )
            }
        }
    }

    /// Applies the migrations (under the runner's advisory lock); call before the services start.
    package func migrate() async throws {
        try await MigrationRunner(service: service.rawValue, migrations: migrations, logger: logger).run(on: pool)
    }

    /// The long-lived services in start order: pools, publisher, relay, consumers.
    package var services: [any Service] {
        [pool, relayPool, publisher, relay] + consumers.map { $0 as any Service }
    }

    /// `/health/ready` checks: the database answers, the publishing connection is up and every consumer is
    /// subscribed (so its queue exists and nothing published to it is unroutable).
    package var readinessChecks: [String: @Sendable () async -> Bool] {
        let pool = pool
        let publisher = publisher
        let consumers = consumers
        return [
            "database": { await pool.ping() },
            "broker": { publisher.isConnected() && consumers.allSatisfy { $0.isConnected() } },
        ]
    }
}
