import AMQP
import Contracts
import Database
import Eventing
import Foundation
import Logging
import ServiceLifecycle
import TestSupport

/// Helpers shared by the outbox and inbox integration tests.
enum OutboxInbox {
    /// The messaging tables plus an `effects` table where test handlers record what they did (no unique
    /// constraint, so a duplicate effect would show as a second row).
    static let migrations: [Migration] =
        MessagingSchema.migrations + [
            Migration(
                name: "1000_test_effects",
                sql: """
                    CREATE TABLE effects (
                        n bigserial PRIMARY KEY,
                        message_id text NOT NULL,
                        subject text,
                        position text
                    );
                    """
            )
        ]

    /// The `source` of test events.
    static let source = "/asnreward/tests"

    /// A logger that only shows warnings and errors.
    static func logger(_ label: String, level: Logger.Level = .warning) -> Logger {
        var logger = Logger(label: label)
        logger.logLevel = level
        return logger
    }

    /// An `asn.enrolled` event for `nip` (the aggregate); `position` is carried in the payload.
    static func enrolled(_ nip: String, position: Int = 0) -> ASNEnrolled {
        ASNEnrolled(
            nip: nip, name: "Test ASN \(nip)", opd: "DLH", enrolledAt: Date(timeIntervalSince1970: 1_770_000_000),
            position: String(position))
    }

    /// A CloudEvent for `enrolled(nip, position)`.
    static func event(_ nip: String, position: Int = 0, id: UUID = UUID()) throws -> CloudEvent {
        try CloudEvent(enrolled(nip, position: position), id: id, source: source)
    }

    /// The message the relay would publish for `event` (CloudEvents binary mode).
    static func message(_ event: CloudEvent, exchange: String, routingKey: String? = nil) -> OutgoingMessage {
        let encoded = CloudEventAMQPBinding.encode(event)
        return OutgoingMessage(
            exchange: exchange,
            routingKey: routingKey ?? event.eventName ?? event.type,
            body: [UInt8](encoded.body),
            properties: MessageProperties(
                contentType: encoded.contentType, messageId: encoded.messageId, type: encoded.type,
                timestamp: encoded.timestamp, appId: encoded.appId, persistent: true, headers: encoded.headers)
        )
    }

    /// A publisher for `topology` on the test virtual host.
    static func publisher(_ topology: Topology) throws -> Publisher {
        Publisher(
            configuration: try TestBroker.configuration(name: TestBroker.uniqueName("pub")), topology: topology,
            logger: logger("test.publisher"))
    }

    /// A plain consumer that records every delivery of `queue` and acknowledges it.
    static func recorder(_ queue: String, topology: Topology?, into collector: DeliveryLog) throws -> Consumer {
        Consumer(
            configuration: try TestBroker.configuration(name: TestBroker.uniqueName("rec")), queue: queue,
            topology: topology, prefetch: 1000, maxBatch: 500, logger: logger("test.recorder")
        ) { deliveries in
            await collector.add(deliveries)
            return deliveries.map { _ in .ack }
        }
    }

    /// Publishes until every message is confirmed; fails the test's expectation otherwise.
    static func publishConfirmed(_ publisher: Publisher, _ messages: [OutgoingMessage]) async throws {
        var pending = messages
        let deadline = ContinuousClock.now + .seconds(30)
        while !pending.isEmpty {
            guard ContinuousClock.now < deadline else {
                throw MessagingError(.timeout, "\(pending.count) test messages were not confirmed")
            }
            if let outcomes = try? await publisher.publish(pending) {
                pending = zip(pending, outcomes).filter { $0.1 != .confirmed }.map(\.0)
            }
            if !pending.isEmpty { try await Task.sleep(for: .milliseconds(100)) }
        }
    }

    /// Counts rows: `SELECT count(*) … <where>`.
    static func count(_ pool: DatabasePool, _ sql: String) async throws -> Int {
        try await pool.withConnection { connection in
            try await connection.query(SQLQuery(unsafeSQL: "SELECT count(*) AS n FROM " + sql))[0].decode("n")
        }
    }
}

/// Records deliveries in arrival order.
actor DeliveryLog {
    private(set) var deliveries: [Delivery] = []

    /// Appends a batch.
    func add(_ batch: [Delivery]) { deliveries += batch }

    /// How many deliveries arrived.
    var count: Int { deliveries.count }

    /// The message ids in arrival order.
    var messageIds: [String] { deliveries.compactMap(\.properties.messageId) }
}

/// Records the events a handler saw.
actor HandlerLog {
    private(set) var events: [InboundEvent] = []
    private(set) var calls = 0

    /// Appends a handler call's events.
    func add(_ batch: [InboundEvent]) {
        events += batch
        calls += 1
    }

    /// The ids of every event seen.
    var ids: [String] { events.map(\.event.id) }
}
