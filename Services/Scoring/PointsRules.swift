import Contracts
import Foundation

/// What the rules need to know about an approved submission.
struct ScoringInput: Sendable, Equatable {
    var submissionId: UUID
    var nip: String
    var program: String
    var activity: String
    var place: String
    var quantity: Double
    var activityAt: Date

    init(
        submissionId: UUID, nip: String, program: String, activity: String, place: String, quantity: Double,
        activityAt: Date
    ) {
        self.submissionId = submissionId
        self.nip = nip
        self.program = program
        self.activity = activity
        self.place = place
        self.quantity = quantity
        self.activityAt = activityAt
    }

    init(_ event: SubmissionVerified) {
        self.init(
            submissionId: event.submissionId, nip: event.nip, program: event.program, activity: event.activity,
            place: event.place, quantity: event.quantity, activityAt: event.activityAt)
    }
}

/// An award the ASN already has, as the rules see it.
struct PriorAward: Sendable, Equatable {
    var activity: String
    var activityAt: Date
    var points: Int
}

/// What the rules may look at besides the submission itself.
///
/// The seam for the rules that depend on history — daily/weekly caps, streak bonus, earning bans — and on
/// operator settings — campaign multipliers: they add fields here (filled by ``PointsLedger``) and lines to the
/// breakdown, without changing how the ledger is written.
struct RuleContext: Sendable, Equatable {
    /// The ASN's awards around the activity time (the ledger's view plus earlier events of the same batch).
    var priorAwards: [PriorAward]
    /// Whether verification later revoked the submission (a revocation arrived before the approval).
    var revoked: Bool

    init(priorAwards: [PriorAward] = [], revoked: Bool = false) {
        self.priorAwards = priorAwards
        self.revoked = revoked
    }
}

/// The result of the rules for one submission.
struct PointsComputation: Sendable, Equatable {
    /// Points to credit, ≥ 0.
    var points: Int
    /// How they are made up; the components' points add up to `points`.
    var breakdown: [PointsComponent]
    /// Why nothing is credited, in Bahasa Indonesia; `nil` when the activity is eligible.
    var ineligibleReason: String?
}

/// The points rules: a pure function of the program version, the submission and its context.
///
/// `points = ⌊(basePoints + ⌊pointsPerKg × kg⌋) × placeFactor⌋`, with `kg` the approved quantity of a kg activity,
/// capped at the activity's `maxQuantity`. Count activities earn `basePoints` per approved submission whatever the
/// quantity. A submission the program cannot score (unknown program or activity, place not allowed, program
/// closed, submission revoked) gets 0 points and a `not_eligible` line saying why, so the ASN sees the outcome.
enum PointsRules {
    /// Breakdown kinds this version writes (the `PointsComponent.kind` vocabulary is shared with later rules).
    enum Kind {
        static let base = "base"
        static let perKg = "per_kg"
        static let placeFactor = "place_factor"
        static let notEligible = "not_eligible"
    }

    /// Computes the points of `input` under `program` (`nil`: the program is unknown to scoring).
    static func compute(_ input: ScoringInput, program: ProgramDocument?, context: RuleContext = RuleContext())
        -> PointsComputation
    {
        guard let program else {
            return ineligible("program '\(input.program)' tidak dikenal / unknown program")
        }
        guard !context.revoked else {
            return ineligible("persetujuan pengajuan telah dicabut / the approval was revoked")
        }
        guard program.isActive else {
            return ineligible("program \(program.name) tidak aktif / the program is closed")
        }
        guard let activity = program.activity(input.activity) else {
            return ineligible(
                "kegiatan '\(input.activity)' tidak ada dalam \(program.ruleVersion) / activity not in the program")
        }
        guard activity.places.contains(input.place) else {
            return ineligible(
                "kegiatan \(activity.name) tidak berlaku di tempat '\(input.place)' / place not allowed")
        }
        var breakdown = [PointsComponent(kind: Kind.base, points: activity.basePoints, detail: activity.name)]
        var subtotal = activity.basePoints
        if activity.unit == "kg", let perKg = activity.pointsPerKg, perKg > 0 {
            let approved = input.quantity.isFinite ? max(0, input.quantity) : 0
            let kg = activity.maxQuantity.map { min(approved, $0) } ?? approved
            let points = roundedDown(perKg * kg)
            var detail = "\(format(kg)) kg × \(format(perKg))"
            if kg < approved { detail += " (dibatasi dari \(format(approved)) kg)" }
            breakdown.append(PointsComponent(kind: Kind.perKg, points: points, detail: detail))
            subtotal += points
        }
        let factor = program.placeFactor(input.place)
        let total = roundedDown(Double(subtotal) * factor)
        if total != subtotal {
            breakdown.append(
                PointsComponent(
                    kind: Kind.placeFactor, points: total - subtotal, detail: "×\(format(factor)) \(input.place)"))
        }
        return PointsComputation(points: total, breakdown: breakdown, ineligibleReason: nil)
    }

    /// ⌊x⌋ after rounding to six decimals, so that binary fractions such as 100 × 0.29 = 28.999999999999996 give
    /// the 29 a person computes; negative and non-finite values give 0.
    static func roundedDown(_ value: Double) -> Int {
        guard value.isFinite, value > 0 else { return 0 }
        return Int(((value * 1_000_000).rounded() / 1_000_000).rounded(.down))
    }

    private static func ineligible(_ reason: String) -> PointsComputation {
        PointsComputation(
            points: 0, breakdown: [PointsComponent(kind: Kind.notEligible, points: 0, detail: reason)],
            ineligibleReason: reason)
    }

    private static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}
