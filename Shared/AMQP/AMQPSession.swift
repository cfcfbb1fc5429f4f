import CRabbitMQ
import Foundation

/// AMQP 0-9-1 method numbers (class id << 16 | method id) the pump dispatches on.
enum AMQPMethod {
    static let connectionClose: amqp_method_number_t = 0x000A_0032
    static let connectionCloseOk: amqp_method_number_t = 0x000A_0033
    static let connectionBlocked: amqp_method_number_t = 0x000A_003C
    static let connectionUnblocked: amqp_method_number_t = 0x000A_003D
    static let channelClose: amqp_method_number_t = 0x0014_0028
    static let channelCloseOk: amqp_method_number_t = 0x0014_0029
    static let basicCancel: amqp_method_number_t = 0x003C_001E
    static let basicCancelOk: amqp_method_number_t = 0x003C_001F
    static let basicReturn: amqp_method_number_t = 0x003C_0032
    static let basicDeliver: amqp_method_number_t = 0x003C_003C
    static let basicAck: amqp_method_number_t = 0x003C_0050
    static let basicNack: amqp_method_number_t = 0x003C_0078
    static let basicGetOk: amqp_method_number_t = 0x003C_0047
}

/// Basic-property flag bits (`AMQP_BASIC_*_FLAG`).
private enum PropertyFlag {
    static let contentType: amqp_flags_t = 1 << 15
    static let headers: amqp_flags_t = 1 << 13
    static let deliveryMode: amqp_flags_t = 1 << 12
    static let correlationId: amqp_flags_t = 1 << 10
    static let messageId: amqp_flags_t = 1 << 7
    static let timestamp: amqp_flags_t = 1 << 6
    static let type: amqp_flags_t = 1 << 5
    static let appId: amqp_flags_t = 1 << 3
}

/// Something the broker sent, decoded and copied out of rabbitmq-c's buffers.
enum AMQPEvent {
    /// A complete basic.deliver (method, header and body).
    case deliver(Delivery)
    /// A complete basic.return.
    case returned(code: Int, text: String, exchange: String, routingKey: String, properties: MessageProperties)
    /// Publisher confirm.
    case ack(tag: UInt64, multiple: Bool)
    /// Publisher negative confirm.
    case nack(tag: UInt64, multiple: Bool)
    /// The broker cancelled a consumer (queue deleted, `rabbitmqctl`, node failure).
    case cancel(consumerTag: String, noWait: Bool)
    /// The broker closed a channel; the session has already answered close-ok.
    case channelClosed(channel: amqp_channel_t, code: Int, text: String)
    /// connection.blocked (resource alarm) with its reason.
    case blocked(String)
    /// connection.unblocked.
    case unblocked
    /// Any other method (replies to asynchronous requests).
    case other(amqp_method_number_t)
}

/// One rabbitmq-c connection with channel 1 open.
///
/// Not thread-safe, and not meant to be: it is created, used and destroyed on its pump thread only (rabbitmq-c
/// connections must stay on one thread). `deinit` destroys the connection and closes the socket.
final class AMQPSession {
    /// The channel every operation uses.
    static let channel: amqp_channel_t = 1

    /// rabbitmq-c's connection state.
    let state: amqp_connection_state_t
    /// The socket descriptor, for polling and for the watchdog.
    private(set) var fd: Int32 = -1
    /// Whether channel 1 is open (false after the broker closed it until `reopenChannel`).
    private(set) var channelOpen = false

    private let configuration: AMQPConfiguration
    /// Delivery or return whose header and body frames are still being read.
    private var pendingContent: PendingContent?

    private struct PendingContent {
        enum Kind {
            case deliver(tag: UInt64, redelivered: Bool, exchange: String, routingKey: String)
            case returned(code: Int, text: String, exchange: String, routingKey: String)
        }
        var kind: Kind
        var properties = MessageProperties()
        var bodySize: Int = -1
        var body: [UInt8] = []
    }

