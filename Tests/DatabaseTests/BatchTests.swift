import Database
import Foundation
import TestSupport
import Testing

/// Pipeline mode and COPY, including what happens when something in the batch fails.
@Suite struct BatchTests {
    static let schema =
        "CREATE TABLE items (id int8 PRIMARY KEY, name text NOT NULL, amount numeric, at timestamptz, raw bytea, small int4)"

    func itemCount(_ pool: DatabasePool) async throws -> Int {
        try await pool.withConnection {
            try await $0.query("SELECT count(*) AS n FROM items")[0].decode("n", as: Int.self)
        }
    }

    @Test func pipelineReturnsOneResultPerQueryInOrder() async throws {
        try await withTestDatabase { pool in
            try await pool.withConnection { connection in
                try await connection.execute(unsafeSQL: Self.schema)
                var queries: [SQLQuery] = (0..<500).map {
                    "INSERT INTO items (id, name) VALUES (\($0), \("item \($0) ✓"))"
                }
                queries.append("SELECT count(*) AS n, max(name) AS m FROM items")
                let results = try await connection.pipeline(queries)
                #expect(results.count == 501)
                #expect(results.prefix(500).allSatisfy { $0.rowsAffected == 1 })
                #expect(try results[500][0].decode("n", as: Int.self) == 500)
                #expect(try results[500][0].decode("m", as: String.self) == "item 99 ✓")
                #expect(try await connection.pipeline([]).isEmpty)
            }
        }
    }

