import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// The HTTP/1.1 client that posts webhook deliveries: one small signed `POST` at a time per connection, the answer's
/// status kept and its body dropped.
///
/// Why not AsyncHTTPClient (which the gateway adapter uses): a delivery needs a fraction of it, and two things it
/// does not offer.
/// - **The address that was checked is the address connected to.** ``WebhookTargetPolicy`` resolves the host and
///   refuses loopback, private and metadata addresses; a general client resolves the name again when it connects,
///   so a name re-pointed in between (DNS rebinding) would reach an address that was never checked. Here the
///   connection goes to a checked address; `Host` and TLS (SNI and certificate) still use the URL's host name.
/// - **A request is written in one piece.** Head and body go out in one write and one TCP segment; AsyncHTTPClient
///   flushes the head and then the body (two sends, two segments and two reads at the receiver per delivery, a
///   measurable share of the service at thousands of deliveries a second).
///
/// Redirects are never followed (a 3xx is an answer like any other non-2xx). Connections are kept alive and
/// reused per target (scheme, host and port), at most `maxIdlePerTarget` idle ones, each for at most
/// `idleTimeout`. TLS verifies the certificate chain against the system's trust roots and the host name.
final class WebhookHTTPClient: Sendable {
    /// Where a delivery goes: the URL's parts and the checked addresses to connect to (tried in order).
    struct Target: Hashable, Sendable {
        var tls: Bool
        var host: String
        var port: Int
        var path: String
        var addresses: [String]
    }

    /// A delivery that got no HTTP answer.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private struct PoolKey: Hashable {
        var tls: Bool
        var host: String
        var port: Int
    }

    private struct IdleConnection {
        var channel: any Channel
        var since: NIODeadline
    }

    private let group: any EventLoopGroup
    /// Made once; when the trust roots cannot be loaded, https deliveries fail with that error (http ones go on).
    private let tlsContext: Result<NIOSSLContext, any Error>
    private let connectTimeout: TimeAmount
    private let idleTimeout: TimeAmount
    private let maxIdlePerTarget: Int
    private let idle = Mutex<(connections: [PoolKey: [IdleConnection]], swept: NIODeadline)>(([:], .now()))

    init(
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, connectTimeout: TimeAmount = .seconds(5),
        idleTimeout: TimeAmount = .seconds(60), maxIdlePerTarget: Int = 64,
        tlsConfiguration: TLSConfiguration = .makeClientConfiguration()
    ) {
        self.group = group
        self.tlsContext = Result { try NIOSSLContext(configuration: tlsConfiguration) }
        self.connectTimeout = connectTimeout
        self.idleTimeout = idleTimeout
        self.maxIdlePerTarget = max(1, maxIdlePerTarget)
    }

    /// Posts `body` to `target` and returns the answer's status code; throws when there is no complete answer by
    /// `deadline` (the connection is then closed). A request that fails on a reused connection before any answer
    /// came (the receiver closed it while idle) is sent once more on a new one; receivers tell a repeat by its
    /// `webhook-id`.
    func post(to target: Target, headers: HTTPHeaders, body: ByteBuffer, deadline: NIODeadline) async throws -> Int {
        let key = PoolKey(tls: target.tls, host: target.host, port: target.port)
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: target.path.isEmpty ? "/" : target.path)
        head.headers = headers
        let defaultPort = target.tls ? 443 : 80
        head.headers.replaceOrAdd(
            name: "host",
            value: target.port == defaultPort
                ? Self.hostHeader(target.host) : "\(Self.hostHeader(target.host)):\(target.port)")
        head.headers.replaceOrAdd(name: "content-length", value: String(body.readableBytes))
        if let reused = takeIdle(key) {
            do {
                return try await exchange(on: reused, key: key, head: head, body: body, deadline: deadline)
            } catch let error as ConnectionClosed where !error.answerStarted && NIODeadline.now() < deadline {
                // Closed by the receiver while idle: once more on a fresh connection.
            }
        }
        let channel = try await connect(key, addresses: target.addresses, deadline: deadline)
        return try await exchange(on: channel, key: key, head: head, body: body, deadline: deadline)
    }

    /// Closes the idle connections.
    func shutdown() {
        let all = idle.withLock { state in
            defer { state.connections = [:] }
            return state.connections.values.flatMap { $0 }
        }
        for connection in all { connection.channel.close(promise: nil) }
    }

    private static func hostHeader(_ host: String) -> String { host.contains(":") ? "[\(host)]" : host }

    private func exchange(
        on channel: any Channel, key: PoolKey, head: HTTPRequestHead, body: ByteBuffer, deadline: NIODeadline
    ) async throws -> Int {
        let future: EventLoopFuture<Answer> = channel.eventLoop.flatSubmit {
            do {
                let handler = try channel.pipeline.syncOperations.handler(type: AnswerHandler.self)
                return handler.send(head: head, body: body, deadline: deadline, on: channel)
            } catch {
                return channel.eventLoop.makeFailedFuture(error)
            }
        }
        let answer: Answer
        do {
            answer = try await withTaskCancellationHandler {
                try await future.get()
            } onCancel: {
                channel.close(promise: nil)
            }
        } catch {
            channel.close(promise: nil)
            throw error
        }
        if answer.keepAlive { putIdle(channel, key: key) } else { channel.close(promise: nil) }
        return answer.status
    }

    /// Connects to the first of `addresses` that answers.
    private func connect(_ key: PoolKey, addresses: [String], deadline: NIODeadline) async throws -> any Channel {
        var failure: any Error = Failure(description: "tidak ada alamat (no address to connect to)")
        for text in addresses {
            do {
                let address = try SocketAddress(ipAddress: text, port: key.port)
                return try await connect(key, to: address, deadline: deadline)
            } catch {
                failure = error
                if NIODeadline.now() >= deadline { break }
            }
        }
        throw failure
    }

    private func connect(_ key: PoolKey, to address: SocketAddress, deadline: NIODeadline) async throws -> any Channel {
        let remaining = deadline - .now()
        let timeout = min(connectTimeout, max(.milliseconds(1), remaining))
        let tls = key.tls ? try tlsContext.get() : nil
        // SNI and the certificate's name check use the URL's host; an address literal is checked as such.
        let serverHostname = Self.isAddressLiteral(key.host) ? nil : key.host
        return try await ClientBootstrap(group: group)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let operations = channel.pipeline.syncOperations
                    if let tls {
                        try operations.addHandler(try NIOSSLClientHandler(context: tls, serverHostname: serverHostname))
                    }
                    try operations.addHTTPClientHandlers(leftOverBytesStrategy: .dropBytes)
                    try operations.addHandler(AnswerHandler())
                }
            }
            .connect(to: address).get()
    }

    private static func isAddressLiteral(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }

    private func takeIdle(_ key: PoolKey) -> (any Channel)? {
        let (found, expired) = idle.withLock { state -> ((any Channel)?, [IdleConnection]) in
            var expired: [IdleConnection] = []
            let oldest = NIODeadline.now() - idleTimeout
            while let last = state.connections[key]?.popLast() {
                if last.since > oldest, last.channel.isActive { return (last.channel, expired) }
                expired.append(last)
            }
            return (nil, expired)
        }
        for connection in expired { connection.channel.close(promise: nil) }
        return found
    }

    private func putIdle(_ channel: any Channel, key: PoolKey) {
        let now = NIODeadline.now()
        let closing = idle.withLock { state -> [IdleConnection] in
            var closing: [IdleConnection] = []
            if state.connections[key, default: []].count < maxIdlePerTarget {
                state.connections[key, default: []].append(IdleConnection(channel: channel, since: now))
            } else {
                closing.append(IdleConnection(channel: channel, since: now))
            }
            // Now and then, connections idle too long anywhere (targets no longer sent to) are closed.
            if now - state.swept > .seconds(10) {
                state.swept = now
                let oldest = now - idleTimeout
                for (target, list) in state.connections {
                    let (keep, drop) = (list.filter { $0.since > oldest }, list.filter { $0.since <= oldest })
                    state.connections[target] = keep.isEmpty ? nil : keep
                    closing += drop
                }
            }
            return closing
        }
        for connection in closing { connection.channel.close(promise: nil) }
    }
}

