import Foundation

/// `points.awarded` (scoring → intake, notification): a ledger entry credited points for an approved submission.
///
/// Subject: the NIP.
package struct PointsAwarded: EventPayload {
    /// `points.awarded`.
    package static let eventName = "points.awarded"
    /// Version 1.
    package static let version = 1

    /// The ledger entry id.
    package var entryId: UUID
    /// The approved submission the points are for.
    package var submissionId: UUID
    /// The ASN's NIP.
    package var nip: String
    /// The ASN's OPD code.
    package var opd: String
    /// The program id.
    package var program: String
    /// The activity code.
    package var activity: String
    /// Points credited (≥ 0; 0 when a cap absorbed everything).
    package var points: Int
    /// The rule version that computed them, e.g. `peduli-sampah@3`.
    package var ruleVersion: String
    /// The period the activity counts in, e.g. `2026-Q1` (a `Period` description).
    package var period: String
    /// When the entry was appended.
    package var awardedAt: Date
    /// The ASN's total in `period` after this entry.
    package var totalInPeriod: Int
    /// The ASN's name, when known.
    package var name: String?
    /// How the points were made up (base, per kg, place factor, campaign, streak, cap).
    package var breakdown: [PointsComponent]?
    /// The ledger entry's kind: `award` (an approved submission), `bonus` (streak bonus for the submission that
    /// completed the streak) or `correction` (a recompute under another rule version); `nil` in older events
    /// means `award`.
    package var entryKind: String?

    /// Creates the payload.
    package init(
        entryId: UUID,
        submissionId: UUID,
        nip: String,
        opd: String,
        program: String,
        activity: String,
        points: Int,
        ruleVersion: String,
        period: String,
        awardedAt: Date,
        totalInPeriod: Int,
        name: String? = nil,
        breakdown: [PointsComponent]? = nil,
        entryKind: String? = nil
    ) {
        self.entryId = entryId
        self.submissionId = submissionId
        self.nip = nip
        self.opd = opd
        self.program = program
        self.activity = activity
        self.points = points
        self.ruleVersion = ruleVersion
        self.period = period
        self.awardedAt = awardedAt
        self.totalInPeriod = totalInPeriod
        self.name = name
        self.breakdown = breakdown
        self.entryKind = entryKind
    }

    /// The NIP.
    package var subject: String { nip }
}

/// One line of a points computation, for explaining an award to the ASN.
package struct PointsComponent: Codable, Sendable, Equatable, Hashable {
    /// What the line is: `base`, `per_kg`, `place_factor`, `campaign`, `streak_bonus`, `daily_cap`, `weekly_cap`.
    package var kind: String
    /// Points this line adds (negative for caps).
    package var points: Int
    /// Detail, e.g. the campaign name or `×1.5`.
    package var detail: String?

    /// Creates a line.
    package init(kind: String, points: Int, detail: String? = nil) {
        self.kind = kind
        self.points = points
        self.detail = detail
    }
}
