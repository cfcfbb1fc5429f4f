import CRabbitMQ
import Foundation

/// A message fetched with basic.get, not yet settled.
struct FetchedMessage {
    /// The delivery tag on the fetching channel.
    var deliveryTag: UInt64
    /// The exchange it was last published or dead-lettered to.
    var exchange: String
    /// Its routing key (for a dead letter: the queue it died in).
    var routingKey: String
    /// Its properties (string headers only; broker-set `x-` headers included).
    var properties: MessageProperties
    /// Its body.
    var body: [UInt8]
}

extension AMQPSession {
    /// basic.get without auto-ack: the next ready message of `queue`, or `nil` when it is empty. The message stays
    /// the broker's until settled, and returns to the queue if the channel closes first.
    func get(queue: String) throws(MessagingError) -> FetchedMessage? {
        let arena = CArena()
        let reply = amqp_basic_get(state, Self.channel, arena.bytes(queue), 0)
        guard reply.reply_type == AMQP_RESPONSE_NORMAL else {
            try check("basic.get \(queue)")
            throw MessagingError(.protocolError, "basic.get \(queue) failed")
        }
        guard reply.reply.id == AMQPMethod.basicGetOk, let decoded = reply.reply.decoded else { return nil }
        let ok = decoded.assumingMemoryBound(to: amqp_basic_get_ok_t.self).pointee
        let (tag, exchange, routingKey) = (ok.delivery_tag, ok.exchange.string, ok.routing_key.string)
        var message = amqp_message_t()
        let read = amqp_read_message(state, Self.channel, &message, 0)
        guard read.reply_type == AMQP_RESPONSE_NORMAL else {
            try check("basic.get \(queue) content")
            throw MessagingError(.protocolError, "basic.get \(queue): no content")
        }
        defer { amqp_destroy_message(&message) }
        return FetchedMessage(
            deliveryTag: tag, exchange: exchange, routingKey: routingKey,
            properties: Self.properties(message.properties), body: message.body.array)
    }

    /// Publishes `message` on a channel in confirm mode and waits for the broker's verdict on it.
    func publishConfirmed(_ message: OutgoingMessage, timeout: Duration) throws(MessagingError) -> PublishOutcome {
        let status = publish(message)
        guard status == AMQP_STATUS_OK.rawValue else { return .failed(Self.statusText(status)) }
        let deadline = ContinuousClock.now + timeout
        var returned: PublishOutcome?
        while ContinuousClock.now < deadline {
            switch try poll(timeout: .milliseconds(100)).event {
            case .returned(let code, let text, _, _, _): returned = .returned(code: code, text: text)
            case .ack: return returned ?? .confirmed
            case .nack: return .nacked
            case .channelClosed(_, let code, let text): return .failed("channel closed \(code) \(text)")
            default: continue
            }
        }
        return .failed("no confirm within \(timeout)")
    }
}
