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
        id: UUID = UUID.timeOrdered(),
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
            unit: draft.unit,
            note: draft.note,
            evidence: evidence,
            deviceLocation: draft.deviceLocation,
            programVersion: draft.programVersion
        )
        let captures = try evidence.map { reference in
            try reference.capture.map { String(decoding: try ContractsJSON.encode($0), as: UTF8.self) } ?? ""
        }
        let outbox = try Outbox.rowValues(for: try CloudEvent(event, source: source, time: submittedAt))
        let statement: SQLQuery = """
            WITH inserted AS (
                INSERT INTO submissions (id, nip, name, opd, program, activity, place, activity_at, quantity, note,
                    device_latitude, device_longitude, device_accuracy, idempotency_key, request_hash,
                    submitted_at, status, updated_at, program_version)
                VALUES (\(id), \(submitter.nip), \(submitter.name), \(submitter.opd), \(program), \(draft.activity),
                    \(draft.place.rawValue), \(draft.activityAt), \(draft.quantity), \(draft.note),
                    \(draft.deviceLocation?.latitude), \(draft.deviceLocation?.longitude),
                    \(draft.deviceLocation?.accuracy), \(idempotencyKey), \(requestHash), \(submittedAt),
                    'received', \(submittedAt), \(draft.programVersion))
                ON CONFLICT (nip, idempotency_key) DO NOTHING
                RETURNING \(unsafeSQL: Self.columns)
            ), evidence AS (
                INSERT INTO submission_evidence (submission_id, position, sha256, media_type, size_bytes,
                    perceptual_hash, width, height, capture)
                SELECT inserted.id, e.position, e.sha256, e.media_type, e.size_bytes, NULLIF(e.perceptual_hash, ''),
                    NULLIF(e.width, 0), NULLIF(e.height, 0), NULLIF(e.capture, '')::jsonb
                FROM inserted,
                     unnest(\(evidence.map(\.sha256))::text[], \(evidence.map(\.mediaType))::text[],
                            \(evidence.map(\.sizeBytes))::bigint[], \(evidence.map { $0.perceptualHash ?? "" })::text[],
                            \(evidence.map { $0.width ?? 0 })::bigint[], \(evidence.map { $0.height ?? 0 })::bigint[],
                            \(captures)::text[])
                     WITH ORDINALITY AS e(sha256, media_type, size_bytes, perceptual_hash, width, height, capture,
                                          position)
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
        try await page(nip: nip, statuses: [], after: nil, limit: limit)
    }

    /// Where a page of the ASN's list continues: the last item's submission time and id.
    package struct Cursor: Sendable, Equatable {
        package var submittedAt: Date
        package var id: UUID

        package init(submittedAt: Date, id: UUID) {
            self.submittedAt = submittedAt
            self.id = id
        }

        /// Opaque text for `?cursor=`: base64url of `<RFC 3339 time>|<id>`.
        package var token: String {
            Data("\(RFC3339.format(submittedAt))|\(id.lowercased)".utf8).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
        }

        /// Parses ``token``; `nil` for anything else.
        package init?(token: String) {
            guard token.utf8.count <= 200 else { return nil }
            var base64 = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            base64 += String(repeating: "=", count: (4 - base64.utf8.count % 4) % 4)
            guard let data = Data(base64Encoded: base64), let text = String(data: data, encoding: .utf8) else {
                return nil
            }
            let parts = text.split(separator: "|", omittingEmptySubsequences: false)
            guard parts.count == 2, let date = RFC3339.parse(String(parts[0])),
                let id = UUID(uuidString: String(parts[1]))
            else { return nil }
            (submittedAt, self.id) = (date, id)
        }
    }

    /// A page of the submissions of `nip`, newest first, with `statuses` only (all when empty), after `cursor`.
    package func page(nip: String, statuses: [SubmissionStatus], after cursor: Cursor?, limit: Int) async throws
        -> [StoredSubmission]
    {
        let filter = statuses.map(\.rawValue)
        let at = cursor?.submittedAt ?? .distantFuture
        let id = cursor?.id ?? UUID(uuidString: "ffffffff-ffff-ffff-ffff-ffffffffffff")!
        return try await pool.withConnection { connection in
            let rows = try await connection.query(
                """
                SELECT \(unsafeSQL: Self.columns) FROM submissions
                WHERE nip = \(nip) AND (cardinality(\(filter)::text[]) = 0 OR status = ANY(\(filter)::text[]))
                    AND (submitted_at, id) < (\(at), \(id))
                ORDER BY submitted_at DESC, id DESC LIMIT \(limit)
                """
            )
            return try rows.map(Self.submission(from:))
        }
    }

    /// Points of `nip`'s approved submissions whose activity lies in `period`.
    package func points(nip: String, in period: Range<Date>) async throws -> Int {
        try await pool.withConnection { connection in
            try await connection.query(
                """
                SELECT coalesce(sum(points), 0)::int8 AS total FROM submissions
                WHERE nip = \(nip) AND status = 'approved' AND activity_at >= \(period.lowerBound)
                    AND activity_at < \(period.upperBound)
                """
            ).first?.decode("total", as: Int.self) ?? 0
        }
    }

    /// How much `nip` submitted recently, for the abuse limits.
    package struct Usage: Sendable, Equatable {
        /// Submissions in the last `window`.
        package var inWindow: Int
        /// The oldest of those (when the window frees a slot).
        package var oldestInWindow: Date?
        /// Submissions since `dayStart`.
        package var today: Int
        /// Whether `idempotencyKey` is already stored (a replay, never limited).
        package var isReplay: Bool
    }

    /// Counts the submissions of `nip` since `now - window` and since `dayStart`, in one round trip.
    package func usage(nip: String, idempotencyKey: String, window: TimeInterval, dayStart: Date, now: Date)
        async throws -> Usage
    {
        let windowStart = now.addingTimeInterval(-window)
        return try await pool.withConnection { connection in
            let row = try await connection.query(
                """
                SELECT count(*) FILTER (WHERE submitted_at > \(windowStart))::int8 AS in_window,
                    min(submitted_at) FILTER (WHERE submitted_at > \(windowStart)) AS oldest,
                    count(*) FILTER (WHERE submitted_at >= \(dayStart))::int8 AS today,
                    bool_or(idempotency_key = \(idempotencyKey)) AS replay
                FROM submissions
                WHERE nip = \(nip) AND (submitted_at >= \(min(windowStart, dayStart)) OR idempotency_key = \(idempotencyKey))
                """
            ).first
            return Usage(
                inWindow: try row?.decode("in_window", as: Int.self) ?? 0,
                oldestInWindow: try row?.decode("oldest", as: Date?.self),
                today: try row?.decode("today", as: Int.self) ?? 0,
                isReplay: try row?.decode("replay", as: Bool?.self) ?? false
            )
        }
    }

    /// What ``appeal(submissionId:nip:statement:now:)`` did.
    package enum AppealOutcome: Sendable, Equatable {
        /// Filed: the submission is now `appealed`, `appeal.filed` is in the outbox.
        case filed(StoredSubmission, appealId: UUID)
        /// No such submission.
        case notFound
        /// Someone else's submission.
        case notOwner
        /// Appealed before.
        case alreadyAppealed
        /// Not a rejection that may be appealed (its status is given).
        case notAppealable(SubmissionStatus)
    }

    /// Files the ASN's appeal of a rejection, in one transaction: locks the submission, checks owner and state,
    /// inserts the appeal (one per submission), sets `appealed`, and enqueues `appeal.filed`.
    package func appeal(submissionId: UUID, nip: String, statement: String, now: Date = Date()) async throws
        -> AppealOutcome
    {
        let filedAt = RFC3339.normalized(now)
        return try await pool.withTransaction { connection in
            guard
                let row = try await connection.query(
                    "SELECT \(unsafeSQL: Self.columns) FROM submissions WHERE id = \(submissionId) FOR UPDATE"
                ).first
            else { return .notFound }
            var submission = try Self.submission(from: row)
            guard submission.nip == nip else { return .notOwner }
            let earlier = try await connection.query(
                "SELECT 1 FROM appeals WHERE submission_id = \(submissionId)")
            guard earlier.isEmpty else { return .alreadyAppealed }
            guard submission.status == .rejected, submission.appealable else {
                return .notAppealable(submission.status)
            }
            let appealId = UUID.timeOrdered()
            _ = try await connection.query(
                """
                INSERT INTO appeals (id, submission_id, nip, statement, filed_at)
                VALUES (\(appealId), \(submissionId), \(nip), \(statement), \(filedAt))
                """
            )
            _ = try await connection.query(
                """
                UPDATE submissions SET status = 'appealed', appealable = false, updated_at = \(filedAt)
                WHERE id = \(submissionId)
                """
            )
            let event = AppealFiled(
                appealId: appealId, submissionId: submissionId, nip: nip, opd: submission.opd, statement: statement,
                filedAt: filedAt, originalReasonCode: submission.reasonCode, originalDecidedBy: submission.decidedBy)
            try await Outbox.enqueue(event, source: source, in: connection, time: filedAt)
            submission.status = .appealed
            submission.appealable = false
            submission.updatedAt = filedAt
            return .filed(submission, appealId: appealId)
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
        device_accuracy, request_hash, submitted_at, status, points, reason_code, reason, updated_at, appealable, \
        decided_by
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
            evidence: [],
            appealable: try row.decode("appealable", as: Bool.self),
            decidedBy: try row.decode("decided_by", as: String?.self)
        )
    }

    private static func withEvidence(
        _ submissions: [StoredSubmission],
        connection: DatabaseConnection
    ) async throws -> [StoredSubmission] {
        guard !submissions.isEmpty else { return [] }
        let rows = try await connection.query(
            """
            SELECT submission_id, sha256, media_type, size_bytes, perceptual_hash, width, height, capture::text AS capture
            FROM submission_evidence
            WHERE submission_id = ANY(\(submissions.map(\.id))::uuid[]) ORDER BY submission_id, position
            """
        )
        var evidence: [UUID: [EvidenceRef]] = [:]
        for row in rows {
            let sha256 = try row.decode("sha256", as: String.self)
            let capture = try row.decode("capture", as: String?.self).map {
                try ContractsJSON.decode(CaptureMetadata.self, from: Data($0.utf8))
            }
            evidence[try row.decode("submission_id", as: UUID.self), default: []].append(
                EvidenceRef(
                    sha256: sha256,
                    mediaType: try row.decode("media_type", as: String.self),
                    sizeBytes: try row.decode("size_bytes", as: Int.self),
                    capture: capture,
                    perceptualHash: try row.decode("perceptual_hash", as: String?.self),
                    url: Self.url(sha256),
                    width: try row.decode("width", as: Int?.self),
                    height: try row.decode("height", as: Int?.self)
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
