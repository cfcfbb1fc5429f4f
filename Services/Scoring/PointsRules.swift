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
    /// When verification approved it (decides whether an earning ban applies).
    var decidedAt: Date
    var opd: String
    var name: String?

    init(
        submissionId: UUID, nip: String, program: String, activity: String, place: String, quantity: Double,
        activityAt: Date, decidedAt: Date? = nil, opd: String = "", name: String? = nil
    ) {
        self.submissionId = submissionId
        self.nip = nip
        self.program = program
        self.activity = activity
        self.place = place
        self.quantity = quantity
        self.activityAt = activityAt
        self.decidedAt = decidedAt ?? activityAt
        self.opd = opd
        self.name = name
    }

    init(_ event: SubmissionVerified) {
        self.init(
            submissionId: event.submissionId, nip: event.nip, program: event.program, activity: event.activity,
            place: event.place, quantity: event.quantity, activityAt: event.activityAt, decidedAt: event.decidedAt,
            opd: event.opd, name: event.name)
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
    /// Campaigns whose window may contain the activity (the rules pick those that apply).
    var campaigns: [Campaign]
    /// The earning ban in force when the approval was decided, if any.
    var ban: Range<Date>?

    init(priorAwards: [PriorAward] = [], revoked: Bool = false, campaigns: [Campaign] = [], ban: Range<Date>? = nil) {
        self.priorAwards = priorAwards
        self.revoked = revoked
        self.campaigns = campaigns
        self.ban = ban
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
        static let campaign = "campaign"
        static let dailyCap = "daily_cap"
        static let weeklyCap = "weekly_cap"
        static let earningBan = "earning_ban"
        static let streakBonus = "streak_bonus"
        static let fraudPenalty = "fraud_penalty"
        static let reversal = "reversal"
        static let correction = "correction"
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
        var total = roundedDown(Double(subtotal) * factor)
        if total != subtotal {
            breakdown.append(
                PointsComponent(
                    kind: Kind.placeFactor, points: total - subtotal, detail: "×\(format(factor)) \(input.place)"))
        }
        // Overlapping campaigns: the highest multiplier wins, never the product.
        if let campaign = context.campaigns.filter({ $0.applies(to: input) }).max(by: {
            ($0.multiplier, $1.name) < ($1.multiplier, $0.name)
        }) {
            let multiplied = roundedDown(Double(total) * campaign.multiplier)
            breakdown.append(
                PointsComponent(
                    kind: Kind.campaign, points: multiplied - total,
                    detail: "\(campaign.name) ×\(format(campaign.multiplier))"))
            total = multiplied
        }
        if let ban = context.ban {
            breakdown.append(
                PointsComponent(
                    kind: Kind.earningBan, points: -total,
                    detail: "larangan memperoleh poin sampai \(jakartaText(ban.upperBound)) / earning banned"))
            return PointsComputation(points: 0, breakdown: breakdown, ineligibleReason: nil)
        }
        // Caps count the earlier approvals of the activity that earned points, per Jakarta day and ISO week.
        let earlier = context.priorAwards.filter { $0.activity == input.activity && $0.points > 0 }
        if let cap = activity.dailyCap {
            let day = JakartaCalendar.dayIndex(input.activityAt)
            if earlier.filter({ JakartaCalendar.dayIndex($0.activityAt) == day }).count >= cap {
                breakdown.append(
                    PointsComponent(
                        kind: Kind.dailyCap, points: -total,
                        detail: "batas harian \(cap)× \(activity.name) tercapai / daily cap reached"))
                return PointsComputation(points: 0, breakdown: breakdown, ineligibleReason: nil)
            }
        }
        if let cap = activity.weeklyCap {
            let week = JakartaCalendar.weekIndex(input.activityAt)
            if earlier.filter({ JakartaCalendar.weekIndex($0.activityAt) == week }).count >= cap {
                breakdown.append(
                    PointsComponent(
                        kind: Kind.weeklyCap, points: -total,
                        detail: "batas mingguan \(cap)× \(activity.name) tercapai / weekly cap reached"))
                return PointsComputation(points: 0, breakdown: breakdown, ineligibleReason: nil)
            }
        }
        return PointsComputation(points: total, breakdown: breakdown, ineligibleReason: nil)
    }

    static func jakartaText(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = Period.timeZone
        formatter.dateFormat = "yyyy-MM-dd HH:mm 'WIB'"
        return formatter.string(from: date)
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

    static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}

/// Days and ISO weeks in Asia/Jakarta time (UTC+7, no daylight saving) as plain integers, so caps and streaks
/// compare numbers.
enum JakartaCalendar {
    /// Days since 1970-01-01 in Jakarta.
    static func dayIndex(_ date: Date) -> Int {
        Int(((date.timeIntervalSince1970 + 7 * 3600) / 86_400).rounded(.down))
    }

    /// ISO weeks (Monday to Sunday) since the week of 1970-01-05 (a Monday); consecutive weeks differ by one, also
    /// across a year boundary (2026-W53 → 2027-W01).
    static func weekIndex(_ date: Date) -> Int {
        Int((Double(dayIndex(date) - 4) / 7).rounded(.down))
    }

    /// The first instant (Monday 00:00 Jakarta) of the week with ``weekIndex(_:)`` `week`.
    static func weekStart(_ week: Int) -> Date {
        Date(timeIntervalSince1970: Double((week * 7 + 4) * 86_400 - 7 * 3600))
    }

    /// `2026-W05` (ISO year and week).
    static func weekLabel(_ date: Date) -> String {
        var calendar = Calendar(identifier: .iso8601)
        calendar.timeZone = Period.timeZone
        let components = calendar.dateComponents([.yearForWeekOfYear, .weekOfYear], from: date)
        let week = components.weekOfYear ?? 0
        return "\(components.yearForWeekOfYear ?? 0)-W\(week < 10 ? "0" : "")\(week)"
    }
}

/// A campaign multiplier (e.g. Hari Peduli Sampah Nasional): approved activities done inside the window earn
/// `multiplier` times the points.
struct Campaign: Sendable, Equatable, Codable {
    var id: UUID
    var name: String
    var multiplier: Double
    /// Only these activities; `nil` or empty: all.
    var activities: [String]?
    /// Only this program; `nil`: all.
    var program: String?
    var startsAt: Date
    var endsAt: Date

    func applies(to input: ScoringInput) -> Bool {
        (startsAt..<endsAt).contains(input.activityAt) && (program == nil || program == input.program)
            && (activities?.isEmpty ?? true || activities?.contains(input.activity) == true)
    }
}