/// What a receiver answered.
private struct Answer: Sendable {
    var status: Int
    var keepAlive: Bool
}

/// The connection closed before a complete answer; `answerStarted` tells whether any of it had come.
private struct ConnectionClosed: Error, CustomStringConvertible {
    var answerStarted: Bool
    var description: String {
        answerStarted
            ? "koneksi ditutup di tengah jawaban (connection closed during the answer)"
            : "koneksi ditutup tanpa jawaban (connection closed without an answer)"
    }
}

/// No complete answer by the deadline.
private struct AnswerTimeout: Error, CustomStringConvertible {
    var description: String { "tidak ada jawaban dalam batas waktu (no answer before the deadline)" }
}

/// The last handler of a connection: writes one request in one flush and completes its promise with the answer's
/// status when the answer is complete. Only touched on the channel's event loop.
private final class AnswerHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private var pending: EventLoopPromise<Answer>?
    private var status: Int?
    private var keepAlive = false
    private var timeout: Scheduled<Void>?

    func send(head: HTTPRequestHead, body: ByteBuffer, deadline: NIODeadline, on channel: any Channel)
        -> EventLoopFuture<Answer>
    {
        let promise = channel.eventLoop.makePromise(of: Answer.self)
        guard pending == nil, channel.isActive else {
            promise.fail(ConnectionClosed(answerStarted: false))
            return promise.futureResult
        }
        pending = promise
        status = nil
        keepAlive = false
        let loop = channel.eventLoop.assumeIsolated()
        timeout = loop.scheduleTask(deadline: deadline) { [weak self] in
            self?.finish(.failure(AnswerTimeout()))
            channel.close(promise: nil)
        }
        let written = channel.eventLoop.makePromise(of: Void.self)
        written.futureResult.assumeIsolated().whenFailure { [weak self] error in self?.finish(.failure(error)) }
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: written)
        return promise.futureResult
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            // 1xx answers are informational; the final answer follows.
            guard head.status.code >= 200 else { return }
            status = Int(head.status.code)
            keepAlive = head.isKeepAlive
        case .body: break
        case .end:
            guard let status else { return }
            finish(.success(Answer(status: status, keepAlive: keepAlive)))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.failure(ConnectionClosed(answerStarted: status != nil)))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(.failure(error))
        context.close(promise: nil)
    }

    private func finish(_ result: Result<Answer, any Error>) {
        timeout?.cancel()
        timeout = nil
        guard let promise = pending else { return }
        pending = nil
        promise.completeWith(result)
    }
}
