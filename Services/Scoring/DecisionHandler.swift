import AMQP
import Contracts
import Database
import Eventing
import Foundation
import Logging

/// Turns verification's decisions (queue `scoring.decisions`) into ledger entries and points events.
///
/// Runs inside the inbox transaction of each batch, so the entries, the outbox rows and the inbox records commit
/// together:
/// - `submission.verified` → the rules compute the points under the program's current version, an `award` entry is
///   appended and `points.awarded` enqueued with the ASN's running total in the quarter of the activity. A
///   submission the program cannot score still gets a 0-point award whose breakdown says why, so the ASN sees an
///   outcome. An approval for a submission that already has an award (the same decision published twice under
///   different ids) is skipped.
/// - `submission.revoked` → the revocation is recorded; an existing award is cancelled by a `reversal` entry and
///   `points.reversed`. An approval arriving after its revocation earns 0 points.
/// - `submission.rejected` → no ledger effect yet (fraud penalties come with a later issue).
///
/// Verified events are handled in runs: one query each for the programs, the revocations, the rules' history and
/// the insert of a run, whatever its size.
struct DecisionHandler: Sendable {
    /// The queue's name, bindings and delivery limit.
    static let queue = QueueSpec(
        name: "scoring.decisions",
        bindings: [SubmissionVerified.eventName, SubmissionRejected.eventName, SubmissionRevoked.eventName],
        deliveryLimit: 5
    )

    var logger: Logger

    /// The inbox handler: applies a batch of new events with the transaction's connection.
    func handle(_ events: [InboundEvent], in connection: DatabaseConnection) async throws {
        try await handle(events.map(\.event), in: connection)
    }

    /// Applies `events` in order (a revocation after an approval in the same batch cancels it).
    func handle(_ events: [CloudEvent], in connection: DatabaseConnection) async throws {
        var verified: [(event: SubmissionVerified, id: String)] = []
        var revoked: [(event: SubmissionRevoked, id: String)] = []
        var order: [Step] = []
        for event in events {
            switch event.type {
            case SubmissionVerified.eventType:
                verified.append((try event.decode(SubmissionVerified.self), event.id))
                order.append(.verified(verified.count - 1))
            case SubmissionRevoked.eventType:
                revoked.append((try event.decode(SubmissionRevoked.self), event.id))
                order.append(.revoked(revoked.count - 1))
            case SubmissionRejected.eventType:
                logger.debug("submission rejected: no ledger effect", metadata: ["event.id": "\(event.id)"])
            default:
                logger.warning(
                    "ignoring an event this queue does not handle",
                    metadata: ["event.id": "\(event.id)", "event.type": "\(event.type)"])
            }
        }
        guard !order.isEmpty else { return }
        try await PointsLedger.lock(nips: verified.map(\.event.nip) + revoked.map(\.event.nip), in: connection)

        var run: [(event: SubmissionVerified, id: String)] = []
        for step in order {
            switch step {
            case .verified(let index):
                run.append(verified[index])
            case .revoked(let index):
                try await award(run, in: connection)
                run = []
                try await revoke(revoked[index].event, cause: revoked[index].id, in: connection)
            }
        }
        try await award(run, in: connection)
    }

    private enum Step {
        case verified(Int)
        case revoked(Int)
    }

    // MARK: Approvals

