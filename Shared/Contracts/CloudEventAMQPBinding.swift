import Foundation

/// CloudEvents 1.0 binary content mode for AMQP 0-9-1: the RabbitMQ protocol binding implemented by the
/// CloudEvents SDKs and Knative eventing-rabbitmq.
///
/// Every attribute except `datacontenttype` travels as a string header `ce-<attribute>`; `datacontenttype` is the
/// `content_type` property; the body is `data`. The AMQP properties `message_id`, `type`, `timestamp` and
/// `app_id` repeat id, type, time and the source service so plain AMQP tools can read them. Publishers also set
/// `delivery_mode = 2` (persistent); that is the Messaging module's job.
package enum CloudEventAMQPBinding {
    /// The header prefix written on output.
    package static let headerPrefix = "ce-"
    /// Header prefixes accepted on input (compared case-insensitively): this binding's and the AMQP 1.0 binding's.
    package static let acceptedPrefixes = ["ce-", "cloudevents_", "cloudevents:"]

    /// Every attribute except `datacontenttype` as a string header: `ce-specversion` (`1.0`), `ce-id`,
    /// `ce-source`, `ce-type`, `ce-subject`, `ce-time` (RFC 3339, UTC `Z`, microseconds), `ce-dataschema`, and
    /// each extension as `ce-<name>`. Absent optional attributes have no header.
    package static func headers(for event: CloudEvent) -> [String: String] {
        var headers: [String: String] = [:]
        for (name, value) in event.extensions {
            headers[headerPrefix + name.lowercased()] = value
        }
        headers["ce-specversion"] = CloudEvent.specVersion
        headers["ce-id"] = event.id
        headers["ce-source"] = event.source
        headers["ce-type"] = event.type
        headers["ce-time"] = RFC3339.format(event.time)
        if let subject = event.subject { headers["ce-subject"] = subject }
        if let schema = event.dataSchema { headers["ce-dataschema"] = schema }
        return headers
    }

    /// The whole message: headers plus the properties `content_type` (= datacontenttype), `message_id` (= id),
    /// `type` (= type), `timestamp` (= time; AMQP carries whole seconds), `app_id` (= the last path component of
    /// source, e.g. `intake`), and the body (= data).
    package static func encode(
        _ event: CloudEvent
    ) -> (
        headers: [String: String], contentType: String, messageId: String, type: String, timestamp: Date,
        appId: String, body: Data
    ) {
        (headers(for: event), event.dataContentType, event.id, event.type, event.time, event.sourceService, event.data)
    }

    /// Reads a message back into an event.
    ///
    /// Headers may use the `ce-`, `cloudEvents_` or `cloudEvents:` prefix with attribute names in any case. When a
    /// header is missing, `id` falls back to `message_id`, `type` to the `type` property, `time` to `timestamp`
    /// and then to the time of decoding (CloudEvents `time` is optional). `datacontenttype` comes from
    /// `content_type`, then a `ce-datacontenttype` header, then defaults to `application/json`. Other prefixed
    /// headers become extensions. A structured-mode message (`application/cloudevents+json`) is accepted too.
    ///
    /// - Throws: `ContractError` `.missingAttribute` for a missing `specversion`, `id`, `source` or `type`;
    ///   `.unsupportedSpecVersion` when `specversion` is not `1.x`; `.invalidData` for a malformed `ce-time`.
    package static func decode(
        headers: [String: String],
        contentType: String?,
        messageId: String?,
        type: String?,
        timestamp: Date?,
        body: Data
    ) throws -> CloudEvent {
        if let contentType, contentType.lowercased().hasPrefix("application/cloudevents+json") {
            return try decodeStructured(body)
        }
        var attributes: [String: String] = [:]
        for (key, value) in headers {
            let lower = key.lowercased()
            guard let prefix = acceptedPrefixes.first(where: { lower.hasPrefix($0) }) else { continue }
            let name = String(lower.dropFirst(prefix.count))
            guard !name.isEmpty else { continue }
            // A `ce-` header wins over an AMQP 1.0 style duplicate.
            if attributes[name] == nil || prefix == headerPrefix { attributes[name] = value }
        }
        func nonEmpty(_ value: String?) -> String? { value.flatMap { $0.isEmpty ? nil : $0 } }

        guard let specVersion = nonEmpty(attributes.removeValue(forKey: "specversion")) else {
            throw ContractError.missingAttribute("specversion")
        }
        guard specVersion == "1" || specVersion.hasPrefix("1.") else {
            throw ContractError(.unsupportedSpecVersion, "CloudEvents specversion '\(specVersion)' is not 1.x")
        }
        guard let id = nonEmpty(attributes.removeValue(forKey: "id")) ?? nonEmpty(messageId) else {
            throw ContractError.missingAttribute("id")
        }
        guard let source = nonEmpty(attributes.removeValue(forKey: "source")) else {
            throw ContractError.missingAttribute("source")
        }
        guard let eventType = nonEmpty(attributes.removeValue(forKey: "type")) ?? nonEmpty(type) else {
            throw ContractError.missingAttribute("type")
        }
        let time: Date
        if let timeString = nonEmpty(attributes.removeValue(forKey: "time")) {
            guard let parsed = RFC3339.parse(timeString) else {
                throw ContractError.invalidData("event \(id) has a malformed time '\(timeString)'")
            }
            time = parsed
        } else {
            time = timestamp ?? Date()
        }
        let headerContentType = nonEmpty(attributes.removeValue(forKey: "datacontenttype"))
        let subject = nonEmpty(attributes.removeValue(forKey: "subject"))
        let dataSchema = nonEmpty(attributes.removeValue(forKey: "dataschema"))
        return CloudEvent(
            id: id,
            source: source,
            type: eventType,
            subject: subject,
            time: time,
            dataContentType: nonEmpty(contentType) ?? headerContentType ?? "application/json",
            dataSchema: dataSchema,
            data: body,
            extensions: attributes
        )
    }

    /// Decodes a structured-mode event (`application/cloudevents+json`) whose `data` is a JSON value.
    private static func decodeStructured(_ body: Data) throws -> CloudEvent {
        guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any] else {
            throw ContractError.invalidData("structured CloudEvent is not a JSON object")
        }
        var strings: [String: String] = [:]
        for (key, value) in object where key != "data" && key != "data_base64" {
            if let string = value as? String { strings[key.lowercased()] = string }
        }
        var data = Data()
        if let value = object["data"] {
            data = try JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys])
        } else if let base64 = object["data_base64"] as? String, let decoded = Data(base64Encoded: base64) {
            data = decoded
        }
        let headers = Dictionary(uniqueKeysWithValues: strings.map { ("ce-" + $0.key, $0.value) })
        return try decode(
            headers: headers,
            contentType: strings["datacontenttype"] ?? "application/json",
            messageId: nil,
            type: nil,
            timestamp: nil,
            body: data
        )
    }
}
