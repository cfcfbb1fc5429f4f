import AMQP
import Contracts
import Database
import Eventing
import Foundation
import Logging
import Synchronization

/// Intake's copy of the published programs (queue `intake.programs`, event `program.published`): which activities
/// and places the current program accepts, the quantity bounds and how far back a claim may go.
///
/// The inbox handler stores the newest version of each program (by `publishedAt`; an older version arriving late
/// changes nothing). Every intake process reads the table (competing consumers mean one process sees each event),
/// through a cache refreshed at most every `refreshInterval`.
package final class ProgramBook: Sendable {
    /// The queue's name.
    package static let queueName = "intake.programs"
    /// Deliveries before a poisoned message is dead-lettered.
    package static let deliveryLimit = 5

    /// The queue specification (`name` differs only in tests sharing a broker).
    package static func queueSpec(name: String = queueName) -> QueueSpec {
        QueueSpec(name: name, bindings: [ProgramPublished.eventName], deliveryLimit: deliveryLimit)
    }

    private let pool: DatabasePool
    private let program: String
    private let refreshInterval: Duration
    private let cache = Mutex<(program: ProgramPublished?, readAt: ContinuousClock.Instant)?>(nil)
    private let logger: Logger

    /// Creates the book for `program` (the one program intake runs).
    package init(
        pool: DatabasePool, program: String = "peduli-sampah", refreshInterval: Duration = .seconds(5), logger: Logger
    ) {
        self.pool = pool
        self.program = program
        self.refreshInterval = refreshInterval
        self.logger = logger
    }

    /// The current version of the program, or `nil` before the first `program.published` arrived.
    package func current() async throws -> ProgramPublished? {
        let now = ContinuousClock.now
        if let cached = cache.withLock({ $0 }), now - cached.readAt < refreshInterval { return cached.program }
        let program = try await pool.withConnection { connection in
            try await connection.query("SELECT payload::text AS payload FROM programs WHERE program = \(self.program)")
                .first.map { row in
                    try ContractsJSON.decode(
                        ProgramPublished.self, from: Data(try row.decode("payload", as: String.self).utf8))
                }
        }
        cache.withLock { $0 = (program, now) }
        return program
    }

    /// Stores `published` unless a newer version of its program is stored; returns whether it was stored.
    @discardableResult
    package func store(_ published: ProgramPublished, in connection: DatabaseConnection) async throws -> Bool {
        let payload = String(decoding: try ContractsJSON.encode(published), as: UTF8.self)
        let rows = try await connection.query(
            """
            INSERT INTO programs (program, version, published_at, payload)
            VALUES (\(published.program), \(published.programVersion), \(published.publishedAt), \(payload)::jsonb)
            ON CONFLICT (program) DO UPDATE
                SET version = EXCLUDED.version, published_at = EXCLUDED.published_at, payload = EXCLUDED.payload,
                    received_at = now()
                WHERE programs.published_at <= EXCLUDED.published_at
            RETURNING program
            """
        )
        logger.info(
            rows.isEmpty ? "Versi program lama diabaikan" : "Program diperbarui",
            metadata: ["program": .string(published.program), "program.version": .string(published.programVersion)]
        )
        cache.withLock { $0 = nil }
        return !rows.isEmpty
    }

    /// Stores the programs of a batch of `program.published` events (the inbox handler of ``queueName``).
    package func handle(_ events: [InboundEvent], in connection: DatabaseConnection) async throws {
        for inbound in events {
            let event = inbound.event
            guard event.type == ProgramPublished.eventType else {
                throw StatusProjection.UnsupportedEventType(eventId: event.id, type: event.type)
            }
            try await store(try event.decode(ProgramPublished.self), in: connection)
        }
        cache.withLock { $0 = nil }
    }
}
