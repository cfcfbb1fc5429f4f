import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Prometheus
import ServiceSupport
import Testing

@Suite("health, metrics, OpenAPI and static files")
struct HealthMetricsTests {
    struct Report: Decodable {
        var status: String
        var checks: [String: String]
    }

    @Test("ready is 200 when every check is up")
    func readyUp() async throws {
        let app = try await Fixture.app(readinessChecks: ["database": { true }, "broker": { true }])
        try await app.test(.router) { client in
            try await client.execute(uri: "/health/ready", method: .get) { response in
                #expect(response.status == .ok)
                let report = try JSONDecoder().decode(Report.self, from: Data(response.body.readableBytesView))
                #expect(report.status == "up")
                #expect(report.checks == ["database": "up", "broker": "up"])
            }
            try await client.execute(uri: "/health/live", method: .get) { #expect($0.status == .ok) }
        }
    }

    @Test("ready is 503 naming the check that is down")
    func readyDown() async throws {
        let app = try await Fixture.app(readinessChecks: ["database": { true }, "broker": { false }])
        try await app.test(.router) { client in
            try await client.execute(uri: "/health/ready", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                let report = try JSONDecoder().decode(Report.self, from: Data(response.body.readableBytesView))
                #expect(report.status == "down")
                #expect(report.checks == ["database": "up", "broker": "down"])
            }
        }
    }

    @Test("an advisory check is reported but does not make the service unready (intake's broker)")
    func advisoryCheck() async throws {
        let routes = HealthRoutes(
            readinessChecks: ["database": { true }], advisoryChecks: ["broker": { false }])
        let report = await routes.report()
        #expect(report.status == "up")
        #expect(report.checks == ["database": "up", "broker": "down"])
        let failing = HealthRoutes(readinessChecks: ["database": { false }], advisoryChecks: ["broker": { true }])
        #expect(await failing.report().status == "down")
    }

    @Test("a hanging check counts as down after the timeout")
    func readyTimeout() async throws {
        let routes = HealthRoutes(
            readinessChecks: [
                "stuck": {
                    try? await Task.sleep(for: .seconds(30)); return true
                }
            ],
            timeout: .milliseconds(100)
        )
        let started = ContinuousClock.now
        let report = await routes.report()
        #expect(report.status == "down")
        #expect(ContinuousClock.now - started < .seconds(10), "far from the 30 s the check hangs")
    }

    @Test("/metrics renders request counts after a request")
    func metrics() async throws {
        let registry = PrometheusCollectorRegistry()
        let app = try await Fixture.app(registry: registry)
        try await app.test(.router) { client in
            try await client.execute(uri: "/health/live", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/v1/me", method: .get) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
                let text = response.text
                #expect(text.contains(#"http_requests_total{route="/health/live",method="GET",status="200"} 1"#))
                #expect(text.contains(#"status="401""#))
                #expect(text.contains("http_request_duration_seconds_bucket"))
            }
        }
    }

    @Test("/openapi.yaml is served as application/yaml")
    func openAPI() async throws {
        let app = try await Fixture.app()
        try await app.test(.router) { client in
            try await client.execute(uri: "/openapi.yaml", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType]?.hasPrefix("application/yaml") == true)
                #expect(response.text.hasPrefix("openapi: 3.1.0"))
            }
        }
    }

    @Test("static pages: index.html at /, no path traversal")
    func staticFiles() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ss-public-\(UUID().uuidString)")
        let publicDirectory = root.appendingPathComponent("Public")
        try FileManager.default.createDirectory(at: publicDirectory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        try Data("<h1>Unggah</h1>".utf8).write(to: publicDirectory.appendingPathComponent("index.html"))
        try Data("secret-config".utf8).write(to: root.appendingPathComponent("secret.txt"))

        let app = try await Fixture.app(publicDirectory: publicDirectory)
        try await app.test(.router) { client in
            try await client.execute(uri: "/", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.text == "<h1>Unggah</h1>")
                #expect(response.headers[.contentType]?.hasPrefix("text/html") == true)
            }
            for path in [
                "/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt", "/x/..%2F..%2Fsecret.txt", "/%zz",
                "/x/%E0%A4%A",
            ] {
                try await client.execute(uri: path, method: .get) { response in
                    #expect(response.status == .notFound, "\(path)")
                    #expect(response.headers[.contentType] == "application/problem+json", "\(path)")
                    #expect(!response.text.contains("secret-config"), "\(path)")
                }
            }
            try await client.execute(uri: "/missing.html", method: .get) { response in
                #expect(response.status == .notFound)
                #expect(response.headers[.contentType] == "application/problem+json")
            }
        }
    }
}
