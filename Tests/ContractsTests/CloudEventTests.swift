import Contracts
import Foundation
import Testing

@Suite("CloudEvents over AMQP")
struct CloudEventTests {
    @Test("every event survives CloudEvent + AMQP binary mode", arguments: Samples.all.map(SampleBox.init))
    func roundTrip(_ sample: SampleBox) throws {
        try Self.roundTrip(sample.payload)
    }

    static func roundTrip<E: EventPayload>(_ payload: E) throws {
        let id = UUID()
        let event = try CloudEvent(payload, id: id, source: ServiceName.scoring.eventSource)
        #expect(event.type == "id.asnreward.\(E.eventName).v1")
        #expect(event.id == id.uuidString.lowercased())
        #expect(event.subject == payload.subject)
        #expect(event.dataContentType == "application/json")
        #expect(event.dataSchema == "urn:asnreward:schema:\(E.eventName):v1")
        #expect(event.eventName == E.routingKey)

        let message = CloudEventAMQPBinding.encode(event)
        #expect(message.headers["ce-specversion"] == "1.0")
        #expect(message.headers["ce-id"] == event.id)
        #expect(message.headers["ce-source"] == "/asnreward/scoring")
        #expect(message.headers["ce-type"] == E.eventType)
        #expect(message.headers["ce-subject"] == payload.subject)
        #expect(message.headers["ce-dataschema"] == E.dataSchema)
        #expect(message.headers["ce-datacontenttype"] == nil, "datacontenttype travels as content_type")
        let time = try #require(message.headers["ce-time"])
        #expect(
            time.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z/) != nil,
            "ce-time \(time) is RFC 3339 UTC with fraction")
        #expect(message.contentType == "application/json")
        #expect(message.messageId == event.id)
        #expect(message.type == E.eventType)
        #expect(message.appId == "scoring")
        #expect(message.timestamp == event.time)

        let received = try CloudEventAMQPBinding.decode(
            headers: message.headers,
            contentType: message.contentType,
            messageId: message.messageId,
            type: message.type,
            timestamp: message.timestamp,
            body: message.body
        )
        #expect(received == event)
        #expect(try received.decode(E.self) == payload)
        let any = try EventCatalog.decodePayload(of: received)
        #expect(any as? E == payload)
    }

    @Test func subjectIsSubmissionIdOrNIP() throws {
        let event = try CloudEvent(Samples.received, source: "/asnreward/intake")
        #expect(event.subject == "6f1c2e9a-3b4d-4e5f-8a7b-1c2d3e4f5a6b")
        let points = try #require(Samples.all.first { $0 is PointsAwarded })
        #expect(points.subject == Samples.nip)
    }

    @Test(
        "cloudEvents_ and cloudEvents: prefixes, any case",
        arguments: ["cloudEvents_", "cloudEvents:", "CE-", "CloudEvents_"])
    func acceptsAMQP10Prefixes(_ prefix: String) throws {
        let event = try CloudEvent(Samples.received, source: "/asnreward/intake")
        var headers: [String: String] = [:]
        for (key, value) in CloudEventAMQPBinding.headers(for: event) {
            headers[prefix + String(key.dropFirst(3))] = value
        }
        let decoded = try CloudEventAMQPBinding.decode(
            headers: headers,
            contentType: "application/json",
            messageId: nil,
            type: nil,
            timestamp: nil,
            body: event.data
        )
        #expect(decoded == event)
        #expect(try decoded.decode(SubmissionReceived.self) == Samples.received)
    }

    @Test func attributeNamesAreCaseInsensitive() throws {
        let event = try CloudEvent(Samples.received, source: "/asnreward/intake")
        let headers = Dictionary(
            uniqueKeysWithValues: CloudEventAMQPBinding.headers(for: event).map { ($0.key.uppercased(), $0.value) }
        )
        let decoded = try decode(headers)
        #expect(decoded.type == event.type)
        #expect(decoded.subject == event.subject)
    }

    @Test func fallsBackToAMQPProperties() throws {
        let time = Samples.time("2026-03-14T02:00:00Z")
        let decoded = try CloudEventAMQPBinding.decode(
            headers: ["ce-specversion": "1.0", "ce-source": "/asnreward/intake"],
            contentType: "application/json",
            messageId: "abc-1",
            type: SubmissionReceived.eventType,
            timestamp: time,
            body: Data("{}".utf8)
        )
        #expect(decoded.id == "abc-1")
        #expect(decoded.type == SubmissionReceived.eventType)
        #expect(decoded.time == time)
        #expect(decoded.subject == nil)
    }

    @Test(
        "missing required attribute is an error",
        arguments: ["ce-specversion", "ce-id", "ce-source", "ce-type"]
    )
    func missingAttribute(_ header: String) throws {
        var headers = Self.minimalHeaders
        headers[header] = nil
        let error = try #require(throws: ContractError.self) { try decode(headers) }
        #expect(error.code == .missingAttribute)
        #expect(error.message.contains(String(header.dropFirst(3))))
    }

    @Test("an empty header counts as missing")
    func emptyAttribute() throws {
        var headers = Self.minimalHeaders
        headers["ce-source"] = ""
        #expect(throws: ContractError(.missingAttribute, "missing CloudEvents attribute 'source'")) {
            try decode(headers)
        }
    }

    @Test(arguments: ["0.3", "2.0", "x"])
    func unsupportedSpecVersion(_ version: String) throws {
        var headers = Self.minimalHeaders
        headers["ce-specversion"] = version
        let error = try #require(throws: ContractError.self) { try decode(headers) }
        #expect(error.code == .unsupportedSpecVersion)
    }

    @Test func malformedTimeIsInvalidData() throws {
        var headers = Self.minimalHeaders
        headers["ce-time"] = "14/03/2026 09:00"
        let error = try #require(throws: ContractError.self) { try decode(headers) }
        #expect(error.code == .invalidData)
    }

    @Test func timeWithOffsetIsAccepted() throws {
        var headers = Self.minimalHeaders
        headers["ce-time"] = "2026-04-01T00:00:00+07:00"
        #expect(try decode(headers).time == Samples.time("2026-03-31T17:00:00Z"))
    }

    @Test func unknownHeadersBecomeExtensionsAndSurvive() throws {
        var event = try CloudEvent(Samples.received, source: "/asnreward/intake")
        event.extensions["traceparent"] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        var message = CloudEventAMQPBinding.encode(event)
        #expect(message.headers["ce-traceparent"] == event.extensions["traceparent"])
        message.headers["x-death-count"] = "1"  // not a CloudEvents header: ignored
        let decoded = try CloudEventAMQPBinding.decode(
            headers: message.headers,
            contentType: message.contentType,
            messageId: message.messageId,
            type: message.type,
            timestamp: message.timestamp,
            body: message.body
        )
        #expect(decoded == event)
    }

    @Test func structuredModeIsAccepted() throws {
        let body = Data(
            """
            {"specversion":"1.0","id":"e-1","source":"/asnreward/intake","type":"\(ASNUpdated.eventType)",
             "subject":"198503152010011001","time":"2026-02-02T01:00:00Z","datacontenttype":"application/json",
             "data":{"nip":"198503152010011001","name":"Siti","opd":"BKPP","updatedAt":"2026-02-02T01:00:00Z",
                     "active":false}}
            """.utf8
        )
        let event = try CloudEventAMQPBinding.decode(
            headers: [:],
            contentType: "application/cloudevents+json; charset=utf-8",
            messageId: nil,
            type: nil,
            timestamp: nil,
            body: body
        )
        let payload = try event.decode(ASNUpdated.self)
        #expect(payload.active == false)
        #expect(payload.opd == "BKPP")
        #expect(event.subject == "198503152010011001")
    }

    @Test func unknownJSONFieldsAreIgnored() throws {
        let event = try CloudEvent(Samples.received, source: "/asnreward/intake")
        var object = try #require(try JSONSerialization.jsonObject(with: event.data) as? [String: Any])
        object["addedInAFutureMinorRelease"] = ["nested": true]
        var evidence = try #require(object["evidence"] as? [[String: Any]])
        evidence[0]["blurScore"] = 0.12
        object["evidence"] = evidence
        var changed = event
        changed.data = try JSONSerialization.data(withJSONObject: object)
        #expect(try changed.decode(SubmissionReceived.self) == Samples.received)
    }

    @Test func typeMismatchIsAnError() throws {
        let event = try CloudEvent(Samples.received, source: "/asnreward/intake")
        let error = try #require(throws: ContractError.self) { try event.decode(SubmissionVerified.self) }
        #expect(error.code == .typeMismatch)
    }

    @Test func badJSONIsInvalidData() throws {
        var event = try CloudEvent(Samples.received, source: "/asnreward/intake")
        event.data = Data(#"{"submissionId":"not-a-uuid"}"#.utf8)
        let error = try #require(throws: ContractError.self) { try event.decode(SubmissionReceived.self) }
        #expect(error.code == .invalidData)
        #expect(!error.description.contains("not-a-uuid") || error.description.contains("submissionId"))
        event.data = Data("not json".utf8)
        #expect(throws: ContractError.self) { try event.decode(SubmissionReceived.self) }
    }

    @Test func nonJSONContentTypeIsInvalidData() throws {
        var event = try CloudEvent(Samples.received, source: "/asnreward/intake")
        event.dataContentType = "application/xml"
        let error = try #require(throws: ContractError.self) { try event.decode(SubmissionReceived.self) }
        #expect(error.code == .invalidData)
        event.dataContentType = "application/json; charset=utf-8"
        #expect(try event.decode(SubmissionReceived.self) == Samples.received)
    }

    @Test func unknownTypeIsDetected() throws {
        var headers = Self.minimalHeaders
        headers["ce-type"] = "id.asnreward.submission.received.v2"
        let event = try decode(headers)
        #expect(!EventCatalog.isKnown(type: event.type))
        let error = try #require(throws: ContractError.self) { try EventCatalog.decodePayload(of: event) }
        #expect(error.code == .unknownType)
        #expect(!EventCatalog.isKnown(type: "id.asnreward.x.v1"))
        #expect(!EventCatalog.isKnown(type: "submission.received"))
        #expect(EventCatalog.isKnown(type: "id.asnreward.submission.received.v1"))
    }

    @Test func timeIsKeptAtMicroseconds() throws {
        let raw = Date(timeIntervalSince1970: 1_773_000_000.123_456_789)
        let event = try CloudEvent(Samples.received, source: "/asnreward/intake", time: raw)
        #expect(abs(event.time.timeIntervalSince(raw)) < 0.000_001)
        #expect(CloudEventAMQPBinding.headers(for: event)["ce-time"] == "2026-03-08T20:00:00.123457Z")
    }

    static let minimalHeaders = [
        "ce-specversion": "1.0",
        "ce-id": "e-1",
        "ce-source": "/asnreward/intake",
        "ce-type": SubmissionReceived.eventType,
    ]

    private func decode(_ headers: [String: String]) throws -> CloudEvent {
        try CloudEventAMQPBinding.decode(
            headers: headers,
            contentType: "application/json",
            messageId: nil,
            type: nil,
            timestamp: nil,
            body: Data("{}".utf8)
        )
    }
}

/// Wraps a sample payload so test arguments print the event name.
struct SampleBox: Sendable, CustomTestStringConvertible {
    let payload: any EventPayload
    var testDescription: String { type(of: payload).eventName }
}
