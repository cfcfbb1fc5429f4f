import Foundation

/// `penalty.applied` (scoring → intake, notification): negative points for a fraud rejection or revocation,
/// possibly with a temporary earning ban (verification then rejects with `EARNING_BANNED`).
///
/// Subject: the NIP. Confidential: punishments are visible only to the ASN, their OPD head, BKPP and auditors.
package struct PenaltyApplied: EventPayload {
    /// `penalty.applied`.
    package static let eventName = "penalty.applied"
    /// Version 1.
    package static let version = 1
    /// Punishments are not public.
    package static var isConfidential: Bool { true }

    /// The ledger entry id.
    package var entryId: UUID
    /// The ASN's NIP.
    package var nip: String
    /// The ASN's OPD code.
    package var opd: String
    /// Points of the entry (≤ 0).
    package var points: Int
    /// The `ReasonCode` raw value of the fraud finding.
    package var reasonCode: String
    /// Why, in Bahasa Indonesia.
    package var reason: String
    /// The period charged, e.g. `2026-Q1`.
    package var period: String
    /// When the entry was appended.
    package var appliedAt: Date
    /// The submission that triggered the penalty, when there is one.
    package var submissionId: UUID?
    /// The rule version that set the penalty.
    package var ruleVersion: String?
    /// The ASN's total in `period` after this entry.
    package var totalInPeriod: Int?
    /// Earning is banned until this time (exclusive); `nil` when no ban.
    package var earningBannedUntil: Date?

    /// Creates the payload.
    package init(
        entryId: UUID,
        nip: String,
        opd: String,
        points: Int,
        reasonCode: String,
        reason: String,
        period: String,
        appliedAt: Date,
        submissionId: UUID? = nil,
        ruleVersion: String? = nil,
        totalInPeriod: Int? = nil,
        earningBannedUntil: Date? = nil
    ) {
        self.entryId = entryId
        self.nip = nip
        self.opd = opd
        self.points = points
        self.reasonCode = reasonCode
        self.reason = reason
        self.period = period
        self.appliedAt = appliedAt
        self.submissionId = submissionId
        self.ruleVersion = ruleVersion
        self.totalInPeriod = totalInPeriod
        self.earningBannedUntil = earningBannedUntil
    }

    /// The NIP.
    package var subject: String { nip }
}
