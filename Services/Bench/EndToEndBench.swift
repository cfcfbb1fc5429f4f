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
    /// Percent of submissions planted as fraud (exact and re-encoded duplicates, wrong capture time, outside the
    /// geofence), and percent without EXIF (human review).
    var fraudPercent = 5.0
    var noExifPercent = 3.0
    /// Attempts per submission (1: no retries); retries carry the same Idempotency-Key and body.
    var maxAttempts = 1
    /// Where to write every request's outcome (TSV); `.run/bench/requests-<run>.tsv` when absent.
    var logPath: String?
    /// Register the population through scoring's roster API (`POST /v1/roster`) before the load.
    var registerRoster = true
    /// The run's id (keys `bench-<id>-<index>`); random when absent.
    var runID: UInt64?
    /// Only offer the load and write the request log (no measurements, no drain): for `deploy/dev chaos`, whose
    /// faults would break the bench's own database connections. `<log>.started` is created as the load begins.
    var logOnly = false

    static let usage = """
        usage: asnreward-bench e2e [N] [CONCURRENCY]
               asnreward-bench e2e --rate R (--duration S | --count N) [--concurrency C] [--population P] [--settle S]
          N/--count        submissions (default 2000)
          --rate R         open loop: start R submissions/s whatever the completions (late starts are counted)
          --duration S     with --rate: R×S submissions
          --concurrency C  keep-alive connections, the cap on submissions in flight (default 32; 256 with --rate)
          --population P   synthetic ASN (default 20000)
          --settle S       seconds for PostgreSQL statistics to settle before/after (default 11)
          --fraud P        percent planted as fraud: duplicates, wrong capture time, outside the geofence (default 5)
          --no-exif P      percent of photos without EXIF, which go to human review (default 3)
          --retries N      retry a request up to N times after no response, 408, 429 or 5xx (default 0)
          --log FILE       every request's outcome as TSV (default .run/bench/requests-<run>.tsv)
          --drain S        seconds to wait for the pipeline after the load (default 600)
          --run-id N       this run's id (Idempotency-Keys bench-<id>-<index>; default random)
          --no-roster      do not register the population through POST /v1/roster first
          --log-only       offer the load and write the request log only (deploy/dev chaos)
        """

    /// Parses the arguments after `e2e`; `nil` (after printing why) if they are wrong.
    static func parse(_ arguments: [String]) -> EndToEndOptions? {
        var options = EndToEndOptions()
        var positional: [Int] = []
        var duration: Double?
        var count: Int?
        var concurrency: Int?
        var iterator = arguments.makeIterator()
        func value(_ flag: String, orZero: Bool = false) -> Double? {
            guard let text = iterator.next(), let number = Double(text), number > 0 || (orZero && number == 0) else {
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
            case "--fraud": guard let v = value(argument, orZero: true) else { return nil }; options.fraudPercent = v
            case "--no-exif": guard let v = value(argument, orZero: true) else { return nil }; options.noExifPercent = v
            case "--retries":
                guard let v = value(argument, orZero: true) else { return nil }
                options.maxAttempts = 1 + Int(v)
            case "--drain": guard let v = value(argument) else { return nil }; options.drainSeconds = Int(v)
            case "--run-id": guard let v = value(argument) else { return nil }; options.runID = UInt64(v)
            case "--log":
                guard let path = iterator.next() else {
                    print("e2e: --log needs a file\n\(usage)")
                    return nil
                }
                options.logPath = path
            case "--no-roster": options.registerRoster = false
            case "--log-only": options.logOnly = true
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
        guard options.fraudPercent + options.noExifPercent <= 100 else {
            print("e2e: --fraud and --no-exif add up to more than 100 %\n\(usage)")
            return nil
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
    let verification = try await DatabaseConnection.connect(
        configuration: DatabaseConfiguration(url: TestDatabase.url(adminURL, database: "verification")),
        logger: logger)
    let scoring = try await DatabaseConnection.connect(
        configuration: DatabaseConfiguration(url: TestDatabase.url(adminURL, database: "scoring")), logger: logger)

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
    if options.registerRoster {
        guard let scoringURL = environment["SCORING_URL"] else {
            print("e2e: SCORING_URL is not set (. .run/env), needed for the roster")
            return
        }
        try await registerRoster(population, scoringURL: scoringURL, issuer: issuer, verification: verification)
    }
    let runID = options.runID ?? UInt64.random(in: 1...UInt64(Int64.max >> 12))
    var requests = SubmissionRequests(
        population: population, tokens: tokens, photos: SyntheticJPEG(), runID: runID, host: "\(host):\(port)")
    requests.fraudShare = options.fraudPercent / 100
    requests.noExifShare = options.noExifPercent / 100
    let logPath = options.logPath ?? "\(root)/.run/bench/requests-\(runID).tsv"
    if options.logOnly {
        await notifications.close()
        await verification.close()
        await scoring.close()
        await admin.close()
        try await offerLoadOnly(options: options, requests: requests, host: host, port: port, logPath: logPath)
        return
    }

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
    var plan = LoadPlan(count: options.count, rate: options.rate, concurrency: options.concurrency)
    plan.maxAttempts = options.maxAttempts
    let load = OpenLoopLoad(plan: plan, host: host, port: port, loop: group.next(), factory: requests)
    // Generous: an overloaded stack may accept far fewer than the offered rate (≥20/s assumed).
    let sendDeadline =
        Double(options.count) / (options.rate ?? 50) + Double(options.count) / 20 + 120
        + (options.maxAttempts > 1 ? 300 : 0)
    let outcome = try await load.run(deadline: .seconds(Int64(sendDeadline)))
    try await group.shutdownGracefully()
    let acceptedAt = acceptedSubmissions(outcome)
    let sendSeconds = Double(outcome.elapsed) / 1e9
    let retried = outcome.attempts.filter { $0 > 1 }.count
    print(
        "e2e: accepted \(acceptedAt.count)/\(options.count) in \(format(sendSeconds, 2)) s = "
            + "\(format(Double(acceptedAt.count) / sendSeconds, 0)) accepted/s"
            + (retried > 0 ? " (\(retried) needed a retry)" : "")
            + (outcome.timedOut ? " (send phase hit its deadline)" : ""))
    try writeRequestLog(outcome, requests: requests, to: logPath)
    print("e2e: every request's outcome written to \(logPath)")

    // Wait until every accepted submission reached its end: points (approved), a rejection, or the review queue.
    var ownQueries = 0
    let since = Date(timeIntervalSince1970: outcome.wallStart - 1)
    let clock = ContinuousClock()
    var lastProgress = clock.now
    var delivered = 0
    let acceptedIDs = Array(acceptedAt.keys)
    let drainDeadline = clock.now + .seconds(options.drainSeconds)
    while clock.now < drainDeadline {
        let count = try await settledCount(notifications, ids: acceptedIDs, since: since)
        ownQueries += 1
        if count > delivered { lastProgress = clock.now }
        delivered = count
        if delivered >= acceptedAt.count || clock.now - lastProgress > .seconds(60) { break }
        try await Task.sleep(for: .milliseconds(500))
    }
    let completedWall = Date().timeIntervalSince1970
    let afterCPU = try await ResourceSnapshot.take(processes: processes, admin: admin, statements: statements)
    let times = try await notificationTimes(notifications, since: since)
    ownQueries += 1
    let pointsTimes = try await awardTimes(scoring, ids: acceptedIDs)
    let planted = try await plantedOutcomes(verification, outcome: outcome, requests: requests)
    print("e2e: waiting \(options.settleSeconds) s for PostgreSQL statistics (meanwhile: the photo work's limit)…")
    let settled = ContinuousClock.now + .seconds(options.settleSeconds)
    let photoWork = try PhotoWorkLimit.measure(requests.photos, cores: ProcessProbe.cores)
    try await Task.sleep(until: settled)
    let afterDB = try await ResourceSnapshot.take(processes: processes, admin: admin, statements: statements)

    var report = EndToEndReport.make(
        options: options, outcome: outcome, accepted: acceptedAt, notifications: times,
        completedWall: completedWall, idle: (idleStart, before, Double(options.settleSeconds)), before: before,
        afterCPU: afterCPU, afterDB: afterDB, ownNotificationQueries: ownQueries, statements: statements,
        processes: processes, population: population.people.count, photoBytes: requests.sampleSize,
        peaksReset: peaksReset, points: pointsTimes, planted: planted, photoWork: photoWork)
    print("e2e: measuring the broker's and the database's raw rates on the same servers…")
    let published = try await ReferenceLimits.messagesPublished(since: since, adminURL: adminURL, logger: logger)
    report.limits = await ReferenceLimits.measure(
        messagesPerSubmission: Double(published) / Double(max(report.accepted, 1)),
        commitsPerSubmission: report.databases.values.map(\.commitsPerSubmission).reduce(0, +),
        amqpURL: environment["AMQP_URL_TEST"], logger: logger)
    report.print()
    let stamp = ISO8601DateFormatter().string(from: Date()).replacingOccurrences(of: ":", with: "")
    let path = "\(root)/.run/bench/e2e-\(stamp).json"
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try encoder.encode(report).write(to: URL(fileURLWithPath: path))
    print("e2e: written to \(path)")
    await notifications.close()
    await verification.close()
    await scoring.close()
    await admin.close()
}

/// Registers `population` through scoring's roster API (`POST /v1/roster`, CSV, as BKPP would) and waits until
/// verification learnt every ASN from `asn.enrolled` (the geofence needs their registered places). A roster
/// imported before is unchanged and publishes nothing.
func registerRoster(
    _ population: SyntheticPopulation, scoringURL: String, issuer: TokenIssuer, verification: DatabaseConnection
) async throws {
    let token = try await issuer.token(
        nip: DemoCity.adminNIP, name: "Admin BKPP", opd: "BKPP", roles: ["scoring-admin"], expiresIn: .seconds(3600))
    let clock = ContinuousClock()
    let started = clock.now
    let (status, body) = try await DemoHTTP.send(
        "POST", "\(scoringURL)/v1/roster", token: token, body: Data(population.rosterCSV().utf8),
        contentType: "text/csv; charset=utf-8")
    let summary = String(decoding: body.prefix(400), as: UTF8.self).replacingOccurrences(of: "\n", with: " ")
    print("e2e: roster of \(population.people.count) ASN → HTTP \(status) \(summary)")
    guard (200..<300).contains(status) else { throw BenchError("the roster import was refused (HTTP \(status))") }
    let nips = population.people.map(\.nip)
    var known = 0
    while clock.now - started < .seconds(600) {
        let rows = try await verification.query(
            "SELECT count(*)::bigint AS n FROM roster WHERE nip = ANY(\(nips)::text[])")
        known = try rows.first?.decode("n", as: Int.self) ?? 0
        if known >= nips.count { break }
        try await Task.sleep(for: .seconds(1))
    }
    guard known >= nips.count else {
        throw BenchError("verification knows only \(known) of \(nips.count) ASN of the roster after 600 s")
    }
    print("e2e: verification knows all \(nips.count) ASN (\(format((clock.now - started).seconds, 1)) s)")
}

/// `e2e --log-only`: offers the load, writes every request's outcome, prints the counts.
private func offerLoadOnly(
    options: EndToEndOptions, requests: SubmissionRequests, host: String, port: Int, logPath: String
) async throws {
    print(
        "e2e: run \(requests.runID): \(options.count) submissions at \(options.rate.map { format($0, 0) + "/s" } ?? "closed loop")"
            + ", ≤\(options.concurrency) in flight, up to \(options.maxAttempts) attempts each, "
            + "\(format(options.fraudPercent, 1)) % planted fraud, \(format(options.noExifPercent, 1)) % without EXIF")
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    var plan = LoadPlan(count: options.count, rate: options.rate, concurrency: options.concurrency)
    plan.maxAttempts = options.maxAttempts
    let load = OpenLoopLoad(plan: plan, host: host, port: port, loop: group.next(), factory: requests)
    let deadline = Double(options.count) / (options.rate ?? 50) + Double(options.count) / 20 + 600
    FileManager.default.createFile(atPath: logPath + ".started", contents: nil)
    let outcome = try await load.run(deadline: .seconds(Int64(deadline)))
    try await group.shutdownGracefully()
    try writeRequestLog(outcome, requests: requests, to: logPath)
    var statuses: [Int: Int] = [:]
    for status in outcome.status { statuses[status, default: 0] += 1 }
    print(
        "e2e: done in \(format(Double(outcome.elapsed) / 1e9, 1)) s: "
            + statuses.sorted { $0.key < $1.key }.map { "HTTP \($0.key) × \($0.value)" }.joined(separator: ", ")
            + ", \(outcome.attempts.filter { $0 > 1 }.count) retried"
            + (outcome.timedOut ? " (the send phase hit its deadline)" : ""))
    print("e2e: every request's outcome written to \(logPath)")
}

/// A failure of the bench itself (not a finding about the services).
struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Writes one line per request: index, Idempotency-Key, NIP, what was planted, the last status, attempts, the
/// statuses before the last, and the submission id of a 2xx. `# run <id>` heads the file.
private func writeRequestLog(_ outcome: LoadOutcome, requests: SubmissionRequests, to path: String) throws {
    var text = "# run \(requests.runID) base \(requests.baseTime.timeIntervalSince1970)\n"
    text += "index\tkey\tnip\tplanted\tstatus\tattempts\tearlier\tid\n"
    for index in outcome.status.indices {
        let nip = requests.population.people[requests.person(index)].nip
        let id = outcome.body[index].flatMap(submissionID(in:)) ?? ""
        let earlier = outcome.earlierStatuses[index].map(String.init).joined(separator: ",")
        text +=
            "\(index)\t\(requests.key(index))\t\(nip)\t\(requests.planted(index).rawValue)\t\(outcome.status[index])\t"
            + "\(outcome.attempts[index])\t\(earlier.isEmpty ? "-" : earlier)\t\(id.isEmpty ? "-" : id)\n"
    }
    try FileManager.default.createDirectory(
        atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try text.write(toFile: path, atomically: true, encoding: .utf8)
}

/// Accepted submissions: id → wall-clock time of the 202 (seconds since 1970), and the start→202 time.
private func acceptedSubmissions(_ outcome: LoadOutcome) -> [String: (at: Double, latency: Double, queued: Double)] {
    var accepted: [String: (at: Double, latency: Double, queued: Double)] = [:]
    for index in outcome.status.indices where (200..<300).contains(outcome.status[index]) {
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

/// How many of `ids` have their last notification: points (approved), a rejection, or entering review.
private func settledCount(_ connection: DatabaseConnection, ids: [String], since: Date) async throws -> Int {
    let types = [PointsAwarded.eventType, SubmissionRejected.eventType, ReviewAssigned.eventType]
    let rows = try await connection.query(
        """
        SELECT count(DISTINCT submission_id)::bigint AS n FROM notifications
        WHERE created_at >= \(since) AND event_type = ANY(\(types)::text[])
          AND submission_id = ANY(\(ids)::uuid[])
        """
    )
    return try rows.first?.decode("n", as: Int.self) ?? 0
}

/// Submission id → `recorded_at` (seconds since 1970) of its award in scoring's ledger.
private func awardTimes(_ connection: DatabaseConnection, ids: [String]) async throws -> [String: Double] {
    let rows = try await connection.query(
        """
        SELECT submission_id::text AS id, (extract(epoch FROM recorded_at) * 1000000)::bigint AS micros
        FROM ledger_entries WHERE kind = 'award' AND submission_id = ANY(\(ids)::uuid[])
        """
    )
    var times: [String: Double] = [:]
    for row in rows {
        times[try row.decode("id", as: String.self).lowercased()] = Double(try row.decode("micros", as: Int.self)) / 1e6
    }
    return times
}

/// Per planted kind: how verification decided the accepted submissions (`approved`, `rejected:<code>`, `review`,
/// `undecided`).
private func plantedOutcomes(
    _ connection: DatabaseConnection, outcome: LoadOutcome, requests: SubmissionRequests
) async throws -> [String: [String: Int]] {
    var kindByID: [String: SubmissionRequests.Planted] = [:]
    for index in outcome.status.indices where (200..<300).contains(outcome.status[index]) {
        if let id = outcome.body[index].flatMap(submissionID(in:)) { kindByID[id] = requests.planted(index) }
    }
    let rows = try await connection.query(
        """
        SELECT submission_id::text AS id, outcome, coalesce(reason_code, '') AS code FROM decisions
        WHERE submission_id = ANY(\(Array(kindByID.keys))::uuid[])
        """
    )
    var decided: [String: String] = [:]
    for row in rows {
        let outcome = try row.decode("outcome", as: String.self)
        let code = try row.decode("code", as: String.self)
        decided[try row.decode("id", as: String.self).lowercased()] =
            outcome == "rejected" ? "rejected:\(code)" : outcome
    }
    var table: [String: [String: Int]] = [:]
    for (id, kind) in kindByID { table[kind.rawValue, default: [:]][decided[id] ?? "undecided", default: 0] += 1 }
    return table
}

/// Submission id → `created_at` (seconds since 1970) of its last notification: points (approved), the rejection, or
/// entering review.
private func notificationTimes(_ connection: DatabaseConnection, since: Date) async throws -> [String: Double] {
    let types = [PointsAwarded.eventType, SubmissionRejected.eventType, ReviewAssigned.eventType]
    let rows = try await connection.query(
        """
        SELECT submission_id::text AS id, (extract(epoch FROM max(created_at)) * 1000000)::bigint AS micros
        FROM notifications
        WHERE created_at >= \(since) AND event_type = ANY(\(types)::text[]) AND submission_id IS NOT NULL
        GROUP BY submission_id
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
