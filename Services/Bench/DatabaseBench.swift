import Database
import Foundation
import Logging

/// `asnreward-bench db [--seconds N] [--batch N]`: measures the `Database` module's write paths against
/// `pgbench` (and `psql \copy`) on the same server, in the same run, and prints a table with the ratios.
///
/// Uses `DATABASE_URL_ADMIN` (environment or `.run/env`), creates a scratch database, drops it afterwards.
/// Paths: (a) single-row `INSERT` in autocommit from one connection, (b) pipeline mode with `--batch` inserts per
/// pipeline (one implicit transaction per batch, exactly what pgbench's `\startpipeline … \endpipeline` does),
/// (b′) the same inside `BEGIN`/`COMMIT`, (c) binary `COPY` in batches of 10,000 rows.
package func runDatabaseBench(arguments: [String]) async throws {
    var seconds = 5
    var batch = 1_000
    var iterator = arguments.makeIterator()
    while let argument = iterator.next() {
        switch argument {
        case "--seconds": seconds = iterator.next().flatMap(Int.init) ?? seconds
        case "--batch": batch = iterator.next().flatMap(Int.init) ?? batch
        case "db": continue
        default:
            print("usage: asnreward-bench db [--seconds N] [--batch N]")
            return
        }
    }
    var logger = Logger(label: "asnreward.bench.db")
    logger.logLevel = .warning
    try await DatabaseBench.withScratchDatabase(prefix: "asnreward_bench", logger: logger) { url in
        do {
            let bench = try await DatabaseBench(url: url, seconds: seconds, batch: batch, logger: logger)
            try await bench.run()
            await bench.connection.close()
        } catch {
            print("benchmark failed: \(error)")
        }
    }
}

/// The measurements of `asnreward-bench db`.
struct DatabaseBench {
    let url: String
    let seconds: Int
    let batch: Int
    let connection: DatabaseConnection
    private let clock = ContinuousClock()

    init(url: String, seconds: Int, batch: Int, logger: Logger) async throws {
        self.url = url
        self.seconds = seconds
        self.batch = batch
        self.connection = try await DatabaseConnection.connect(
            configuration: DatabaseConfiguration(url: url), logger: logger)
        try await connection.execute(
            unsafeSQL:
                "CREATE TABLE bench_rows (id int8 NOT NULL, name text NOT NULL, amount numeric(12,2), created_at timestamptz)"
        )
    }

    /// One row of the printed table.
    struct Line {
        var path: String
        var ours: Double
        var reference: Double?
        var referenceName: String
    }

    func run() async throws {
        print("asnreward-bench db: \(seconds) s per measurement, pipeline batch \(batch), one connection each\n")
        var lines: [Line] = []

        let single = try await measureSingleInserts()
        let pgbenchSingle = try? await pgbench(
            script: singleScript(), protocol: "extended", transactions: Int(single) * seconds)
        lines.append(
            Line(
                path: "(a) INSERT, autocommit", ours: single, reference: pgbenchSingle,
                referenceName: "pgbench -M extended"))

        let pipelined = try await measurePipeline(explicitTransaction: false)
        let pipelineTransactions = max(2, Int(pipelined) * seconds / batch)
        // pgbench counts transactions; each pipelined transaction inserts `batch` rows.
        func pgbenchPipelineRows(_ mode: String) async -> Double? {
            (try? await pgbench(script: pipelineScript(), protocol: mode, transactions: pipelineTransactions))
                .map { $0 * Double(batch) }
        }
        let pgbenchPipeline = await pgbenchPipelineRows("extended")
        lines.append(
            Line(
                path: "(b) pipeline, \(batch)/sync", ours: pipelined, reference: pgbenchPipeline,
                referenceName: "pgbench \\startpipeline"))
        let pipelinedLiteral = try await measurePipeline(explicitTransaction: false, sameSQLAsPgbench: true)
        lines.append(
            Line(
                path: "(b) pipeline, pgbench's SQL", ours: pipelinedLiteral, reference: pgbenchPipeline,
                referenceName: "pgbench \\startpipeline"))
        let pipelinedTx = try await measurePipeline(explicitTransaction: true)
        lines.append(
            Line(
                path: "(b') BEGIN+pipeline+COMMIT", ours: pipelinedTx, reference: pgbenchPipeline,
                referenceName: "pgbench \\startpipeline"))
        let pgbenchPrepared = await pgbenchPipelineRows("prepared")
        lines.append(
            Line(
                path: "(b) vs prepared statements", ours: pipelined, reference: pgbenchPrepared,
                referenceName: "pgbench -M prepared"))

        let copied = try await measureCopy()
        let psqlCopy = try? await psqlCopy(rows: 1_000_000)
        lines.append(
            Line(path: "(c) COPY binary", ours: copied, reference: psqlCopy, referenceName: "psql \\copy (text)"))

        func format(_ value: Double?) -> String {
            guard let value else { return "n/a" }
            return String(format: "%.0f", value)
        }
        func pad(_ text: String, _ width: Int) -> String {
            text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
        }
        print(
            pad("path", 30) + pad("asnreward rows/s", 18) + pad("reference rows/s", 18) + pad("ratio", 8) + "reference")
        for line in lines {
            let ratio = line.reference.map { String(format: "%.0f%%", line.ours / $0 * 100) } ?? "n/a"
            print(
                pad(line.path, 30) + pad(format(line.ours), 18) + pad(format(line.reference), 18) + pad(ratio, 8)
                    + line.referenceName)
        }
    }

