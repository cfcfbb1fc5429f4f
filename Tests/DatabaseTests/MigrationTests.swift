import Database
import Foundation
import Logging
import TestSupport
import Testing

/// ``MigrationRunner``: once-only application under races, refusal of changed files, loading from disk.
@Suite struct MigrationTests {
    let migrations = [
        Migration(
            name: "0001_create.sql", sql: "CREATE TABLE things (id int8 PRIMARY KEY); CREATE TABLE runs (n int8);"),
        Migration(name: "0002_seed.sql", sql: "INSERT INTO runs VALUES (1); ALTER TABLE things ADD COLUMN label text;"),
    ]

    @Test func fiveRacingRunnersApplyEachMigrationOnce() async throws {
        try await withTestDatabaseURL { url in
            let logger = Logger(label: "test")
            let pools = (0..<5).map { _ in
                DatabasePool(configuration: DatabaseConfiguration(url: url, poolSize: 1), logger: logger)
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for pool in pools {
                    group.addTask {
                        try await MigrationRunner(service: "race", migrations: migrations, logger: logger).run(on: pool)
                    }
                }
                try await group.waitForAll()
            }
            try await pools[0].withConnection { connection in
                #expect(try await connection.query("SELECT count(*) AS n FROM runs")[0].decode("n", as: Int.self) == 1)
                let names = try await connection.query(
                    "SELECT name FROM schema_migrations WHERE service = 'race' ORDER BY name")
                #expect(
                    try names.map { try $0.decode("name", as: String.self) } == ["0001_create.sql", "0002_seed.sql"])
            }
            for pool in pools { await pool.close() }
        }
    }

    @Test func aMigrationMayRunPastThePoolsStatementTimeoutButNotPastItsOwn() async throws {
        try await withTestDatabaseURL { url in
            let logger = Logger(label: "test")
            let pool = DatabasePool(
                configuration: DatabaseConfiguration(url: url, poolSize: 1, statementTimeout: .milliseconds(300)),
                logger: logger)
            let slow = [Migration(name: "0001_slow.sql", sql: "SELECT pg_sleep(1); CREATE TABLE built (x int8);")]
            try await MigrationRunner(service: "slow", migrations: slow, logger: logger).run(on: pool)
            let built = try await pool.withConnection {
                try await $0.query("SELECT to_regclass('built') IS NOT NULL AS ok")[0].decode("ok", as: Bool.self)
            }
            #expect(built)
            // The connection kept its own timeout.
            let timedOut = await #expect(throws: DatabaseError.self) {
                try await pool.withConnection { _ = try await $0.query("SELECT pg_sleep(2)") }
            }
            #expect(timedOut?.code == .timeout)
            // A second runner waits for the first one's long migration past its own statement timeout.
            let other = DatabasePool(
                configuration: DatabaseConfiguration(url: url, poolSize: 1, statementTimeout: .milliseconds(300)),
                logger: logger)
            let longer = [
                Migration(name: "0001_longer.sql", sql: "SELECT pg_sleep(1.5); CREATE TABLE longer (x int8);")
            ]
            async let first: Void = MigrationRunner(service: "longer", migrations: longer, logger: logger).run(on: pool)
            try await Task.sleep(for: .milliseconds(200))
            try await MigrationRunner(service: "longer", migrations: longer, logger: logger).run(on: other)
            try await first
            await other.close()

            let endless = [Migration(name: "0001_endless.sql", sql: "SELECT pg_sleep(5)")]
            let error = await #expect(throws: DatabaseError.self) {
                try await MigrationRunner(
                    service: "endless", migrations: endless, timeout: .milliseconds(500), logger: logger
                )
                .run(on: pool)
            }
            #expect(error?.code == .migration)
            #expect(error?.description.contains("0001_endless.sql") == true)
            await pool.close()
        }
    }

    @Test func changedMigrationIsRefusedAndNothingAfterItRuns() async throws {
        try await withTestDatabase(service: "svc", migrations: migrations) { pool in
            var changed = migrations
            changed[0].sql += " -- edited"
            changed.append(Migration(name: "0003_more.sql", sql: "CREATE TABLE later (x int8);"))
            let error = await #expect(throws: DatabaseError.self) {
                try await MigrationRunner(service: "svc", migrations: changed, logger: Logger(label: "test")).run(
                    on: pool)
            }
            #expect(error?.code == .migration)
            #expect(error?.description.contains("0001_create.sql") == true)
            let later = try await pool.withConnection {
                try await $0.query("SELECT to_regclass('later') IS NULL AS missing")[0]
            }
            #expect(try later.decode("missing", as: Bool.self))
            // Unchanged files plus a new one apply fine, once.
            let extended = migrations + [changed[2]]
            try await MigrationRunner(service: "svc", migrations: extended, logger: Logger(label: "test")).run(on: pool)
            try await MigrationRunner(service: "svc", migrations: extended, logger: Logger(label: "test")).run(on: pool)
            #expect(
                try await pool.withConnection {
                    try await $0.query("SELECT count(*) AS n FROM runs")[0].decode("n", as: Int.self)
                } == 1)
        }
    }

    @Test func failingMigrationLeavesNoTrace() async throws {
        try await withTestDatabase { pool in
            let bad = [Migration(name: "0001_bad.sql", sql: "CREATE TABLE half (x int8); SELECT no_such_function();")]
            let error = await #expect(throws: DatabaseError.self) {
                try await MigrationRunner(service: "bad", migrations: bad, logger: Logger(label: "test")).run(on: pool)
            }
            #expect(error?.code == .migration)
            let row = try await pool.withConnection {
                try await $0.query(
                    "SELECT to_regclass('half') IS NULL AS missing, (SELECT count(*) FROM schema_migrations) AS n")[0]
            }
            #expect(try row.decode("missing", as: Bool.self))
            #expect(try row.decode("n", as: Int.self) == 0)
        }
    }

    @Test func loadReadsSQLFilesSortedByName() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("migrations-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "SELECT 2;".write(to: directory.appendingPathComponent("0002_b.sql"), atomically: true, encoding: .utf8)
        try "SELECT 1;".write(to: directory.appendingPathComponent("0001_a.sql"), atomically: true, encoding: .utf8)
        try "notes".write(to: directory.appendingPathComponent("README.md"), atomically: true, encoding: .utf8)
        let loaded = try MigrationRunner.load(directory: directory)
        #expect(
            loaded == [
                Migration(name: "0001_a.sql", sql: "SELECT 1;"), Migration(name: "0002_b.sql", sql: "SELECT 2;"),
            ])
    }

    @Test func testDatabasesStartFromTheMigratedTemplateAndAreIsolated() async throws {
        try await withTestDatabase(migrations: migrations) { first in
            try await withTestDatabase(migrations: migrations) { second in
                try await first.withConnection { try await $0.query("INSERT INTO things (id) VALUES (\(1))") }
                let other = try await second.withConnection {
                    try await $0.query("SELECT count(*) AS n FROM things")[0].decode("n", as: Int.self)
                }
                #expect(other == 0)
            }
        }
    }
}
