import Database
import Foundation
import Logging

/// Per-test PostgreSQL databases, cloned from a migrated template, on the server started by `deploy/dev up`.
///
/// The admin URL comes from `DATABASE_URL_ADMIN` in the environment, or else from `.run/env`, found by walking up
/// from the current directory and from this file's directory.
package enum TestDatabase {
    /// How long test infrastructure waits for a connection. Longer than the services' 5 s: with the whole suite on
    /// two cores and a slow disk a fresh CI machine once took over 10 s to answer (22 tests failed that way).
    static let connectTimeout: Duration = .seconds(30)

    /// The superuser URL (database `postgres`) tests create their databases with.
    package static func adminURL() throws -> String {
        try DevEnvironment.value("DATABASE_URL_ADMIN")
    }

    /// The URL of database `name` on the same server as `url` (same user and options).
    package static func url(_ url: String, database name: String) -> String {
        guard var components = URLComponents(string: url) else { return url }
        components.path = "/" + name
        return components.string ?? url
    }

    /// Creates templates once per process and migration set; serialises the `CREATE DATABASE … TEMPLATE` clones.
    actor Templates {
        static let shared = Templates()
        private var ready: [String: Task<String, any Error>] = [:]

        private var swept = false

        /// The name of a template database with `migrations` applied for `service`.
        func template(service: String, migrations: [Migration], adminURL: String, logger: Logger) async throws -> String
        {
            if !swept {
                swept = true
                await TestDatabase.dropDatabasesOfEndedProcesses(adminURL: adminURL, logger: logger)
            }
            let key = templateName(service: service, migrations: migrations)
            if let task = ready[key] { return try await task.value }
            let task = Task {
                try await TestDatabase.createTemplate(
                    key, service: service, migrations: migrations, adminURL: adminURL, logger: logger)
                return key
            }
            ready[key] = task
            do {
                return try await task.value
            } catch {
                ready[key] = nil
                throw error
            }
        }

        /// Clones `template` into `name`; serialised because a clone fails while the template has sessions.
        func clone(_ template: String, into name: String, adminURL: String, logger: Logger) async throws {
            try await TestDatabase.withAdminConnection(adminURL, logger: logger) { admin in
                try await admin.execute(unsafeSQL: "CREATE DATABASE \"\(name)\" TEMPLATE \"\(template)\"")
            }
        }

        /// A stable name from the service and the migrations' names and text (FNV-1a; Swift's Hasher is seeded).
        private func templateName(service: String, migrations: [Migration]) -> String {
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in ([service] + migrations.flatMap { [$0.name, $0.sql] }).joined(separator: "\u{0}").utf8 {
                hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
            }
            return "asnreward_tpl_" + String(hash, radix: 16)
        }
    }

    static func withAdminConnection<T: Sendable>(
        _ url: String, logger: Logger, _ body: (DatabaseConnection) async throws -> T
    ) async throws -> T {
        try await DatabaseConnection.using(
            configuration: DatabaseConfiguration(
                url: url, applicationName: "asnreward-tests", connectTimeout: TestDatabase.connectTimeout),
            logger: logger, body)
    }

    /// Drops the test databases (`asnreward_test_<pid>_…`) of processes that are no longer running.
    static func dropDatabasesOfEndedProcesses(adminURL: String, logger: Logger) async {
        _ = try? await withAdminConnection(adminURL, logger: logger) { admin in
            let names = try await admin.query(
                "SELECT datname FROM pg_database WHERE datname LIKE 'asnreward\\_test\\_%'"
            )
            .map { try $0.decode("datname", as: String.self) }
            for name in names {
                let parts = name.split(separator: "_")
                guard parts.count == 4, let pid = pid_t(parts[2]), kill(pid, 0) != 0, errno == ESRCH else { continue }
                try await admin.execute(unsafeSQL: "DROP DATABASE IF EXISTS \"\(name)\" WITH (FORCE)")
            }
        }
    }

    /// Builds the template under a cross-process advisory lock (other `swift test` runs share the server): it is
    /// built under a temporary name and renamed when complete, so an existing template is always fully migrated.
    static func createTemplate(
        _ name: String, service: String, migrations: [Migration], adminURL: String, logger: Logger
    ) async throws {
        try await withAdminConnection(adminURL, logger: logger) { admin in
            // Released when the admin connection closes.
            try await admin.query("SELECT pg_advisory_lock(hashtext(\(name)))")
            let exists = try await admin.query("SELECT 1 FROM pg_database WHERE datname = \(name)")
            if !exists.isEmpty { return }
            let building = name + "_building"
            try await admin.execute(unsafeSQL: "DROP DATABASE IF EXISTS \"\(building)\" WITH (FORCE)")
            try await admin.execute(
                unsafeSQL: "CREATE DATABASE \"\(building)\" \(DatabaseConfiguration.createDatabaseOptions)")
            let pool = DatabasePool(
                configuration: DatabaseConfiguration(url: url(adminURL, database: building), poolSize: 1),
                logger: logger)
            do {
                try await MigrationRunner(service: service, migrations: migrations, logger: logger).run(on: pool)
                await pool.close()
            } catch {
                await pool.close()
                throw error
            }
            try await admin.execute(unsafeSQL: "ALTER DATABASE \"\(building)\" RENAME TO \"\(name)\"")
        }
    }
}