    // MARK: - Our paths

    private func insert(_ id: Int) -> SQLQuery {
        "INSERT INTO bench_rows (id, name, amount, created_at) VALUES (\(id), \("bench row"), \(Decimal(1234) / 100), \(Date()))"
    }

    private func measureSingleInserts() async throws -> Double {
        let deadline = clock.now + .seconds(seconds)
        let start = clock.now
        var rows = 0
        while clock.now < deadline {
            try await connection.query(insert(rows))
            rows += 1
        }
        return Double(rows) / (clock.now - start).seconds
    }

    /// pgbench's statement: only the id is a parameter, the other values are literals / `now()`.
    private func literalInsert(_ id: Int) -> SQLQuery {
        "INSERT INTO bench_rows (id, name, amount, created_at) VALUES (\(id), 'bench row', 12.34, now())"
    }

    private func measurePipeline(explicitTransaction: Bool, sameSQLAsPgbench: Bool = false) async throws -> Double {
        let deadline = clock.now + .seconds(seconds)
        let start = clock.now
        var rows = 0
        while clock.now < deadline {
            let queries = (rows..<rows + batch).map(sameSQLAsPgbench ? literalInsert : insert)
            if explicitTransaction { try await connection.execute(unsafeSQL: "BEGIN") }
            _ = try await connection.pipeline(queries)
            if explicitTransaction { try await connection.execute(unsafeSQL: "COMMIT") }
            rows += batch
        }
        return Double(rows) / (clock.now - start).seconds
    }

    private func measureCopy() async throws -> Double {
        let deadline = clock.now + .seconds(seconds)
        let start = clock.now
        var rows = 0
        let amount = Decimal(1234) / 100
        while clock.now < deadline {
            let now = Date()
            let chunk: [[(any PostgresEncodable)?]] = (rows..<rows + 10_000).map { [$0, "bench row", amount, now] }
            rows += try await connection.copyIn(
                table: "bench_rows", columns: ["id", "name", "amount", "created_at"], rows: chunk)
        }
        return Double(rows) / (clock.now - start).seconds
    }

    // MARK: - References

    private func singleScript() -> String {
        "\\set id random(1, 1000000000)\nINSERT INTO bench_rows (id, name, amount, created_at) VALUES (:id, 'bench row', 12.34, now());\n"
    }

    private func pipelineScript() -> String {
        var script = "\\set id random(1, 1000000000)\n\\startpipeline\n"
        for _ in 0..<batch {
            script += "INSERT INTO bench_rows (id, name, amount, created_at) VALUES (:id, 'bench row', 12.34, now());\n"
        }
        return script + "\\endpipeline\n"
    }

