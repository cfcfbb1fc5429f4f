import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceSupport
import TestSupport

/// `asnreward-bench intake [N] [CONCURRENCY] [--pid PID] [--url URL]`: accepted submissions/s on intake alone, each
/// with one ≈100 KB JPEG (real EXIF, so intake reads EXIF and decodes it for the perceptual hash), a closed loop of
/// CONCURRENCY requests in flight (default 64), against a running intake (`INTAKE_URL` or `--url`) with its
/// PostgreSQL and RabbitMQ. Prints accepted/s, latency percentiles, and CPU-ms per accepted submission of the intake
/// process (`--pid`, else `.run/pids/intake.pid`), PostgreSQL and RabbitMQ (whole machine's CPU too).
///
/// Requests walk a synthetic population of 20,000 ASN (prime stride), so the per-NIP limits (10/min, 20/day) are
/// not what is measured unless N is large; 429s are counted separately.
func runIntakeBench(arguments: [String]) async throws {
    var positional: [Int] = []
    var pid: Int?
    var urlText = ProcessInfo.processInfo.environment["INTAKE_URL"]
    var iterator = arguments.makeIterator()
    while let argument = iterator.next() {
        switch argument {
        case "--pid": pid = iterator.next().flatMap(Int.init)
        case "--url": urlText = iterator.next()
        default:
            guard let number = Int(argument), number > 0 else {
                print("usage: asnreward-bench intake [N] [CONCURRENCY] [--pid PID] [--url URL]")
                return
            }
            positional.append(number)
        }
    }
    let count = positional.first ?? 10_000
    let concurrency = positional.count > 1 ? positional[1] : 64
    let environment = ProcessInfo.processInfo.environment
    guard let secret = environment["JWT_HS256_SECRET"], let url = urlText.flatMap(URL.init(string:)),
        let host = url.host, let port = url.port
    else {
        print("intake bench: set JWT_HS256_SECRET and INTAKE_URL (or --url), e.g. `. .run/env`")
        return
    }
    let root = environment["ASNREWARD_ROOT"] ?? FileManager.default.currentDirectoryPath
    let intakePID = pid ?? ProcessProbe.pid(fromFile: "\(root)/.run/pids/intake.pid")
    let population = SyntheticPopulation(count: 20_000)
    let issuer = TokenIssuer(hs256Secret: secret)
    var tokens: [String] = []
    for person in population.people {
        tokens.append(
            try await issuer.token(
                nip: person.nip, name: person.name, opd: population.opds[person.opd].code, roles: ["asn"]))
    }
    let requests = SubmissionRequests(
        population: population, tokens: tokens, photos: SyntheticJPEG(),
        runID: UInt64.random(in: 1...UInt64(Int64.max)), host: "\(host):\(port)")
    let postgres =
        environment["PGDATA"].flatMap { ProcessProbe.pid(fromFile: "\($0)/postmaster.pid") }
        ?? ProcessProbe.pid(fromFile: "\(root)/.run/postgres/data/postmaster.pid")
    let rabbit = ProcessProbe.pid(
        fromFile: environment["ASNREWARD_RABBIT_PID_FILE"] ?? "\(root)/.run/rabbitmq/rabbitmq.pid")
    print(
        "intake bench: \(count) submissions, \(concurrency) in flight, ≈\(requests.sampleSize / 1024) KB each, "
            + "against \(url) (intake pid \(intakePID.map(String.init) ?? "?"), postgres \(postgres.map(String.init) ?? "?"), "
            + "rabbitmq \(rabbit.map(String.init) ?? "?"))")

    func cpu() -> (intake: Double?, postgres: Double?, rabbit: Double?, machine: Double?) {
        (
            intakePID.flatMap(ProcessProbe.cpuSeconds), postgres.flatMap(ProcessProbe.treeCPUSeconds),
            rabbit.flatMap(ProcessProbe.treeCPUSeconds), machineBusySeconds()
        )
    }
    let before = cpu()
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let load = OpenLoopLoad(
        plan: LoadPlan(count: count, rate: nil, concurrency: concurrency), host: host, port: port,
        loop: group.next(), factory: requests)
    let outcome = try await load.run(deadline: .seconds(Int64(count / 20 + 120)))
    try await group.shutdownGracefully()
    let after = cpu()

    let seconds = Double(outcome.elapsed) / 1e9
    var statuses: [Int: Int] = [:]
    for status in outcome.status { statuses[status, default: 0] += 1 }
    let accepted = statuses[202, default: 0]
    let latencies = outcome.status.indices.filter { outcome.status[$0] == 202 }
        .map { Double(outcome.finished[$0] - outcome.started[$0]) / 1e6 }.sorted()
    func percentile(_ p: Double) -> String {
        latencies.isEmpty ? "-" : format(latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))], 1)
    }
    func perSubmission(_ start: Double?, _ end: Double?) -> String {
        guard let start, let end, accepted > 0 else { return "?" }
        return format((end - start) * 1000 / Double(accepted), 2)
    }
    print(
        "intake bench: \(accepted) accepted of \(count) in \(format(seconds, 2)) s = "
            + "\(format(Double(accepted) / seconds, 0)) accepted/s; statuses \(statuses.sorted { $0.key < $1.key })"
            + (outcome.timedOut ? " (hit the deadline)" : ""))
    print(
        "intake bench: latency ms p50 \(percentile(0.5)) p90 \(percentile(0.9)) p99 \(percentile(0.99)) max \(latencies.last.map { format($0, 1) } ?? "-")"
    )
    print(
        "intake bench: CPU-ms per accepted submission: intake \(perSubmission(before.intake, after.intake)), "
            + "postgres \(perSubmission(before.postgres, after.postgres)), rabbitmq \(perSubmission(before.rabbit, after.rabbit)), "
            + "whole machine \(perSubmission(before.machine, after.machine))")
}

/// Busy CPU seconds of the whole machine (all cores) from `/proc/stat`: user+nice+system+irq+softirq+steal.
private func machineBusySeconds() -> Double? {
    guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
        let line = text.split(separator: "\n").first(where: { $0.hasPrefix("cpu ") })
    else { return nil }
    let fields = line.split(separator: " ").dropFirst().compactMap { Double($0) }
    guard fields.count >= 8 else { return nil }
    return (fields[0] + fields[1] + fields[2] + fields[5] + fields[6] + fields[7]) / ProcessProbe.ticksPerSecond
}
