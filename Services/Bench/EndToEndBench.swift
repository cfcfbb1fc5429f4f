import Contracts
import Database
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceSupport
import TestSupport

/// Options of `asnreward-bench e2e`.
struct EndToEndOptions: Sendable {
    /// Submissions in all.
    var count = 2_000
    /// Offered submissions/s (open loop); `nil` for a closed loop of `concurrency` workers.
    var rate: Double?
    /// Keep-alive connections = cap on submissions in flight.
    var concurrency = 32
    /// Size of the synthetic ASN population.
    var population = 20_000
    /// Seconds to let PostgreSQL's statistics settle before and after the run (idle backends report their
    /// `pg_stat_database` counters at most every 10 s).
    var settleSeconds = 11
    /// How long to wait for the last notification after the last submission was accepted.
    var drainSeconds = 600

    static let usage = """
        usage: asnreward-bench e2e [N] [CONCURRENCY]
               asnreward-bench e2e --rate R (--duration S | --count N) [--concurrency C] [--population P] [--settle S]
          N/--count        submissions (default 2000)
          --rate R         open loop: start R submissions/s whatever the completions (late starts are counted)
          --duration S     with --rate: R×S submissions
          --concurrency C  keep-alive connections, the cap on submissions in flight (default 32; 256 with --rate)
          --population P   synthetic ASN (default 20000)
          --settle S       seconds for PostgreSQL statistics to settle before/after (default 11)
        """

    /// Parses the arguments after `e2e`; `nil` (after printing why) if they are wrong.
    static func parse(_ arguments: [String]) -> EndToEndOptions? {
        var options = EndToEndOptions()
        var positional: [Int] = []
        var duration: Double?
        var count: Int?
        var concurrency: Int?
        var iterator = arguments.makeIterator()
        func value(_ flag: String) -> Double? {
            guard let text = iterator.next(), let number = Double(text), number > 0 else {
                print("e2e: \(flag) needs a positive number\n\(usage)")
                return nil
            }
            return number
        }
        while let argument = iterator.next() {
            switch argument {
            case "--rate": guard let v = value(argument) else { return nil }; options.rate = v
            case "--duration": guard let v = value(argument) else { return nil }; duration = v
            case "--count": guard let v = value(argument) else { return nil }; count = max(1, Int(v))
            case "--concurrency": guard let v = value(argument) else { return nil }; concurrency = max(1, Int(v))
            case "--population": guard let v = value(argument) else { return nil }; options.population = max(1, Int(v))
            case "--settle": guard let v = value(argument) else { return nil }; options.settleSeconds = max(1, Int(v))
            case "-h", "--help":
                print(usage)
                return nil
            default:
                guard let number = Int(argument), number > 0 else {
                    print("e2e: unknown argument \(argument)\n\(usage)")
                    return nil
                }
                positional.append(number)
            }
        }
        if let first = positional.first { options.count = first }
        if positional.count > 1 { options.concurrency = positional[1] }
        if let count { options.count = count }
        if let duration {
            guard let rate = options.rate else {
                print("e2e: --duration needs --rate\n\(usage)")
                return nil
            }
            options.count = max(1, Int((rate * duration).rounded()))
        }
        if let concurrency {
            options.concurrency = concurrency
        } else if options.rate != nil {
            options.concurrency = 256
        }
        return options
    }
}

