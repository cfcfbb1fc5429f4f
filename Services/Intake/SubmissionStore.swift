import Contracts
import Database
import Eventing
import Foundation
import NIOConcurrencyHelpers

/// The `submissions` and `submission_evidence` tables: storing new submissions with their
/// `submission.received` event, and reading them back for the ASN and for staff.
package struct SubmissionStore: Sendable {
    /// The service's pool.
    package let pool: DatabasePool
    /// CloudEvents source of published events (`/asnreward/intake`).
    package let source: String
    /// Program every submission belongs to for now (the walking skeleton runs one program).
    package let program: String
    /// Round trips to PostgreSQL made by ``create(_:evidence:submitter:idempotencyKey:requestHash:id:now:)``
    /// (one per submission, two when a concurrent request with the same key wins).
    package let roundTrips = RoundTripCounter()

    /// Creates the store.
    package init(pool: DatabasePool, source: String = ServiceName.intake.eventSource, program: String = "peduli-sampah")
    {
        self.pool = pool
        self.source = source
        self.program = program
    }

    /// What ``create(_:evidence:submitter:idempotencyKey:requestHash:id:now:)`` did.
    package enum CreateOutcome: Sendable, Equatable {
        /// A new submission was stored and its event enqueued.
        case created(StoredSubmission)
        /// The idempotency key was used before (possibly by a concurrent request); this is that submission.
        case existing(StoredSubmission)
    }

    /// The submitting ASN, from the token.
    package struct Submitter: Sendable, Equatable {
        package var nip: String
        package var name: String?
        package var opd: String

        package init(nip: String, name: String?, opd: String) {
            self.nip = nip
            self.name = name
            self.opd = opd
        }
    }

    /// Stores a new submission with its evidence rows and enqueues `submission.received`, in one statement: one
    /// round trip to PostgreSQL and one (implicit) transaction.
    ///
    /// The statement inserts the submission with `ON CONFLICT (nip, idempotency_key) DO NOTHING`; the evidence rows
    /// and the outbox row (with its `pg_notify`) are inserted by data-modifying CTEs only when the submission was,
    /// and when it was not, the statement returns the row already stored under the key. Either way the answer is
    /// built from that row and the data in hand; nothing is read back afterwards.
    ///
    /// `UNIQUE (nip, idempotency_key)` decides between concurrent requests with the same key: exactly one inserts,
    /// the others wait for it to commit and get `.existing`. The row of such a concurrent winner committed after
    /// this statement began is not visible to it, so that case alone takes a second round trip to read the row.
    ///
    /// The evidence of an `.existing` submission is `evidence` when its request hash equals `requestHash` (the hash
    /// covers the evidence hashes, so the photos are these) and empty otherwise (a reused key: the caller refuses
    /// the request).
    package func create(
        _ draft: SubmissionDraft,
        evidence: [EvidenceRef],
        submitter: Submitter,
        idempotencyKey: String,
        requestHash: String,
        id: UUID = UUID(),
        now: Date = Date()
    ) async throws -> CreateOutcome {
        let submittedAt = RFC3339.normalized(now)
        let event = SubmissionReceived(
            submissionId: id,
            nip: submitter.nip,
            name: submitter.name,
            opd: submitter.opd,
            program: program,
            activity: draft.activity,
            place: draft.place.rawValue,
            activityAt: draft.activityAt,
            submittedAt: submittedAt,
            quantity: draft.quantity,
            note: draft.note,
            evidence: evidence,
            deviceLocation: draft.deviceLocation
        )
        let outbox = try Outbox.rowValues(for: try CloudEvent(event, id: UUID(), source: source, time: submittedAt))
        let statement: SQLQuery = """
            WITH inserted AS (
                INSERT INTO submissions (id, nip, name, opd, program, activity, place, activity_at, quantity, note,
                    device_latitude, device_longitude, device_accuracy, idempotency_key, request_hash,
                    submitted_at, status, updated_at)
                VALUES (\(id), \(submitter.nip), \(submitter.name), \(submitter.opd), \(program), \(draft.activity),
                    \(draft.place.rawValue), \(draft.activityAt), \(draft.quantity), \(draft.note),
                    \(draft.deviceLocation?.latitude), \(draft.deviceLocation?.longitude),
                    \(draft.deviceLocation?.accuracy), \(idempotencyKey), \(requestHash), \(submittedAt),
                    'received', \(submittedAt))
                ON CONFLICT (nip, idempotency_key) DO NOTHING
                RETURNING \(unsafeSQL: Self.columns)
            ), evidence AS (
                INSERT INTO submission_evidence (submission_id, position, sha256, media_type, size_bytes)
                SELECT inserted.id, e.position, e.sha256, e.media_type, e.size_bytes
                FROM inserted,
                     unnest(\(evidence.map(\.sha256))::text[], \(evidence.map(\.mediaType))::text[],
                            \(evidence.map(\.sizeBytes))::bigint[])
                     WITH ORDINALITY AS e(sha256, media_type, size_bytes, position)
            ), event AS (
                -- The row Outbox.enqueue would write (Outbox.rowValues), inserted only with the submission.
                INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload, source, subject, time, dataschema,
                    extensions)
                SELECT \(outbox.id), \(outbox.aggregateType), \(outbox.aggregateId), \(outbox.type),
                    \(outbox.payload)::jsonb, \(outbox.source), NULLIF(\(outbox.subject), ''), \(outbox.time),
                    NULLIF(\(outbox.dataSchema), ''), \(outbox.extensions)::jsonb
                FROM inserted
                RETURNING seq
            )
            -- pg_notify wakes the relay at commit, as Outbox.enqueue does; it is in the outer query because a
            -- plain SELECT in WITH only runs when read.
            SELECT true AS created, \(unsafeSQL: Self.columns),
                (SELECT count(*) FROM (SELECT pg_notify(\(MessagingSchema.outboxChannel), '') FROM event) AS n)
                    AS notified
            FROM inserted
            UNION ALL
            SELECT false, \(unsafeSQL: Self.columns), 0
            FROM submissions
            WHERE nip = \(submitter.nip) AND idempotency_key = \(idempotencyKey)
                AND NOT EXISTS (SELECT 1 FROM inserted)
            """
        var stored: StoredSubmission?
        var created = false
        do {
            roundTrips.add()
            let row = try await pool.withConnection { connection in try await connection.query(statement).first }
            if let row {
                stored = try Self.submission(from: row)
                created = try row.decode("created", as: Bool.self)
            }
        } catch let error as DatabaseError where error.code == .uniqueViolation {
            // Only reachable if the conflict is not on the idempotency constraint's arbiter (e.g. an id that is
            // already taken); the stored row, if any, is still the answer.
            created = false
        }
        if stored == nil {
            // A concurrent request with this key committed after the statement's snapshot: read its row.
            roundTrips.add()
            stored = try await pool.withConnection { connection in
                try await connection.query(
                    """
                    SELECT \(unsafeSQL: Self.columns) FROM submissions
                    WHERE nip = \(submitter.nip) AND idempotency_key = \(idempotencyKey)
                    """
                ).first.map(Self.submission(from:))
            }
        }
        guard var submission = stored else {
            throw DatabaseError(.queryFailed, message: "submission \(id.lowercased) vanished after insert")
        }
        if submission.requestHash == requestHash {
            submission.evidence = evidence.map { reference in
                var reference = reference
                reference.url = Self.url(reference.sha256)
                return reference
            }
        }
        return created ? .created(submission) : .existing(submission)
    }

    /// The submission `id`, with its evidence.
    package func submission(id: UUID) async throws -> StoredSubmission? {
        try await pool.withConnection { connection in
            let rows = try await connection.query(
                "SELECT \(unsafeSQL: Self.columns) FROM submissions WHERE id = \(id)"
            )
            return try await Self.withEvidence(rows.map(Self.submission(from:)), connection: connection).first
        }
    }

    /// The submissions of `nip`, newest first, without evidence.
    package func submissions(nip: String, limit: Int) async throws -> [StoredSubmission] {
        try await pool.withConnection { connection in
            let rows = try await connection.query(
                """
                SELECT \(unsafeSQL: Self.columns) FROM submissions WHERE nip = \(nip)
                ORDER BY submitted_at DESC, id DESC LIMIT \(limit)
                """
            )
            return try rows.map(Self.submission(from:))
        }
    }

    /// Whether any submission of `nip` carries the photo `sha256`.
    package func owns(nip: String, sha256: String) async throws -> Bool {
        try await pool.withConnection { connection in
            try await !connection.query(
                """
                SELECT 1 FROM submission_evidence e JOIN submissions s ON s.id = e.submission_id
                WHERE e.sha256 = \(sha256) AND s.nip = \(nip) LIMIT 1
                """
            ).isEmpty
        }
    }

    /// The media type recorded for the photo `sha256`, if any submission carries it.
    package func mediaType(sha256: String) async throws -> String? {
        try await pool.withConnection { connection in
            try await connection.query(
                "SELECT media_type FROM submission_evidence WHERE sha256 = \(sha256) LIMIT 1"
            ).first?.decode("media_type", as: String.self)
        }
    }

    /// The URL of a photo in the API.
    private static func url(_ sha256: String) -> String { "/v1/evidence/\(sha256)" }

    private static let columns = """
        id, nip, name, opd, program, activity, place, activity_at, quantity, note, device_latitude, device_longitude, \
        device_accuracy, request_hash, submitted_at, status, points, reason_code, reason, updated_at
        """

    private static func submission(from row: PostgresRow) throws -> StoredSubmission {
        var location: GeoPoint?
        if let latitude = try row.decode("device_latitude", as: Double?.self),
            let longitude = try row.decode("device_longitude", as: Double?.self)
        {
            location = GeoPoint(
                latitude: latitude,
                longitude: longitude,
                accuracy: try row.decode("device_accuracy", as: Double?.self)
            )
        }
        let status = try row.decode("status", as: String.self)
        return StoredSubmission(
            id: try row.decode("id", as: UUID.self),
            nip: try row.decode("nip", as: String.self),
            name: try row.decode("name", as: String?.self),
            opd: try row.decode("opd", as: String.self),
            program: try row.decode("program", as: String.self),
            activity: try row.decode("activity", as: String.self),
            place: try row.decode("place", as: String.self),
            activityAt: try row.decode("activity_at", as: Date.self),
            quantity: try row.decode("quantity", as: Double.self),
            note: try row.decode("note", as: String?.self),
            deviceLocation: location,
            requestHash: try row.decode("request_hash", as: String.self),
            submittedAt: try row.decode("submitted_at", as: Date.self),
            status: SubmissionStatus(rawValue: status) ?? .received,
            points: try row.decode("points", as: Int?.self),
            reasonCode: try row.decode("reason_code", as: String?.self),
            reason: try row.decode("reason", as: String?.self),
            updatedAt: try row.decode("updated_at", as: Date.self),
            evidence: []
        )
    }

    private static func withEvidence(
        _ submissions: [StoredSubmission],
        connection: DatabaseConnection
    ) async throws -> [StoredSubmission] {
        guard !submissions.isEmpty else { return [] }
        let rows = try await connection.query(
            """
            SELECT submission_id, sha256, media_type, size_bytes FROM submission_evidence
            WHERE submission_id = ANY(\(submissions.map(\.id))::uuid[]) ORDER BY submission_id, position
            """
        )
        var evidence: [UUID: [EvidenceRef]] = [:]
        for row in rows {
            let sha256 = try row.decode("sha256", as: String.self)
            evidence[try row.decode("submission_id", as: UUID.self), default: []].append(
                EvidenceRef(
                    sha256: sha256,
                    mediaType: try row.decode("media_type", as: String.self),
                    sizeBytes: try row.decode("size_bytes", as: Int.self),
                    url: Self.url(sha256)
                )
            )
        }
        return submissions.map { submission in
            var submission = submission
            submission.evidence = evidence[submission.id] ?? []
            return submission
        }
    }
}

/// Counts round trips to PostgreSQL (a statement sent and its answer awaited).
package final class RoundTripCounter: Sendable {
    private let count = NIOLockedValueBox(0)

    /// Creates a counter at zero.
    package init() {}

    /// The round trips counted so far.
    package var value: Int { count.withLockedValue { $0 } }

    /// Counts one round trip.
    func add() { count.withLockedValue { $0 += 1 } }
}
