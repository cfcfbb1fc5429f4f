import Foundation

/// `commitment.evaluated` (scoring → notification): at period close, an OPD's *Lelang Kinerja* commitment was
/// met or missed. A miss is followed by `sanction.imposed`.
///
/// Subject: the OPD code (a commitment belongs to an agency, not to one ASN).
package struct CommitmentEvaluated: EventPayload {
    /// `commitment.evaluated`.
    package static let eventName = "commitment.evaluated"
    /// Version 1.
    package static let version = 1

    /// What a commitment measures (values of `metric`).
    package enum Metric: String, Codable, Sendable, CaseIterable {
        /// Share of the OPD's ASN with at least one approved activity, 0–100 (%).
        case participationRate = "participation_rate"
        /// Kilograms sorted (kg activities).
        case kgSorted = "kg_sorted"
        /// Number of approved activities.
        case approvedActivities = "approved_activities"
    }

    /// The commitment id.
    package var commitmentId: UUID
    /// The committing OPD's code.
    package var opd: String
    /// The period, e.g. `2026-Q1`.
    package var period: String
    /// A `Metric` raw value.
    package var metric: String
    /// The committed target.
    package var target: Double
    /// The baseline registered with the commitment.
    package var baseline: Double?
    /// The achieved value.
    package var actual: Double
    /// Whether `actual` reached `target`.
    package var met: Bool
    /// When it was evaluated.
    package var evaluatedAt: Date
    /// ASN of the OPD with no approved activity in the period (listed for the low-performance sanction).
    package var inactiveCount: Int?

    /// Creates the payload.
    package init(
        commitmentId: UUID,
        opd: String,
        period: String,
        metric: String,
        target: Double,
        baseline: Double? = nil,
        actual: Double,
        met: Bool,
        evaluatedAt: Date,
        inactiveCount: Int? = nil
    ) {
        self.commitmentId = commitmentId
        self.opd = opd
        self.period = period
        self.metric = metric
        self.target = target
        self.baseline = baseline
        self.actual = actual
        self.met = met
        self.evaluatedAt = evaluatedAt
        self.inactiveCount = inactiveCount
    }

    /// The OPD code.
    package var subject: String { opd }
}