/// `asnreward-bench e2e`: submissions with ≈100 KB JPEG photos (real EXIF) from a synthetic population of ASN,
/// offered at a fixed rate (open loop) or by a fixed number of workers, against the services of `deploy/dev up`.
///
/// Measures accepted/s, end-to-end/s (until the `points.awarded` notification of the last submission exists),
/// submit→notification latency per submission, CPU seconds per process and per submission, commits and
/// statements per submission per database, and peak RSS per service. Prints a summary and writes it as JSON to
/// `.run/bench/e2e-<time>.json`.
func runEndToEndBench(arguments: [String]) async throws {
    guard let options = EndToEndOptions.parse(arguments) else { return }
    let environment = ProcessInfo.processInfo.environment
    guard let secret = environment["JWT_HS256_SECRET"], let intake = environment["INTAKE_URL"].flatMap(URL.init),
        let host = intake.host, let port = intake.port, let adminURL = environment["DATABASE_URL_ADMIN"]
    else {
        print("e2e: run `deploy/dev up` and `. .run/env` first (JWT_HS256_SECRET, INTAKE_URL, DATABASE_URL_ADMIN)")
        return
    }
    let root = environment["ASNREWARD_ROOT"] ?? FileManager.default.currentDirectoryPath
    let logger = Logger(label: "bench")
    let admin = try await DatabaseConnection.connect(
        configuration: DatabaseConfiguration(url: adminURL), logger: logger)
    let notifications = try await DatabaseConnection.connect(
        configuration: DatabaseConfiguration(url: TestDatabase.url(adminURL, database: "notification")),
        logger: logger)

    // The population, its tokens and the photo tables are made before anything is measured.
    let population = SyntheticPopulation(count: options.population)
    let issuer = TokenIssuer(hs256Secret: secret)
    var tokens: [String] = []
    tokens.reserveCapacity(population.people.count)
    for person in population.people {
        tokens.append(
            try await issuer.token(
                nip: person.nip, name: person.name, opd: population.opds[person.opd].code, roles: ["asn"]))
    }
    try? FileManager.default.createDirectory(atPath: "\(root)/.run/bench", withIntermediateDirectories: true)
    try? population.rosterCSV().write(toFile: "\(root)/.run/bench/roster.csv", atomically: true, encoding: .utf8)
    let runID = UInt64.random(in: 1...UInt64(Int64.max))
    let requests = SubmissionRequests(
        population: population, tokens: tokens, photos: SyntheticJPEG(), runID: runID, host: "\(host):\(port)")

    let processes = await StackProcesses.discover(root: root, admin: admin)
    let statements = await ResourceSnapshot.statementsAvailable(admin)
    let mode = options.rate.map { "offered \(format($0, 0))/s" } ?? "closed loop"
    print(
        "e2e: \(options.count) submissions, \(mode), ≤\(options.concurrency) in flight, \(population.people.count) ASN"
            + " in \(population.opds.count) OPDs, ≈\(requests.sampleSize / 1024) KB JPEG each, against \(intake)")
    print(
        "e2e: processes: " + processes.services.map { "\($0.name) \($0.pid)" }.joined(separator: ", ")
            + ", postgres \(processes.postmaster.map(String.init) ?? "not found"), rabbitmq "
            + "\(processes.rabbit.map(String.init) ?? "not found"); statements from "
            + (statements ? "pg_stat_statements" : "— (pg_stat_statements not loaded; rows written/fetched instead)"))

    // Idle background (relay polling…) over the settle period, subtracted from the run's database counters.
    print("e2e: settling \(options.settleSeconds) s (PostgreSQL statistics)…")
    let idleStart = try await ResourceSnapshot.take(processes: processes, admin: admin, statements: statements)
    try await Task.sleep(for: .seconds(options.settleSeconds))
    // Peak RSS of this run: each process's high-water mark restarts from its current size (root or owner only).
    let pids =
        processes.services.map(\.pid)
        + [processes.rabbit, Int(ProcessInfo.processInfo.processIdentifier)]
        .compactMap { $0 }
    let peaksReset = pids.map { ProcessProbe.resetPeakRSS($0) }.allSatisfy { $0 }
    let before = try await ResourceSnapshot.take(processes: processes, admin: admin, statements: statements)

    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let plan = LoadPlan(count: options.count, rate: options.rate, concurrency: options.concurrency)
    let load = OpenLoopLoad(plan: plan, host: host, port: port, loop: group.next(), factory: requests)
    // Generous: an overloaded stack may accept far fewer than the offered rate (≥20/s assumed).
    let sendDeadline = Double(options.count) / (options.rate ?? 50) + Double(options.count) / 20 + 120
    let outcome = try await load.run(deadline: .seconds(Int64(sendDeadline)))
    try await group.shutdownGracefully()
    let acceptedAt = acceptedSubmissions(outcome)
    let sendSeconds = Double(outcome.elapsed) / 1e9
    print(
        "e2e: accepted \(acceptedAt.count)/\(options.count) in \(format(sendSeconds, 2)) s = "
            + "\(format(Double(acceptedAt.count) / sendSeconds, 0)) accepted/s"
            + (outcome.timedOut ? " (send phase hit its deadline)" : ""))

    // Wait for every accepted submission's points notification.
    var ownQueries = 0
    let since = Date(timeIntervalSince1970: outcome.wallStart - 1)
    let clock = ContinuousClock()
    var lastProgress = clock.now
    var delivered = 0
    let drainDeadline = clock.now + .seconds(options.drainSeconds)
    while clock.now < drainDeadline {
        let count = try await notificationCount(notifications, since: since)
        ownQueries += 1
        if count > delivered { lastProgress = clock.now }
        delivered = count
        if delivered >= acceptedAt.count || clock.now - lastProgress > .seconds(60) { break }
        try await Task.sleep(for: .milliseconds(250))
    }
    let completedWall = Date().timeIntervalSince1970
    let afterCPU = try await ResourceSnapshot.take(processes: processes, admin: admin, statements: statements)
    let times = try await notificationTimes(notifications, since: since)
    ownQueries += 1
    print("e2e: waiting \(options.settleSeconds) s for PostgreSQL statistics…")
    try await Task.sleep(for: .seconds(options.settleSeconds))
    let afterDB = try await ResourceSnapshot.take(processes: processes, admin: admin, statements: statements)

    let report = EndToEndReport.make(
        options: options, outcome: outcome, accepted: acceptedAt, notifications: times,
        completedWall: completedWall, idle: (idleStart, before, Double(options.settleSeconds)), before: before,
        afterCPU: afterCPU, afterDB: afterDB, ownNotificationQueries: ownQueries, statements: statements,
        processes: processes, population: population.people.count, photoBytes: requests.sampleSize,
        peaksReset: peaksReset)
    report.print()
    let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
    let path = "\(root)/.run/bench/e2e-\(stamp).json"
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try encoder.encode(report).write(to: URL(fileURLWithPath: path))
    print("e2e: written to \(path)")
    await notifications.close()
    await admin.close()
}

