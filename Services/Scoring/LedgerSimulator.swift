import Contracts
import Foundation

/// A rejection or revocation as the rules see it.
struct FindingInput: Sendable, Equatable {
    var submissionId: UUID
    var nip: String
    var opd: String
    var program: String?
    var activity: String?
    var decidedAt: Date
    var fraud: Bool
    var reasonCode: String
    var reason: String
}

/// One decision consumed by scoring, in the order it was applied.
enum DecisionInput: Sendable, Equatable {
    case verified(ScoringInput)
    case rejected(FindingInput)
    case revoked(FindingInput)

    var nip: String {
        switch self {
        case .verified(let input): input.nip
        case .rejected(let finding), .revoked(let finding): finding.nip
        }
    }

    var submissionId: UUID {
        switch self {
        case .verified(let input): input.submissionId
        case .rejected(let finding), .revoked(let finding): finding.submissionId
        }
    }

    /// `verified`, `rejected` or `revoked` (the `decision_inputs.kind`).
    var kind: String {
        switch self {
        case .verified: "verified"
        case .rejected: "rejected"
        case .revoked: "revoked"
        }
    }
}

/// An earning ban the rules started.
struct EarningBan: Sendable, Equatable {
    var penaltyEntryId: UUID
    var nip: String
    var range: Range<Date>
    var fraudCount: Int
    var ruleVersion: String
}

/// What an ASN's ledger looks like to the rules: the entries they may depend on.
///
/// Filled from the database around a batch's times (``PointsLedger``) for the live consumer, or built from nothing
/// by feeding every stored decision for a replay; ``LedgerSimulator`` then applies decisions to it the same way in
/// both cases, which is why a replay under the same rule version gives the same totals.
struct ASNLedgerState: Sendable {
    /// Award and bonus entries, with whether they have been reversed.
    var credits: [(entry: LedgerEntry, reversed: Bool)] = []
    /// Submissions with a penalty, and the decision times of the fraud findings (penalties).
    var penalized: Set<UUID> = []
    var fraudTimes: [Date] = []
    /// Earning bans.
    var bans: [Range<Date>] = []
    /// Submissions whose approval was revoked.
    var revoked: Set<UUID> = []
    /// ISO weeks (``JakartaCalendar/weekIndex(_:)``) with approved work other than the loaded credits.
    var activeWeeks: Set<Int> = []
}

/// Applies decisions to an ASN's ledger state under the rules, producing the entries to append.
///
/// Pure: no I/O, ids are fresh UUIDs. Order matters and is the order decisions were consumed.
struct LedgerSimulator {
    /// The program of a decision: its own, or for a finding without one, the default program.
    var program: (String?) -> ProgramDocument?
    var campaigns: [Campaign]

    struct Outcome {
        var entries: [LedgerEntry] = []
        var bans: [EarningBan] = []
        /// Entry id → the ASN's name (for events).
        var names: [UUID: String] = [:]
        /// Penalty entry id → the end of the ban in force after it (for `penalty.applied`); entry id → reason.
        var banUntil: [UUID: Date] = [:]
        var reasonCodes: [UUID: String] = [:]
        var reasons: [UUID: String] = [:]
    }

    func apply(_ input: DecisionInput, to state: inout ASNLedgerState, outcome: inout Outcome) {
        switch input {
        case .verified(let approval):
            award(approval, state: &state, outcome: &outcome)
        case .rejected(let finding):
            if finding.fraud { penalize(finding, state: &state, outcome: &outcome) }
        case .revoked(let finding):
            state.revoked.insert(finding.submissionId)
            for index in state.credits.indices
            where state.credits[index].entry.submissionId == finding.submissionId && !state.credits[index].reversed {
                let original = state.credits[index].entry
                state.credits[index].reversed = true
                var reversal = original
                reversal.id = UUID.timeOrdered()
                reversal.kind = .reversal
                reversal.points = -original.points
                reversal.breakdown = [
                    PointsComponent(kind: PointsRules.Kind.reversal, points: -original.points, detail: finding.reason)
                ]
                reversal.reverses = original.id
                outcome.entries.append(reversal)
                outcome.reasonCodes[reversal.id] = finding.reasonCode
                outcome.reasons[reversal.id] = finding.reason
            }
            if finding.fraud { penalize(finding, state: &state, outcome: &outcome) }
        }
    }

