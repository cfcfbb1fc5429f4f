import AMQP
import Contracts
import Database
import Foundation
import Logging
import ServiceSupport
import TestSupport

/// `asnreward-bench chaos-check`: after a fault campaign (`deploy/dev chaos`), waits until the pipeline has drained
/// and checks that nothing was lost and nothing happened twice, from what the client saw (the e2e bench's request
/// log) against every service's own records (queried with the admin role) and the broker's dead-letter queues.
///
/// ```
/// asnreward-bench chaos-check baseline --out FILE           # dead letters already there (ignored later)
/// asnreward-bench chaos-check --log REQUESTS.tsv [--planted FILE] [--baseline FILE] [--drain S]
/// ```
///
/// Exits 1 when any check fails, printing each discrepancy (the first examples of each kind).
func runChaosCheck(arguments: [String]) async throws {
    if arguments.first == "baseline" {
        var iterator = arguments.dropFirst().makeIterator()
        var out: String?
        while let argument = iterator.next() { if argument == "--out" { out = iterator.next() } }
        guard let out else { throw BenchError("chaos-check baseline needs --out FILE") }
        let letters = try await ChaosCheck.deadLetters(ChaosCheck.environment())
        try letters.map { "\($0.queue)\t\($0.id)" }.joined(separator: "\n").appending("\n")
            .write(toFile: out, atomically: true, encoding: .utf8)
        print("chaos-check: \(letters.count) dead letters already there, recorded in \(out)")
        return
    }
    var options = ChaosCheck.Options()
    var iterator = arguments.makeIterator()
    while let argument = iterator.next() {
        switch argument {
        case "--log": options.log = iterator.next() ?? ""
        case "--planted": options.planted = iterator.next()
        case "--baseline": options.baseline = iterator.next()
        case "--drain": options.drainSeconds = Int(iterator.next() ?? "") ?? options.drainSeconds
        default: throw BenchError("chaos-check: unknown argument \(argument)")
        }
    }
    guard !options.log.isEmpty else { throw BenchError("chaos-check needs --log REQUESTS.tsv") }
    do {
        let check = try await ChaosCheck(options: options)
        if try await !check.run() { exit(1) }
    } catch {
        print("chaos-check: the check itself failed: \(error)")
        exit(2)
    }
}

/// The checks of a fault campaign; see ``runChaosCheck(arguments:)``.
struct ChaosCheck {
    struct Options {
        var log = ""
        var planted: String?
        var baseline: String?
        var drainSeconds = 900
    }

    /// One request of the e2e bench's log.
    struct Request {
        var index: Int
        var key: String
        var nip: String
        var planted: String
        var status: Int
        var attempts: Int
        var id: String?
    }

    /// A message sitting in a dead-letter queue.
    struct DeadLetter: Hashable {
        var queue: String
        var id: String
    }

    /// A failed check: its kind and one example.
    struct Finding {
        var kind: String
        var detail: String
    }

    let options: Options
    let environment: [String: String]
    let runID: String
    let requests: [Request]
    let logger = Logger(label: "chaos-check")

