import Database
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ServiceSupport
import TestSupport
import Testing

@testable import Intake

/// `POST /v1/submissions` talks to PostgreSQL once: one statement, one transaction, answered without a re-read.
@Suite("Submission round trips")
struct SubmissionRoundTripTests {
    typealias F = IntakeFixture

    @Test("a new submission, its replay and a conflicting reuse each take one round trip; the writes are one statement")
    func oneRoundTripPerPost() async throws {
        try await F.withIntakeApp(evidenceStore: InMemoryEvidenceStore()) { client, pool, _, submissions in
            // Every row written to the three tables logs its transaction and the statement (by its start time).
            try await pool.withConnection { connection in
                try await connection.execute(
                    unsafeSQL: """
                        CREATE TABLE write_log (tbl text, xid xid8, statement_at timestamptz);
                        CREATE FUNCTION log_write() RETURNS trigger LANGUAGE plpgsql AS $$
                        BEGIN
                            INSERT INTO write_log VALUES (TG_TABLE_NAME, pg_current_xact_id(), statement_timestamp());
                            RETURN NULL;
                        END $$;
                        CREATE TRIGGER log_submissions AFTER INSERT ON submissions
                            FOR EACH ROW EXECUTE FUNCTION log_write();
                        CREATE TRIGGER log_evidence AFTER INSERT ON submission_evidence
                            FOR EACH ROW EXECUTE FUNCTION log_write();
                        CREATE TRIGGER log_outbox AFTER INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION log_write();
                        """)
            }
            let token = try await F.token()
            let headers = F.headers(token: token, idempotencyKey: "satu-\(UUID().uuidString)")
            let photos = [F.jpeg(), F.png()]
            let json = F.submissionJSON()

            let created = try await client.execute(
                uri: "/v1/submissions", method: .post, headers: headers, body: F.body(json: json, photos: photos))
            #expect(created.status == .accepted)
            #expect(submissions.roundTrips.value == 1)
            let log = try await pool.withConnection { connection in
                try await connection.query(
                    """
                    SELECT count(*) AS n, count(DISTINCT xid::text) AS transactions,
                           count(DISTINCT statement_at) AS statements,
                           array_agg(tbl ORDER BY tbl) AS tables
                    FROM write_log
                    """
                ).first
            }
            let row = try #require(log)
            #expect(try row.decode("n", as: Int.self) == 4)
            #expect(try row.decode("transactions", as: Int.self) == 1)
            #expect(try row.decode("statements", as: Int.self) == 1)
            #expect(
                try row.decode("tables", as: [String].self)
                    == ["outbox", "submission_evidence", "submission_evidence", "submissions"])
            // The answer is built from data in hand and matches what a later read shows.
            let createdJSON = try JSONBody(created)
            let id = try #require(createdJSON.string("id"))
            let read = try await client.execute(
                uri: "/v1/submissions/\(id)", method: .get, headers: [.authorization: "Bearer \(token)"])
            let readJSON = try JSONBody(read)
            for key in ["id", "status", "activity", "place", "activityAt", "submittedAt", "updatedAt", "note"] {
                #expect(createdJSON.string(key) == readJSON.string(key), "\(key)")
            }
            #expect(createdJSON["quantity"] as? Double == readJSON["quantity"] as? Double)
            #expect(
                (createdJSON["evidence"] as? [[String: Any]])?.compactMap { $0["url"] as? String }
                    == (readJSON["evidence"] as? [[String: Any]])?.compactMap { $0["url"] as? String })

            let replay = try await client.execute(
                uri: "/v1/submissions", method: .post, headers: headers, body: F.body(json: json, photos: photos))
            #expect(replay.status == .ok)
            #expect(replay.headers[IntakeHeaders.idempotentReplayed] == "true")
            #expect(try JSONBody(replay).string("id") == id)
            #expect(((try JSONBody(replay))["evidence"] as? [[String: Any]])?.count == 2)
            #expect(submissions.roundTrips.value == 2)