    private func award(_ input: ScoringInput, state: inout ASNLedgerState, outcome: inout Outcome) {
        guard !state.credits.contains(where: { $0.entry.kind == .award && $0.entry.submissionId == input.submissionId })
        else { return }
        let document = program(input.program)
        let prior = state.credits.filter { $0.entry.kind == .award && !$0.reversed }.map {
            PriorAward(activity: $0.entry.activity, activityAt: $0.entry.activityAt, points: $0.entry.points)
        }
        let ban = state.bans.first { $0.contains(input.decidedAt) }
        let context = RuleContext(
            priorAwards: prior, revoked: state.revoked.contains(input.submissionId), campaigns: campaigns, ban: ban)
        let computation = PointsRules.compute(input, program: document, context: context)
        let entry = LedgerEntry(
            id: UUID.timeOrdered(), nip: input.nip, opd: input.opd, submissionId: input.submissionId,
            program: input.program,
            programVersion: document?.version, activity: input.activity, kind: .award, points: computation.points,
            breakdown: computation.breakdown, ruleVersion: document?.ruleVersion ?? "\(input.program)@none",
            period: Period.containing(input.activityAt, kind: .quarter).description, activityAt: input.activityAt,
            recordedAt: Date(), reverses: nil)
        outcome.entries.append(entry)
        if let name = input.name { outcome.names[entry.id] = name }

        // Streak: the first approved work of an ISO week that completes a run of a configured length.
        if let streak = document?.streak, computation.points > 0 {
            let active = state.activeWeeks.union(
                state.credits.filter { $0.entry.kind == .award && !$0.reversed && $0.entry.points > 0 }.map {
                    JakartaCalendar.weekIndex($0.entry.activityAt)
                })
            let week = JakartaCalendar.weekIndex(input.activityAt)
            if !active.contains(week) {
                var run = 1
                while run <= streak.longest, active.contains(week - run) { run += 1 }
                if let bonus = streak.bonuses.first(where: { $0.weeks == run }), let document {
                    let label = JakartaCalendar.weekLabel(input.activityAt)
                    var entry = entry
                    entry.id = UUID.timeOrdered()
                    entry.kind = .bonus
                    entry.points = bonus.points
                    entry.breakdown = [
                        PointsComponent(
                            kind: PointsRules.Kind.streakBonus, points: bonus.points,
                            detail: "\(run) minggu berturut-turut sampai \(label) / \(run)-week streak")
                    ]
                    entry.ruleVersion = document.ruleVersion
                    state.credits.append((entry, false))
                    outcome.entries.append(entry)
                    if let name = input.name { outcome.names[entry.id] = name }
                }
            }
        }
        state.credits.append((entry, false))
    }

    private func penalize(_ finding: FindingInput, state: inout ASNLedgerState, outcome: inout Outcome) {
        guard let document = program(finding.program), let fraud = document.fraud,
            !state.penalized.contains(finding.submissionId)
        else { return }
        state.penalized.insert(finding.submissionId)
        state.fraudTimes.append(finding.decidedAt)
        var breakdown = [
            PointsComponent(
                kind: PointsRules.Kind.fraudPenalty, points: -fraud.penaltyPoints,
                detail: "\(finding.reasonCode): \(finding.reason)")
        ]
        let entry = LedgerEntry(
            id: UUID.timeOrdered(), nip: finding.nip, opd: finding.opd, submissionId: finding.submissionId,
            program: document.program, programVersion: document.version, activity: finding.activity ?? "",
            kind: .penalty, points: -fraud.penaltyPoints, breakdown: [], ruleVersion: document.ruleVersion,
            period: Period.containing(finding.decidedAt, kind: .quarter).description, activityAt: finding.decidedAt,
            recordedAt: Date(), reverses: nil)
        if let rule = fraud.ban {
            let from = finding.decidedAt.addingTimeInterval(-Double(rule.withinDays) * 86_400)
            let count = state.fraudTimes.filter { $0 > from && $0 <= finding.decidedAt }.count
            if count >= rule.rejections {
                let range = finding.decidedAt..<finding.decidedAt.addingTimeInterval(Double(rule.banDays) * 86_400)
                state.bans.append(range)
                outcome.bans.append(
                    EarningBan(
                        penaltyEntryId: entry.id, nip: finding.nip, range: range, fraudCount: count,
                        ruleVersion: document.ruleVersion))
                outcome.banUntil[entry.id] = range.upperBound
                breakdown.append(
                    PointsComponent(
                        kind: PointsRules.Kind.earningBan, points: 0,
                        detail: "\(count) temuan kecurangan dalam \(rule.withinDays) hari: tidak memperoleh poin "
                            + "sampai \(PointsRules.jakartaText(range.upperBound)) / earning banned"))
            }
        }
        // Every penalty.applied carries the ban in force (if any), so a consumer keeping only the latest value
        // never lifts a running ban early.
        if let until = state.bans.filter({ $0.contains(finding.decidedAt) }).map(\.upperBound).max() {
            outcome.banUntil[entry.id] = until
        }
        var penalty = entry
        penalty.breakdown = breakdown
        outcome.entries.append(penalty)
        outcome.reasonCodes[penalty.id] = finding.reasonCode
        outcome.reasons[penalty.id] = finding.reason
    }
}
