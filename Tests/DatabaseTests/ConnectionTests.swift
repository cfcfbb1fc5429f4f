import Database
import Foundation
import Logging
import TestSupport
import Testing

/// Errors, timeouts and cancellation of single connections.
@Suite struct ConnectionTests {
    @Test func statementsArePreparedOncePerConnectionAndSurviveASchemaChange() async throws {
        try await withTestDatabase { pool in
            try await pool.withConnection { connection in
                try await connection.execute(unsafeSQL: "CREATE TABLE marks (n int)")
                for n in 1...3 { try await connection.query("INSERT INTO marks (n) VALUES (\(n)) -- marker-prepared") }
                let preparedCount = try await connection.query(
                    "SELECT count(*) AS c FROM pg_prepared_statements WHERE statement LIKE '%marker-prepared'"
                )[0].decode("c", as: Int.self)
                #expect(preparedCount == 1, "one prepared statement for three executions")
                #expect(try await connection.query("SELECT sum(n) AS s FROM marks")[0].decode("s", as: Int.self) == 6)

                // A column type change invalidates the cached plan: that call fails, the next one prepares afresh.
                let read: SQLQuery = "SELECT n FROM marks WHERE n = \(1)"
                #expect(try await connection.query(read).count == 1)
                try await connection.execute(unsafeSQL: "ALTER TABLE marks ALTER COLUMN n TYPE bigint")
                _ = try? await connection.query(read)
                #expect(try await connection.query(read)[0].decode("n", as: Int.self) == 1)
            }
        }
    }

