import AMQP
import Database
import Foundation
import Logging
import ServiceSupport
import TestSupport

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `asnreward-bench scoring-periods [--asn N] [--entries-per-asn N] [--requests N]`: the periods benchmark of
/// issue 11 for a city of 20,000 ASN with 1,000,000 ledger entries.
///
/// Creates a scratch database (`DATABASE_URL_ADMIN`), starts the `scoring` executable built beside this one on it
/// (test virtual host `AMQP_URL_TEST`, its own events exchange, the repository's program files), loads the roster
/// and the ledger by SQL (all in 2026-Q1, as the live consumer would have written them: the totals trigger keeps
/// `points_totals`), then measures over HTTP, one request at a time:
/// - `GET /v1/rankings?period=2026-Q1&scope=city&limit=50` on the open quarter (first page and a page at half depth),
/// - `POST /v1/periods/2026-Q1/close` (standings frozen, awards granted, events enqueued),
/// - the same ranking page on the closed quarter.
/// Prints p50/p99 in milliseconds and the close's duration, then stops the service and drops the database.
package func runScoringPeriodsBench(arguments: [String]) async throws {
    try await withScratchScoring(
        name: "periods", arguments: arguments, entriesPerASN: 50, requests: 500
    ) { bench in
        try await bench.run()
    }
}

/// The command line, scratch database and `scoring` process the scoring benchmarks share: parses `--asn N`,
/// `--entries-per-asn N` and `--requests N`, creates the database `asnreward_bench_<name>_<pid>` beside
/// `DATABASE_URL_ADMIN`, starts the `scoring` executable on it with an events exchange of its own on the test
/// virtual host, runs `body` once the service is ready, then stops it and drops the database and the exchange.
func withScratchScoring(
    name: String, arguments: [String], entriesPerASN: Int, requests defaultRequests: Int,
    _ body: (ScoringPeriodsBench) async throws -> Void
) async throws {
    var asnCount = 20_000
    var perASN = entriesPerASN
    var requests = defaultRequests
    var iterator = arguments.makeIterator()
    while let argument = iterator.next() {
        switch argument {
        case "--asn": asnCount = iterator.next().flatMap(Int.init) ?? asnCount
        case "--entries-per-asn": perASN = iterator.next().flatMap(Int.init) ?? perASN
        case "--requests": requests = iterator.next().flatMap(Int.init) ?? requests
        default:
            print("usage: asnreward-bench scoring-\(name) [--asn N] [--entries-per-asn N] [--requests N]")
            return
        }
    }
    var logger = Logger(label: "asnreward.bench.\(name)")
    logger.logLevel = .warning
    try await DatabaseBench.withScratchDatabase(prefix: "asnreward_bench_\(name)", logger: logger) { url in
        let exchange = "bench-\(name)-\(ProcessInfo.processInfo.processIdentifier).events"
        var service: Process?
        do {
            let port = try freeLoopbackPort()
            service = try ScoringPeriodsBench.startService(databaseURL: url, port: port, exchange: exchange)
            let bench = ScoringPeriodsBench(
                baseURL: URL(string: "http://127.0.0.1:\(port)")!, databaseURL: url, asnCount: asnCount,
                perASN: perASN, requests: requests, logger: logger)
            try await bench.waitReady()
            try await body(bench)
        } catch {
            print("benchmark failed: \(error)")
        }
        if let service, service.isRunning {
            service.terminate()
            service.waitUntilExit()
        }
        if let amqp = try? AMQPAdmin(
            configuration: AMQPConfiguration(
                url: DevEnvironment.value("AMQP_URL_TEST"), connectionName: "bench-\(name)"))
        {
            try? await amqp.deleteExchanges([exchange])
        }
    }
}

/// The measurements of `asnreward-bench scoring-periods`.
struct ScoringPeriodsBench {
    let baseURL: URL
    let databaseURL: String
    let asnCount: Int
    let perASN: Int
    let requests: Int
    let logger: Logger
    private let session = URLSession(configuration: .ephemeral)
    private let clock = ContinuousClock()

    init(baseURL: URL, databaseURL: String, asnCount: Int, perASN: Int, requests: Int, logger: Logger) {
        self.baseURL = baseURL
        self.databaseURL = databaseURL
        self.asnCount = asnCount
        self.perASN = perASN
        self.requests = requests
        self.logger = logger
    }