            let conflicting = try await client.execute(
                uri: "/v1/submissions", method: .post, headers: headers,
                body: F.body(json: F.submissionJSON(quantity: 5), photos: photos))
            #expect(conflicting.status == .unprocessableContent)
            #expect(submissions.roundTrips.value == 3)
            #expect(try await count(pool, "write_log") == 4)
        }
    }

    /// Two commits: the read-only abuse-limit check (before any photo is stored, so a refused request stores
    /// nothing) and the one write statement. The program comes from the process's cache (refreshed every few
    /// seconds), so it adds no commit to most requests.
    @Test("one POST commits one write transaction plus the read-only limit check (pg_stat_database.xact_commit)")
    func oneCommitPerPost() async throws {
        // One pooled connection, so forcing its statistics out also flushes what the POST did.
        try await F.withIntakeApp(
            evidenceStore: InMemoryEvidenceStore(), programRefresh: .seconds(600), poolSize: 1
        ) { client, pool, _, _ in
            let admin = try await DatabaseConnection.connect(
                configuration: DatabaseConfiguration(url: try TestDatabase.adminURL(), poolSize: 1), logger: F.logger)
            let database = try await pool.withConnection { connection in
                try await connection.query("SELECT current_database() AS name").first?.decode("name", as: String.self)
            }
            let name = try #require(database)
            // Flushes the pooled backend's statistics (the flush query commits once itself) and reads the counters
            // from another database, so reading does not count.
            @Sendable func counters() async throws -> (commits: Int, rollbacks: Int) {
                try await pool.withConnection { connection in
                    // Reading a table leaves relation statistics pending, without which PostgreSQL skips the flush
                    // and this query's own commit would be counted later (or not at all in this window).
                    try await connection.query(
                        "SELECT pg_stat_force_next_flush(), (SELECT count(*) FROM outbox) AS n")
                }
                let row = try await admin.query(
                    """
                    SELECT xact_commit, xact_rollback FROM pg_stat_database
                    WHERE datname = \(name)
                    """
                ).first
                return (
                    try row?.decode("xact_commit", as: Int.self) ?? -1,
                    try row?.decode("xact_rollback", as: Int.self) ?? -1
                )
            }
            // Commits in the test database during one POST, the fewest over up to three tries: autovacuum may
            // visit a young database and commit there too, now and then.
            @Sendable func commits(
                _ post: @Sendable () async throws -> HTTPResponse.Status
            ) async throws -> (commits: Int, rollbacks: Int) {
                var fewest = (commits: Int.max, rollbacks: Int.max)
                for _ in 0..<3 {
                    let before = try await counters()
                    let status = try await post()
                    let after = try await counters()
                    #expect(status.code < 300)
                    // The flush query in counters() is one commit of its own.
                    let seen = (after.commits - before.commits - 1, after.rollbacks - before.rollbacks)
                    if seen.0 < fewest.commits { fewest = seen }
                    if fewest.commits <= 2 { break }
                }
                return fewest
            }
            let token = try await F.token()
            let replayHeaders = F.headers(token: token)
            let body = F.body(photos: [F.jpeg(), F.png(), F.jpeg()])
            let created = try await commits {
                try await client.execute(
                    uri: "/v1/submissions", method: .post, headers: F.headers(token: token), body: body
                ).status
            }
            #expect(created.commits == 2)
            #expect(created.rollbacks == 0)

            let first = try await client.execute(
                uri: "/v1/submissions", method: .post, headers: replayHeaders, body: body)
            #expect(first.status == .accepted)
            let replayed = try await commits {
                let replay = try await client.execute(
                    uri: "/v1/submissions", method: .post, headers: replayHeaders, body: body)
                #expect(replay.status == .ok)
                return replay.status
            }
            #expect(replayed.commits == 2)
            #expect(replayed.rollbacks == 0)
            await admin.close()
        }
    }
}
