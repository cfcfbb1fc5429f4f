import AMQP
import Contracts
import Database
import Eventing
import Foundation
import Logging

/// Turns verification's decisions (queue `scoring.decisions`) into ledger entries and points events.
///
/// Runs inside the inbox transaction of each batch, so the entries, the outbox rows and the inbox records commit
/// together. Per batch, whatever its size: one lock statement, one pipelined round trip loading the ASNs' state,
/// one insert of the decisions (`decision_inputs`, the replay's input; a decision already recorded — the same
/// decision published twice under different ids — is dropped here), one insert of all entries, one of the bans,
/// one for the running totals and one outbox insert. The rules themselves run in memory (``LedgerSimulator``):
/// - `submission.verified` → an `award` entry (base, per kg, place factor, campaign, caps, ban), plus a `bonus`
///   when the week completes a streak; `points.awarded` for each.
/// - `submission.rejected` with `fraud` → a `penalty` entry, possibly starting an earning ban;
///   `penalty.applied` with `earningBannedUntil`.
/// - `submission.revoked` → `reversal` entries for the submission's award and bonus (`points.reversed`), and a
///   penalty when `fraud`. An approval arriving after its revocation earns 0 points.
///
/// Competing consumers: the per-ASN transaction locks are taken first (sorted), so the state read, the decisions
/// recorded (their `seq` order is the processing order a replay follows) and the totals published are consistent.
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
        var inputs: [(input: DecisionInput, eventId: String, name: String?)] = []
        for event in events {
            switch event.type {
            case SubmissionVerified.eventType:
                let verified = try event.decode(SubmissionVerified.self)
                inputs.append((.verified(ScoringInput(verified)), event.id, verified.name))
            case SubmissionRejected.eventType:
                let rejected = try event.decode(SubmissionRejected.self)
                inputs.append(
                    (
                        .rejected(
                            FindingInput(
                                submissionId: rejected.submissionId, nip: rejected.nip, opd: rejected.opd,
                                program: rejected.program, activity: rejected.activity, decidedAt: rejected.decidedAt,
                                fraud: rejected.fraud, reasonCode: rejected.reasonCode, reason: rejected.reason)),
                        event.id, nil
                    ))
            case SubmissionRevoked.eventType:
                let revoked = try event.decode(SubmissionRevoked.self)
                inputs.append(
                    (
                        .revoked(
                            FindingInput(
                                submissionId: revoked.submissionId, nip: revoked.nip, opd: revoked.opd, program: nil,
                                activity: nil, decidedAt: revoked.decidedAt, fraud: revoked.fraud,
                                reasonCode: revoked.reasonCode, reason: revoked.reason)),
                        event.id, nil
                    ))
            default:
                logger.warning(
                    "ignoring an event this queue does not handle",
                    metadata: ["event.id": "\(event.id)", "event.type": "\(event.type)"])
            }
        }
        guard !inputs.isEmpty else { return }
        try await PointsLedger.lock(nips: inputs.map(\.input.nip), in: connection)

        let programs = try await ProgramCatalog.currentPrograms(in: connection)
        let loaded = try await LedgerState.load(
            for: inputs.map(\.input), programs: Array(programs.values), in: connection)
        let fresh = try await DecisionStore.record(inputs, in: connection)

        let simulator = LedgerSimulator(
            program: { code in ProgramCatalog.resolve(code, in: programs) }, campaigns: loaded.campaigns)
        var states = loaded.states
        var outcome = LedgerSimulator.Outcome()
        var causes: [UUID: String] = [:]
        for (index, item) in inputs.enumerated() {
            guard fresh.contains(index) else {
                logger.info(
                    "decision already applied; ignoring the repeated one",
                    metadata: ["submission.id": "\(item.input.submissionId.lowercased)", "event.id": "\(item.eventId)"]
                )
                continue
            }
            let before = outcome.entries.count
            simulator.apply(item.input, to: &states[item.input.nip, default: ASNLedgerState()], outcome: &outcome)
            for entry in outcome.entries[before...] { causes[entry.id] = item.eventId }
        }
        // A decision about an activity in a closed quarter is counted in the next open one (a late entry).
        let entries = try await Periods.assignLate(outcome.entries, in: connection)
        let inserted = try await PointsLedger.append(entries, causes: entries.map { causes[$0.id] }, in: connection)
        let bans = outcome.bans.filter { inserted[$0.penaltyEntryId] != nil }
        try await LedgerState.recordBans(bans, in: connection)
        let totals = try await PointsLedger.runningTotals(of: Array(inserted.keys), in: connection)
        var outgoing: [CloudEvent] = []
        for entry in entries {
            // Absent only if another writer appended the same entry meanwhile (a unique index absorbed it).
            guard let recordedAt = inserted[entry.id], let total = totals[entry.id] else { continue }
            outgoing.append(try Self.event(for: entry, recordedAt: recordedAt, total: total, outcome: outcome))
        }
        try await Outbox.enqueue(outgoing, in: connection)
    }

    /// The event announcing an appended entry.
    static func event(for entry: LedgerEntry, recordedAt: Date, total: Int, outcome: LedgerSimulator.Outcome) throws
        -> CloudEvent
    {
        switch entry.kind {
        case .award, .bonus, .correction:
            return try CloudEvent(
                PointsAwarded(
                    entryId: entry.id, submissionId: entry.submissionId, nip: entry.nip, opd: entry.opd,
                    program: entry.program, activity: entry.activity, points: entry.points,
                    ruleVersion: entry.ruleVersion, period: entry.period, awardedAt: recordedAt,
                    totalInPeriod: total, name: outcome.names[entry.id], breakdown: entry.breakdown,
                    entryKind: entry.kind.rawValue),
                from: .scoring, time: recordedAt)
        case .reversal:
            return try CloudEvent(
                PointsReversed(
                    entryId: entry.id, reversesEntryId: entry.reverses ?? entry.id, submissionId: entry.submissionId,
                    nip: entry.nip, points: entry.points, reason: outcome.reasons[entry.id] ?? "",
                    opd: entry.opd, reasonCode: outcome.reasonCodes[entry.id], period: entry.period,
                    reversedAt: recordedAt, totalInPeriod: total),
                from: .scoring, time: recordedAt)
        case .penalty:
            return try CloudEvent(
                PenaltyApplied(
                    entryId: entry.id, nip: entry.nip, opd: entry.opd, points: entry.points,
                    reasonCode: outcome.reasonCodes[entry.id] ?? "FRAUD", reason: outcome.reasons[entry.id] ?? "",
                    period: entry.period, appliedAt: recordedAt, submissionId: entry.submissionId,
                    ruleVersion: entry.ruleVersion, totalInPeriod: total,
                    earningBannedUntil: outcome.banUntil[entry.id]),
                from: .scoring, time: recordedAt)
        }
    }
}

