import Foundation

/// `points.reversed` (scoring → intake, notification): a correcting ledger entry cancelling an earlier award
/// (the ledger is append-only; nothing is updated).
///
/// Subject: the NIP.
package struct PointsReversed: EventPayload {
    /// `points.reversed`.
    package static let eventName = "points.reversed"
    /// Version 1.
    package static let version = 1

    /// The new (correcting) ledger entry id.
    package var entryId: UUID
    /// The entry being reversed.
    package var reversesEntryId: UUID
    /// The submission of the reversed entry.
    package var submissionId: UUID
    /// The ASN's NIP.
    package var nip: String
    /// Points of this entry: the negation of the reversed entry's points (≤ 0).
    package var points: Int
    /// Why, in Bahasa Indonesia.
    package var reason: String
    /// The ASN's OPD code.
    package var opd: String?
    /// A `ReasonCode` raw value when the reversal follows a revocation.
    package var reasonCode: String?
    /// The period of the reversed entry, e.g. `2026-Q1`.
    package var period: String?
    /// When the entry was appended.
    package var reversedAt: Date?
    /// The ASN's total in `period` after this entry.
    package var totalInPeriod: Int?

    /// Creates the payload.
    package init(
        entryId: UUID,
        reversesEntryId: UUID,
        submissionId: UUID,
        nip: String,
        points: Int,
        reason: String,
        opd: String? = nil,
        reasonCode: String? = nil,
        period: String? = nil,
        reversedAt: Date? = nil,
        totalInPeriod: Int? = nil
    ) {
        self.entryId = entryId
        self.reversesEntryId = reversesEntryId
        self.submissionId = submissionId
        self.nip = nip
        self.points = points
        self.reason = reason
        self.opd = opd
        self.reasonCode = reasonCode
        self.period = period
        self.reversedAt = reversedAt
        self.totalInPeriod = totalInPeriod
    }

    /// The NIP.
    package var subject: String { nip }
}
