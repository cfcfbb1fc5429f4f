import AMQP
import Contracts
import Database
import Foundation

/// Writes events to the transactional outbox (`MessagingSchema.outbox`) inside the caller's transaction.
///
/// The only way a service publishes: the state change and the outbox row commit together, and ``OutboxRelay``
/// publishes the row afterwards. A rolled-back transaction therefore never emits, and a committed one always
/// does (at least once: consumers de-duplicate through ``InboxConsumer``).
///
/// ```swift
/// try await pool.withTransaction { connection in
///     try await connection.query("UPDATE submissions SET status = 'verified' WHERE id = \(id)")
///     try await Outbox.enqueue(SubmissionVerified(…), source: ServiceName.verification.eventSource, in: connection)
/// }
/// ```
///
/// Per-aggregate order is `seq` order, i.e. insertion order. For two transactions touching one aggregate that is
/// also commit order as long as each updates (locks) the aggregate's own row before it enqueues, which is the
/// natural order of a state change followed by its event.
package enum Outbox {
    /// Enqueues one event in the transaction `connection` is in, and returns the CloudEvent that will be published.
    ///
    /// `aggregatetype` is the first segment of the event name (`submission` for `submission.received`),
    /// `aggregateid` the event's subject (submission id or NIP).
    ///
    /// - Parameters:
    ///   - event: The payload.
    ///   - source: The producing service, e.g. `ServiceName.intake.eventSource`.
    ///   - connection: A connection inside the caller's transaction (`DatabasePool.withTransaction`).
    ///   - id: The event id (CloudEvents id, AMQP `message_id`, inbox key).
    ///   - time: When the occurrence happened.
    @discardableResult
    package static func enqueue<E: EventPayload>(
        _ event: E,
        source: String,
        in connection: DatabaseConnection,
        id: UUID = UUID.timeOrdered(),
        time: Date = Date()
    ) async throws -> CloudEvent {
        let cloudEvent = try CloudEvent(event, id: id, source: source, time: time)
        try await enqueue([cloudEvent], in: connection)
        return cloudEvent
    }

    /// Enqueues already built events, in order, with one multi-row `INSERT … SELECT FROM unnest(…)` statement,
    /// which also notifies channel `outbox` (delivered when the transaction commits) to wake the relay.
    ///
    /// - Throws: `MessagingError` `.protocolError` when an event id is not a UUID or its data is not JSON (the
    ///   outbox stores `payload` as `jsonb`); `DatabaseError` from the insert (e.g. `uniqueViolation` for an id
    ///   enqueued before).
    package static func enqueue(_ events: [CloudEvent], in connection: DatabaseConnection) async throws {
        guard let statement = try enqueueStatement(events) else { return }
        try await connection.query(statement)
    }

    /// The statement ``enqueue(_:in:)`` runs (`nil` for no events), for a caller that pipelines it with its own
    /// writes in one round trip.
    package static func enqueueStatement(_ events: [CloudEvent]) throws -> SQLQuery? {
        guard !events.isEmpty else { return nil }
        let rows = try events.map(OutboxRow.init(event:))
        return """
            WITH inserted AS (
                INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload, source, subject, time, dataschema, \
            extensions)
                SELECT id, aggregatetype, aggregateid, type, payload::jsonb, source, NULLIF(subject, ''), time,
                       NULLIF(dataschema, ''), extensions::jsonb
                FROM unnest(\(rows.map(\.id))::uuid[], \(rows.map(\.aggregateType))::text[],
                            \(rows.map(\.aggregateId))::text[], \(rows.map(\.type))::text[], \(rows.map(\.payload))::text[],
                            \(rows.map(\.source))::text[], \(rows.map(\.subject))::text[], \(rows.map(\.time))::timestamptz[],
                            \(rows.map(\.dataSchema))::text[], \(rows.map(\.extensions))::text[])
                     WITH ORDINALITY AS r(id, aggregatetype, aggregateid, type, payload, source, subject, time,
                                          dataschema, extensions, position)
                ORDER BY position
                RETURNING seq
            )
            -- Delivered at commit, folded into one per transaction; the data-modifying CTE always runs to completion.
            SELECT pg_notify(\(MessagingSchema.outboxChannel), '') FROM (SELECT 1 FROM inserted LIMIT 1) AS any_row
            """
    }

    /// The aggregate type of an event: the first segment of its name (`submission.received` → `submission`), or
    /// the whole type when it is not an `id.asnreward.<name>.v<N>` type.
    package static func aggregateType(of event: CloudEvent) -> String {
        guard let name = event.eventName else { return event.type }
        return name.split(separator: ".", maxSplits: 1).first.map(String.init) ?? name
    }
}

