import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Synchronization
import TestSupport

/// An HTTP server run by a test (a webhook receiver or a WhatsApp/SMS gateway): records every request and answers
/// with the status the test's script gives for the n-th request.
final class TestReceiver: Sendable {
    struct Recorded: Sendable {
        var path: String
        /// The request's host (`Host` in HTTP/1.1) and query.
        var authority: String?
        var query: String?
        var headers: HTTPFields
        var body: Data
        var at: Date
    }

    private let recorded = Mutex<[Recorded]>([])
    private let script: @Sendable (Int, String) -> HTTPResponse.Status

    /// `script(n, path)` is the status of the n-th request (0-based) on `path`.
    init(script: @escaping @Sendable (Int, String) -> HTTPResponse.Status) { self.script = script }

    var requests: [Recorded] { recorded.withLock { $0 } }
    func requests(path: String) -> [Recorded] { requests.filter { $0.path == path } }

    /// Runs the server on a free loopback port while `body` runs; `body` gets the base URL.
    func run<T: Sendable>(_ body: @Sendable (String) async throws -> T) async throws -> T {
        let router = Router()
        router.post("{path}") { request, context -> Response in
            let path = "/" + (context.parameters.get("path") ?? "")
            let bytes = try await request.body.collect(upTo: 1 << 20)
            let index = self.recorded.withLock { list -> Int in
                let index = list.filter { $0.path == path }.count
                list.append(
                    Recorded(
                        path: path, authority: request.head.authority, query: request.uri.query,
                        headers: request.headers, body: Data(bytes.readableBytesView), at: Date()))
                return index
            }
            return Response(status: self.script(index, path))
        }
        router.get("/ping") { _, _ in "ok" }
        let port = try freeLoopbackPort()
        var logger = Logger(label: "test-receiver")
        logger.logLevel = .error
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.runService() }
            defer { group.cancelAll() }
            // Wait until it listens.
            let deadline = ContinuousClock.now + .seconds(20)
            while ContinuousClock.now < deadline {
                if (try? await DevEnvironment.shellOffPool("exec 3<>/dev/tcp/127.0.0.1/\(port)")) != nil { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            return try await body("http://127.0.0.1:\(port)")
        }
    }
}