/// The decisions scoring consumed (`decision_inputs`), the input of a replay.
enum DecisionStore {
    /// Records the decisions in order; returns the indices of those recorded now (not seen before, first copy in
    /// the batch).
    static func record(
        _ inputs: [(input: DecisionInput, eventId: String, name: String?)], in connection: DatabaseConnection
    ) async throws -> Set<Int> {
        guard !inputs.isEmpty else { return [] }
        func verified(_ item: DecisionInput) -> ScoringInput? {
            if case .verified(let input) = item { return input }
            return nil
        }
        func finding(_ item: DecisionInput) -> FindingInput? {
            switch item {
            case .rejected(let finding), .revoked(let finding): return finding
            case .verified: return nil
            }
        }
        let items = inputs.map(\.input)
        let rows = try await connection.query(
            """
            INSERT INTO decision_inputs (kind, submission_id, nip, opd, program, activity, place, quantity, activity_at,
                                         decided_at, fraud, reason_code, reason, name, event_id)
            SELECT kind, submission_id, nip, opd, NULLIF(program, ''), NULLIF(activity, ''), NULLIF(place, ''),
                   CASE WHEN kind = 'verified' THEN quantity END,
                   CASE WHEN kind = 'verified' THEN activity_at END, decided_at, fraud,
                   NULLIF(reason_code, ''), NULLIF(reason, ''), NULLIF(name, ''), event_id
            FROM unnest(\(items.map(\.kind))::text[], \(items.map(\.submissionId))::uuid[],
                        \(items.map(\.nip))::text[],
                        \(items.map { verified($0)?.opd ?? finding($0)?.opd ?? "" })::text[],
                        \(items.map { verified($0)?.program ?? finding($0)?.program ?? "" })::text[],
                        \(items.map { verified($0)?.activity ?? finding($0)?.activity ?? "" })::text[],
                        \(items.map { verified($0)?.place ?? "" })::text[],
                        \(items.map { verified($0)?.quantity ?? 0 })::float8[],
                        \(items.map { verified($0)?.activityAt ?? Date(timeIntervalSince1970: 0) })::timestamptz[],
                        \(items.map { verified($0)?.decidedAt ?? finding($0)?.decidedAt ?? Date() })::timestamptz[],
                        \(items.map { finding($0)?.fraud ?? false })::bool[],
                        \(items.map { finding($0)?.reasonCode ?? "" })::text[],
                        \(items.map { finding($0)?.reason ?? "" })::text[],
                        \(inputs.map { $0.name ?? "" })::text[], \(inputs.map(\.eventId))::text[])
                 WITH ORDINALITY AS r(kind, submission_id, nip, opd, program, activity, place, quantity, activity_at,
                                      decided_at, fraud, reason_code, reason, name, event_id, position)
            ORDER BY position
            ON CONFLICT (kind, submission_id) DO NOTHING
            RETURNING kind, submission_id
            """
        )
        var recorded: Set<String> = []
        for row in rows {
            let kind: String = try row.decode("kind")
            let id: UUID = try row.decode("submission_id")
            recorded.insert("\(kind) \(id)")
        }
        var fresh: Set<Int> = []
        for (index, item) in items.enumerated() where recorded.remove("\(item.kind) \(item.submissionId)") != nil {
            fresh.insert(index)
        }
        return fresh
    }
}