/// Accepted submissions: id → wall-clock time of the 202 (seconds since 1970), and the start→202 time.
private func acceptedSubmissions(_ outcome: LoadOutcome) -> [String: (at: Double, latency: Double, queued: Double)] {
    var accepted: [String: (at: Double, latency: Double, queued: Double)] = [:]
    for index in outcome.status.indices where outcome.status[index] == 202 {
        guard let body = outcome.body[index], let id = submissionID(in: body) else { continue }
        accepted[id] = (
            outcome.wallStart + Double(outcome.finished[index]) / 1e9,
            Double(outcome.finished[index] - outcome.started[index]) / 1e9,
            Double(outcome.finished[index] - outcome.scheduled[index]) / 1e9
        )
    }
    return accepted
}

/// The `"id"` of a submission view (the first `"id":"…"` of the JSON), lowercased.
private func submissionID(in body: String) -> String? {
    guard let range = body.range(of: "\"id\":\"") else { return nil }
    let rest = body[range.upperBound...]
    guard let end = rest.firstIndex(of: "\"") else { return nil }
    return rest[..<end].lowercased()
}

private func notificationCount(_ connection: DatabaseConnection, since: Date) async throws -> Int {
    let rows = try await connection.query(
        """
        SELECT count(*)::bigint AS n FROM notifications
        WHERE created_at >= \(since) AND event_type = \(PointsAwarded.eventType)
        """
    )
    return try rows.first?.decode("n", as: Int.self) ?? 0
}

/// Submission id → `created_at` (seconds since 1970) of its points notification.
private func notificationTimes(_ connection: DatabaseConnection, since: Date) async throws -> [String: Double] {
    let rows = try await connection.query(
        """
        SELECT submission_id::text AS id, (extract(epoch FROM created_at) * 1000000)::bigint AS micros
        FROM notifications
        WHERE created_at >= \(since) AND event_type = \(PointsAwarded.eventType) AND submission_id IS NOT NULL
        """
    )
    var times: [String: Double] = [:]
    for row in rows {
        times[try row.decode("id", as: String.self).lowercased()] = Double(try row.decode("micros", as: Int.self)) / 1e6
    }
    return times
}

func format(_ value: Double, _ decimals: Int) -> String {
    String(format: "%.\(decimals)f", value)
}

extension SubmissionRequests {
    /// Size of one request body, measured once.
    var sampleSize: Int {
        var buffer = ByteBufferAllocator().buffer(capacity: 128 * 1024)
        _ = request(0, body: &buffer)
        return buffer.readableBytes
    }
}