    /// Starts `scoring` (built beside this executable) on the scratch database.
    static func startService(databaseURL: String, port: Int, exchange: String) throws -> Process {
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let executable = directory.appendingPathComponent("scoring")
        guard FileManager.default.isExecutableFile(atPath: executable.path) else {
            throw DevEnvironmentError(message: "\(executable.path) not found: build the scoring executable first")
        }
        let process = Process()
        process.executableURL = executable
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = databaseURL
        environment["AMQP_URL"] = try DevEnvironment.value("AMQP_URL_TEST")
        environment["JWT_HS256_SECRET"] = try DevEnvironment.value("JWT_HS256_SECRET")
        environment["EVENTS_EXCHANGE"] = exchange
        environment["HTTP_PORT"] = String(port)
        environment["HTTP_HOST"] = "127.0.0.1"
        environment["LOG_LEVEL"] = "warning"
        environment["PROGRAMS_DIRECTORY"] = DevEnvironment.repositoryRoot.appendingPathComponent("deploy/programs").path
        // The close of a big quarter is one statement per step; give it room.
        environment["SCORING_DATABASE_STATEMENT_TIMEOUT_MS"] = "120000"
        process.environment = environment
        let log = DevEnvironment.repositoryRoot.appendingPathComponent(".run/bench/scoring-periods.log")
        try FileManager.default.createDirectory(at: log.deletingLastPathComponent(), withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return process
    }

    func waitReady() async throws {
        let deadline = clock.now + .seconds(180)
        while clock.now < deadline {
            if let (_, response) = try? await session.data(from: baseURL.appendingPathComponent("health/ready")),
                (response as? HTTPURLResponse)?.statusCode == 200
            {
                return
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        throw DevEnvironmentError(message: "scoring did not become ready (see .run/bench/scoring-periods.log)")
    }

    func run() async throws {
        print(
            "asnreward-bench scoring-periods: \(asnCount) ASN, \(asnCount * perASN) ledger entries in 2026-Q1, "
                + "\(requests) sequential requests per measurement (a shared machine: numbers vary with its load)\n")
        let connection = try await DatabaseConnection.connect(
            configuration: DatabaseConfiguration(url: databaseURL, statementTimeout: .seconds(600)), logger: logger)
        let seedStart = clock.now
        try await seed(connection)
        print(String(format: "seed (roster + ledger by SQL, ANALYZE): %.1f s", (clock.now - seedStart).seconds))
        await connection.close()

        let secret = try DevEnvironment.value("JWT_HS256_SECRET")
        let reader = try await TokenIssuer(hs256Secret: secret).token(
            nip: "199001012015031001", name: "Dasbor", opd: "BKPP", roles: ["dashboard"], expiresIn: .seconds(3600))
        let closer = try await TokenIssuer(hs256Secret: secret).token(
            nip: "199001012015031002", name: "Admin BKPP", opd: "BKPP", roles: ["scoring-admin"],
            expiresIn: .seconds(3600))

        let first = "v1/rankings?period=2026-Q1&scope=city&limit=50"
        let middle = try await cursorAtHalfDepth(token: reader)
        try await report("ranking, open quarter, city, first 50 rows", path: first, token: reader)
        try await report("ranking, open quarter, city, 50 rows at half depth", path: middle, token: reader)
        try await report(
            "ranking, open quarter, one OPD, first 50 rows",
            path: first.replacingOccurrences(
                of: "scope=city", with: "scope=opd:OPD7"), token: reader, count: max(20, requests / 5))
        try await report(
            "ranking, open semester (summed quarters), city, first 50 rows",
            path: first.replacingOccurrences(of: "period=2026-Q1", with: "period=2026-S1"), token: reader,
            count: max(20, requests / 5))

        var request = URLRequest(url: baseURL.appendingPathComponent("v1/periods/2026-Q1/close"))
        request.httpMethod = "POST"
        request.timeoutInterval = 600
        request.setValue("Bearer \(closer)", forHTTPHeaderField: "Authorization")
        let closeStart = clock.now
        let (data, response) = try await session.data(for: request)
        let closeTime = clock.now - closeStart
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        let body = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
        let summary = body?["summary"] as? [String: Any]
        print(
            String(
                format: "close 2026-Q1 (standings, awards, events): %.2f s — HTTP %d, %d ranked, %d awards",
                closeTime.seconds, status, summary?["ranked"] as? Int ?? -1,
                (summary?["awards"] as? [Any])?.count ?? -1))

        try await report("ranking, closed quarter, city, first 50 rows", path: first, token: reader)
        try await report("ranking, closed quarter, city, 50 rows at half depth", path: middle, token: reader)
    }

    /// Roster (40 OPDs) and `perASN` awards per ASN spread over 2026-Q1, 0–20 points each; with
    /// `everyTenthInactive`, every tenth ASN has no entry at all (the export bench's low-performance list).
    func seed(_ connection: DatabaseConnection, everyTenthInactive: Bool = false) async throws {
        try await connection.query(
            """
            INSERT INTO roster (nip, nip_kind, name, opd, active)
            SELECT to_char(date '1960-01-01' + (i / 1998)::int4, 'YYYYMMDD') || '198501' || (1 + i % 2)::text
                       || lpad((i / 2 % 999 + 1)::text, 3, '0'),
                   'pns', 'ASN ' || i, 'OPD' || (i % 40), true
            FROM generate_series(0, \(asnCount - 1)) AS i
            ON CONFLICT DO NOTHING
            """)
        // NIPs as stored, in a stable order.
        let nips = try await connection.query("SELECT nip FROM roster ORDER BY nip").map {
            try $0.decode("nip", as: String.self)
        }
        let chunk = max(1, 100_000 / perASN)
        for offset in stride(from: 0, to: nips.count, by: chunk) {
            let slice = Array(nips[offset..<min(nips.count, offset + chunk)])
            try await connection.query(
                """
                INSERT INTO ledger_entries (id, nip, opd, submission_id, program, program_version, activity, kind,
                                            points, rule_version, period, activity_at)
                SELECT gen_random_uuid(), n.nip, r.opd, gen_random_uuid(), 'peduli-sampah', 1, 'pilah_sampah', 'award',
                       (n.k * 7919 + j * 31) % 21, 'peduli-sampah@1', '2026-Q1',
                       timestamptz '2026-01-01 08:00+07' + (j * interval '36 hours') + (n.k % 600) * interval '1 minute'
                FROM unnest(\(slice)::text[]) WITH ORDINALITY AS n(nip, k)
                     JOIN roster r ON r.nip = n.nip
                     CROSS JOIN generate_series(1, \(perASN)) AS j
                WHERE NOT \(everyTenthInactive) OR (\(offset) + n.k) % 10 <> 0
                """)
        }
        try await connection.execute(unsafeSQL: "ANALYZE")
    }

    /// The ranking path whose cursor starts the page at half the ranking's depth.
    private func cursorAtHalfDepth(token: String) async throws -> String {
        var path = "v1/rankings?period=2026-Q1&scope=city&limit=200"
        for _ in 0..<(asnCount / 2 / 200) {
            let body = try await get(path, token: token).body
            guard let cursor = body["nextCursor"] as? String else { break }
            path = "v1/rankings?period=2026-Q1&scope=city&limit=200&cursor=\(cursor)"
        }
        return path.replacingOccurrences(of: "limit=200", with: "limit=50")
    }

    private func get(_ path: String, token: String) async throws -> (status: Int, body: [String: Any]) {
        var request = URLRequest(url: URL(string: path, relativeTo: baseURL)!)
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.timeoutInterval = 60
        let (data, response) = try await session.data(for: request)
        return (
            (response as? HTTPURLResponse)?.statusCode ?? 0,
            (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        )
    }

    /// Sends `count` requests one after another (after 20 warm-up requests) and prints p50/p99/max.
    private func report(_ label: String, path: String, token: String, count: Int? = nil) async throws {
        let count = count ?? requests
        for _ in 0..<20 { _ = try await get(path, token: token) }
        var samples: [Double] = []
        var rows = 0
        for _ in 0..<count {
            let start = clock.now
            let (status, body) = try await get(path, token: token)
            samples.append((clock.now - start).seconds * 1000)
            guard status == 200 else { throw DevEnvironmentError(message: "\(path) answered \(status)") }
            rows = (body["items"] as? [Any])?.count ?? 0
        }
        samples.sort()
        func percentile(_ p: Double) -> Double { samples[min(samples.count - 1, Int(Double(samples.count) * p))] }
        print(
            String(
                format: "%@: p50 %.2f ms, p99 %.2f ms, max %.2f ms (%d rows, %d requests)", label, percentile(0.5),
                percentile(0.99), samples.last ?? 0, rows, count))
    }
}