    /// Connects, logs in (advertising the client's capabilities) and opens channel 1.
    init(configuration: AMQPConfiguration) throws(MessagingError) {
        guard let state = amqp_new_connection() else {
            throw MessagingError(.connectionFailed, "cannot allocate a connection")
        }
        self.state = state
        self.configuration = configuration
        let socket: OpaquePointer?
        if configuration.useTLS {
            socket = amqp_ssl_socket_new(state)
            if let socket {
                amqp_ssl_socket_set_verify_peer(socket, 1)
                amqp_ssl_socket_set_verify_hostname(socket, 1)
                _ = amqp_ssl_socket_set_ssl_versions(socket, AMQP_TLSv1_2, AMQP_TLSvLATEST)
                if let path = configuration.caCertificatePath {
                    let status = amqp_ssl_socket_set_cacert(socket, path)
                    if status != AMQP_STATUS_OK.rawValue {
                        throw MessagingError(.connectionFailed, "cannot load CA certificates from \(path)")
                    }
                }
            }
        } else {
            socket = amqp_tcp_socket_new(state)
        }
        guard let socket else { throw MessagingError(.connectionFailed, "cannot create a socket") }
        var timeout = makeTimeval(configuration.connectTimeout)
        _ = amqp_set_handshake_timeout(state, &timeout)
        _ = amqp_set_rpc_timeout(state, &timeout)
        let status = amqp_socket_open_noblock(socket, configuration.host, Int32(configuration.port), &timeout)
        guard status == AMQP_STATUS_OK.rawValue else {
            throw MessagingError(
                .connectionFailed,
                "\(configuration.host):\(configuration.port): \(Self.statusText(status))"
            )
        }
        fd = amqp_get_sockfd(state)

        let arena = CArena()
        var properties = arena.table([
            ("connection_name", .string(configuration.connectionName)),
            ("product", .string("asnreward-messaging")),
            ("platform", .string("Swift")),
            (
                "capabilities",
                .table([
                    ("consumer_cancel_notify", .bool(true)),
                    ("connection.blocked", .bool(true)),
                    ("publisher_confirms", .bool(true)),
                    ("basic.nack", .bool(true)),
                    ("authentication_failure_close", .bool(true)),
                ])
            ),
        ])
        let reply = asn_amqp_login_plain_with_properties(
            state,
            configuration.virtualHost,
            0,
            131_072,
            configuration.heartbeatSeconds,
            &properties,
            configuration.user,
            configuration.password
        )
        if reply.reply_type != AMQP_RESPONSE_NORMAL {
            throw MessagingError(
                .connectionFailed,
                "login to \(configuration.description) failed: \(describe(reply))"
            )
        }
        try reopenChannel()
    }

    deinit {
        amqp_destroy_connection(state)
    }

    /// Opens channel 1 (again, after the broker closed it).
    func reopenChannel() throws(MessagingError) {
        _ = amqp_channel_open(state, Self.channel)
        try check("channel.open")
        channelOpen = true
        pendingContent = nil
    }

    /// Closes the channel and the connection politely (bounded by the RPC timeout).
    func close() {
        if channelOpen {
            _ = amqp_channel_close(state, Self.channel, 200)
            channelOpen = false
        }
        _ = amqp_connection_close(state, 200)
    }

    // MARK: Synchronous requests

