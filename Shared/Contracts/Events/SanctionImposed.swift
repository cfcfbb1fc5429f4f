import Foundation

/// `sanction.imposed` (scoring → notification): a sanction record for an OPD that missed its commitment, or for
/// an ASN listed for the low-performance sanction.
///
/// Subject: the NIP for an ASN sanction, the OPD code for an OPD sanction. Confidential.
package struct SanctionImposed: EventPayload {
    /// `sanction.imposed`.
    package static let eventName = "sanction.imposed"
    /// Version 1.
    package static let version = 1
    /// Punishments are not public.
    package static var isConfidential: Bool { true }

    /// Kinds of sanction (values of `kind`).
    package enum Kind: String, Codable, Sendable, CaseIterable {
        /// The OPD missed its *Lelang Kinerja* commitment.
        case commitmentMissed = "commitment_missed"
        /// The ASN had no approved activity in a period whose OPD commitment was missed.
        case lowPerformance = "low_performance"
    }

    /// The sanction id.
    package var sanctionId: UUID
    /// A `Kind` raw value.
    package var kind: String
    /// The OPD code.
    package var opd: String
    /// The sanctioned ASN's NIP; `nil` for an OPD sanction.
    package var nip: String?
    /// The period, e.g. `2026-Q1`.
    package var period: String
    /// Why, in Bahasa Indonesia.
    package var reason: String
    /// When it was imposed.
    package var imposedAt: Date
    /// The missed commitment.
    package var commitmentId: UUID?
    /// TPP allowance adjustment in percent (negative reduces), when the mapping sets one.
    package var tppAdjustmentPercent: Double?

    /// Creates the payload.
    package init(
        sanctionId: UUID,
        kind: String,
        opd: String,
        nip: String? = nil,
        period: String,
        reason: String,
        imposedAt: Date,
        commitmentId: UUID? = nil,
        tppAdjustmentPercent: Double? = nil
    ) {
        self.sanctionId = sanctionId
        self.kind = kind
        self.opd = opd
        self.nip = nip
        self.period = period
        self.reason = reason
        self.imposedAt = imposedAt
        self.commitmentId = commitmentId
        self.tppAdjustmentPercent = tppAdjustmentPercent
    }

    /// The NIP, or the OPD code for an OPD sanction.
    package var subject: String { nip ?? opd }
}
