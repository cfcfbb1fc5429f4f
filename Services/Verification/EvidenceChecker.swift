import Contracts
import Database
import Foundation
import Logging
import Messaging

/// The automatic checks run on every received submission, inside the inbox transaction.
///
/// This first version has one check: `DUPLICATE_EVIDENCE` — a photo (same SHA-256) that any earlier submission,
/// by anyone, already used. The first submission to use a photo owns it; a later one is rejected as fraud.
/// Everything else is approved automatically. (The other reason codes of the design — capture window, missing
/// capture metadata, geofence, caps — arrive with the verification issue.)
struct EvidenceChecker: Sendable {
    /// CloudEvents source of the decisions.
    let source: String
    let logger: Logger

    /// Decides each new `submission.received` in the batch, in delivery order.
    func handle(_ events: [InboundEvent], in connection: DatabaseConnection) async throws {
        for inbound in events where inbound.event.type == SubmissionReceived.eventType {
            let submission = try inbound.event.decode(SubmissionReceived.self)
            try await decide(submission, in: connection)
        }
    }

    /// Records the submission and its fingerprints, and enqueues the decision.
    func decide(_ submission: SubmissionReceived, in connection: DatabaseConnection) async throws {
        let inserted = try await connection.query(
            """
            INSERT INTO submissions (id, nip, opd, program, activity, place, activity_at, submitted_at, quantity)
            VALUES (\(submission.submissionId), \(submission.nip), \(submission.opd), \(submission.program),
                    \(submission.activity), \(submission.place), \(submission.activityAt), \(submission.submittedAt),
                    \(submission.quantity))
            ON CONFLICT (id) DO NOTHING
            """
        )
        // A submission is decided once, even if intake were to publish it again under a new event id.
        guard inserted.rowsAffected == 1 else {
            logger.info("Pengajuan sudah pernah diperiksa", metadata: ["submission": "\(submission.submissionId)"])
            return
        }

        let hashes = Array(Set(submission.evidence.map { $0.sha256.lowercased() })).sorted()
        let claimed = try await connection.query(
            """
            INSERT INTO evidence_fingerprints (sha256, submission_id, nip)
            SELECT sha, \(submission.submissionId), \(submission.nip) FROM unnest(\(hashes)::text[]) AS sha
            ON CONFLICT (sha256) DO NOTHING
            RETURNING sha256
            """
        )
        let now = Date()
        if claimed.count < hashes.count {
            let reason = ReasonCode.duplicateEvidence
            try await record(submission.submissionId, outcome: "rejected", reason: reason, in: connection)
            try await Outbox.enqueue(
                SubmissionRejected(
                    submissionId: submission.submissionId,
                    nip: submission.nip,
                    opd: submission.opd,
                    reasonCode: reason.rawValue,
                    reason: reason.indonesianText,
                    decidedAt: now,
                    decidedBy: SubmissionVerified.automatic,
                    fraud: true,
                    program: submission.program,
                    activity: submission.activity,
                    reasonCodes: [reason.rawValue],
                    appealable: true
                ),
                source: source,
                in: connection
            )
            logger.notice(
                "Bukti foto sudah pernah dipakai",
                metadata: ["submission": "\(submission.submissionId)", "reason": "\(reason.rawValue)"]
            )
        } else {
            try await record(submission.submissionId, outcome: "approved", reason: nil, in: connection)
            try await Outbox.enqueue(
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
                source: source,
                in: connection
            )
        }
    }

    private func record(_ id: UUID, outcome: String, reason: ReasonCode?, in connection: DatabaseConnection)
        async throws
    {
        try await connection.query(
            """
            INSERT INTO decisions (submission_id, outcome, reason_code, reason, decided_by)
            VALUES (\(id), \(outcome), \(reason?.rawValue), \(reason?.indonesianText), \(SubmissionVerified.automatic))
            """
        )
    }
}
