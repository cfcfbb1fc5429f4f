import AMQP
import Database
import Foundation
import Logging
import ServiceSupport
import TestSupport

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `asnreward-bench scoring-export [--asn N] [--entries-per-asn N] [--requests N]`: the export benchmark of issue 11
/// for a city of 20,000 ASN with 1,000,000 ledger entries.
///
/// Like `scoring-periods`: a scratch database (`DATABASE_URL_ADMIN`), the `scoring` executable built beside this
/// one started on it, the roster (40 OPDs) and the ledger loaded by SQL — every tenth ASN without any activity (the
/// low-performance list) — and a participation commitment for every OPD. Then, over HTTP, one request at a time:
/// - `GET /v1/periods/2026-Q1/export.csv` on the open quarter (computed now, provisional);
/// - `POST /v1/periods/2026-Q1/close` (standings, awards, commitments, sanctions, the export frozen);
/// - `GET /v1/periods/2026-Q1/export.csv` and `.json` on the closed quarter (the frozen rows).
/// Prints p50/max in milliseconds and the bytes, then stops the service and drops the database.
package func runScoringExportBench(arguments: [String]) async throws {
    try await withScratchScoring(name: "export", arguments: arguments, entriesPerASN: 55, requests: 10) { periods in
        try await ScoringExportBench(
            baseURL: periods.baseURL, databaseURL: periods.databaseURL, asnCount: periods.asnCount,
            perASN: periods.perASN, requests: periods.requests, logger: periods.logger
        ).run()
    }
}

/// The measurements of `asnreward-bench scoring-export`.
struct ScoringExportBench {
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

    func run() async throws {
        let connection = try await DatabaseConnection.connect(
            configuration: DatabaseConfiguration(url: databaseURL, statementTimeout: .seconds(600)), logger: logger)
        let seedStart = clock.now
        let entries = try await seed(connection)
        print(
            "asnreward-bench scoring-export: \(asnCount) ASN in 40 OPDs, \(entries) ledger entries in 2026-Q1, "
                + "\(requests) sequential requests per measurement (a shared machine: numbers vary with its load)\n")
        print(
            String(
                format: "seed (roster + ledger + commitments by SQL, ANALYZE): %.1f s", (clock.now - seedStart).seconds)
        )
        await connection.close()

        let secret = try DevEnvironment.value("JWT_HS256_SECRET")
        let token = try await TokenIssuer(hs256Secret: secret).token(
            nip: "199001012015031002", name: "Admin BKPP", opd: "BKPP", roles: ["scoring-admin"],
            expiresIn: .seconds(3600))
        try await report(
            "export.csv, open quarter (computed, provisional)", path: "v1/periods/2026-Q1/export.csv", token: token)

        var request = URLRequest(url: baseURL.appendingPathComponent("v1/periods/2026-Q1/close"))
        request.httpMethod = "POST"
        request.timeoutInterval = 600
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        let closeStart = clock.now
        let (_, response) = try await session.data(for: request)
        print(
            String(
                format: "close 2026-Q1 (standings, awards, commitments, sanctions, export frozen): %.2f s — HTTP %d",
                (clock.now - closeStart).seconds, (response as? HTTPURLResponse)?.statusCode ?? 0))

        try await report("export.csv, closed quarter (frozen)", path: "v1/periods/2026-Q1/export.csv", token: token)
        try await report("export.json, closed quarter (frozen)", path: "v1/periods/2026-Q1/export.json", token: token)
    }

    /// The periods bench's roster and ledger with every tenth ASN inactive, plus a participation commitment per
    /// OPD; the entry count.
    private func seed(_ connection: DatabaseConnection) async throws -> Int {
        try await ScoringPeriodsBench(
            baseURL: baseURL, databaseURL: databaseURL, asnCount: asnCount, perASN: perASN, requests: requests,
            logger: logger
        ).seed(connection, everyTenthInactive: true)
        try await connection.query(
            """
            INSERT INTO commitments (id, opd, period, metric, target, baseline, created_by)
            SELECT gen_random_uuid(), 'OPD' || g, '2026-Q1', 'participation_rate', 95, 80, 'bench'
            FROM generate_series(0, 39) AS g
            """)
        try await connection.execute(unsafeSQL: "ANALYZE")
        return try await connection.query("SELECT count(*)::int8 AS n FROM ledger_entries")[0].decode("n", as: Int.self)
    }

    /// Sends `requests` requests one after another (after one warm-up) and prints p50/max and the size.
    private func report(_ label: String, path: String, token: String) async throws {
        var request = URLRequest(url: URL(string: path, relativeTo: baseURL)!)
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.timeoutInterval = 120
        _ = try await session.data(for: request)
        var samples: [Double] = []
        var bytes = 0
        var status = ""
        for _ in 0..<requests {
            let start = clock.now
            let (data, response) = try await session.data(for: request)
            samples.append((clock.now - start).seconds * 1000)
            let http = response as? HTTPURLResponse
            guard http?.statusCode == 200 else {
                throw DevEnvironmentError(message: "\(path) answered \(http?.statusCode ?? 0)")
            }
            bytes = data.count
            status = http?.value(forHTTPHeaderField: "Export-Status") ?? ""
        }
        samples.sort()
        print(
            String(
                format: "%@: p50 %.0f ms, max %.0f ms (%d bytes, %@, %d requests)", label, samples[samples.count / 2],
                samples.last ?? 0, bytes, status, requests))
    }
}