    /// Throws if the last synchronous request failed; answers a broker close with close-ok.
    func check(_ what: String) throws(MessagingError) {
        let reply = amqp_get_rpc_reply(state)
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            return
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            if reply.reply.id == AMQPMethod.channelClose, let decoded = reply.reply.decoded {
                let close = decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
                sendChannelCloseOk()
                throw MessagingError(
                    .channelClosed(replyCode: Int(close.reply_code)),
                    "\(what): \(close.reply_text.string)"
                )
            }
            if reply.reply.id == AMQPMethod.connectionClose, let decoded = reply.reply.decoded {
                let close = decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
                sendConnectionCloseOk()
                throw MessagingError(
                    .connectionLost,
                    "\(what): broker closed the connection: \(close.reply_code) \(close.reply_text.string)"
                )
            }
            throw MessagingError(.protocolError, "\(what): unexpected method \(reply.reply.id)")
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            let code: MessagingError.Code =
                reply.library_error == AMQP_STATUS_TIMEOUT.rawValue ? .timeout : .connectionLost
            throw MessagingError(code, "\(what): \(Self.statusText(reply.library_error))")
        default:
            throw MessagingError(.protocolError, "\(what): no reply")
        }
    }

    /// Declares `topology` (idempotent).
    func declare(_ topology: Topology) throws(MessagingError) {
        try declareExchange(topology.eventsExchange, passive: !topology.ownsExchanges)
        if topology.ownsExchanges || topology.queues.contains(where: { $0.kind == .durable }) {
            try declareExchange(topology.deadLetterExchange, passive: !topology.ownsExchanges)
        }
        for queue in topology.queues {
            let arena = CArena()
            switch queue.kind {
            case .durable:
                _ = amqp_queue_declare(
                    state, Self.channel, arena.bytes(queue.name), 0, 1, 0, 0,
                    arena.table([
                        ("x-queue-type", .string("quorum")),
                        ("x-delivery-limit", .int(Int64(queue.deliveryLimit))),
                        ("x-dead-letter-exchange", .string(topology.deadLetterExchange)),
                        ("x-dead-letter-routing-key", .string(queue.name)),
                    ])
                )
            case .transient:
                _ = amqp_queue_declare(state, Self.channel, arena.bytes(queue.name), 0, 0, 0, 1, amqp_empty_table)
            }
            try check("queue.declare \(queue.name)")
            for key in queue.bindings {
                _ = amqp_queue_bind(
                    state, Self.channel, arena.bytes(queue.name), arena.bytes(topology.eventsExchange),
                    arena.bytes(key), amqp_empty_table
                )
                try check("queue.bind \(queue.name) \(key)")
            }
            guard queue.kind == .durable else { continue }
            _ = amqp_queue_declare(
                state, Self.channel, arena.bytes(queue.deadLetterQueueName), 0, 1, 0, 0, amqp_empty_table
            )
            try check("queue.declare \(queue.deadLetterQueueName)")
            _ = amqp_queue_bind(
                state, Self.channel, arena.bytes(queue.deadLetterQueueName),
                arena.bytes(topology.deadLetterExchange), arena.bytes(queue.name), amqp_empty_table
            )
            try check("queue.bind \(queue.deadLetterQueueName)")
        }
    }

    /// Declares a durable topic exchange, or with `passive` only checks that it exists.
    private func declareExchange(_ name: String, passive: Bool = false) throws(MessagingError) {
        let arena = CArena()
        _ = amqp_exchange_declare(
            state, Self.channel, arena.bytes(name), arena.bytes("topic"), passive ? 1 : 0, 1, 0, 0, amqp_empty_table
        )
        try check("exchange.declare \(name)")
    }

    /// Puts the channel in confirm mode.
    func confirmSelect() throws(MessagingError) {
        _ = amqp_confirm_select(state, Self.channel)
        try check("confirm.select")
    }

    /// Limits unacknowledged deliveries on the channel.
    func qos(prefetch: Int) throws(MessagingError) {
        _ = amqp_basic_qos(state, Self.channel, 0, UInt16(clamping: prefetch), 0)
        try check("basic.qos")
    }

    /// Starts consuming `queue` with manual acknowledgements; returns the consumer tag.
    func consume(queue: String) throws(MessagingError) -> String {
        let arena = CArena()
        let ok = amqp_basic_consume(
            state, Self.channel, arena.bytes(queue), amqp_empty_bytes, 0, 0, 0, amqp_empty_table
        )
        try check("basic.consume \(queue)")
        return ok?.pointee.consumer_tag.string ?? ""
    }

    /// Deletes a queue; returns how many messages it held.
    func deleteQueue(_ name: String) throws(MessagingError) -> Int {
        let arena = CArena()
        let ok = amqp_queue_delete(state, Self.channel, arena.bytes(name), 0, 0)
        try check("queue.delete \(name)")
        return Int(ok?.pointee.message_count ?? 0)
    }

    /// Deletes an exchange.
    func deleteExchange(_ name: String) throws(MessagingError) {
        let arena = CArena()
        _ = amqp_exchange_delete(state, Self.channel, arena.bytes(name), 0)
        try check("exchange.delete \(name)")
    }

    /// Declares `name` passively; returns its ready-message and consumer counts (404 if it does not exist).
    func inspectQueue(_ name: String) throws(MessagingError) -> (messages: Int, consumers: Int) {
        let arena = CArena()
        let ok = amqp_queue_declare(state, Self.channel, arena.bytes(name), 1, 0, 0, 0, amqp_empty_table)
        try check("queue.declare passive \(name)")
        return (Int(ok?.pointee.message_count ?? 0), Int(ok?.pointee.consumer_count ?? 0))
    }

    // MARK: Asynchronous sends (return a rabbitmq-c status)

    /// Publishes `message` on channel 1; returns the library status.
    func publish(_ message: OutgoingMessage) -> Int32 {
        let arena = CArena()
        var properties = amqp_basic_properties_t()
        let source = message.properties
        var flags: amqp_flags_t = PropertyFlag.deliveryMode
        properties.delivery_mode = source.persistent ? 2 : 1
        if let value = source.contentType {
            flags |= PropertyFlag.contentType
            properties.content_type = arena.bytes(value)
        }
        if let value = source.messageId {
            flags |= PropertyFlag.messageId
            properties.message_id = arena.bytes(value)
        }
        if let value = source.type {
            flags |= PropertyFlag.type
            properties.type = arena.bytes(value)
        }
        if let value = source.timestamp {
            flags |= PropertyFlag.timestamp
            properties.timestamp = UInt64(max(0, value.timeIntervalSince1970))
        }
        if let value = source.appId {
            flags |= PropertyFlag.appId
            properties.app_id = arena.bytes(value)
        }
        if let value = source.correlationId {
            flags |= PropertyFlag.correlationId
            properties.correlation_id = arena.bytes(value)
        }
        if !source.headers.isEmpty {
            flags |= PropertyFlag.headers
            properties.headers = arena.table(
                source.headers.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })
        }
        properties._flags = flags
        return message.body.withUnsafeBytes { body in
            amqp_basic_publish(
                state, Self.channel, arena.bytes(message.exchange), arena.bytes(message.routingKey),
                message.mandatory ? 1 : 0, 0, &properties,
                amqp_bytes_t(len: body.count, bytes: UnsafeMutableRawPointer(mutating: body.baseAddress))
            )
        }
    }

    /// Settles one delivery; returns the library status.
    func settle(tag: UInt64, _ disposition: DeliveryDisposition) -> Int32 {
        switch disposition {
        case .ack: amqp_basic_ack(state, Self.channel, tag, 0)
        case .requeue: amqp_basic_nack(state, Self.channel, tag, 0, 1)
        case .reject: amqp_basic_reject(state, Self.channel, tag, 0)
        case .leave: 0
        }
    }

    /// Acknowledges every delivery up to and including `tag`.
    func ackMultiple(upTo tag: UInt64) -> Int32 {
        amqp_basic_ack(state, Self.channel, tag, 1)
    }

    /// Answers a broker-initiated basic.cancel.
    func sendCancelOk(consumerTag: String) -> Int32 {
        let arena = CArena()
        var ok = amqp_basic_cancel_ok_t(consumer_tag: arena.bytes(consumerTag))
        return amqp_send_method(state, Self.channel, AMQPMethod.basicCancelOk, &ok)
    }

    private func sendChannelCloseOk() {
        var ok = amqp_channel_close_ok_t(dummy: 0)
        _ = amqp_send_method(state, Self.channel, AMQPMethod.channelCloseOk, &ok)
        channelOpen = false
        pendingContent = nil
    }

    private func sendConnectionCloseOk() {
        var ok = amqp_connection_close_ok_t(dummy: 0)
        _ = amqp_send_method(state, 0, AMQPMethod.connectionCloseOk, &ok)
    }

    // MARK: Frame pump

    /// Whether rabbitmq-c holds received data or frames not yet returned (poll would not see them).
    var hasBufferedInput: Bool {
        amqp_frames_enqueued(state) != 0 || amqp_data_in_buffer(state) != 0
    }

    /// Reads one frame without waiting (and services heartbeats); returns a completed event, or nil when no
    /// frame is ready or the frame only continued a message.
    ///
    /// Throws `.connectionLost` on socket errors, missed heartbeats and broker-initiated connection.close.
    func poll(timeout: Duration = .zero) throws(MessagingError) -> (event: AMQPEvent?, gotFrame: Bool) {
        var frame = amqp_frame_t()
        var tv = makeTimeval(timeout)
        let status = amqp_simple_wait_frame_noblock(state, &frame, &tv)
        if status == AMQP_STATUS_TIMEOUT.rawValue { return (nil, false) }
        guard status == AMQP_STATUS_OK.rawValue else {
            throw MessagingError(.connectionLost, Self.statusText(status))
        }
        return (try decode(frame), true)
    }

    private func decode(_ frame: amqp_frame_t) throws(MessagingError) -> AMQPEvent? {
        switch Int32(frame.frame_type) {
        case AMQP_FRAME_METHOD:
            return try decodeMethod(frame.payload.method, channel: frame.channel)
        case AMQP_FRAME_HEADER:
            guard var content = pendingContent, frame.channel == Self.channel else { return nil }
            if let decoded = frame.payload.properties.decoded {
                content.properties = Self.properties(
                    decoded.assumingMemoryBound(to: amqp_basic_properties_t.self).pointee)
            }
            content.bodySize = Int(frame.payload.properties.body_size)
            content.body.reserveCapacity(content.bodySize)
            pendingContent = content
            return completeContentIfDone()
        case AMQP_FRAME_BODY:
            guard pendingContent != nil, frame.channel == Self.channel else { return nil }
            pendingContent!.body.append(contentsOf: frame.payload.body_fragment.array)
            return completeContentIfDone()
        default:
            return nil
        }
    }

    private func completeContentIfDone() -> AMQPEvent? {
        guard let content = pendingContent, content.bodySize >= 0, content.body.count >= content.bodySize else {
            return nil
        }
        pendingContent = nil
        switch content.kind {
        case .deliver(let tag, let redelivered, let exchange, let routingKey):
            let count = Int(content.properties.headers["x-delivery-count"] ?? "") ?? 0
            return .deliver(
                Delivery(
                    deliveryTag: tag, exchange: exchange, routingKey: routingKey, body: content.body,
                    properties: content.properties, redelivered: redelivered, deliveryCount: count
                )
            )
        case .returned(let code, let text, let exchange, let routingKey):
            return .returned(
                code: code, text: text, exchange: exchange, routingKey: routingKey, properties: content.properties
            )
        }
    }

    private func decodeMethod(_ method: amqp_method_t, channel: amqp_channel_t) throws(MessagingError) -> AMQPEvent? {
        guard let decoded = method.decoded else { return .other(method.id) }
        switch method.id {
        case AMQPMethod.basicDeliver:
            let deliver = decoded.assumingMemoryBound(to: amqp_basic_deliver_t.self).pointee
            pendingContent = PendingContent(
                kind: .deliver(
                    tag: deliver.delivery_tag, redelivered: deliver.redelivered != 0,
                    exchange: deliver.exchange.string, routingKey: deliver.routing_key.string
                )
            )
            return nil
        case AMQPMethod.basicReturn:
            let returned = decoded.assumingMemoryBound(to: amqp_basic_return_t.self).pointee
            pendingContent = PendingContent(
                kind: .returned(
                    code: Int(returned.reply_code), text: returned.reply_text.string,
                    exchange: returned.exchange.string, routingKey: returned.routing_key.string
                )
            )
            return nil
        case AMQPMethod.basicAck:
            let ack = decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
            return .ack(tag: ack.delivery_tag, multiple: ack.multiple != 0)
        case AMQPMethod.basicNack:
            let nack = decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
            return .nack(tag: nack.delivery_tag, multiple: nack.multiple != 0)
        case AMQPMethod.basicCancel:
            let cancel = decoded.assumingMemoryBound(to: amqp_basic_cancel_t.self).pointee
            return .cancel(consumerTag: cancel.consumer_tag.string, noWait: cancel.nowait != 0)
        case AMQPMethod.channelClose:
            let close = decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            let event = AMQPEvent.channelClosed(
                channel: channel, code: Int(close.reply_code), text: close.reply_text.string
            )
            sendChannelCloseOk()
            return event
        case AMQPMethod.connectionClose:
            let close = decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            let text = "broker closed the connection: \(close.reply_code) \(close.reply_text.string)"
            sendConnectionCloseOk()
            throw MessagingError(.connectionLost, text)
        case AMQPMethod.connectionBlocked:
            let blocked = decoded.assumingMemoryBound(to: amqp_connection_blocked_t.self).pointee
            return .blocked(blocked.reason.string)
        case AMQPMethod.connectionUnblocked:
            return .unblocked
        default:
            return .other(method.id)
        }
    }

    /// Converts rabbitmq-c properties into `MessageProperties`.
    static func properties(_ source: amqp_basic_properties_t) -> MessageProperties {
        let flags = source._flags
        var result = MessageProperties()
        if flags & PropertyFlag.contentType != 0 { result.contentType = source.content_type.string }
        if flags & PropertyFlag.messageId != 0 { result.messageId = source.message_id.string }
        if flags & PropertyFlag.type != 0 { result.type = source.type.string }
        if flags & PropertyFlag.timestamp != 0 {
            result.timestamp = Date(timeIntervalSince1970: TimeInterval(source.timestamp))
        }
        if flags & PropertyFlag.appId != 0 { result.appId = source.app_id.string }
        if flags & PropertyFlag.correlationId != 0 { result.correlationId = source.correlation_id.string }
        result.persistent = flags & PropertyFlag.deliveryMode != 0 ? source.delivery_mode == 2 : false
        if flags & PropertyFlag.headers != 0 { result.headers = source.headers.stringEntries }
        return result
    }

    /// rabbitmq-c's text for a status code.
    static func statusText(_ status: Int32) -> String {
        String(cString: amqp_error_string2(status))
    }
}

/// Explains an RPC reply without secrets.
private func describe(_ reply: amqp_rpc_reply_t) -> String {
    switch reply.reply_type {
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        return AMQPSession.statusText(reply.library_error)
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        if reply.reply.id == AMQPMethod.connectionClose, let decoded = reply.reply.decoded {
            let close = decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            return "\(close.reply_code) \(close.reply_text.string)"
        }
        return "server exception \(reply.reply.id)"
    default:
        return "no reply"
    }
}