    @Test func uniqueViolationHasItsCodeAndNoSQLOrValues() async throws {
        try await withTestDatabase { pool in
            try await pool.withConnection { connection in
                try await connection.execute(unsafeSQL: "CREATE TABLE people (email text PRIMARY KEY)")
                let secret = "secret-value-4711@example.com"
                try await connection.query("INSERT INTO people (email) VALUES (\(secret))")
                let error = await #expect(throws: DatabaseError.self) {
                    try await connection.query("INSERT INTO people (email) VALUES (\(secret))")
                }
                #expect(error?.code == .uniqueViolation)
                #expect(error?.sqlState == "23505")
                let description = error?.description ?? ""
                #expect(description.contains("people_pkey"))
                #expect(!description.contains(secret))
                #expect(!description.contains("INSERT"))
                // The connection is still usable after an error.
                #expect(
                    try await connection.query("SELECT count(*) AS n FROM people")[0].decode("n", as: Int.self) == 1)
            }
        }
    }

    @Test func foreignKeyViolationAndOtherFailures() async throws {
        try await withTestDatabase { pool in
            try await pool.withConnection { connection in
                try await connection.execute(
                    unsafeSQL: """
                        CREATE TABLE parent (id int8 PRIMARY KEY);
                        CREATE TABLE child (parent int8 REFERENCES parent (id));
                        """)
                let error = await #expect(throws: DatabaseError.self) {
                    try await connection.query("INSERT INTO child VALUES (\(99))")
                }
                #expect(error?.code == .foreignKeyViolation)
                let syntax = await #expect(throws: DatabaseError.self) {
                    try await connection.query("SELEC 1 FROM secret_table_name")
                }
                #expect(syntax?.code == .queryFailed)
                #expect(syntax?.sqlState == "42601")
                #expect(!(syntax?.description.contains("secret_table_name") ?? true))
            }
        }
    }

    @Test func connectionFailureDoesNotLeakThePassword() async throws {
        let admin = try TestDatabase.adminURL()
        var components = try #require(URLComponents(string: admin))
        components.password = "Wrong-Passw0rd-XYZ"
        let url = try #require(components.string)
        let error = await #expect(throws: DatabaseError.self) {
            _ = try await DatabaseConnection.connect(
                configuration: DatabaseConfiguration(url: url), logger: Logger(label: "test"))
        }
        #expect(error?.code == .connectionFailed)
        let description = error?.description ?? ""
        #expect(!description.isEmpty)
        #expect(!description.contains("Wrong-Passw0rd-XYZ"))
        #expect(!description.contains(url))
        #expect(!DatabaseConfiguration(url: url).description.contains("Wrong-Passw0rd-XYZ"))

        let unreachable = await #expect(throws: DatabaseError.self) {
            _ = try await DatabaseConnection.connect(
                configuration: DatabaseConfiguration(url: "postgres://u:Another-Secret-99@127.0.0.1:1/x"),
                logger: Logger(label: "test"))
        }
        #expect(unreachable?.code == .connectionFailed)
        #expect(!(unreachable?.description.contains("Another-Secret-99") ?? true))
    }

    @Test func statementTimeoutStopsALongQuery() async throws {
        try await withTestDatabaseURL { url in
            let connection = try await DatabaseConnection.connect(
                configuration: DatabaseConfiguration(url: url, statementTimeout: .milliseconds(300)),
                logger: Logger(label: "test"))
            let clock = ContinuousClock()
            let start = clock.now
            let error = await #expect(throws: DatabaseError.self) { try await connection.query("SELECT pg_sleep(10)") }
            #expect(error?.code == .timeout)
            // Well below the 10 s sleep; not tighter: with the whole suite on two cores the cancel once took 3.03 s.
            #expect(clock.now - start < .seconds(8))
            #expect(try await connection.query("SELECT 1 AS one")[0].decode("one", as: Int32.self) == 1)
            await connection.close()
        }
    }

    @Test func cancellingTheTaskCancelsTheStatement() async throws {
        try await withTestDatabase { pool in
            let clock = ContinuousClock()
            let start = clock.now
            let task = Task {
                try await pool.withConnection { try await $0.query("SELECT pg_sleep(30), 'marker-sleep' AS m") }
            }
            try await Task.sleep(for: .milliseconds(300))
            task.cancel()
            let result = await task.result
            #expect(clock.now - start < .seconds(10), "far from the statement's 30 s")
            #expect(throws: DatabaseError.self) { try result.get() }
            if case .failure(let error as DatabaseError) = result { #expect(error.code == .cancelled) }
            // The server is no longer running it, and the pool still works.
            let running = try await pool.withConnection {
                try await $0.query(
                    "SELECT count(*) AS n FROM pg_stat_activity WHERE query LIKE '%marker-sleep%' AND state = 'active' AND pid <> pg_backend_pid()"
                )[0]
                .decode("n", as: Int.self)
            }
            #expect(running == 0)
            #expect(await pool.ping())
        }
    }

    @Test func cancelledBeforeStartingDoesNotRun() async throws {
        try await withTestDatabase { pool in
            try await pool.withConnection { connection in
                try await connection.execute(unsafeSQL: "CREATE TABLE hits (n int8)")
                let task = Task {
                    withUnsafeCurrentTask { $0?.cancel() }
                    try await connection.query("INSERT INTO hits VALUES (\(1))")
                }
                await #expect(throws: DatabaseError.self) { try await task.value }
                #expect(try await connection.query("SELECT count(*) AS n FROM hits")[0].decode("n", as: Int.self) == 0)
            }
        }
    }

    @Test func multiStatementExecuteAndEmptyResults() async throws {
        try await withTestDatabase { pool in
            try await pool.withConnection { connection in
                try await connection.execute(
                    unsafeSQL: "CREATE TABLE a (x int8); INSERT INTO a VALUES (1), (2); INSERT INTO a VALUES (3);")
                let result = try await connection.query("SELECT x FROM a ORDER BY x")
                #expect(result.map { try! $0.decode("x", as: Int.self) } == [1, 2, 3])
                #expect(result.rowsAffected == 3)
                #expect(result.columns == ["x"])
                let deleted = try await connection.query("DELETE FROM a WHERE x > \(1)")
                #expect(deleted.rowsAffected == 2)
                #expect(deleted.isEmpty)
            }
        }
    }

    @Test func listenerDeliversNotifications() async throws {
        try await withTestDatabaseURL { url in
            let configuration = DatabaseConfiguration(url: url)
            let listener = DatabaseListener(
                configuration: configuration, channel: "outbox", logger: Logger(label: "test"))
            let pool = DatabasePool(configuration: configuration, logger: Logger(label: "test"))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await listener.run() }
                var iterator = listener.notifications.makeAsyncIterator()
                #expect(await iterator.next() == "")  // connected
                try await pool.withConnection { try await $0.query("SELECT pg_notify('outbox', \("row 1 ✓"))") }
                #expect(await iterator.next() == "row 1 ✓")
                group.cancelAll()
            }
            await pool.close()
        }
    }
}