    init(options: Options) async throws {
        self.options = options
        environment = try Self.environment()
        let text = try String(contentsOfFile: options.log, encoding: .utf8)
        var runID = ""
        var requests: [Request] = []
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# run ") {
                runID = String(line.split(separator: " ")[2])
                continue
            }
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard fields.count >= 8, let index = Int(fields[0]) else { continue }
            requests.append(
                Request(
                    index: index, key: fields[1], nip: fields[2], planted: fields[3], status: Int(fields[4]) ?? 0,
                    attempts: Int(fields[5]) ?? 0, id: fields[7] == "-" ? nil : fields[7].lowercased()))
        }
        guard !runID.isEmpty, !requests.isEmpty else { throw BenchError("\(options.log) is not a request log") }
        self.runID = runID
        self.requests = requests
    }

    static func environment() throws -> [String: String] {
        let environment = EnvFile.mergedEnvironment()
        for name in ["DATABASE_URL_ADMIN", "AMQP_URL_ADMIN", "AMQP_URL_OPERATOR", "JWT_HS256_SECRET", "SCORING_URL"]
        where environment[name] == nil {
            throw BenchError("\(name) is not set (. .run/env)")
        }
        return environment
    }

    // MARK: Drain, then check

    /// Waits until the queues and outboxes are empty and every check passes, or nothing has moved for 90 s with
    /// them empty, or the drain deadline passes; then prints the findings. Returns whether every check passed.
    func run() async throws -> Bool {
        let clock = ContinuousClock()
        let started = clock.now
        var lastFingerprint = ""
        var lastChange = clock.now
        var findings: [Finding] = []
        var summary: [String] = []
        print(
            "chaos-check: run \(runID), \(requests.count) requests; waiting for the pipeline to drain (at most "
                + "\(options.drainSeconds) s)…")
        var failures = 0
        while true {
            let pending: [String: Int]
            do {
                pending = try await backlog()
                (findings, summary) = try await checkOnce()
                failures = 0
            } catch {
                // The server is still busy with the drain (or restarting): a pass that failed says nothing yet.
                failures += 1
                guard failures < 5 else { throw error }
                print("chaos-check: a pass failed (\(error)); trying again in 10 s")
                try await Task.sleep(for: .seconds(10))
                continue
            }
            let fingerprint = "\(pending)|\(findings.count)|\(summary.joined())"
            if fingerprint != lastFingerprint {
                lastFingerprint = fingerprint
                lastChange = clock.now
            }
            let idle = pending.allSatisfy { $0.value == 0 }
            let waited = (clock.now - started).seconds
            if idle && findings.isEmpty { break }
            if idle && clock.now - lastChange > .seconds(90) {
                print("chaos-check: nothing moved for 90 s with every queue and outbox empty")
                break
            }
            if waited > Double(options.drainSeconds) {
                print("chaos-check: drain deadline of \(options.drainSeconds) s passed")
                break
            }
            let busy = pending.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
            print(
                "chaos-check: \(Int(waited)) s: "
                    + (busy.isEmpty ? "queues and outboxes empty" : "backlog " + busy.joined(separator: ", "))
                    + ", \(findings.count) open findings")
            try await Task.sleep(for: .seconds(5))
        }
        let totals = try await totalsFindings()
        findings += totals
        print("chaos-check: ──── results (run \(runID)) ────")
        for line in summary { print("chaos-check: \(line)") }
        let kinds = Dictionary(grouping: findings, by: \.kind)
        for kind in kinds.keys.sorted() {
            let items = kinds[kind]!
            print("chaos-check: FAIL \(kind): \(items.count)")
            for item in items.prefix(5) { print("chaos-check:      \(item.detail)") }
        }
        if findings.isEmpty { print("chaos-check: PASS: 0 lost, 0 duplicated, every check passed") }
        return findings.isEmpty
    }

    /// Messages waiting in the work queues and unpublished outbox rows per service.
    private func backlog() async throws -> [String: Int] {
        var backlog: [String: Int] = [:]
        let admin = AMQPAdmin(
            configuration: try AMQPConfiguration(url: environment["AMQP_URL_ADMIN"]!, connectionName: "chaos-check"))
        for queue in try Self.definitions().queues where !queue.hasSuffix(".dead") {
            backlog["queue \(queue)"] = (try? await admin.messageCount(queue: queue)) ?? -1
        }
        for database in ["intake", "verification", "scoring", "notification"] {
            backlog["outbox \(database)"] = try await withDatabase(database) { connection in
                try await connection.query(
                    "SELECT count(*)::bigint AS n FROM outbox WHERE published_at IS NULL AND NOT unroutable"
                ).first?.decode("n", as: Int.self) ?? 0
            }
        }
        // Unacknowledged deliveries are not in the ready count: the broker's own listing has them.
        if let root = environment["ASNREWARD_ROOT"] {
            for (queue, unacked) in Self.unacknowledged(root: root) where !queue.hasSuffix(".dead") {
                backlog["unacked \(queue)"] = unacked
            }
        }
        return backlog
    }

    /// `rabbitmqctl list_queues name messages_unacknowledged` through deploy/dev (empty when it fails).
    private static func unacknowledged(root: String) -> [String: Int] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "\(root)/deploy/dev")
        process.arguments = [
            "rabbitmqctl", "-q", "list_queues", "name", "messages_unacknowledged", "--no-table-headers",
        ]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return [:] }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return [:] }
        var result: [String: Int] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if fields.count == 2, let count = Int(fields[1]) { result[String(fields[0])] = count }
        }
        return result
    }

    private func withDatabase<T: Sendable>(
        _ name: String, _ body: (DatabaseConnection) async throws -> T
    ) async throws -> T {
        try await DatabaseConnection.using(
            // An offline check over tens of thousands of rows while the pipeline still drains: minutes, not 30 s.
            configuration: DatabaseConfiguration(
                url: TestDatabase.url(environment["DATABASE_URL_ADMIN"]!, database: name),
                statementTimeout: .seconds(300)),
            logger: logger, body)
    }

    // MARK: One pass of the per-submission checks

    /// Per submission, what each service recorded.
    private struct Records {
        var intake: [String: (key: String, nip: String, status: String, points: Int?, reason: String)] = [:]
        var verification: [String: (status: String, outcome: String?, reason: String, fraud: Bool, sampled: Bool)] =
            [:]
        var reviews: [String: [String: Int]] = [:]
        var verificationEvents: [String: [String: Int]] = [:]
        var inputs: [String: [String: Int]] = [:]
        var ledger: [String: [String: (count: Int, points: Int)]] = [:]
        var scoringEvents: [String: [String: Int]] = [:]
        /// submission → "event type/channel" → (rows, distinct events, rows for someone else).
        var notifications: [String: [String: (rows: Int, events: Int, strangers: Int)]] = [:]
        var orphans: [String] = []
    }

    private func checkOnce() async throws -> ([Finding], [String]) {
        var findings: [Finding] = []
        func fail(_ kind: String, _ detail: String) { findings.append(Finding(kind: kind, detail: detail)) }
        let records = try await load()

        let accepted = requests.filter { (200..<300).contains($0.status) }
        let refused = requests.filter { $0.status >= 300 }
        let unknown = requests.filter { $0.status == 0 }
        let intakeByKey = Dictionary(records.intake.map { ($0.value.key, $0.key) }, uniquingKeysWith: { a, _ in a })

        // The client's view against intake's.
        for request in accepted {
            guard let id = request.id else {
                fail("accepted without a submission id in the response", request.key)
                continue
            }
            guard let stored = records.intake[id] else {
                fail("accepted but unknown to intake (lost)", "\(request.key) → \(id)")
                continue
            }
            if stored.key != request.key { fail("accepted id belongs to another key", "\(request.key) → \(id)") }
        }
        for request in refused where intakeByKey[request.key] != nil {
            fail(
                "refused (HTTP \(request.status)) but stored by intake",
                "\(request.key) → \(intakeByKey[request.key]!)")
        }
        let unknownStored = unknown.filter { intakeByKey[$0.key] != nil }.count
        for id in records.orphans { fail("verification has a submission intake does not have", id) }

        // Every submission intake stored for this run, through the whole pipeline.
        var outcomes: [String: Int] = [:]
        for (id, stored) in records.intake {
            guard let verified = records.verification[id] else {
                fail("stored by intake, never reached verification (lost)", "\(stored.key) → \(id)")
                continue
            }
            guard let outcome = verified.outcome else {
                fail("reached verification, no decision (lost)", "\(stored.key) → \(id) (\(verified.status))")
                continue
            }
            outcomes[outcome, default: 0] += 1
            let events = records.verificationEvents[id] ?? [:]
            let reviews = records.reviews[id] ?? [:]
            let inputs = records.inputs[id] ?? [:]
            let ledger = records.ledger[id] ?? [:]
            let points = records.scoringEvents[id] ?? [:]
            let notes = records.notifications[id] ?? [:]
            func count(_ table: [String: Int], _ key: String) -> Int { table[key] ?? 0 }
            func expect(_ kind: String, _ actual: Int, _ expected: Int) {
                if actual != expected {
                    fail(kind, "\(id) (\(outcome)\(verified.fraud ? ", fraud" : "")): \(actual), expected \(expected)")
                }
            }
            let approved = outcome == "approved"
            let rejected = outcome == "rejected"
            let inReview = outcome == "review"
            expect(
                "decision events (verification outbox submission.verified)",
                count(events, SubmissionVerified.eventType), approved ? 1 : 0)
            expect(
                "decision events (verification outbox submission.rejected)",
                count(events, SubmissionRejected.eventType), rejected ? 1 : 0)
            let reviewCount = inReview || verified.sampled ? 1 : 0
            expect("reviews opened", reviews.values.reduce(0, +), reviewCount)
            expect("review.assigned events", count(events, ReviewAssigned.eventType), reviewCount)
            // Scoring: one decision input, one ledger outcome.
            expect("scoring decision inputs (verified)", count(inputs, "verified"), approved ? 1 : 0)
            expect("scoring decision inputs (rejected)", count(inputs, "rejected"), rejected ? 1 : 0)
            let awards = ledger["award"]?.count ?? 0
            let bonuses = ledger["bonus"]?.count ?? 0
            let penalties = ledger["penalty"]?.count ?? 0
            expect("ledger awards", awards, approved ? 1 : 0)
            expect("ledger penalties", penalties, rejected && verified.fraud ? 1 : 0)
            expect(
                "ledger reversals or corrections",
                (ledger["reversal"]?.count ?? 0) + (ledger["correction"]?.count ?? 0), 0)
            expect("points.awarded events (scoring outbox)", count(points, PointsAwarded.eventType), awards + bonuses)
            expect("penalty.applied events (scoring outbox)", count(points, PenaltyApplied.eventType), penalties)
            // Notifications: exactly one per channel per event, to the submitter.
            var expected: [String: Int] = [
                SubmissionVerified.eventType: approved ? 1 : 0, SubmissionRejected.eventType: rejected ? 1 : 0,
                ReviewAssigned.eventType: inReview ? 1 : 0, PointsAwarded.eventType: awards + bonuses,
                PenaltyApplied.eventType: penalties,
            ]
            for (key, value) in notes {
                let type = String(key.split(separator: "/")[0])
                let channel = String(key.split(separator: "/")[1])
                if value.events != value.rows { fail("notifications repeated for one event", "\(id) \(key)") }
                if value.strangers > 0 { fail("notification to someone else", "\(id) \(key)") }
                if channel == "inapp" {
                    expect("in-app notifications \(type)", value.rows, expected[type] ?? 0)
                    expected[type] = nil
                } else if value.rows > (notes["\(type)/inapp"]?.rows ?? 0) {
                    fail("gateway messages without an in-app notification", "\(id) \(key)")
                }
            }
            for (type, value) in expected where value > 0 { expect("in-app notifications \(type)", 0, value) }
            // The status the ASN sees.
            let award = ledger["award"]?.points
            switch outcome {
            case "approved":
                if stored.status != "approved" || stored.points != award {
                    fail(
                        "status the ASN sees differs (approved)",
                        "\(id): intake \(stored.status) \(stored.points.map(String.init) ?? "-") points, ledger "
                            + "\(award.map(String.init) ?? "-")")
                }
            case "rejected":
                if stored.status != "rejected" || stored.reason != verified.reason {
                    fail(
                        "status the ASN sees differs (rejected)",
                        "\(id): intake \(stored.status) \(stored.reason), verification \(verified.reason)")
                }
            default:
                if stored.status != "in_review" {
                    fail("status the ASN sees differs (in review)", "\(id): intake \(stored.status)")
                }
            }
        }

        // Dead letters: only what was planted, and everything planted where it belongs.
        let planted = try plantedMessages()
        let baseline = Set(try baselineLetters())
        let letters = try await Self.deadLetters(environment).filter { !baseline.contains($0) }
        let plantedIDs = Set(planted.map(\.id))
        for letter in Set(letters) where !plantedIDs.contains(letter.id) {
            fail("dead letter that was not planted", "\(letter.queue): \(letter.id)")
        }
        let bindings = try Self.definitions().bindings
        var expectedLetters = 0
        for message in planted {
            for queue in bindings.filter({ $0.key == message.routingKey }).map(\.queue) {
                expectedLetters += 1
                if !letters.contains(DeadLetter(queue: "\(queue).dead", id: message.id)) {
                    fail("planted poison not dead-lettered", "\(message.id) (\(message.kind)) in \(queue).dead")
                }
            }
        }

        let byPlanted = Dictionary(grouping: accepted, by: \.planted).mapValues(\.count)
        let summary = [
            "client: \(requests.count) requests, \(accepted.count) accepted, \(refused.count) refused "
                + "(\(Dictionary(grouping: refused, by: \.status).mapValues(\.count).sorted { $0.key < $1.key }.map { "HTTP \($0.key) × \($0.value)" }.joined(separator: ", "))), "
                + "\(unknown.count) without an answer (\(unknownStored) of them stored), "
                + "\(requests.filter { $0.attempts > 1 }.count) retried",
            "accepted by kind: "
                + byPlanted.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "),
            "intake stored \(records.intake.count); verification decided: "
                + outcomes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "),
            "ledger: \(records.ledger.values.reduce(0) { $0 + ($1["award"]?.count ?? 0) }) awards, "
                + "\(records.ledger.values.reduce(0) { $0 + ($1["penalty"]?.count ?? 0) }) penalties, "
                + "\(records.ledger.values.reduce(0) { $0 + ($1["bonus"]?.count ?? 0) }) bonuses; notifications: "
                + "\(records.notifications.values.reduce(0) { $0 + $1.values.reduce(0) { $0 + $1.rows } })",
            "dead letters: \(letters.count) new (\(planted.count) planted, \(expectedLetters) expected), "
                + "\(baseline.count) from before the run ignored",
        ]
        return (findings, summary)
    }

    private func load() async throws -> Records {
        var records = Records()
        let prefix = "bench-\(runID)-"
        var runStart = Date()
        try await withDatabase("intake") { connection in
            let rows = try await connection.query(
                """
                SELECT id::text AS id, nip, idempotency_key, status, points, coalesce(reason_code, '') AS reason,
                       submitted_at
                FROM submissions WHERE left(idempotency_key, \(prefix.count)::int) = \(prefix)
                """)
            for row in rows {
                records.intake[try row.decode("id", as: String.self).lowercased()] = (
                    try row.decode("idempotency_key"), try row.decode("nip"), try row.decode("status"),
                    try row.decode("points", as: Int?.self), try row.decode("reason")
                )
                runStart = min(runStart, try row.decode("submitted_at", as: Date.self))
            }
        }
        let ids = Array(Set(records.intake.keys).union(requests.compactMap(\.id)))
        let intakeSince = try await withDatabase("intake") { connection in
            Set(
                try await connection.query(
                    "SELECT id::text AS id FROM submissions WHERE submitted_at >= \(runStart)"
                ).map { try $0.decode("id", as: String.self).lowercased() })
        }
        try await withDatabase("verification") { connection in
            for row in try await connection.query(
                """
                SELECT s.id::text AS id, s.status, d.outcome, coalesce(d.reason_code, '') AS reason,
                       coalesce(d.fraud, false) AS fraud, coalesce(d.sampled_for_audit, false) AS sampled
                FROM submissions s LEFT JOIN decisions d ON d.submission_id = s.id
                WHERE s.id IN (SELECT unnest(\(ids)::uuid[]))
                """)
            {
                records.verification[try row.decode("id", as: String.self).lowercased()] = (
                    try row.decode("status"), try row.decode("outcome", as: String?.self), try row.decode("reason"),
                    try row.decode("fraud"), try row.decode("sampled")
                )
            }
            for row in try await connection.query(
                """
                SELECT submission_id::text AS id, trigger, count(*)::bigint AS n FROM reviews
                WHERE submission_id IN (SELECT unnest(\(ids)::uuid[])) GROUP BY 1, 2
                """)
            {
                records.reviews[try row.decode("id", as: String.self).lowercased(), default: [:]][
                    try row.decode("trigger")] = try row.decode("n", as: Int.self)
            }
            records.verificationEvents = try await Self.outboxEvents(connection, ids: ids)
            // Anything verification received since the run began that intake never stored is a trace of nothing.
            for row in try await connection.query(
                "SELECT id::text AS id FROM submissions WHERE received_at >= \(runStart)")
            {
                let id = try row.decode("id", as: String.self).lowercased()
                if !intakeSince.contains(id) { records.orphans.append(id) }
            }
        }
        try await withDatabase("scoring") { connection in
            for row in try await connection.query(
                """
                SELECT submission_id::text AS id, kind, count(*)::bigint AS n FROM decision_inputs
                WHERE submission_id IN (SELECT unnest(\(ids)::uuid[])) GROUP BY 1, 2
                """)
            {
                records.inputs[try row.decode("id", as: String.self).lowercased(), default: [:]][
                    try row.decode("kind")] =
                    try row.decode("n", as: Int.self)
            }
            for row in try await connection.query(
                """
                SELECT submission_id::text AS id, kind, count(*)::bigint AS n, sum(points)::bigint AS points
                FROM ledger_entries WHERE submission_id IN (SELECT unnest(\(ids)::uuid[])) GROUP BY 1, 2
                """)
            {
                records.ledger[try row.decode("id", as: String.self).lowercased(), default: [:]][
                    try row.decode("kind")] =
                    (try row.decode("n", as: Int.self), try row.decode("points", as: Int.self))
            }
            records.scoringEvents = try await Self.outboxEvents(connection, ids: ids)
        }
        let nips = Dictionary(records.intake.map { ($0.key, $0.value.nip) }, uniquingKeysWith: { a, _ in a })
        try await withDatabase("notification") { connection in
            for row in try await connection.query(
                """
                SELECT submission_id::text AS id, event_type, channel, nip, count(*)::bigint AS n,
                       count(DISTINCT event_id)::bigint AS events
                FROM notifications WHERE submission_id IN (SELECT unnest(\(ids)::uuid[])) GROUP BY 1, 2, 3, 4
                UNION ALL
                SELECT n.submission_id::text, n.event_type, g.channel, g.nip, count(*)::bigint,
                       count(DISTINCT g.event_id)::bigint
                FROM gateway_messages g JOIN notifications n
                  ON n.event_id = g.event_id AND n.nip = g.nip AND n.channel = 'inapp'
                WHERE n.submission_id IN (SELECT unnest(\(ids)::uuid[])) GROUP BY 1, 2, 3, 4
                """)
            {
                let id = try row.decode("id", as: String.self).lowercased()
                let key =
                    "\(try row.decode("event_type", as: String.self))/\(try row.decode("channel", as: String.self))"
                let stranger = try row.decode("nip", as: String.self) != nips[id]
                var value = records.notifications[id, default: [:]][key] ?? (0, 0, 0)
                let n = try row.decode("n", as: Int.self)
                value.rows += n
                value.events += try row.decode("events", as: Int.self)
                if stranger { value.strangers += n }
                records.notifications[id, default: [:]][key] = value
            }
        }
        return records
    }

    /// Outbox rows per submission (`payload.submissionId`) and event type.
    private static func outboxEvents(_ connection: DatabaseConnection, ids: [String]) async throws -> [String: [String:
        Int]]
    {
        var events: [String: [String: Int]] = [:]
        for row in try await connection.query(
            """
            SELECT lower(payload->>'submissionId') AS id, type, count(*)::bigint AS n FROM outbox
            WHERE lower(payload->>'submissionId') IN (SELECT unnest(\(ids)::text[])) GROUP BY 1, 2
            """)
        {
            events[try row.decode("id", as: String.self), default: [:]][try row.decode("type")] =
                try row.decode("n", as: Int.self)
        }
        return events
    }

    // MARK: Totals

    /// The running totals equal the ledger's sums, and a recompute of every ASN from the recorded decisions
    /// (scoring's `POST /v1/recompute`, dry run) finds no difference.
    private func totalsFindings() async throws -> [Finding] {
        var findings: [Finding] = []
        let mismatches = try await withDatabase("scoring") { connection in
            try await connection.query(
                """
                SELECT coalesce(l.nip, t.nip) AS nip, coalesce(l.period, t.period) AS period,
                       coalesce(l.total, 0)::bigint AS ledger, coalesce(t.total, 0)::bigint AS total
                FROM (SELECT nip, period, sum(points) AS total, count(*) AS entries FROM ledger_entries GROUP BY 1, 2) l
                FULL JOIN points_totals t ON t.nip = l.nip AND t.period = l.period
                WHERE l.total IS DISTINCT FROM t.total OR l.entries IS DISTINCT FROM t.entries
                """
            ).map { row in
                "\(try row.decode("nip", as: String.self)) \(try row.decode("period", as: String.self)): ledger "
                    + "\(try row.decode("ledger", as: Int.self)), total \(try row.decode("total", as: Int.self))"
            }
        }
        for mismatch in mismatches {
            findings.append(Finding(kind: "points_totals differ from the ledger", detail: mismatch))
        }
        print("chaos-check: running totals against the ledger's sums: \(mismatches.count) differences")

        let issuer = TokenIssuer(hs256Secret: environment["JWT_HS256_SECRET"]!)
        let token = try await issuer.token(
            nip: DemoCity.adminNIP, name: "Admin BKPP", opd: "BKPP", roles: ["scoring-admin"],
            expiresIn: .seconds(3600))
        let (status, body) = try await DemoHTTP.send(
            "POST", "\(environment["SCORING_URL"]!)/v1/recompute", token: token,
            body: Data(#"{"program":"peduli-sampah","dryRun":true}"#.utf8), contentType: "application/json")
        let report = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any]
        guard status == 200, let report, let differences = report["differenceCount"] as? Int else {
            findings.append(
                Finding(
                    kind: "recompute failed",
                    detail: "HTTP \(status) \(String(decoding: body.prefix(300), as: UTF8.self))"))
            return findings
        }
        print(
            "chaos-check: recompute (dry run) of \(report["asnCompared"] ?? "?") ASN from the recorded decisions: "
                + "\(differences) differences")
        if differences > 0 {
            let examples = (report["differences"] as? [[String: Any]] ?? []).prefix(5)
            for example in examples {
                findings.append(Finding(kind: "recompute differs from the ledger", detail: "\(example)"))
            }
        }
        return findings
    }

    // MARK: Dead letters and the planted poison

    /// Every message in every `.dead` queue of the definitions (read with the operator user, left in place).
    static func deadLetters(_ environment: [String: String]) async throws -> [DeadLetter] {
        let admin = AMQPAdmin(
            configuration: try AMQPConfiguration(url: environment["AMQP_URL_OPERATOR"]!, connectionName: "chaos-check"))
        var letters: [DeadLetter] = []
        for queue in try definitions(root: environment["ASNREWARD_ROOT"]).queues where queue.hasSuffix(".dead") {
            let count = try await admin.messageCount(queue: queue)
            guard count > 0 else { continue }
            for message in try await admin.peek(queue: queue, limit: count + 100) {
                letters.append(DeadLetter(queue: queue, id: message.properties.messageId ?? "(no message id)"))
            }
        }
        return letters
    }

    private func plantedMessages() throws -> [(id: String, routingKey: String, kind: String)] {
        guard let path = options.planted, FileManager.default.fileExists(atPath: path) else { return [] }
        return try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").compactMap { line in
            let fields = line.split(separator: "\t").map(String.init)
            return fields.count == 3 ? (fields[0], fields[1], fields[2]) : nil
        }
    }

    private func baselineLetters() throws -> [DeadLetter] {
        guard let path = options.baseline, FileManager.default.fileExists(atPath: path) else { return [] }
        return try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").compactMap { line in
            let fields = line.split(separator: "\t").map(String.init)
            return fields.count == 2 ? DeadLetter(queue: fields[0], id: fields[1]) : nil
        }
    }

    private static func definitions(root: String? = nil) throws -> (
        queues: [String], bindings: [(key: String, queue: String)]
    ) {
        let base =
            root ?? ProcessInfo.processInfo.environment["ASNREWARD_ROOT"] ?? FileManager.default.currentDirectoryPath
        let data = try Data(contentsOf: URL(fileURLWithPath: "\(base)/deploy/rabbitmq/definitions.json"))
        guard let json = (try JSONSerialization.jsonObject(with: data)) as? [String: Any],
            let queues = json["queues"] as? [[String: Any]], let bindings = json["bindings"] as? [[String: Any]]
        else { throw BenchError("deploy/rabbitmq/definitions.json is not a definitions file") }
        return (
            queues.compactMap { $0["name"] as? String },
            bindings.compactMap { binding in
                guard binding["source"] as? String == "asnreward.events", let key = binding["routing_key"] as? String,
                    let queue = binding["destination"] as? String
                else { return nil }
                return (key, queue)
            }
        )
    }
}
