import AMQP
import Contracts
import Database
import Eventing
import Foundation
import ServiceLifecycle
import ServiceSupport
import TestSupport
import Testing

@testable import Verification

/// Benchmarks of the automatic checks with 1,000,000 stored perceptual hashes, on the real stack. Off by default
/// (they take minutes): `VERIFICATION_BENCH=1 swift test --skip-build --filter VerificationBenchmarks`.
/// `VERIFICATION_BENCH_HASHES` and `VERIFICATION_BENCH_SUBMISSIONS` change the sizes (defaults 1,000,000 and 10,000),
/// `VERIFICATION_BENCH_BATCH` the consumer's batch size (default: the service's).
@Suite(
    "VerificationBenchmarks", .serialized,
    .enabled(if: ProcessInfo.processInfo.environment["VERIFICATION_BENCH"] == "1"))
struct VerificationBenchmarks {
    static let hashes = Int(ProcessInfo.processInfo.environment["VERIFICATION_BENCH_HASHES"] ?? "") ?? 1_000_000
    static let submissions = Int(ProcessInfo.processInfo.environment["VERIFICATION_BENCH_SUBMISSIONS"] ?? "") ?? 10_000

    /// Stores `count` uniformly random hashes (as other photos) and vacuums the table.
    static func seedHashes(_ count: Int, pool: DatabasePool) async throws {
        let owner = VF.received(nip: VF.budi, opd: "DISDIK")
        try await VF.check([owner], pool: pool)
        // In chunks of 50,000: each statement stays well inside the pool's statement timeout.
        for start in stride(from: 1, through: count, by: 50_000) {
            let end = min(start + 49_999, count)
            try await pool.withConnection { connection in
                try await connection.query(
                    """
                    INSERT INTO perceptual_hashes (sha256, submission_id, nip, hash)
                    SELECT md5(g::text) || md5((-g)::text), \(owner.submissionId), \(VF.budi), h
                    FROM generate_series(\(start), \(end)) AS g,
                         LATERAL (SELECT ((floor(random() * 4294967296)::bigint << 32)
                                          | floor(random() * 4294967296)::bigint) + g * 0 AS h) AS r
                    """)
            }
        }
        try await pool.withConnection { try await $0.execute(unsafeSQL: "VACUUM ANALYZE perceptual_hashes") }
    }

    @Test("near-duplicate lookup latency with 1,000,000 stored hashes")
    func lookupLatency() async throws {
        try await VF.withDatabase { pool in
            try await VF.seed(pool)
            let started = ContinuousClock.now
            try await Self.seedHashes(Self.hashes, pool: pool)
            print("seeded \(Self.hashes) hashes in \(ContinuousClock.now - started)")
            // The consumer's in-memory index (what a batch uses), loaded from the table as at start.
            let memory = PerceptualIndex()
            let loadStart = ContinuousClock.now
            try await pool.withConnection { try await memory.catchUp(in: $0) }
            let loaded = ContinuousClock.now - loadStart
            let probes = try await pool.withConnection { connection in
                try await connection.query("SELECT hash FROM perceptual_hashes ORDER BY random() LIMIT 500")
                    .map { try $0.decode("hash", as: Int64.self) ^ (1 << 3 | 1 << 19 | 1 << 20 | 1 << 40 | 1 << 62) }
            }
            var memorySamples: [Duration] = []
            var memoryHits = 0
            for probe in probes + probes.map({ $0 ^ 0x0F0F_0F0F }) {
                let start = ContinuousClock.now
                let matches = memory.lookup([probe], maxDistance: 6)
                memorySamples.append(ContinuousClock.now - start)
                if !matches.isEmpty { memoryHits += 1 }
            }
            memorySamples.sort()
            print(
                "in-memory lookup at \(memory.count) hashes (loaded in \(loaded)): "
                    + "p50 \(memorySamples[memorySamples.count / 2]), p99 \(memorySamples[memorySamples.count * 99 / 100]), "
                    + "hits \(memoryHits)/\(memorySamples.count) (half are 5 bits from a stored hash)")
            #expect(memoryHits >= 500)
        }
    }