/// One outbox row in the column form of the insert (optional text as `""`, which the insert turns into `NULL`).
private struct OutboxRow {
    var id: UUID
    var aggregateType: String
    var aggregateId: String
    var type: String
    var payload: String
    var source: String
    var subject: String
    var time: Date
    var dataSchema: String
    var extensions: String

    init(event: CloudEvent) throws {
        guard let id = UUID(uuidString: event.id) else {
            throw MessagingError(.protocolError, "outbox event id '\(event.id)' is not a UUID")
        }
        // PostgreSQL validates the JSON itself when it casts the text to jsonb.
        guard CloudEvent.isJSONMediaType(event.dataContentType), let payload = String(data: event.data, encoding: .utf8)
        else {
            throw MessagingError(.protocolError, "outbox event \(event.id) does not carry JSON data")
        }
        self.id = id
        aggregateType = Outbox.aggregateType(of: event)
        aggregateId = event.subject ?? ""
        type = event.type
        self.payload = payload
        source = event.source
        subject = event.subject ?? ""
        time = event.time
        dataSchema = event.dataSchema ?? ""
        let extensionData = try JSONSerialization.data(withJSONObject: event.extensions, options: [.sortedKeys])
        extensions = String(decoding: extensionData, as: UTF8.self)
    }
}

extension CloudEvent {
    /// Whether a media type is JSON (`application/json`, `…+json`, with or without parameters).
    static func isJSONMediaType(_ mediaType: String) -> Bool {
        let base = mediaType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        let lower = base.lowercased()
        return lower == "application/json" || lower == "text/json" || lower.hasSuffix("+json")
    }
}

extension Outbox {
    /// The column values of the outbox row ``enqueue(_:in:)`` writes for one event, for a service that inserts its
    /// outbox row inside its own statement (a data-modifying CTE next to its state change) to save a round trip.
    ///
    /// Optional text is `""` where the insert of ``enqueue(_:in:)`` writes `NULLIF(…, '')`; `payload` and
    /// `extensions` are JSON text for `::jsonb`. Such a statement must also call
    /// `pg_notify(MessagingSchema.outboxChannel, '')` when it inserted a row, as ``enqueue(_:in:)`` does.
    package struct RowValues: Sendable, Equatable {
        /// `id` (uuid): the CloudEvents id.
        package var id: UUID
        /// `aggregatetype`: see ``Outbox/aggregateType(of:)``.
        package var aggregateType: String
        /// `aggregateid`: the event's subject, or `""`.
        package var aggregateId: String
        /// `type`: the CloudEvents type.
        package var type: String
        /// `payload` (jsonb): the event data as JSON text.
        package var payload: String
        /// `source`.
        package var source: String
        /// `subject`, or `""` for `NULL`.
        package var subject: String
        /// `time`.
        package var time: Date
        /// `dataschema`, or `""` for `NULL`.
        package var dataSchema: String
        /// `extensions` (jsonb): the CloudEvents extension attributes as a JSON object.
        package var extensions: String
    }

    /// The column values of the outbox row for `event`, checked as ``enqueue(_:in:)`` checks them.
    ///
    /// - Throws: `MessagingError` `.protocolError` when the event id is not a UUID or its data is not JSON.
    package static func rowValues(for event: CloudEvent) throws -> RowValues {
        let row = try OutboxRow(event: event)
        return RowValues(
            id: row.id, aggregateType: row.aggregateType, aggregateId: row.aggregateId, type: row.type,
            payload: row.payload, source: row.source, subject: row.subject, time: row.time,
            dataSchema: row.dataSchema, extensions: row.extensions)
    }
}
