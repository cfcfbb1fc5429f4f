import Database
import Foundation
import Logging
import TestSupport
import Testing

struct Boom: Error {}

/// Transactions, recovery from broken connections, and concurrency of ``DatabasePool``.
@Suite struct PoolTests {
    @Test func transactionCommitsOrRollsBackOnThrow() async throws {
        try await withTestDatabase { pool in
            try await pool.withConnection { try await $0.execute(unsafeSQL: "CREATE TABLE t (n int8)") }
            try await pool.withTransaction { try await $0.query("INSERT INTO t VALUES (\(1))") }
            await #expect(throws: Boom.self) {
                try await pool.withTransaction { connection in
                    try await connection.query("INSERT INTO t VALUES (\(2))")
                    throw Boom()
                }
            }
            let values = try await pool.withConnection {
                try await $0.query("SELECT n FROM t").map { try $0.decode("n", as: Int.self) }
            }
            #expect(values == [1])
        }
    }

    @Test func swallowedErrorInsideTransactionDoesNotReportSuccess() async throws {
        try await withTestDatabase { pool in
            try await pool.withConnection { try await $0.execute(unsafeSQL: "CREATE TABLE t (n int8 PRIMARY KEY)") }
            let error = await #expect(throws: DatabaseError.self) {
                try await pool.withTransaction { connection in
                    try await connection.query("INSERT INTO t VALUES (\(1))")
                    _ = try? await connection.query("INSERT INTO t VALUES (\(1))")  // duplicate, ignored by mistake
                }
            }
            #expect(error?.code == .queryFailed)
            #expect(try await pool.withConnection { try await $0.query("SELECT n FROM t").count } == 0)
        }
    }

    @Test func terminatedBackendMidTransactionCommitsNothingAndPoolRecovers() async throws {
        try await withTestDatabase(poolSize: 2) { pool in
            try await pool.withConnection { try await $0.execute(unsafeSQL: "CREATE TABLE t (n int8)") }
            let error = await #expect(throws: DatabaseError.self) {
                try await pool.withTransaction { connection in
                    try await connection.query("INSERT INTO t VALUES (\(1))")
                    let pid = try await connection.query("SELECT pg_backend_pid() AS pid")[0].decode(
                        "pid", as: Int32.self)
                    try await pool.withConnection { try await $0.query("SELECT pg_terminate_backend(\(pid))") }
                    try await connection.query("INSERT INTO t VALUES (\(2))")
                }
            }
            #expect(error?.code == .connectionLost)
            // Every later caller gets a working connection, and nothing of the transaction is visible.
            for _ in 0..<4 {
                #expect(try await pool.withConnection { try await $0.query("SELECT n FROM t").count } == 0)
            }
            try await pool.withTransaction { try await $0.query("INSERT INTO t VALUES (\(3))") }
            #expect(try await pool.withConnection { try await $0.query("SELECT n FROM t").count } == 1)
        }
    }

    @Test func idleConnectionKilledByTheServerIsReplaced() async throws {
        try await withTestDatabase(poolSize: 1) { pool in
            let pid = try await pool.withConnection {
                try await $0.query("SELECT pg_backend_pid() AS pid")[0].decode("pid", as: Int32.self)
            }
            let admin = try await DatabaseConnection.connect(
                configuration: DatabaseConfiguration(url: try TestDatabase.adminURL()), logger: Logger(label: "test"))
            try await admin.query("SELECT pg_terminate_backend(\(pid))")
            await admin.close()
            try await Task.sleep(for: .milliseconds(1_200))  // idle long enough to be checked
            let newPID = try await pool.withConnection {
                try await $0.query("SELECT pg_backend_pid() AS pid")[0].decode("pid", as: Int32.self)
            }
            #expect(newPID != pid)
        }
    }

    @Test func twoHundredTasksOnFourConnections() async throws {
        try await withTestDatabase(poolSize: 4) { pool in
            try await pool.withConnection {
                try await $0.execute(unsafeSQL: "CREATE TABLE t (n int8 PRIMARY KEY, label text)")
            }
            let backends = try await withThrowingTaskGroup(of: Int32.self) { group in
                for n in 0..<200 {
                    group.addTask {
                        try await pool.withTransaction { connection in
                            try await connection.query("INSERT INTO t VALUES (\(n), \("task \(n)"))")
                            let label = try await connection.query("SELECT label FROM t WHERE n = \(n)")[0].decode(
                                "label", as: String.self)
                            #expect(label == "task \(n)")
                            return try await connection.query("SELECT pg_backend_pid() AS p")[0].decode(
                                "p", as: Int32.self)
                        }
                    }
                }
                var pids = Set<Int32>()
                for try await pid in group { pids.insert(pid) }
                return pids
            }
            #expect(backends.count <= 4)
            let row = try await pool.withConnection {
                try await $0.query("SELECT count(*) AS n, sum(n) AS s FROM t")[0]
            }
            #expect(try row.decode("n", as: Int.self) == 200)
            #expect(try row.decode("s", as: Decimal.self) == Decimal(199 * 200 / 2))
        }
    }

    @Test func waitingCallerCanBeCancelledAndClosedPoolRefuses() async throws {
        try await withTestDatabaseURL { url in
            let pool = DatabasePool(
                configuration: DatabaseConfiguration(url: url, poolSize: 1), logger: Logger(label: "test"))
            try await pool.withConnection { _ in
                let waiter = Task { try await pool.withConnection { _ in 1 } }
                try await Task.sleep(for: .milliseconds(100))
                waiter.cancel()
                let error = await #expect(throws: DatabaseError.self) { try await waiter.value }
                #expect(error?.code == .cancelled)
            }
            #expect(try await pool.withConnection { try await $0.query("SELECT 1 AS one").count } == 1)
            #expect(await pool.ping())
            await pool.close()
            let closed = await #expect(throws: DatabaseError.self) { try await pool.withConnection { _ in 1 } }
            #expect(closed?.code == .poolClosed)
            #expect(await pool.ping() == false)
        }
    }
}
