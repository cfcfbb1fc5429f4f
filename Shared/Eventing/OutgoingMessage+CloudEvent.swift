import AMQP
import Contracts
import Foundation

extension OutgoingMessage {
    /// `event` as an AMQP message in CloudEvents binary content mode (DESIGN §3): `ce-*` headers, `content_type`,
    /// `message_id`, `type`, `timestamp`, `app_id`, persistent, mandatory; routed by the event's name.
    package init(event: CloudEvent, exchange: String) {
        let encoded = CloudEventAMQPBinding.encode(event)
        self.init(
            exchange: exchange,
            routingKey: event.eventName ?? event.type,
            body: [UInt8](encoded.body),
            properties: MessageProperties(
                contentType: encoded.contentType,
                messageId: encoded.messageId,
                type: encoded.type,
                timestamp: encoded.timestamp,
                appId: encoded.appId,
                persistent: true,
                headers: encoded.headers
            ),
            mandatory: true
        )
    }
}