/// Runs `body` with a started pool on a fresh database that has `migrations` applied (as `service`), and drops
/// the database afterwards. Safe to call from tests running in parallel.
package func withTestDatabase<T: Sendable>(
    service: String = "test",
    migrations: [Migration] = [],
    poolSize: Int = 4,
    _ body: (DatabasePool) async throws -> T
) async throws -> T {
    try await withTestDatabaseURL(service: service, migrations: migrations) { url in
        // A long wait for a pooled connection: the whole suite shares two cores, and no test of the pool's own
        // timeout uses this pool (those configure theirs).
        let pool = DatabasePool(
            configuration: DatabaseConfiguration(
                url: url, poolSize: poolSize, applicationName: "asnreward-tests",
                connectTimeout: TestDatabase.connectTimeout, acquireTimeout: .seconds(120)),
            logger: testLogger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await pool.run() }
            do {
                let result = try await body(pool)
                group.cancelAll()
                try await group.waitForAll()
                return result
            } catch {
                group.cancelAll()
                try? await group.waitForAll()
                throw error
            }
        }
    }
}

/// Like ``withTestDatabase(service:migrations:poolSize:_:)`` but gives the database URL (for code that opens its
/// own connections, e.g. a service started by a test).
package func withTestDatabaseURL<T: Sendable>(
    service: String = "test",
    migrations: [Migration] = [],
    _ body: (String) async throws -> T
) async throws -> T {
    let adminURL = try TestDatabase.adminURL()
    let template = try await TestDatabase.Templates.shared.template(
        service: service, migrations: migrations, adminURL: adminURL, logger: testLogger)
    let name =
        "asnreward_test_\(ProcessInfo.processInfo.processIdentifier)_"
        + UUID().uuidString.prefix(8).lowercased()
    try await TestDatabase.Templates.shared.clone(template, into: name, adminURL: adminURL, logger: testLogger)
    // Not dropped here: in PostgreSQL 15 every DROP DATABASE waits for an immediate checkpoint, and hundreds of
    // them while the suite runs stalled the server on a slow disk. The first test of the next process drops the
    // databases of processes that have ended (`Templates.sweep`), and `deploy/dev test` drops them after the run.
    return try await body(TestDatabase.url(adminURL, database: name))
}

/// Quiet logger for test infrastructure.
let testLogger: Logger = {
    var logger = Logger(label: "asnreward.tests.database")
    logger.logLevel = .warning
    return logger
}()
