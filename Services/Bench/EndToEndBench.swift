import Contracts
import Database
import Foundation
import Logging
import ServiceSupport
import TestSupport

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `asnreward-bench e2e [N] [concurrency]`: N submissions (default 2,000), each with its own generated photo,
/// against the services started by `deploy/dev up`. Prints accepted/s (HTTP 202s) and end-to-end
/// submissions/s (until the last points notification exists in the notification database).
func runEndToEndBench(arguments: [String]) async throws {
    let count = arguments.first.flatMap(Int.init) ?? 2_000
    let concurrency = arguments.dropFirst().first.flatMap(Int.init) ?? 32
    let environment = ProcessInfo.processInfo.environment
    guard let secret = environment["JWT_HS256_SECRET"], let intake = environment["INTAKE_URL"].flatMap(URL.init),
        let adminURL = environment["DATABASE_URL_ADMIN"]
    else {
        print("e2e: run `deploy/dev up` and `. .run/env` first (JWT_HS256_SECRET, INTAKE_URL, DATABASE_URL_ADMIN)")
        return
    }
    let notificationDB = TestDatabase.url(adminURL, database: "notification")
    let database = try await DatabaseConnection.connect(
        configuration: DatabaseConfiguration(url: notificationDB), logger: Logger(label: "bench"))
    defer { Task { await database.close() } }

    // 100 ASN in 10 OPDs, each submitting count/100 activities; one photo per submission, never reused.
    let issuer = TokenIssuer(hs256Secret: secret)
    var tokens: [String] = []
    for index in 0..<100 {
        let nip = String(format: "1985%02d%02d2010%02d1%03d", index % 12 + 1, index % 28 + 1, index % 12 + 1, index + 1)
        tokens.append(
            try await issuer.token(nip: nip, name: "ASN Uji \(index)", opd: "OPD\(index % 10)", roles: ["asn"]))
    }
    let runSeed = UInt64.random(in: 1...UInt64.max / 2)
    let started = Date()
    let baseline = try await notificationCount(database, since: started)
    print("e2e: \(count) submissions, concurrency \(concurrency), against \(intake.absoluteString)")

    let clock = ContinuousClock()
    let sendStart = clock.now
    let client = IntakeClient(baseURL: intake, connections: concurrency)
    let identities = tokens
    let submitOne: @Sendable (Int) async -> Int = { index in
        let status = try? await client.submit(
            token: identities[index % identities.count],
            activity: "pilah_sampah",
            activityAt: Date().addingTimeInterval(-Double(60 + index % 3600)),
            photo: TestImages.png(seed: runSeed &+ UInt64(index)),
            idempotencyKey: "bench-\(runSeed)-\(index)"
        )
        return status == 202 ? 0 : 1
    }
    let failures = try await withThrowingTaskGroup(of: Int.self) { group in
        var next = 0
        var failed = 0
        while next < min(concurrency, count) {
            let index = next
            group.addTask { await submitOne(index) }
            next += 1
        }
        while let result = try await group.next() {
            failed += result
            if next < count {
                let index = next
                group.addTask { await submitOne(index) }
                next += 1
            }
        }
        return failed
    }
    let sendSeconds = (clock.now - sendStart).seconds
    let accepted = count - failures
    print(
        String(
            format: "e2e: accepted %d/%d in %.2f s = %.0f accepted/s", accepted, count, sendSeconds,
            Double(accepted) / sendSeconds))

    // Every accepted submission ends as one points notification (all photos are new, all activities valid).
    let deadline = clock.now + .seconds(600)
    var delivered = 0
    while clock.now < deadline {
        delivered = try await notificationCount(database, since: started) - baseline
        if delivered >= accepted { break }
        try await Task.sleep(for: .milliseconds(200))
    }
    let totalSeconds = (clock.now - sendStart).seconds
    print(
        String(
            format: "e2e: %d notifications after %.2f s = %.0f end-to-end submissions/s", delivered, totalSeconds,
            Double(delivered) / totalSeconds))
}

private func notificationCount(_ connection: DatabaseConnection, since: Date) async throws -> Int {
    let rows = try await connection.query(
        "SELECT count(*)::bigint AS n FROM notifications WHERE created_at >= \(since) AND event_type = \(PointsAwarded.eventType)"
    )
    return try rows.first?.decode("n", as: Int.self) ?? 0
}
