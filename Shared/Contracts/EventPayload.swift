/// An event's data: the contract between services.
///
/// Each conforming struct is one event of DESIGN §3. Its JSON (via `ContractsJSON`) is the AMQP message body;
/// its `eventName` is the routing key on the `asnreward.events` exchange; its `eventType` is the CloudEvents
/// `type`. Adding an optional field is compatible; anything else is a new `version` and a new struct.
package protocol EventPayload: Codable, Sendable, Equatable {
    /// The event name, e.g. `"submission.received"`; also the AMQP routing key.
    static var eventName: String { get }
    /// The schema version of the payload, e.g. `1`.
    static var version: Int { get }
    /// Whether the event carries punishments or personal data (contacts, locations, rejection reasons).
    ///
    /// Confidential events are visible only to the ASN concerned, their OPD head, BKPP and auditors: they must
    /// not go to public dashboards, webhooks for other agencies or the live stream. Defaults to `false`.
    static var isConfidential: Bool { get }
    /// The CloudEvents `subject` (`ce-subject`): the submission id (lowercase UUID) for submission-scoped
    /// events, the NIP for per-ASN events; each payload documents which.
    var subject: String { get }
}

extension EventPayload {
    /// The CloudEvents type, `id.asnreward.<eventName>.v<version>`, e.g. `id.asnreward.submission.received.v1`.
    package static var eventType: String { EventCatalog.type(name: eventName, version: version) }

    /// The CloudEvents `dataschema`: a URN naming the payload schema, `urn:asnreward:schema:<eventName>:v<version>`.
    ///
    /// A URN, not a URL, because no schema registry is hosted; it still identifies the payload version exactly.
    package static var dataSchema: String { "urn:asnreward:schema:\(eventName):v\(version)" }

    /// Not confidential unless the payload says so.
    package static var isConfidential: Bool { false }

    /// `"submission.received"` etc.: the routing key to publish with.
    package static var routingKey: String { eventName }
}
