import Foundation
import Hummingbird
import Synchronization

/// `/health/live` and `/health/ready`.
///
/// Liveness is 200 while the process serves HTTP. Readiness runs every check concurrently, each bounded by
/// `timeout` (a check that hangs counts as down), and answers 200 when all are up, else 503, with
/// `{"status":"up"|"down","checks":{"database":"up","broker":"down"}}`.
package struct HealthRoutes: Sendable {
    /// Named readiness checks, e.g. `["database": pool.ping, "broker": publisher.isConnected]`.
    package let readinessChecks: [String: @Sendable () async -> Bool]
    /// Checks reported beside them that do not make the service unready: intake's broker, because its outbox keeps
    /// accepted submissions until the broker is back, so a balancer should keep sending uploads to it.
    package let advisoryChecks: [String: @Sendable () async -> Bool]
    /// Longest time one check may take.
    package let timeout: Duration

    /// Creates the routes.
    package init(
        readinessChecks: [String: @Sendable () async -> Bool],
        advisoryChecks: [String: @Sendable () async -> Bool] = [:],
        timeout: Duration = .seconds(2)
    ) {
        self.readinessChecks = readinessChecks
        self.advisoryChecks = advisoryChecks
        self.timeout = timeout
    }

    /// The readiness body.
    package struct Report: Codable, Sendable, Equatable {
        /// `up` when every check is up, else `down`.
        package var status: String
        /// Each check's result, `up` or `down`.
        package var checks: [String: String]
    }

    /// Adds both routes to `router`.
    package func add<Context: RequestContext>(to router: some RouterMethods<Context>) {
        router.get("/health/live") { _, _ in
            Self.jsonResponse(.ok, Report(status: "up", checks: [:]))
        }
        router.get("/health/ready") { _, _ in
            let report = await self.report()
            return Self.jsonResponse(report.status == "up" ? .ok : .serviceUnavailable, report)
        }
    }

    /// Runs every check and collects the report.
    package func report() async -> Report {
        let timeout = self.timeout
        let required = Set(readinessChecks.keys)
        let checks = readinessChecks.merging(advisoryChecks) { required, _ in required }
        let results = await withTaskGroup(of: (String, Bool).self) { group in
            for (name, check) in checks {
                group.addTask { (name, await Self.run(check, timeout: timeout)) }
            }
            var results: [String: String] = [:]
            for await (name, up) in group { results[name] = up ? "up" : "down" }
            return results
        }
        let ready = results.allSatisfy { name, result in result == "up" || !required.contains(name) }
        return Report(status: ready ? "up" : "down", checks: results)
    }

    /// Runs `check` but answers `false` after `timeout` even if the check never returns.
    private static func run(_ check: @escaping @Sendable () async -> Bool, timeout: Duration) async -> Bool {
        let gate = ResumeOnce()
        var timer: Task<Void, Never>?
        let up = await withCheckedContinuation { continuation in
            gate.set(continuation)
            let work = Task { gate.resume(await check()) }
            timer = Task {
                try? await Task.sleep(for: timeout)
                if gate.resume(false) { work.cancel() }
            }
        }
        timer?.cancel()
        return up
    }

    /// Encodes `value` as a JSON response that proxies must not cache.
    private static func jsonResponse(_ status: HTTPResponse.Status, _ value: some Encodable) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        headers[.cacheControl] = "no-store"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Resumes a continuation exactly once, whichever of the check or the timer finishes first.
private final class ResumeOnce: Sendable {
    private struct State {
        var continuation: CheckedContinuation<Bool, Never>?
        /// The answer, once there is one.
        var answer: Bool?
    }
    private let state = Mutex(State())

    func set(_ continuation: CheckedContinuation<Bool, Never>) {
        let answer = state.withLock { state -> Bool? in
            if state.answer == nil { state.continuation = continuation }
            return state.answer
        }
        if let answer { continuation.resume(returning: answer) }
    }

    /// Resumes with `value` if nobody did yet; returns whether this call did.
    @discardableResult
    func resume(_ value: Bool) -> Bool {
        let (first, waiting) = state.withLock { state -> (Bool, CheckedContinuation<Bool, Never>?) in
            guard state.answer == nil else { return (false, nil) }
            state.answer = value
            defer { state.continuation = nil }
            return (true, state.continuation)
        }
        waiting?.resume(returning: value)
        return first
    }
}
