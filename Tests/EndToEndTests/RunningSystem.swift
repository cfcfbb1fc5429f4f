import Database
import Foundation
import Logging
import TestSupport

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif
#if canImport(Glibc)
    import Glibc
#endif

/// The four services as real processes (the debug binaries `swift build` made), each on its own fresh database, all
/// on a fresh RabbitMQ virtual host of the dev broker — so a test run never meets the state of another.
final class RunningSystem: @unchecked Sendable {
    // @unchecked: every stored property is set in `start` before the instance is shared and never mutated after.
    static let services = ["intake", "verification", "scoring", "notification"]

    let runID: String
    let vhost: String
    let adminDatabaseURL: String
    let jwtSecret: String
    let logDirectory: URL
    private(set) var urls: [String: URL] = [:]
    private var processes: [String: Process] = [:]

    private init(runID: String) throws {
        self.runID = runID
        vhost = "e2e-\(runID)"
        adminDatabaseURL = try DevEnvironment.value("DATABASE_URL_ADMIN")
        jwtSecret = try DevEnvironment.value("JWT_HS256_SECRET")
        logDirectory = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("asnreward-e2e-\(runID)")
    }

    /// Creates databases and a virtual host, starts the services and waits until each is ready.
    static func start() async throws -> RunningSystem {
        let system = try RunningSystem(runID: String(UUID().uuidString.prefix(8)).lowercased())
        do {
            try await system.provision()
            try system.launch()
            try await system.waitUntilReady(timeout: .seconds(90))
        } catch {
            await system.stop()
            throw error
        }
        return system
    }

    /// The AMQP URL of the run's virtual host, as the admin user.
    var amqpURL: String {
        get throws {
            let admin = try DevEnvironment.value("AMQP_URL_ADMIN")
            guard var components = URLComponents(string: admin) else { return admin }
            components.percentEncodedPath = "/" + vhost
            return components.string ?? admin
        }
    }

    func databaseName(_ service: String) -> String { "e2e_\(runID)_\(service)" }

    func url(_ service: String, _ path: String) -> URL {
        URL(string: path, relativeTo: urls[service]!)!.absoluteURL
    }

    private func provision() async throws {
        try FileManager.default.createDirectory(
            at: logDirectory.appendingPathComponent("blobs"), withIntermediateDirectories: true)
        _ = try await TestBroker.rabbitmqctl("add_vhost", vhost)
        _ = try await TestBroker.rabbitmqctl("set_permissions", "-p", vhost, "asnreward_admin", ".*", ".*", ".*")
        let admin = try await DatabaseConnection.connect(
            configuration: DatabaseConfiguration(url: adminDatabaseURL), logger: .init(label: "e2e"))
        for service in Self.services {
            try await admin.execute(
                unsafeSQL:
                    "CREATE DATABASE \"\(databaseName(service))\" \(DatabaseConfiguration.createDatabaseOptions)")
        }
        await admin.close()
    }

    private func launch() throws {
        let binaries = DevEnvironment.repositoryRoot.appendingPathComponent(".build/debug")
        let amqp = try amqpURL
        for service in Self.services {
            let port = try freeLoopbackPort()
            let process = Process()
            process.executableURL = binaries.appendingPathComponent(service)
            var environment = ProcessInfo.processInfo.environment
            environment["HTTP_PORT"] = String(port)
            environment["DATABASE_URL"] = TestDatabase.url(adminDatabaseURL, database: databaseName(service))
            environment["AMQP_URL"] = amqp
            environment["JWT_HS256_SECRET"] = jwtSecret
            environment["BLOB_DIRECTORY"] = logDirectory.appendingPathComponent("blobs").path
            environment["PROGRAMS_DIRECTORY"] =
                DevEnvironment.repositoryRoot.appendingPathComponent("deploy/programs").path
            environment["LOG_LEVEL"] = "info"
            process.environment = environment
            let log = logDirectory.appendingPathComponent("\(service).log")
            FileManager.default.createFile(atPath: log.path, contents: nil)
            let handle = try FileHandle(forWritingTo: log)
            process.standardOutput = handle
            process.standardError = handle
            try process.run()
            processes[service] = process
            urls[service] = URL(string: "http://127.0.0.1:\(port)/")!
        }
    }

    private func waitUntilReady(timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        for service in Self.services {
            while true {
                if let process = processes[service], !process.isRunning {
                    throw DevEnvironmentError(message: "\(service) exited early: \(tail(service))")
                }
                if let (_, response) = try? await HTTP.send("GET", url(service, "/health/ready")),
                    response.statusCode == 200
                {
                    break
                }
                guard ContinuousClock.now < deadline else {
                    throw DevEnvironmentError(message: "\(service) not ready in time: \(tail(service))")
                }
                try await Task.sleep(for: .milliseconds(250))
            }
        }
    }

    /// The last lines of a service's log, for failure messages.
    func tail(_ service: String) -> String {
        let text =
            (try? String(contentsOf: logDirectory.appendingPathComponent("\(service).log"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(15).joined(separator: "\n")
    }

    /// Stops the services with SIGTERM (graceful), then removes the databases and the virtual host.
    func stop() async {
        for process in processes.values where process.isRunning { process.terminate() }
        for process in processes.values {
            let deadline = Date().addingTimeInterval(20)
            while process.isRunning && Date() < deadline { try? await Task.sleep(for: .milliseconds(100)) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        if let admin = try? await DatabaseConnection.connect(
            configuration: DatabaseConfiguration(url: adminDatabaseURL), logger: .init(label: "e2e"))
        {
            for service in Self.services {
                try? await admin.execute(unsafeSQL: "DROP DATABASE IF EXISTS \"\(databaseName(service))\" WITH (FORCE)")
            }
            await admin.close()
        }
        _ = try? await TestBroker.rabbitmqctl("delete_vhost", vhost)
    }
}

/// A tiny HTTP client over URLSession for the end-to-end tests.
enum HTTP {
    static func send(
        _ method: String,
        _ url: URL,
        token: String? = nil,
        headers: [String: String] = [:],
        body: Data? = nil
    ) async throws -> (Data, HTTPURLResponse) {
        var request = URLRequest(url: url)
        request.httpMethod = method
        request.timeoutInterval = 30
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        request.httpBody = body
        let (data, response) = try await URLSession.shared.data(for: request)
        return (data, response as! HTTPURLResponse)
    }

    static func json(_ data: Data) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
    }
}
