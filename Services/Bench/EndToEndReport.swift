import Foundation
import TestSupport

/// The figures of one end-to-end run, printed as a summary and written as JSON (`.run/bench/e2e-<time>.json`).
struct EndToEndReport: Codable, Sendable {
    /// Percentiles of a latency distribution in milliseconds.
    struct Percentiles: Codable, Sendable {
        var count: Int
        var p50: Double
        var p95: Double
        var p99: Double
        var max: Double

        init(_ seconds: [Double]) {
            let sorted = seconds.sorted()
            func at(_ q: Double) -> Double {
                sorted.isEmpty
                    ? 0
                    : sorted[min(sorted.count - 1, Int((q * Double(sorted.count)).rounded(.up)) - 1)]
                        * 1000
            }
            count = sorted.count
            p50 = at(0.50)
            p95 = at(0.95)
            p99 = at(0.99)
            max = (sorted.last ?? 0) * 1000
        }
    }

    /// CPU used by one process (or the PostgreSQL server) during the run.
    struct CPU: Codable, Sendable {
        var seconds: Double
        var msPerSubmission: Double
        var shareOfMachine: Double
    }

    /// One service database's activity during the run, net of the idle background and of the bench's own queries.
    struct DatabaseActivity: Codable, Sendable {
        var commits: Double
        var commitsPerSubmission: Double
        var statements: Double?
        var statementsPerSubmission: Double?
        var rowsWrittenPerSubmission: Double
        var rowsFetchedPerSubmission: Double
        var idleCommitsPerSecond: Double
        var idleStatementsPerSecond: Double?
        var statementMsPerSubmission: Double?
    }

    /// One normalised statement's share of the run (`pg_stat_statements` deltas).
    struct TopStatement: Codable, Sendable {
        var database: String
        var callsPerSubmission: Double
        var msPerSubmission: Double
        var meanMs: Double
        var rowsPerCall: Double
        var shareOfStatementTime: Double
        var query: String
    }

    /// Memory of one process in MiB.
    struct Memory: Codable, Sendable {
        var peakRSSMiB: Double?
        var rssMiB: Double
    }

    var startedAt: String
    var submissions: Int
    var offeredRate: Double?
    var concurrency: Int
    var population: Int
    var requestBytes: Int
    var accepted: Int
    var failedByStatus: [String: Int]
    var lateStarts: Int
    var peakInFlight: Int
    var sendSeconds: Double
    var acceptedPerSecond: Double
    var sendTimedOut: Bool
    var notified: Int
    var endToEndSeconds: Double
    var endToEndPerSecond: Double
    var acceptLatencyMs: Percentiles
    var acceptLatencyFromScheduleMs: Percentiles
    var notificationLatencyMs: Percentiles
    /// From the 202 to the award's `recorded_at` in scoring's ledger (approved submissions).
    var pointsLatencyMs: Percentiles
    /// Requests that needed more than one attempt.
    var retried: Int
    /// Per planted kind (honest, the four frauds, no EXIF): verification's decisions of the accepted ones.
    var planted: [String: [String: Int]]
    var windowSeconds: Double
    var cores: Int
    var cpuSecondsAvailable: Double
    var cpuSecondsUsedByStack: Double
    var cpuSecondsUsedByMachine: Double
    var cpu: [String: CPU]
    var databases: [String: DatabaseActivity]
    var statementsSource: String
    var walBytesPerSubmission: Double
    var memory: [String: Memory]
    /// Whether the peaks are the run's (`VmHWM` reset at its start) or since each process started.
    var peakRSSScope: String
    var topStatements: [TopStatement]
    /// The photo work's limit, measured after the run.
    var photoWork: PhotoWorkLimit
    /// `cores × 1000 / (machine CPU-ms per submission)`: what this machine could settle per second at this run's
    /// cost per submission, if every core were busy.
    var ceilingAtThisCostPerSecond: Double
    /// The broker's and the database's raw rates, measured after the run.
    var limits: ReferenceLimits?