    /// Scores a run of approvals: computes, appends, and enqueues `points.awarded` for what was appended.
    private func award(_ run: [(event: SubmissionVerified, id: String)], in connection: DatabaseConnection)
        async throws
    {
        // The first approval of a submission wins, in the batch as in the ledger.
        var seen = try await awardedSubmissions(run.map(\.event.submissionId), in: connection)
        let approvals = run.filter { approval in
            guard seen.insert(approval.event.submissionId).inserted else {
                logger.info(
                    "submission already awarded; ignoring the repeated approval",
                    metadata: ["submission.id": "\(approval.event.subject)", "event.id": "\(approval.id)"])
                return false
            }
            return true
        }
        guard !approvals.isEmpty else { return }

        let programs = try await ProgramCatalog.currentPrograms(in: connection)
        let revokedIDs = try await revokedSubmissions(approvals.map(\.event.submissionId), in: connection)
        let times = approvals.map(\.event.activityAt)
        let window = (times.min()!.addingTimeInterval(-8 * 86_400))..<(times.max()!.addingTimeInterval(8 * 86_400))
        var history = try await PointsLedger.priorAwards(
            of: approvals.map(\.event.nip), activityIn: window, in: connection)

        var entries: [LedgerEntry] = []
        for (event, _) in approvals {
            let program = programs[event.program]
            let context = RuleContext(
                priorAwards: history[event.nip] ?? [], revoked: revokedIDs.contains(event.submissionId))
            let computation = PointsRules.compute(ScoringInput(event), program: program, context: context)
            if let reason = computation.ineligibleReason {
                logger.notice(
                    "approved submission earns no points",
                    metadata: ["submission.id": "\(event.subject)", "reason": "\(reason)"])
            }
            entries.append(
                LedgerEntry(
                    id: UUID(),
                    nip: event.nip,
                    opd: event.opd,
                    submissionId: event.submissionId,
                    program: event.program,
                    programVersion: program?.version,
                    activity: event.activity,
                    kind: .award,
                    points: computation.points,
                    breakdown: computation.breakdown,
                    ruleVersion: program?.ruleVersion ?? "\(event.program)@none",
                    period: Period.containing(event.activityAt, kind: .quarter).description,
                    activityAt: event.activityAt,
                    recordedAt: Date(),
                    reverses: nil
                )
            )
            history[event.nip, default: []].append(
                PriorAward(activity: event.activity, activityAt: event.activityAt, points: computation.points))
        }

        let inserted = try await PointsLedger.appendAwards(entries, causes: approvals.map(\.id), in: connection)
        let totals = try await PointsLedger.runningTotals(of: Array(inserted.keys), in: connection)
        var outgoing: [CloudEvent] = []
        for (entry, approval) in zip(entries, approvals) {
            // Absent only if another writer awarded the submission meanwhile (the unique index absorbed it).
            guard let recordedAt = inserted[entry.id], let total = totals[entry.id] else { continue }
            let payload = PointsAwarded(
                entryId: entry.id,
                submissionId: entry.submissionId,
                nip: entry.nip,
                opd: entry.opd,
                program: entry.program,
                activity: entry.activity,
                points: entry.points,
                ruleVersion: entry.ruleVersion,
                period: entry.period,
                awardedAt: recordedAt,
                totalInPeriod: total,
                name: approval.event.name,
                breakdown: entry.breakdown
            )
            outgoing.append(try CloudEvent(payload, from: .scoring, time: recordedAt))
        }
        try await Outbox.enqueue(outgoing, in: connection)
    }

    private func awardedSubmissions(_ ids: [UUID], in connection: DatabaseConnection) async throws -> Set<UUID> {
        let rows = try await connection.query(
            "SELECT submission_id FROM ledger_entries WHERE kind = 'award' AND submission_id = ANY(\(ids)::uuid[])")
        return Set(try rows.map { try $0.decode("submission_id", as: UUID.self) })
    }

    private func revokedSubmissions(_ ids: [UUID], in connection: DatabaseConnection) async throws -> Set<UUID> {
        let rows = try await connection.query(
            "SELECT submission_id FROM submission_revocations WHERE submission_id = ANY(\(ids)::uuid[])")
        return Set(try rows.map { try $0.decode("submission_id", as: UUID.self) })
    }

    // MARK: Revocations

    /// Records a revocation and reverses the submission's award, if it has one.
    private func revoke(_ event: SubmissionRevoked, cause: String, in connection: DatabaseConnection) async throws {
        try await connection.query(
            """
            INSERT INTO submission_revocations (submission_id, nip, reason_code, reason, fraud, decided_at)
            VALUES (\(event.submissionId), \(event.nip), \(event.reasonCode), \(event.reason), \(event.fraud),
                    \(event.decidedAt))
            ON CONFLICT (submission_id) DO NOTHING
            """
        )
        guard let award = try await PointsLedger.award(of: event.submissionId, in: connection) else {
            logger.info(
                "revocation recorded before any award; a later approval will earn nothing",
                metadata: ["submission.id": "\(event.subject)"])
            return
        }
        guard
            let reversal = try await PointsLedger.appendReversal(
                of: award, reason: event.reason, cause: cause, in: connection)
        else {
            logger.info("award already reversed", metadata: ["submission.id": "\(event.subject)"])
            return
        }
        let total = try await PointsLedger.runningTotals(of: [reversal.id], in: connection)[reversal.id]
        try await Outbox.enqueue(
            PointsReversed(
                entryId: reversal.id,
                reversesEntryId: award.id,
                submissionId: award.submissionId,
                nip: award.nip,
                points: reversal.points,
                reason: event.reason,
                opd: award.opd,
                reasonCode: event.reasonCode,
                period: award.period,
                reversedAt: reversal.recordedAt,
                totalInPeriod: total
            ),
            source: ServiceName.scoring.eventSource,
            in: connection,
            time: reversal.recordedAt
        )
    }
}