    @Test func pipelineStatementsArePreparedOncePerConnectionAndPlannedGenerically() async throws {
        try await withTestDatabase { pool in
            try await pool.withConnection { connection in
                try await connection.execute(unsafeSQL: Self.schema)
                for round in 0..<3 {
                    let results = try await connection.pipeline([
                        "BEGIN",
                        "INSERT INTO items (id, name) VALUES (\(round * 2), \("a")) -- marker-pipeline",
                        "INSERT INTO items (id, name) VALUES (\(round * 2 + 1), \("b")) -- marker-pipeline",
                        "COMMIT",
                    ])
                    #expect(results.count == 4)
                }
                let prepared = try await connection.query(
                    """
                    SELECT count(*) AS c, sum(generic_plans)::int8 AS g, sum(custom_plans)::int8 AS p FROM pg_prepared_statements
                    WHERE statement LIKE '%marker-pipeline'
                    """
                )[0]
                #expect(try prepared.decode("c", as: Int.self) == 1, "one prepared statement for six executions")
                #expect(try prepared.decode("g", as: Int.self) == 6, "planned once, generically")
                #expect(try prepared.decode("p", as: Int.self) == 0)
                #expect(
                    try await connection.query("SELECT current_setting('plan_cache_mode') AS m")[0]
                        .decode("m", as: String.self) == "force_generic_plan")
            }
            #expect(try await itemCount(pool) == 6)
        }
    }

    @Test func pipelineErrorAbortsTheRestAndCommitsNothingOutsideATransaction() async throws {
        try await withTestDatabase { pool in
            try await pool.withConnection { connection in
                try await connection.execute(unsafeSQL: Self.schema)
                let queries: [SQLQuery] = [
                    "INSERT INTO items (id, name) VALUES (\(1), \("a"))",
                    "INSERT INTO items (id, name) VALUES (\(2), \("b"))",
                    "INSERT INTO items (id, name) VALUES (\(1), \("duplicate"))",
                    "INSERT INTO items (id, name) VALUES (\(3), \("c"))",
                ]
                let error = await #expect(throws: DatabaseError.self) { try await connection.pipeline(queries) }
                #expect(error?.code == .uniqueViolation)
                #expect(error?.queryIndex == 2)
                // The pipeline was one implicit transaction: the first two inserts are gone too.
                #expect(try await connection.query("SELECT count(*) AS n FROM items")[0].decode("n", as: Int.self) == 0)
                // The connection left pipeline mode and works.
                let again = try await connection.pipeline(Array(queries.prefix(2)) + [queries[3]])
                #expect(again.count == 3)
            }
            #expect(try await itemCount(pool) == 3)
        }
    }

    @Test func pipelineMixesRepeatedAndSingleStatementsAndReportsAFailedParse() async throws {
        try await withTestDatabase { pool in
            try await pool.withConnection { connection in
                let mixed: [SQLQuery] = [
                    "SELECT \(1) AS v", "SELECT \(2) AS v", "SELECT \("three") AS v", "SELECT \(4) AS v",
                    "SELECT \(5) AS v",
                ]
                let results = try await connection.pipeline(mixed)
                #expect(try results[0][0].decode("v", as: Int.self) == 1)
                #expect(try results[1][0].decode("v", as: Int.self) == 2)
                #expect(try results[2][0].decode("v", as: String.self) == "three")
                #expect(try results[4][0].decode("v", as: Int.self) == 5)
                let broken: [SQLQuery] = ["SELECT 1", "SELEC \(1)", "SELEC \(2)", "SELECT 2"]
                let error = await #expect(throws: DatabaseError.self) { try await connection.pipeline(broken) }
                #expect(error?.sqlState == "42601")
                #expect(error?.queryIndex == 1)
                #expect(try await connection.query("SELECT 7 AS v")[0].decode("v", as: Int32.self) == 7)
            }
        }
    }

    @Test func pipelineErrorInsideATransactionRollsBackEverything() async throws {
        try await withTestDatabase { pool in
            try await pool.withConnection { try await $0.execute(unsafeSQL: Self.schema) }
            let error = await #expect(throws: DatabaseError.self) {
                try await pool.withTransaction { connection in
                    try await connection.query("INSERT INTO items (id, name) VALUES (\(100), \("before"))")
                    try await connection.pipeline(
                        (0..<50).map { "INSERT INTO items (id, name) VALUES (\($0), \("x"))" })
                    try await connection.pipeline([
                        "INSERT INTO items (id, name) VALUES (\(200), \("ok"))",
                        "INSERT INTO items (id, name) VALUES (\(201), \(nil as String?))",  // NOT NULL
                    ])
                }
            }
            #expect(error?.sqlState == "23502")
            #expect(error?.queryIndex == 1)
            #expect(try await itemCount(pool) == 0)
        }
    }

    @Test func copyWritesEveryRowAndType() async throws {
        try await withTestDatabase { pool in
            try await pool.withConnection { connection in
                try await connection.execute(unsafeSQL: Self.schema)
                let base = Date(timeIntervalSince1970: 1_700_000_000.000001)
                var rows: [[(any PostgresEncodable)?]] = []
                for n in 0..<20_000 {
                    let amount: Decimal? = n % 7 == 0 ? nil : Decimal(n) / 100
                    let at = base.addingTimeInterval(Double(n))
                    let raw = Data([0, UInt8(n % 256), 0])
                    rows.append([n, "name \(n) — żółw", amount, at, raw, Int32(-n)])
                }
                let copied = try await connection.copyIn(
                    table: "items", columns: ["id", "name", "amount", "at", "raw", "small"], rows: rows)
                #expect(copied == 20_000)
                let row = try await connection.query("SELECT * FROM items WHERE id = \(12_345)")[0]
                #expect(try row.decode("name", as: String.self) == "name 12345 — żółw")
                #expect(try row.decode("amount", as: Decimal.self) == Decimal(string: "123.45"))
                #expect(
                    abs(try row.decode("at", as: Date.self).timeIntervalSince(base.addingTimeInterval(12_345)))
                        < 0.000_001)
                #expect(try row.decode("raw", as: Data.self) == Data([0, UInt8(12_345 % 256), 0]))
                #expect(try row.decode("small", as: Int32.self) == -12_345)
                let nulls = try await connection.query("SELECT count(*) AS n FROM items WHERE amount IS NULL")[0]
                #expect(try nulls.decode("n", as: Int.self) == (0..<20_000).filter { $0 % 7 == 0 }.count)
            }
        }
    }

    @Test func copyFailureWritesNothingAndTheConnectionSurvives() async throws {
        try await withTestDatabase { pool in
            try await pool.withConnection { connection in
                try await connection.execute(unsafeSQL: Self.schema)
                // A duplicate key in the last row.
                let duplicate: [[(any PostgresEncodable)?]] = (0..<1_000).map { [$0, "n"] } + [[5, "again"]]
                let error = await #expect(throws: DatabaseError.self) {
                    try await connection.copyIn(table: "items", columns: ["id", "name"], rows: duplicate)
                }
                #expect(error?.code == .uniqueViolation)
                // A Swift type that does not match the column (Int for int4) is refused by binary COPY.
                await #expect(throws: DatabaseError.self) {
                    try await connection.copyIn(table: "items", columns: ["id", "name", "small"], rows: [[1, "x", 5]])
                }
                // A row of the wrong width is refused before anything is sent.
                let width = await #expect(throws: DatabaseError.self) {
                    try await connection.copyIn(table: "items", columns: ["id", "name"], rows: [[1, "x"], [2]])
                }
                #expect(width?.code == .decoding)
                #expect(try await connection.query("SELECT count(*) AS n FROM items")[0].decode("n", as: Int.self) == 0)
                #expect(try await connection.copyIn(table: "items", columns: ["id", "name"], rows: [[1, "ok"]]) == 1)
            }
        }
    }
}