    @Test("automatic checks through the consumer with 1,000,000 stored hashes")
    func consumerThroughput() async throws {
        let prefix = TestBroker.uniqueName("vbench")
        let queues = (submissions: "\(prefix).submissions", reference: "\(prefix).reference")
        let admin = try TestBroker.admin()
        let topology = Topology(
            eventsExchange: "\(prefix).events",
            queues: [
                QueueSpecs.submissions(name: queues.submissions), QueueSpecs.reference(name: queues.reference),
                // Where scoring and intake would take the decisions from.
                QueueSpec(
                    name: "\(prefix).decisions",
                    bindings: [
                        SubmissionVerified.eventName, SubmissionRejected.eventName, ReviewAssigned.eventName,
                    ]),
            ])
        try await admin.declare(topology)
        defer { Task { try? await admin.delete(topology) } }
        try await withTestDatabaseURL(service: "verification", migrations: try verificationResources.allMigrations()) {
            url in
            var configuration = VF.configuration
            configuration.databaseURL = url
            configuration.amqpURL = try TestBroker.url()
            configuration.eventsExchange = "\(prefix).events"
            let count = Self.submissions
            let exchange = "\(prefix).events"
            let publisher = Publisher(
                configuration: try TestBroker.configuration(name: "\(prefix)-pub"), topology: topology,
                logger: VF.logger)
            func publish(_ events: [CloudEvent]) async throws {
                try await publisher.publishConfirmed(events, exchange: exchange)
            }
            let nips = (0..<count).map { String(format: "19900101201503%04d", $0 % 10_000) }
            var reference: [CloudEvent] = [try CloudEvent(VF.program(sampleRate: 0.05), from: .scoring)]
            for nip in Set(nips) { reference.append(try CloudEvent(VF.enrolled(nip, opd: "DINKES"), from: .scoring)) }
            let warmUp = VF.received(nip: VF.budi, opd: "DISDIK")
            var submissions: [CloudEvent] = []
            for index in 0..<count {
                let submission = VF.received(nip: nips[index], photos: [VF.photo(exif: VF.exif())])
                submissions.append(try CloudEvent(submission, from: .intake))
            }

            let service = try VerificationService(
                configuration: configuration, logger: VF.logger,
                settings: VerificationSettings(lease: .seconds(60), intakeURL: nil), queueNames: queues,
                submissionBatch: Int(ProcessInfo.processInfo.environment["VERIFICATION_BENCH_BATCH"] ?? "")
                    ?? VerificationService.submissionBatch,
                submissionConsumers: Int(ProcessInfo.processInfo.environment["VERIFICATION_BENCH_CONSUMERS"] ?? "")
                    ?? VerificationService.submissionConsumers)
            try await service.backbone.migrate()
            let pool = service.backbone.pool
            // The pool opens connections on demand; the service group closes it at the end.
            try await Self.seedHashes(Self.hashes, pool: pool)
            func decided() async -> Int {
                (try? await pool.withConnection {
                    try await $0.query("SELECT count(*) AS n FROM decisions").first?.decode("n", as: Int.self)
                }) ?? 0
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await publisher.run() }
                for part in service.backbone.services { group.addTask { try await part.run() } }
                defer { group.cancelAll() }
                // Warm up: the roster and program, and one submission, which loads the hashes into memory.
                try await publish(reference)
                let loadStart = ContinuousClock.now
                try await publish([try CloudEvent(warmUp, from: .intake)])
                #expect(await eventually(timeout: .seconds(600)) { await decided() >= 2 })
                print(
                    "warm-up: \(Self.hashes) hashes loaded and one submission checked in \(ContinuousClock.now - loadStart)"
                )

                let started = ContinuousClock.now
                try await publish(submissions)
                let published = ContinuousClock.now - started
                let done = await eventually(timeout: .seconds(1800)) { await decided() >= count + 2 }
                let elapsed = ContinuousClock.now - started
                #expect(done)
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                let outcomes = try await pool.withConnection { connection in
                    try await connection.query("SELECT outcome, count(*) AS n FROM decisions GROUP BY 1 ORDER BY 1")
                        .map { "\(try $0.decode("outcome", as: String.self))=\(try $0.decode("n", as: Int.self))" }
                }
                print("published \(count) submissions in \(published)")
                print(
                    "checked \(count) submissions through the consumer with \(Self.hashes) stored hashes in "
                        + "\(elapsed): \(Int(Double(count) / seconds)) submissions/s (\(outcomes.joined(separator: ", ")))"
                )
            }
        }
    }
}
