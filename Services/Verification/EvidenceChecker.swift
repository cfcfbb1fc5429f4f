import Contracts
import Database
import Eventing
import Foundation
import Logging

/// The automatic checks run on every received submission, inside the inbox transaction.
///
/// A batch is applied with four statements whatever its size. This first version has one check: `DUPLICATE_EVIDENCE` — a photo (same SHA-256) that any earlier submission,
/// by anyone, already used. The first submission to use a photo owns it; a later one is rejected as fraud.
/// Everything else is approved automatically. (The other reason codes of the design — capture window, missing
/// capture metadata, geofence, caps — arrive with the verification issue.)
struct EvidenceChecker: Sendable {
    /// CloudEvents source of the decisions.
    let source: String
    let logger: Logger

    /// Decides each new `submission.received` in the batch, in delivery order, with one statement per step for
    /// the whole batch (record the submissions, claim their photos, record the decisions, enqueue the events).
    func handle(_ events: [InboundEvent], in connection: DatabaseConnection) async throws {
        let submissions = try events.filter { $0.event.type == SubmissionReceived.eventType }
            .map { try $0.event.decode(SubmissionReceived.self) }
        try await decide(submissions, in: connection)
    }

    /// Decides one submission (tests and tools).
    func decide(_ submission: SubmissionReceived, in connection: DatabaseConnection) async throws {
        try await decide([submission], in: connection)
    }

    /// Records the submissions and their fingerprints, and enqueues one decision each, in batch order.
    func decide(_ batch: [SubmissionReceived], in connection: DatabaseConnection) async throws {
        guard !batch.isEmpty else { return }
        // A submission is decided once, even if intake were to publish it again under a new event id (or a batch
        // holds it twice): only rows this statement inserted go on.
        let inserted = try await connection.query(
            """
            INSERT INTO submissions (id, nip, opd, program, activity, place, activity_at, submitted_at, quantity)
            SELECT id, nip, opd, program, activity, place, activity_at, submitted_at, quantity
            FROM unnest(\(batch.map(\.submissionId))::uuid[], \(batch.map(\.nip))::text[], \(batch.map(\.opd))::text[],
                        \(batch.map(\.program))::text[], \(batch.map(\.activity))::text[], \(batch.map(\.place))::text[],
                        \(batch.map(\.activityAt))::timestamptz[], \(batch.map(\.submittedAt))::timestamptz[],
                        \(batch.map(\.quantity))::float8[])
                 WITH ORDINALITY AS r(id, nip, opd, program, activity, place, activity_at, submitted_at, quantity,
                                      position)
            ORDER BY position
            ON CONFLICT (id) DO NOTHING
            RETURNING id
            """
        )
        var fresh = Set<UUID>()
        for row in inserted { fresh.insert(try row.decode("id", as: UUID.self)) }
        var seen = Set<UUID>()
        let submissions = batch.filter { fresh.contains($0.submissionId) && seen.insert($0.submissionId).inserted }
        for skipped in batch where !fresh.contains(skipped.submissionId) {
            logger.info("Pengajuan sudah pernah diperiksa", metadata: ["submission": "\(skipped.submissionId)"])
        }
        guard !submissions.isEmpty else { return }

        // Photos in batch order: the first submission to use a photo owns it.
        var shas: [String] = []
        var owners: [UUID] = []
        var nips: [String] = []
        for submission in submissions {
            for sha in Set(submission.evidence.map { $0.sha256.lowercased() }).sorted() {
                shas.append(sha)
                owners.append(submission.submissionId)
                nips.append(submission.nip)
            }
        }
        let claimedRows = try await connection.query(
            """
            INSERT INTO evidence_fingerprints (sha256, submission_id, nip)
            SELECT sha, owner, nip FROM unnest(\(shas)::text[], \(owners)::uuid[], \(nips)::text[])
                 WITH ORDINALITY AS r(sha, owner, nip, position)
            ORDER BY position
            ON CONFLICT (sha256) DO NOTHING
            RETURNING submission_id
            """
        )
        var claimed: [UUID: Int] = [:]
        for row in claimedRows { claimed[try row.decode("submission_id", as: UUID.self), default: 0] += 1 }

        let now = Date()
        let duplicate = ReasonCode.duplicateEvidence
        var outcomes: [(id: UUID, rejected: Bool)] = []
        var decisions: [CloudEvent] = []
        for submission in submissions {
            let photos = Set(submission.evidence.map { $0.sha256.lowercased() }).count
            let rejected = claimed[submission.submissionId, default: 0] < photos
            outcomes.append((submission.submissionId, rejected))
            if rejected {
                logger.notice(
                    "Bukti foto sudah pernah dipakai",
                    metadata: ["submission": "\(submission.submissionId)", "reason": "\(duplicate.rawValue)"]
                )
                decisions.append(
                    try CloudEvent(
                        SubmissionRejected(
                            submissionId: submission.submissionId,
                            nip: submission.nip,
                            opd: submission.opd,
                            reasonCode: duplicate.rawValue,
                            reason: duplicate.indonesianText,
                            decidedAt: now,
                            decidedBy: SubmissionVerified.automatic,
                            fraud: true,
                            program: submission.program,
                            activity: submission.activity,
                            reasonCodes: [duplicate.rawValue],
                            appealable: true
                        ),
                        source: source
                    ))
            } else {
                decisions.append(
                    try CloudEvent(
                        SubmissionVerified(
                            submissionId: submission.submissionId,
                            nip: submission.nip,
                            opd: submission.opd,
                            program: submission.program,
                            activity: submission.activity,
                            place: submission.place,
                            activityAt: submission.activityAt,
                            quantity: submission.quantity,
                            decidedAt: now,
                            decidedBy: SubmissionVerified.automatic,
                            unit: submission.unit,
                            name: submission.name,
                            submittedAt: submission.submittedAt
                        ),
                        source: source
                    ))
            }
        }
        try await record(outcomes, reason: duplicate, in: connection)
        try await Outbox.enqueue(decisions, in: connection)
    }

    /// Records the decisions: rejected ones with `reason`, the others approved.
    private func record(_ outcomes: [(id: UUID, rejected: Bool)], reason: ReasonCode, in connection: DatabaseConnection)
        async throws
    {
        try await connection.query(
            """
            INSERT INTO decisions (submission_id, outcome, reason_code, reason, decided_by)
            SELECT id, CASE WHEN rejected THEN 'rejected' ELSE 'approved' END,
                   CASE WHEN rejected THEN \(reason.rawValue) END, CASE WHEN rejected THEN \(reason.indonesianText) END,
                   \(SubmissionVerified.automatic)
            FROM unnest(\(outcomes.map(\.id))::uuid[], \(outcomes.map(\.rejected))::bool[]) AS d(id, rejected)
            """
        )
    }
}
