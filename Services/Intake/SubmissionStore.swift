import Contracts
import Database
import Foundation
import Messaging

/// The `submissions` and `submission_evidence` tables: storing new submissions with their
/// `submission.received` event, and reading them back for the ASN and for staff.
package struct SubmissionStore: Sendable {
    /// The service's pool.
    package let pool: DatabasePool
    /// CloudEvents source of published events (`/asnreward/intake`).
    package let source: String
    /// Program every submission belongs to for now (the walking skeleton runs one program).
    package let program: String

    /// Creates the store.
    package init(pool: DatabasePool, source: String = ServiceName.intake.eventSource, program: String = "peduli-sampah")
    {
        self.pool = pool
        self.source = source
        self.program = program
    }

    /// What ``create(_:evidence:submitter:idempotencyKey:requestHash:)`` did.
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

    /// Stores a new submission with its evidence rows and enqueues `submission.received`, in one transaction.
    ///
    /// `UNIQUE (nip, idempotency_key)` decides between concurrent requests with the same key: exactly one
    /// inserts, the others wait for it to commit and then get `.existing` with the stored row.
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
        let program = program
        let source = source
        let inserted: Bool
        do {
            inserted = try await pool.withTransaction { connection in
                let rows = try await connection.query(
                    """
                    INSERT INTO submissions (id, nip, name, opd, program, activity, place, activity_at, quantity, note,
                        device_latitude, device_longitude, device_accuracy, idempotency_key, request_hash,
                        submitted_at, status, updated_at)
                    VALUES (\(id), \(submitter.nip), \(submitter.name), \(submitter.opd), \(program), \(draft.activity),
                        \(draft.place.rawValue), \(draft.activityAt), \(draft.quantity), \(draft.note),
                        \(draft.deviceLocation?.latitude), \(draft.deviceLocation?.longitude),
                        \(draft.deviceLocation?.accuracy), \(idempotencyKey), \(requestHash), \(submittedAt),
                        'received', \(submittedAt))
                    ON CONFLICT (nip, idempotency_key) DO NOTHING
                    RETURNING id
                    """
                )
                guard !rows.isEmpty else { return false }
                try await connection.query(
                    """
                    INSERT INTO submission_evidence (submission_id, position, sha256, media_type, size_bytes)
                    SELECT \(id), position, sha256, media_type, size_bytes
                    FROM unnest(\(evidence.map(\.sha256))::text[], \(evidence.map(\.mediaType))::text[],
                                \(evidence.map(\.sizeBytes))::bigint[])
                         WITH ORDINALITY AS e(sha256, media_type, size_bytes, position)
                    """
                )
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
                try await Outbox.enqueue(event, source: source, in: connection, time: submittedAt)
                return true
            }
        } catch let error as DatabaseError where error.code == .uniqueViolation {
            // Only reachable if the conflict is not on the idempotency constraint's arbiter (e.g. a race with a
            // concurrent migration); the stored row, if any, is still the answer.
            inserted = false
        }
        guard let stored = try await find(nip: submitter.nip, idempotencyKey: idempotencyKey) else {
            throw DatabaseError(.queryFailed, message: "submission \(id.lowercased) vanished after insert")
        }
        return inserted ? .created(stored) : .existing(stored)
    }

    /// The submission `nip` made with `idempotencyKey`, if any.
    package func find(nip: String, idempotencyKey: String) async throws -> StoredSubmission? {
        try await pool.withConnection { connection in
            let rows = try await connection.query(
                """
                SELECT \(unsafeSQL: Self.columns) FROM submissions
                WHERE nip = \(nip) AND idempotency_key = \(idempotencyKey)
                """
            )
            return try await Self.withEvidence(rows.map(Self.submission(from:)), connection: connection).first
        }
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
                    url: "/v1/evidence/\(sha256)"
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
