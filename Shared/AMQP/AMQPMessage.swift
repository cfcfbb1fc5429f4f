import Foundation

/// The AMQP basic properties the project uses, in Swift form.
///
/// `headers` holds the string-valued entries of the AMQP headers table; on input, other value kinds (numbers,
/// booleans, timestamps, nested tables) are converted to their string form.
package struct MessageProperties: Sendable, Equatable {
    /// MIME type of the body (`content_type`), e.g. `application/json`.
    package var contentType: String?
    /// Unique message id (`message_id`); the publisher matches returns by it.
    package var messageId: String?
    /// Message type name (`type`).
    package var type: String?
    /// Creation time (`timestamp`, whole seconds on the wire).
    package var timestamp: Date?
    /// Name of the publishing application (`app_id`).
    package var appId: String?
    /// Whether the broker stores the message on disk (`delivery_mode` 2) rather than in memory only (1).
    package var persistent: Bool
    /// Correlation id (`correlation_id`).
    package var correlationId: String?
    /// Application headers.
    package var headers: [String: String]

    /// Creates properties; everything is optional except persistence, which defaults to on.
    package init(
        contentType: String? = nil,
        messageId: String? = nil,
        type: String? = nil,
        timestamp: Date? = nil,
        appId: String? = nil,
        persistent: Bool = true,
        correlationId: String? = nil,
        headers: [String: String] = [:]
    ) {
        self.contentType = contentType
        self.messageId = messageId
        self.type = type
        self.timestamp = timestamp
        self.appId = appId
        self.persistent = persistent
        self.correlationId = correlationId
        self.headers = headers
    }
}

/// A message to publish.
package struct OutgoingMessage: Sendable {
    /// Target exchange (the empty string is the default exchange).
    package var exchange: String
    /// Routing key.
    package var routingKey: String
    /// Body bytes.
    package var body: [UInt8]
    /// AMQP properties.
    package var properties: MessageProperties
    /// Whether the broker must return the message when no queue is bound for it.
    package var mandatory: Bool

    /// Creates a message; `mandatory` defaults to true so unroutable messages come back as `.returned`.
    package init(
        exchange: String,
        routingKey: String,
        body: [UInt8],
        properties: MessageProperties,
        mandatory: Bool = true
    ) {
        self.exchange = exchange
        self.routingKey = routingKey
        self.body = body
        self.properties = properties
        self.mandatory = mandatory
    }
}

/// What happened to one published message.
package enum PublishOutcome: Sendable, Equatable {
    /// The broker confirmed it (basic.ack): it is stored in every queue it was routed to.
    case confirmed
    /// The broker could not route it (mandatory) and returned it with this reply code and text.
    case returned(code: Int, text: String)
    /// The broker refused responsibility for it (basic.nack); publish again.
    case nacked
    /// It may or may not have reached the broker (channel or connection error, timeout); publish again.
    case failed(String)
}

/// One message delivered to a consumer.
package struct Delivery: Sendable {
    /// Delivery tag on the consuming channel; only meaningful for the connection that delivered it.
    package var deliveryTag: UInt64
    /// Exchange the message was published to.
    package var exchange: String
    /// Routing key it was published with.
    package var routingKey: String
    /// Body bytes.
    package var body: [UInt8]
    /// AMQP properties.
    package var properties: MessageProperties
    /// Whether the broker delivered it before (to this or another consumer).
    package var redelivered: Bool
    /// How many times a quorum queue has returned it after a failed delivery (`x-delivery-count`), 0 if absent.
    package var deliveryCount: Int

    /// Creates a delivery (tests use this to drive handlers without a broker).
    package init(
        deliveryTag: UInt64,
        exchange: String,
        routingKey: String,
        body: [UInt8],
        properties: MessageProperties,
        redelivered: Bool,
        deliveryCount: Int
    ) {
        self.deliveryTag = deliveryTag
        self.exchange = exchange
        self.routingKey = routingKey
        self.body = body
        self.properties = properties
        self.redelivered = redelivered
        self.deliveryCount = deliveryCount
    }
}

/// How a consumer settles one delivery.
package enum DeliveryDisposition: Sendable, Equatable {
    /// Done: remove it from the queue (basic.ack).
    case ack
    /// Try again later: basic.nack with requeue; on a quorum queue this counts toward `x-delivery-limit`.
    case requeue
    /// Give up: basic.reject without requeue, so the queue dead-letters it.
    case reject
    /// Settle nothing: the delivery stays unacknowledged until the channel closes and the broker returns it
    /// (shutting down while the database is unreachable).
    case leave
}