    /// Runs pgbench with one client for `transactions` transactions (about as much work as our run did) and
    /// returns its transactions per second. (`-T` is not used: pgbench implements it with `SIGALRM`, which a
    /// child spawned from a Swift concurrency thread inherits blocked, so it would never stop.)
    private func pgbench(script: String, protocol mode: String, transactions: Int) async throws -> Double {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("asnreward-bench-\(UUID()).sql")
        try script.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let executable = ProcessInfo.processInfo.environment["PGBENCH"] ?? "/usr/lib/postgresql/15/bin/pgbench"
        let output = try await run(
            executable, ["-n", "-M", mode, "-f", file.path, "-t", "\(max(1, transactions))", "-c", "1"])
        guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("tps = ") }),
            let value = Double(line.dropFirst(6).prefix { $0 != " " })
        else {
            throw DatabaseError(.queryFailed, message: "pgbench printed no tps")
        }
        return value
    }

    /// Times `psql \copy` of `rows` text rows, as a reference for COPY.
    private func psqlCopy(rows: Int) async throws -> Double {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("asnreward-bench-\(UUID()).tsv")
        var text = ""
        text.reserveCapacity(rows * 48)
        for id in 0..<rows { text += "\(id)\tbench row\t12.34\t2024-01-01 00:00:00+00\n" }
        try text.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let executable = ProcessInfo.processInfo.environment["PSQL"] ?? "/usr/lib/postgresql/15/bin/psql"
        let start = clock.now
        _ = try await run(
            executable,
            [
                "-q", "-v", "ON_ERROR_STOP=1", "-c",
                "\\copy bench_rows (id, name, amount, created_at) FROM '\(file.path)'",
            ])
        return Double(rows) / (clock.now - start).seconds
    }

    /// Runs a PostgreSQL client tool against the scratch database; the credentials go through PG* environment
    /// variables, never the command line.
    private func run(_ executable: String, _ arguments: [String]) async throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        if let components = URLComponents(string: url) {
            environment["PGHOST"] = components.host
            environment["PGPORT"] = components.port.map(String.init)
            environment["PGUSER"] = components.user
            environment["PGPASSWORD"] = components.password
            environment["PGDATABASE"] = String(components.path.dropFirst())
        }
        process.environment = environment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            process.terminationHandler = { _ in continuation.resume() }
            do { try process.run() } catch { continuation.resume(throwing: error) }
        }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        guard process.terminationStatus == 0 else {
            print("\(URL(fileURLWithPath: executable).lastPathComponent) failed: \(output.prefix(300))")
            throw DatabaseError(.queryFailed, message: "\(executable) exited with \(process.terminationStatus)")
        }
        return output
    }

    // MARK: - Configuration

    /// pgbench's single-row commit rate (one client, `INSERT` in autocommit, extended protocol) on a scratch
    /// database of the server `DATABASE_URL_ADMIN` names: the reference the end-to-end benchmark sets its commits
    /// against.
    static func pgbenchSingleRowCommits(transactions: Int, logger: Logger) async throws -> Double {
        var rate = 0.0
        try await withScratchDatabase(prefix: "asnreward_limit", logger: logger) { url in
            let bench = try await DatabaseBench(url: url, seconds: 1, batch: 1, logger: logger)
            await bench.connection.close()
            rate = try await bench.pgbench(
                script: bench.singleScript(), protocol: "extended", transactions: transactions)
        }
        return rate
    }

    /// Creates the database `<prefix>_<pid>` beside `DATABASE_URL_ADMIN`'s, runs `body` with its URL, then drops it
    /// (also when `body` throws).
    static func withScratchDatabase(
        prefix: String, logger: Logger, _ body: (String) async throws -> Void
    ) async throws {
        let adminURL = try adminURL()
        let database = "\(prefix)_\(ProcessInfo.processInfo.processIdentifier)"
        let admin = try await DatabaseConnection.connect(
            configuration: DatabaseConfiguration(url: adminURL), logger: logger)
        try await admin.execute(unsafeSQL: "DROP DATABASE IF EXISTS \(database) WITH (FORCE)")
        try await admin.execute(unsafeSQL: "CREATE DATABASE \(database) \(DatabaseConfiguration.createDatabaseOptions)")
        var failure: (any Error)?
        do { try await body(url(adminURL, database: database)) } catch { failure = error }
        try await admin.execute(unsafeSQL: "DROP DATABASE IF EXISTS \(database) WITH (FORCE)")
        await admin.close()
        if let failure { throw failure }
    }

    static func adminURL() throws -> String {
        if let url = ProcessInfo.processInfo.environment["DATABASE_URL_ADMIN"], !url.isEmpty { return url }
        var directory = URL(fileURLWithPath: FileManager.default.currentDirectoryPath).standardizedFileURL
        while true {
            if let text = try? String(contentsOf: directory.appendingPathComponent(".run/env"), encoding: .utf8),
                let range = text.range(of: "DATABASE_URL_ADMIN=")
            {
                var value = text[range.upperBound...]
                if let quote = value.first, quote == "'" || quote == "\"" {
                    value = value.dropFirst()
                    return String(value.prefix { $0 != quote })
                }
                return String(value.prefix { !$0.isWhitespace })
            }
            let parent = directory.deletingLastPathComponent()
            if parent.path == directory.path { break }
            directory = parent
        }
        throw DatabaseError(.connectionFailed, message: "DATABASE_URL_ADMIN is not set and no .run/env was found")
    }

    static func url(_ url: String, database: String) -> String {
        guard var components = URLComponents(string: url) else { return url }
        components.path = "/" + database
        return components.string ?? url
    }
}
