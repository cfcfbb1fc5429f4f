import Foundation

/// `review.assigned` (verification → intake, notification): a submission went to the human review queue
/// (the ASN sees "in review"); `reviewerNip` is set once a verifier claims it.
///
/// Subject: the submission id.
package struct ReviewAssigned: EventPayload {
    /// `review.assigned`.
    package static let eventName = "review.assigned"
    /// Version 1.
    package static let version = 1

    /// Why a submission is reviewed (values of `trigger`).
    package enum Trigger: String, Codable, Sendable, CaseIterable {
        /// An automatic check flagged it.
        case checks
        /// An auto-approval sampled for audit.
        case auditSample = "audit_sample"
        /// The ASN appealed a rejection.
        case appeal
        /// A high-value claim needs a second verifier (four eyes).
        case secondReview = "second_review"
    }

    /// The review id.
    package var reviewId: UUID
    /// The submission id.
    package var submissionId: UUID
    /// The submitting ASN's NIP.
    package var nip: String
    /// The submitting ASN's OPD code.
    package var opd: String
    /// A `Trigger` raw value: `checks`, `audit_sample`, `appeal`, `second_review`.
    package var trigger: String
    /// The `ReasonCode` raw values that sent it to review.
    package var checks: [String]
    /// When it entered the queue or was claimed.
    package var assignedAt: Date
    /// The claiming verifier's NIP; `nil` while queued.
    package var reviewerNip: String?
    /// When the claim lease expires.
    package var leaseExpiresAt: Date?
    /// How many approvals by different verifiers the item needs (2 under four-eyes).
    package var requiredApprovals: Int?
    /// The appeal this item decides, for `appeal` items.
    package var appealId: UUID?

    /// Creates the payload.
    package init(
        reviewId: UUID,
        submissionId: UUID,
        nip: String,
        opd: String,
        trigger: String,
        checks: [String] = [],
        assignedAt: Date,
        reviewerNip: String? = nil,
        leaseExpiresAt: Date? = nil,
        requiredApprovals: Int? = nil,
        appealId: UUID? = nil
    ) {
        self.reviewId = reviewId
        self.submissionId = submissionId
        self.nip = nip
        self.opd = opd
        self.trigger = trigger
        self.checks = checks
        self.assignedAt = assignedAt
        self.reviewerNip = reviewerNip
        self.leaseExpiresAt = leaseExpiresAt
        self.requiredApprovals = requiredApprovals
        self.appealId = appealId
    }

    /// The submission id (lowercase).
    package var subject: String { submissionId.lowercased }
}
