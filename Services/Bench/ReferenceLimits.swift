import Database
import Foundation
import Logging
import TestSupport

/// The physical limits the end-to-end benchmark sets its figures against, measured after the run on the same
/// servers: RabbitMQ's raw windowed-confirm publish rate (persistent 200-byte messages into one quorum queue) and
/// PostgreSQL's single-row commit rate (pgbench, one client), each with what the run needed of it per submission.
struct ReferenceLimits: Codable, Sendable {
    /// Confirmed messages per second, raw (`runRawPublishBench`).
    var rawPublishPerSecond: Double?
    /// Events the four services published per submission during the run (outbox rows, all databases).
    var messagesPerSubmission: Double
    /// `rawPublishPerSecond / messagesPerSubmission`.
    var brokerCeilingPerSecond: Double?
    /// pgbench single-row commits per second.
    var pgbenchCommitsPerSecond: Double?
    /// Commits per submission in the run, all four databases (net of the idle background).
    var commitsPerSubmission: Double
    /// `pgbenchCommitsPerSecond / commitsPerSubmission`.
    var databaseCeilingPerSecond: Double?

    /// Measures both references; a reference that cannot be measured (no `AMQP_URL_TEST`, no pgbench) is `nil`
    /// and said so.
    static func measure(
        messagesPerSubmission: Double, commitsPerSubmission: Double, amqpURL: String?, logger: Logger
    ) async -> ReferenceLimits {
        var raw: Double?
        if let amqpURL {
            do { raw = try await runRawPublishBench(url: amqpURL, count: 20_000) } catch {
                print("e2e: the raw publish rate could not be measured: \(error)")
            }
        } else {
            print("e2e: AMQP_URL_TEST is not set: no raw publish rate")
        }
        var pgbench: Double?
        do { pgbench = try await DatabaseBench.pgbenchSingleRowCommits(transactions: 5_000, logger: logger) } catch {
            print("e2e: pgbench could not be run: \(error)")
        }
        return ReferenceLimits(
            rawPublishPerSecond: raw, messagesPerSubmission: messagesPerSubmission,
            brokerCeilingPerSecond: raw.map { $0 / max(messagesPerSubmission, 1e-9) },
            pgbenchCommitsPerSecond: pgbench, commitsPerSubmission: commitsPerSubmission,
            databaseCeilingPerSecond: pgbench.map { $0 / max(commitsPerSubmission, 1e-9) })
    }

    /// Outbox rows created since `since` in the four services' databases.
    static func messagesPublished(since: Date, adminURL: String, logger: Logger) async throws -> Int {
        var total = 0
        for database in ["intake", "verification", "scoring", "notification"] {
            let connection = try await DatabaseConnection.connect(
                configuration: DatabaseConfiguration(url: TestDatabase.url(adminURL, database: database)),
                logger: logger)
            do {
                let rows = try await connection.query(
                    "SELECT count(*)::int8 AS n FROM outbox WHERE created_at >= \(since)")
                total += try rows.first?.decode("n", as: Int.self) ?? 0
                await connection.close()
            } catch {
                await connection.close()
                throw error
            }
        }
        return total
    }
}
