import Foundation
import Logging

/// One SQL migration file: its name (the file name, which orders migrations) and its text.
package struct Migration: Sendable, Hashable {
    /// The file name, e.g. `0001_create_submissions.sql`.
    package var name: String
    /// The SQL; may hold several statements. Runs inside a transaction, so no `CREATE INDEX CONCURRENTLY`.
    package var sql: String

    /// Creates a migration.
    package init(name: String, sql: String) {
        self.name = name
        self.sql = sql
    }
}

/// Applies a service's migrations once, in name order, recording them in `schema_migrations`.
///
/// Runners may race (several replicas starting): a per-service advisory lock serialises them, and each sees what
/// the others applied. Each migration runs in its own transaction together with its `schema_migrations` row. A
/// migration that was applied and whose text changed since (by SHA-256) is refused with
/// ``DatabaseError/Code/migration`` before anything else runs.
///
/// A migration is not held to the pool's `statement_timeout` (10 s by default, for requests and messages): an
/// index built over a large table takes longer than that on a slow disk, and the service would fail to start every
/// time. It gets `timeout` (30 min by default) instead, with `SET LOCAL` so the connection keeps its own timeout.
package struct MigrationRunner: Sendable {
    /// The service the migrations belong to (the first key of `schema_migrations`).
    package let service: String
    /// The migrations, applied in name order.
    package let migrations: [Migration]
    /// How long one migration may run.
    package let timeout: Duration
    private let logger: Logger

    /// Creates a runner.
    package init(service: String, migrations: [Migration], timeout: Duration = .seconds(1800), logger: Logger) {
        self.service = service
        self.migrations = migrations.sorted { $0.name < $1.name }
        self.timeout = timeout
        self.logger = logger
    }

    /// Reads the `*.sql` files of `directory`, sorted by name.
    package static func load(directory: URL) throws -> [Migration] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw DatabaseError(.migration, message: "cannot list migrations in \(directory.lastPathComponent)")
        }
        return try names.filter { $0.hasSuffix(".sql") }.sorted().map { name in
            guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent(name).path),
                let sql = String(data: data, encoding: .utf8)
            else {
                throw DatabaseError(.migration, message: "cannot read migration \(name)")
            }
            return Migration(name: name, sql: sql)
        }
    }

    /// Applies what is missing; a no-op when everything is applied.
    package func run(on pool: DatabasePool) async throws {
        try await pool.withConnection { connection in
            // Held for the session; released below, or by the server if the connection dies. Tried every 100 ms
            // rather than waited for in one statement: a runner applying a long migration holds it for longer than
            // the statement timeout, and the others wait for it up to `timeout`, not fail to start.
            let deadline = ContinuousClock.now + timeout
            while try await !connection.query(
                "SELECT pg_try_advisory_lock(\(Self.lockClass), hashtext(\(service))) AS locked"
            )[0].decode("locked", as: Bool.self) {
                guard ContinuousClock.now < deadline else {
                    throw DatabaseError(
                        .migration, message: "another runner held the migration lock of \(service) for \(timeout)")
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            do {
                try await apply(on: connection)
            } catch {
                _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.lockClass), hashtext(\(service)))")
                throw error
            }
            try await connection.query("SELECT pg_advisory_unlock(\(Self.lockClass), hashtext(\(service)))")
        }
    }

    /// The first key of the advisory lock ("ASNM").
    private static let lockClass: Int32 = 0x4153_4E4D

    private func apply(on connection: DatabaseConnection) async throws {
        do {
            try await connection.execute(
                unsafeSQL: """
                    CREATE TABLE IF NOT EXISTS schema_migrations (
                        service text NOT NULL,
                        name text NOT NULL,
                        checksum text NOT NULL,
                        applied_at timestamptz NOT NULL DEFAULT now(),
                        PRIMARY KEY (service, name)
                    )
                    """)
        } catch let error as DatabaseError where error.code == .uniqueViolation {
            // Another service created the table at the same moment.
        }
        var applied: [String: String] = [:]
        for row in try await connection.query("SELECT name, checksum FROM schema_migrations WHERE service = \(service)")
        {
            applied[try row.decode("name")] = try row.decode("checksum", as: String.self)
        }
        var checksums: [String] = []
        for migration in migrations {
            let row = try await connection.query(
                "SELECT encode(sha256(convert_to(\(migration.sql), 'UTF8')), 'hex') AS sum")
            checksums.append(try row[0].decode("sum"))
        }
        for (migration, checksum) in zip(migrations, checksums) {
            if let recorded = applied[migration.name], recorded != checksum {
                throw DatabaseError(
                    .migration, message: "migration \(migration.name) of \(service) changed after it was applied")
            }
        }
        for (migration, checksum) in zip(migrations, checksums) where applied[migration.name] == nil {
            try await connection.execute(unsafeSQL: "BEGIN")
            do {
                try await connection.execute(
                    unsafeSQL: "SET LOCAL statement_timeout = \(max(1, timeout.wholeMilliseconds))")
                try await connection.execute(unsafeSQL: migration.sql, deadline: timeout + .seconds(30))
                try await connection.query(
                    "INSERT INTO schema_migrations (service, name, checksum) VALUES (\(service), \(migration.name), \(checksum))"
                )
                try await connection.execute(unsafeSQL: "COMMIT")
            } catch {
                _ = try? await connection.executeUncancellable("ROLLBACK")
                if let error = error as? DatabaseError {
                    throw DatabaseError(
                        .migration, sqlState: error.sqlState,
                        message: "migration \(migration.name) of \(service) failed: \(error.message)")
                }
                throw error
            }
            logger.info("applied migration", metadata: ["service": "\(service)", "migration": "\(migration.name)"])
        }
    }
}
