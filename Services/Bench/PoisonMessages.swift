import AMQP
import Contracts
import Foundation
import Logging
import ServiceSupport

/// `asnreward-bench chaos-plant --out FILE [--tag T]`: publishes poison messages to `asnreward.events` with the
/// broker's admin user (`AMQP_URL_ADMIN`), as a buggy or hostile publisher would, and appends
/// `id<TAB>routing key<TAB>kind` per message to FILE for `chaos-check`, which expects each of them in the
/// dead-letter queue of every queue bound to its routing key, and nothing else there.
///
/// - `not-cloudevent`: no `ce-*` headers, a body that is not JSON (`submission.received`): rejected on sight.
/// - `unknown-type`: a well-formed CloudEvent of a type no one knows (`points.awarded`): rejected on sight.
/// - `bad-payload`: a known type whose data lacks every required field (`submission.verified`): the handler fails,
///   the event is requeued until the queue's delivery limit dead-letters it.
/// - `bad-json`: a known type whose body is not JSON at all (`asn.enrolled`).
func runPoisonPlanter(arguments: [String]) async throws {
    var out: String?
    var tag = String(UInt32.random(in: 0...UInt32.max), radix: 16)
    var iterator = arguments.makeIterator()
    while let argument = iterator.next() {
        switch argument {
        case "--out": out = iterator.next()
        case "--tag": tag = iterator.next() ?? tag
        default:
            print("usage: asnreward-bench chaos-plant --out FILE [--tag T]")
            throw BenchError("unknown argument \(argument)")
        }
    }
    guard let out else { throw BenchError("chaos-plant needs --out FILE") }
    let environment = EnvFile.mergedEnvironment()
    guard let url = environment["AMQP_URL_ADMIN"] else { throw BenchError("AMQP_URL_ADMIN is not set (. .run/env)") }

    let poison = PoisonMessage.all(tag: tag)
    var logger = Logger(label: "chaos-plant")
    logger.logLevel = .warning
    let publisher = Publisher(
        configuration: try AMQPConfiguration(url: url, connectionName: "chaos-plant"), topology: nil, logger: logger)
    let outcomes = try await withThrowingTaskGroup(of: [PublishOutcome]?.self) { group in
        group.addTask {
            try await publisher.run()
            return nil
        }
        group.addTask {
            // Up to a minute: the broker may be restarting or paused by the fault driver.
            // A retry after an unconfirmed attempt may plant a message twice (same id): harmless for the check.
            var last: [PublishOutcome] = []
            for _ in 0..<60 {
                if let outcomes = try? await publisher.publish(poison.map(\.message)) {
                    last = outcomes
                    if outcomes.allSatisfy({ $0 == .confirmed }) { break }
                }
                try await Task.sleep(for: .seconds(1))
            }
            return last
        }
        var result: [PublishOutcome] = []
        while let next = try await group.next() {
            if let next {
                result = next
                publisher.shutdown()
            }
        }
        return result
    }
    guard outcomes.count == poison.count, outcomes.allSatisfy({ $0 == .confirmed }) else {
        throw BenchError("poison messages not confirmed by the broker: \(outcomes)")
    }
    var text = ""
    for message in poison { text += "\(message.id)\t\(message.routingKey)\t\(message.kind)\n" }
    let handle =
        FileHandle(forWritingAtPath: out)
        ?? {
            FileManager.default.createFile(atPath: out, contents: nil)
            return FileHandle(forWritingAtPath: out)!
        }()
    handle.seekToEndOfFile()
    handle.write(Data(text.utf8))
    handle.closeFile()
    print("chaos-plant: \(poison.count) poison messages published (\(poison.map(\.kind).joined(separator: ", ")))")
}

/// One planted poison message.
struct PoisonMessage {
    var id: String
    var routingKey: String
    var kind: String
    var message: OutgoingMessage

    static func all(tag: String) -> [PoisonMessage] {
        let source = "/asnreward/chaos"
        func cloudEvent(_ id: String, type: String, routingKey: String, kind: String, body: String) -> PoisonMessage {
            let headers = [
                "ce-specversion": "1.0", "ce-id": id, "ce-source": source, "ce-type": type,
                "ce-time": RFC3339.format(Date()),
            ]
            let properties = MessageProperties(
                contentType: "application/json", messageId: id, type: type, timestamp: Date(), appId: "chaos",
                headers: headers)
            return PoisonMessage(
                id: id, routingKey: routingKey, kind: kind,
                message: OutgoingMessage(
                    exchange: "asnreward.events", routingKey: routingKey, body: Array(body.utf8),
                    properties: properties, mandatory: true))
        }
        let plain = "chaos-\(tag)-not-cloudevent"
        return [
            PoisonMessage(
                id: plain, routingKey: SubmissionReceived.eventName, kind: "not-cloudevent",
                message: OutgoingMessage(
                    exchange: "asnreward.events", routingKey: SubmissionReceived.eventName,
                    body: Array("bukan JSON / not JSON".utf8),
                    properties: MessageProperties(contentType: "text/plain", messageId: plain), mandatory: true)),
            cloudEvent(
                "chaos-\(tag)-unknown-type", type: "id.asnreward.chaos.poison.v1", routingKey: PointsAwarded.eventName,
                kind: "unknown-type", body: "{\"poison\":true}"),
            cloudEvent(
                "chaos-\(tag)-bad-payload", type: SubmissionVerified.eventType,
                routingKey: SubmissionVerified.eventName, kind: "bad-payload", body: "{\"poison\":true}"),
            cloudEvent(
                "chaos-\(tag)-bad-json", type: ASNEnrolled.eventType, routingKey: ASNEnrolled.eventName,
                kind: "bad-json", body: "{\"nip\":"),
        ]
    }
}
