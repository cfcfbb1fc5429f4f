import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization
import TestSupport
import Testing

@testable import Notification

/// The webhook client against servers run by the test: a Hummingbird receiver, and a bare NIO server that answers
/// one request per connection and drops the next, or sees TLS it does not speak.
@Suite("Notification: webhook HTTP client")
struct WebhookHTTPClientTests {
    @Test("a delivery goes to the checked address under the URL's host name, path and query, and the body arrives")
    func checkedAddressAndHostName() async throws {
        let receiver = TestReceiver { _, _ in .noContent }
        try await receiver.run { base in
            let port = try #require(URLComponents(string: base)?.port)
            let client = WebhookHTTPClient()
            defer { client.shutdown() }
            // The name does not resolve: only the checked address can be what the client connected to.
            let target = WebhookHTTPClient.Target(
                tls: false, host: "penerima.contoh.invalid", port: port, path: "/terima?sumber=asn",
                addresses: [
                    "127.0.0.1"
                ])
            for index in 0..<3 {
                let status = try await client.post(
                    to: target, headers: ["content-type": "application/json"],
                    body: ByteBuffer(string: #"{"n":\#(index)}"#), deadline: .now() + .seconds(30))
                #expect(status == 204)
            }
            let requests = receiver.requests(path: "/terima")
            #expect(requests.count == 3)
            #expect(requests.first?.authority == "penerima.contoh.invalid:\(port)")
            #expect(requests.first?.query == "sumber=asn")
            #expect(
                requests.map { String(decoding: $0.body, as: UTF8.self) } == [#"{"n":0}"#, #"{"n":1}"#, #"{"n":2}"#])
        }
    }

    @Test("a kept-alive connection the receiver drops without answering is retried once on a new connection")
    func droppedIdleConnectionIsRetried() async throws {
        let server = try await OneRequestServer.start()
        defer { server.close() }
        let client = WebhookHTTPClient()
        defer { client.shutdown() }
        let target = WebhookHTTPClient.Target(
            tls: false, host: "127.0.0.1", port: server.port, path: "/", addresses: ["127.0.0.1"])
        for _ in 0..<3 {
            let status = try await client.post(
                to: target, headers: [:], body: ByteBuffer(string: "{}"), deadline: .now() + .seconds(30))
            #expect(status == 204)
        }
        // Each reused connection was dropped once (its second request) and the request went out again on a new one.
        #expect(server.counts.withLock { $0 } == (answered: 3, dropped: 2))
    }

    @Test("https to a server that does not speak TLS fails, and nothing is sent in the clear")
    func httpsNeverFallsBackToPlainText() async throws {
        let server = try await OneRequestServer.start()
        defer { server.close() }
        let client = WebhookHTTPClient()
        defer { client.shutdown() }
        let target = WebhookHTTPClient.Target(
            tls: true, host: "localhost", port: server.port, path: "/", addresses: ["127.0.0.1"])
        await #expect(throws: (any Error).self) {
            try await client.post(
                to: target, headers: [:], body: ByteBuffer(string: "{}"), deadline: .now() + .seconds(30))
        }
        #expect(server.counts.withLock { $0 }.answered == 0)
    }

    @Test("a receiver that never answers fails the delivery at its deadline")
    func silentReceiverTimesOut() async throws {
        let silent = try silentLoopbackListener()
        defer { close(silent.fd) }
        let client = WebhookHTTPClient()
        defer { client.shutdown() }
        let target = WebhookHTTPClient.Target(
            tls: false, host: "127.0.0.1", port: silent.port, path: "/", addresses: ["127.0.0.1"])
        let started = ContinuousClock.now
        await #expect(throws: (any Error).self) {
            try await client.post(
                to: target, headers: [:], body: ByteBuffer(string: "{}"), deadline: .now() + .milliseconds(300))
        }
        let waited = ContinuousClock.now - started
        #expect(waited >= .milliseconds(250) && waited < .seconds(5))
    }

    @Test("a checked URL becomes a target: scheme, host without brackets, default ports, path and query")
    func targetsFromURLs() throws {
        let secure = try WebhookDispatcher.target(
            .init(url: try #require(URL(string: "https://[::1]:8443/a/b%20c?d=e")), addresses: ["::1"]))
        #expect(secure == .init(tls: true, host: "::1", port: 8443, path: "/a/b%20c?d=e", addresses: ["::1"]))
        let plain = try WebhookDispatcher.target(
            .init(url: try #require(URL(string: "http://dashboard.example.go.id")), addresses: ["203.0.113.7"]))
        #expect(
            plain == .init(tls: false, host: "dashboard.example.go.id", port: 80, path: "/", addresses: ["203.0.113.7"])
        )
        let https = try WebhookDispatcher.target(
            .init(url: try #require(URL(string: "https://x.example/h")), addresses: ["203.0.113.8"]))
        #expect(https.port == 443)
    }
}

/// A bare HTTP/1.1 server on loopback: answers the first request on a connection with 204 (keeping it open) and
/// closes the connection without answering when a second request arrives on it.
private final class OneRequestServer: Sendable {
    let counts = Mutex<(answered: Int, dropped: Int)>((0, 0))
    private let channel = Mutex<(any Channel)?>(nil)
    var port: Int { channel.withLock { $0?.localAddress?.port ?? 0 } }

    static func start() async throws -> OneRequestServer {
        let server = OneRequestServer()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(counts: server))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        server.channel.withLock { $0 = channel }
        return server
    }

    func close() { channel.withLock { $0?.close(promise: nil) } }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let server: OneRequestServer
        var requests = 0

        init(counts server: OneRequestServer) { self.server = server }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .end = unwrapInboundIn(data) else { return }
            requests += 1
            if requests > 1 {
                server.counts.withLock { $0.dropped += 1 }
                context.close(promise: nil)
                return
            }
            server.counts.withLock { $0.answered += 1 }
            var headers = HTTPHeaders()
            headers.add(name: "content-length", value: "0")
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .noContent, headers: headers))),
                promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) { context.close(promise: nil) }
    }
}