    static func make(
        options: EndToEndOptions, outcome: LoadOutcome,
        accepted: [String: (at: Double, latency: Double, queued: Double)], notifications: [String: Double],
        completedWall: Double, idle: (start: ResourceSnapshot, end: ResourceSnapshot, seconds: Double),
        before: ResourceSnapshot, afterCPU: ResourceSnapshot, afterDB: ResourceSnapshot, ownNotificationQueries: Int,
        statements: Bool, processes: StackProcesses, population: Int, photoBytes: Int, peaksReset: Bool,
        points: [String: Double], planted: [String: [String: Int]], photoWork: PhotoWorkLimit
    ) -> EndToEndReport {
        let n = Double(max(accepted.count, 1))
        var failed: [String: Int] = [:]
        for status in outcome.status where !(200..<300).contains(status) {
            failed[status == 0 ? "connection" : String(status), default: 0] += 1
        }
        var notificationLatencies: [Double] = []
        var lastNotification = outcome.wallStart
        for (id, submission) in accepted {
            guard let created = notifications[id] else { continue }
            notificationLatencies.append(created - submission.at)
            lastNotification = Swift.max(lastNotification, created)
        }
        let notified = notificationLatencies.count
        let pointsLatencies = accepted.compactMap { id, submission in points[id].map { $0 - submission.at } }
        let endToEndSeconds = Swift.max(lastNotification - outcome.wallStart, 1e-9)

        let window = afterCPU.taken - before.taken
        let cores = ProcessProbe.cores
        var cpu: [String: CPU] = [:]
        for (name, after) in afterCPU.cpu {
            guard let start = before.cpu[name] else { continue }
            let seconds = after - start
            cpu[name] = CPU(
                seconds: seconds, msPerSubmission: seconds * 1000 / n,
                shareOfMachine: seconds / (Double(cores) * window))
        }
        let stack = cpu.values.reduce(0) { $0 + $1.seconds }

        let dbWindow = afterDB.taken - before.taken
        var databases: [String: DatabaseActivity] = [:]
        for (name, after) in afterDB.databases {
            guard let start = before.databases[name], let idleStart = idle.start.databases[name],
                let idleEnd = idle.end.databases[name]
            else { continue }
            let idleCommits = Double(idleEnd.commits - idleStart.commits) / idle.seconds
            let own = name == "notification" ? Double(ownNotificationQueries) : 0
            let commits = Swift.max(0, Double(after.commits - start.commits) - idleCommits * dbWindow - own)
            var statementCount: Double?
            var idleStatements: Double?
            if let afterCalls = after.statements, let startCalls = start.statements,
                let idleStartCalls = idleStart.statements, let idleEndCalls = idleEnd.statements
            {
                idleStatements = Double(idleEndCalls - idleStartCalls) / idle.seconds
                statementCount = Swift.max(0, Double(afterCalls - startCalls) - idleStatements! * dbWindow)
            }
            databases[name] = DatabaseActivity(
                commits: commits, commitsPerSubmission: commits / n, statements: statementCount,
                statementsPerSubmission: statementCount.map { $0 / n },
                rowsWrittenPerSubmission: Double(after.rowsWritten - start.rowsWritten) / n,
                rowsFetchedPerSubmission: Double(after.rowsFetched - start.rowsFetched) / n,
                idleCommitsPerSecond: idleCommits, idleStatementsPerSecond: idleStatements)
        }

        // Where PostgreSQL's executor time went, by statement (the window includes the settle time after the run).
        var top: [TopStatement] = []
        var statementMs: [String: Double] = [:]
        for (key, after) in afterDB.statementTotals {
            let start = before.statementTotals[key]
            let calls = after.calls - (start?.calls ?? 0)
            let milliseconds = after.milliseconds - (start?.milliseconds ?? 0)
            guard calls > 0 else { continue }
            statementMs[after.database, default: 0] += milliseconds
            top.append(
                TopStatement(
                    database: after.database, callsPerSubmission: Double(calls) / n,
                    msPerSubmission: milliseconds / n, meanMs: milliseconds / Double(calls),
                    rowsPerCall: Double(after.rows - (start?.rows ?? 0)) / Double(calls), shareOfStatementTime: 0,
                    query: after.query))
        }
        let allStatementMs = Swift.max(statementMs.values.reduce(0, +), 1e-9)
        top.sort { $0.msPerSubmission > $1.msPerSubmission }
        top = Array(top.prefix(15))
        for index in top.indices { top[index].shareOfStatementTime = top[index].msPerSubmission * n / allStatementMs }
        for (name, milliseconds) in statementMs { databases[name]?.statementMsPerSubmission = milliseconds / n }

        var memory: [String: Memory] = [:]
        for (name, pid) in processes.services {
            if let m = ProcessProbe.memoryMiB(pid) { memory[name] = Memory(peakRSSMiB: m.peak, rssMiB: m.current) }
        }
        if let pid = processes.rabbit, let m = ProcessProbe.memoryMiB(pid) {
            memory["rabbitmq"] = Memory(peakRSSMiB: m.peak, rssMiB: m.current)
        }
        if let pid = processes.postmaster {
            memory["postgres"] = Memory(peakRSSMiB: nil, rssMiB: ProcessProbe.treePSSMiB(pid))
        }
        if let m = ProcessProbe.memoryMiB(Int(ProcessInfo.processInfo.processIdentifier)) {
            memory["load-generator"] = Memory(peakRSSMiB: m.peak, rssMiB: m.current)
        }

        let started = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: outcome.wallStart))
        return EndToEndReport(
            startedAt: started, submissions: options.count, offeredRate: options.rate,
            concurrency: options.concurrency, population: population, requestBytes: photoBytes,
            accepted: accepted.count, failedByStatus: failed, lateStarts: outcome.lateStarts,
            peakInFlight: outcome.peakInFlight, sendSeconds: Double(outcome.elapsed) / 1e9,
            acceptedPerSecond: Double(accepted.count) / (Double(outcome.elapsed) / 1e9),
            sendTimedOut: outcome.timedOut, notified: notified, endToEndSeconds: endToEndSeconds,
            endToEndPerSecond: Double(notified) / endToEndSeconds,
            acceptLatencyMs: Percentiles(accepted.values.map { $0.latency }),
            acceptLatencyFromScheduleMs: Percentiles(accepted.values.map { $0.queued }),
            notificationLatencyMs: Percentiles(notificationLatencies), pointsLatencyMs: Percentiles(pointsLatencies),
            retried: outcome.attempts.filter { $0 > 1 }.count, planted: planted, windowSeconds: window, cores: cores,
            cpuSecondsAvailable: Double(cores) * window, cpuSecondsUsedByStack: stack,
            cpuSecondsUsedByMachine: afterCPU.machineBusy - before.machineBusy, cpu: cpu, databases: databases,
            statementsSource: statements
                ? "pg_stat_statements.calls (roles other than the bench's)"
                : "unavailable: pg_stat_statements not loaded (see rowsWritten/rowsFetched)",
            walBytesPerSubmission: (afterDB.walBytes - before.walBytes) / n, memory: memory,
            peakRSSScope: peaksReset ? "this run (VmHWM reset at its start)" : "since each process started",
            topStatements: top, photoWork: photoWork,
            ceilingAtThisCostPerSecond: Double(cores) * 1000
                / Swift.max((afterCPU.machineBusy - before.machineBusy) * 1000 / n, 1e-9))
    }

    /// Prints the summary.
    func print() {
        let out = { (line: String) in Swift.print("e2e: " + line) }
        out("──── summary ────")
        out(
            "offered \(offeredRate.map { format($0, 0) + "/s" } ?? "closed loop") · cap \(concurrency) in flight"
                + " · \(submissions) submissions of \(requestBytes / 1024) KB · \(population) ASN")
        out(
            "accepted \(accepted)/\(submissions) = \(format(acceptedPerSecond, 0))/s over \(format(sendSeconds, 2)) s"
                + " · late starts \(lateStarts) · peak in flight \(peakInFlight)"
                + (failedByStatus.isEmpty ? "" : " · failed \(failedByStatus)"))
        out(
            "end to end \(notified) settled (points, rejection or review, notified) in \(format(endToEndSeconds, 2)) s = \(format(endToEndPerSecond, 0))/s"
                + (notified < accepted ? " (\(accepted - notified) NOT settled)" : ""))
        if retried > 0 { out("\(retried) requests needed a retry (same Idempotency-Key and body)") }
        out("planted → verification's decision of the accepted ones:")
        for kind in planted.keys.sorted() {
            let counts = planted[kind]!.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
            out("  \(kind.padding(toLength: 20, withPad: " ", startingAt: 0)) " + counts.joined(separator: ", "))
        }
        out("latency ms            p50      p95      p99      max")
        for (label, p) in [
            ("start→202        ", acceptLatencyMs), ("scheduled→202    ", acceptLatencyFromScheduleMs),
            ("202→points       ", pointsLatencyMs), ("202→notification ", notificationLatencyMs),
        ] {
            out(
                "  \(label)\(pad(p.p50)) \(pad(p.p95)) \(pad(p.p99)) \(pad(p.max))")
        }
        out(
            "CPU: \(format(cpuSecondsUsedByStack, 1)) s used by the stack + load generator, "
                + "\(format(cpuSecondsUsedByMachine, 1)) s by the whole machine, of \(format(cpuSecondsAvailable, 1)) s"
                + " available (\(cores) cores × \(format(windowSeconds, 1)) s)")
        out("  process          CPU s   ms/submission  share of machine")
        for name in cpu.keys.sorted(by: { cpu[$0]!.seconds > cpu[$1]!.seconds }) {
            let c = cpu[name]!
            out(
                "  \(name.padding(toLength: 15, withPad: " ", startingAt: 0))\(pad(c.seconds, 1)) \(pad(c.msPerSubmission, 2, width: 15))"
                    + " \(pad(c.shareOfMachine * 100, 1, width: 12))%")
        }
        let machineMs = cpuSecondsUsedByMachine * 1000 / Double(Swift.max(accepted, 1))
        out(
            "limits on this machine: the photo work alone (EXIF, 1/8-scale TurboJPEG decode, dHash; "
                + "\(photoWork.photos) photos, one thread) costs \(format(photoWork.cpuMsPerPhoto, 2)) CPU-ms per photo"
                + " → at most \(format(photoWork.ceilingPerSecond, 0))/s on \(cores) cores doing nothing else;"
                + " this run cost \(format(machineMs, 2)) CPU-ms per submission across the machine"
                + " → at most \(format(ceilingAtThisCostPerSecond, 0))/s with every core busy")
        if let limits {
            /// One reference: its raw rate, what the run needed of it per submission, and the ceiling that gives.
            func reference(_ label: String, _ rate: Double?, _ unit: String, _ needed: String, _ ceiling: Double?) {
                let measured = rate.map { format($0, 0) + " " + unit } ?? "not measured"
                let share = ceiling.map { " (this run: \(format(endToEndPerSecond / $0 * 100, 1)) %)" } ?? ""
                out(
                    "  \(label): \(measured); the run \(needed) per submission → at most "
                        + (ceiling.map { format($0, 0) + "/s" } ?? "—") + share)
            }
            reference(
                "RabbitMQ raw windowed-confirm publish", limits.rawPublishPerSecond, "confirmed messages/s",
                "published \(format(limits.messagesPerSubmission, 2)) events", limits.brokerCeilingPerSecond)
            reference(
                "PostgreSQL pgbench single-row commits (one client)", limits.pgbenchCommitsPerSecond, "commits/s",
                "committed \(format(limits.commitsPerSubmission, 2)) times", limits.databaseCeilingPerSecond)
        }
        out("  per submission   commits  statements  rows written  rows fetched   (net of idle background)")
        for name in databases.keys.sorted() {
            let d = databases[name]!
            out(
                "  \(name.padding(toLength: 15, withPad: " ", startingAt: 0))\(pad(d.commitsPerSubmission, 2))"
                    + " \(pad(d.statementsPerSubmission ?? .nan, 2, width: 11))"
                    + " \(pad(d.rowsWrittenPerSubmission, 2, width: 13)) \(pad(d.rowsFetchedPerSubmission, 2, width: 13))"
            )
        }
        out("  WAL \(format(walBytesPerSubmission / 1024, 1)) KiB per submission")
        if !topStatements.isEmpty {
            out(
                "  statement time per submission (executor ms, pg_stat_statements): "
                    + databases.keys.sorted().map {
                        "\($0) \(format(databases[$0]?.statementMsPerSubmission ?? 0, 2))"
                    }.joined(separator: ", "))
            out("  top statements   calls/sub   ms/sub  mean ms  share  query")
            for statement in topStatements.prefix(10) {
                out(
                    "  \(statement.database.padding(toLength: 13, withPad: " ", startingAt: 0))"
                        + "\(pad(statement.callsPerSubmission, 2, width: 11)) \(pad(statement.msPerSubmission, 3))"
                        + " \(pad(statement.meanMs, 3)) \(pad(statement.shareOfStatementTime * 100, 0, width: 5))%  "
                        + String(statement.query.prefix(90)))
            }
        }
        out("  memory MiB       peak RSS   RSS now   (peak: \(peakRSSScope))")
        for name in memory.keys.sorted() {
            let m = memory[name]!
            out(
                "  \(name.padding(toLength: 15, withPad: " ", startingAt: 0))\(pad(m.peakRSSMiB ?? .nan, 0, width: 9))"
                    + " \(pad(m.rssMiB, 0, width: 9))"
                    + (name == "postgres" ? " (PSS summed over the server's processes)" : ""))
        }
    }

    private func pad(_ value: Double, _ decimals: Int = 1, width: Int = 8) -> String {
        let text = value.isNaN ? "—" : format(value, decimals)
        return String(repeating: " ", count: Swift.max(0, width - text.count)) + text
    }
}
