/// Every event the system knows, and the names derived from them.
package enum EventCatalog {
    /// The durable topic exchange all events are published to.
    package static let exchange = "asnreward.events"
    /// The dead-letter exchange.
    package static let deadLetterExchange = "asnreward.dead"
    /// The prefix of every CloudEvents type.
    package static let typePrefix = "id.asnreward."

    /// All 16 events of DESIGN §3, in flow order.
    package static let all: [any EventPayload.Type] = [
        SubmissionReceived.self,
        SubmissionVerified.self,
        SubmissionRejected.self,
        SubmissionRevoked.self,
        ReviewAssigned.self,
        AppealFiled.self,
        PointsAwarded.self,
        PointsReversed.self,
        PenaltyApplied.self,
        RankingPublished.self,
        AwardGranted.self,
        CommitmentEvaluated.self,
        SanctionImposed.self,
        ProgramPublished.self,
        ASNEnrolled.self,
        ASNUpdated.self,
    ]

    /// Whether `type` (e.g. `id.asnreward.submission.received.v1`) names a known event and version.
    /// Consumers dead-letter messages whose type is not known.
    package static func isKnown(type: String) -> Bool {
        payloadType(for: type) != nil
    }

    /// The payload type for a CloudEvents type, or `nil` when unknown.
    package static func payloadType(for type: String) -> (any EventPayload.Type)? {
        all.first { $0.eventType == type }
    }

    /// The routing keys (event names) of all events, e.g. `submission.received`; bind queues with these.
    package static var routingKeys: [String] { all.map { $0.eventName } }

    /// `id.asnreward.<name>.v<version>`.
    package static func type(name: String, version: Int) -> String {
        "\(typePrefix)\(name).v\(version)"
    }

    /// Splits a CloudEvents type into event name and version (`("submission.received", 1)`), or `nil` when the
    /// type does not have the `id.asnreward.<name>.v<N>` shape (known or not).
    package static func parse(type: String) -> (name: String, version: Int)? {
        guard type.hasPrefix(typePrefix), let dot = type.lastIndex(of: ".") else { return nil }
        let name = type[type.index(type.startIndex, offsetBy: typePrefix.count)..<dot]
        let versionPart = type[type.index(after: dot)...]
        guard !name.isEmpty, versionPart.hasPrefix("v"), let version = Int(versionPart.dropFirst()), version > 0
        else { return nil }
        return (String(name), version)
    }

    /// Decodes any known event's payload.
    ///
    /// - Throws: `ContractError` `.unknownType` when the type is not in the catalog, or the payload's decoding error.
    package static func decodePayload(of event: CloudEvent) throws -> any EventPayload {
        guard let payloadType = payloadType(for: event.type) else {
            throw ContractError(.unknownType, "event \(event.id) has unknown type '\(event.type)'")
        }
        func open<E: EventPayload>(_ type: E.Type) throws -> any EventPayload { try event.decode(type) }
        return try open(payloadType)
    }
}
