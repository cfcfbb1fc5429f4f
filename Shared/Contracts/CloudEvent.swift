import Foundation

/// A CloudEvents 1.0 event: the envelope every message between services travels in.
///
/// Build one from a payload with `init(_:id:source:time:)`, move it over AMQP with `CloudEventAMQPBinding`, and
/// read it with `decode(_:)`. `time` is kept at microsecond precision (the precision of `ce-time` and PostgreSQL),
/// so an event survives the trip through headers or a database unchanged.
package struct CloudEvent: Sendable, Equatable {
    /// The CloudEvents spec version this type implements.
    package static let specVersion = "1.0"

    /// The event id: a lowercase UUID; also the AMQP `message_id` and the inbox de-duplication key.
    package var id: String
    /// The producing service as a URI reference, e.g. `/asnreward/intake` (see `ServiceName.eventSource`).
    package var source: String
    /// The event type, e.g. `id.asnreward.submission.received.v1`.
    package var type: String
    /// What the event is about: the submission id or the NIP (see each payload's `subject`).
    package var subject: String?
    /// When the occurrence happened (microsecond precision).
    package var time: Date {
        didSet { time = RFC3339.normalized(time) }
    }
    /// The media type of `data`; always `application/json` for our events.
    package var dataContentType: String
    /// The schema of `data`, e.g. `urn:asnreward:schema:submission.received:v1`.
    package var dataSchema: String?
    /// The payload bytes (contract JSON).
    package var data: Data
    /// Extension attributes (lowercase alphanumeric names, string values), e.g. `traceparent`.
    package var extensions: [String: String]

    /// Wraps a payload: type, subject, data schema and JSON data come from the payload.
    ///
    /// - Parameters:
    ///   - payload: The event data.
    ///   - id: The event id (the outbox row id, so a republished row keeps its id).
    ///   - source: The producing service, e.g. `ServiceName.intake.eventSource` (`/asnreward/intake`).
    ///   - time: When the occurrence happened.
    package init<E: EventPayload>(_ payload: E, id: UUID = UUID.timeOrdered(), source: String, time: Date = Date())
        throws
    {
        self.init(
            id: id.lowercased,
            source: source,
            type: E.eventType,
            subject: payload.subject,
            time: time,
            dataContentType: "application/json",
            dataSchema: E.dataSchema,
            data: try ContractsJSON.encode(payload)
        )
    }

    /// Wraps a payload published by one of the four services (`source` = `/asnreward/<service>`).
    package init<E: EventPayload>(
        _ payload: E, id: UUID = UUID.timeOrdered(), from service: ServiceName, time: Date = Date()
    )
        throws
    {
        try self.init(payload, id: id, source: service.eventSource, time: time)
    }

    /// Creates an event from its attributes as they are.
    package init(
        id: String,
        source: String,
        type: String,
        subject: String?,
        time: Date,
        dataContentType: String = "application/json",
        dataSchema: String?,
        data: Data,
        extensions: [String: String] = [:]
    ) {
        self.id = id
        self.source = source
        self.type = type
        self.subject = subject
        self.time = RFC3339.normalized(time)
        self.dataContentType = dataContentType
        self.dataSchema = dataSchema
        self.data = data
        self.extensions = extensions
    }

    /// Decodes the payload.
    ///
    /// - Throws: `ContractError` `.typeMismatch` when `type` is not `E.eventType`, `.invalidData` when the
    ///   content type is not JSON or the JSON does not fit `E`. Unknown JSON fields are ignored.
    package func decode<E: EventPayload>(_ type: E.Type) throws -> E {
        guard self.type == E.eventType else {
            throw ContractError(.typeMismatch, "event \(id) has type '\(self.type)', expected '\(E.eventType)'")
        }
        guard Self.isJSON(dataContentType) else {
            throw ContractError.invalidData("event \(id) has content type '\(dataContentType)', expected JSON")
        }
        return try ContractsJSON.decode(E.self, from: data)
    }

    /// The event name from `type` (`submission.received`), i.e. the AMQP routing key; `nil` when the type is not
    /// of the `id.asnreward.<name>.v<N>` shape.
    package var eventName: String? { EventCatalog.parse(type: type)?.name }

    /// The name of the producing service: the last path component of `source` (`intake`).
    package var sourceService: String {
        source.split(separator: "/").last.map(String.init) ?? source
    }

    /// Whether a media type is JSON (`application/json`, `…+json`, with or without parameters).
    static func isJSON(_ mediaType: String) -> Bool {
        let base = mediaType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        let lower = base.lowercased()
        return lower == "application/json" || lower == "text/json" || lower.hasSuffix("+json")
    }
}
