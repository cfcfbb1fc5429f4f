import Foundation

/// `submission.revoked` (verification → scoring, intake, notification): an audit overturned an earlier
/// approval. Scoring reverses the points with `points.reversed` (and a penalty when `fraud`).
///
/// Subject: the submission id. Confidential.
package struct SubmissionRevoked: EventPayload {
    /// `submission.revoked`.
    package static let eventName = "submission.revoked"
    /// Version 1.
    package static let version = 1
    /// Revocations are not public.
    package static var isConfidential: Bool { true }

    /// The submission id.
    package var submissionId: UUID
    /// The ASN's NIP.
    package var nip: String
    /// The ASN's OPD code.
    package var opd: String
    /// A `ReasonCode` raw value (usually `REVIEWER_REJECTED` or an evidence code).
    package var reasonCode: String
    /// The reason as shown to the ASN, in Bahasa Indonesia.
    package var reason: String
    /// When the audit decided.
    package var decidedAt: Date
    /// The auditing verifier's NIP.
    package var decidedBy: String
    /// Whether the revocation is for fraud.
    package var fraud: Bool
    /// When the overturned approval was made.
    package var approvedAt: Date?
    /// Every reason code of the audit, the main one first.
    package var reasonCodes: [String]?
    /// Always `manual` (an auditing verifier decided).
    package var method: String?
    /// The auditing verifier's note to the ASN.
    package var note: String?
    /// Whether the ASN may appeal the revocation.
    package var appealable: Bool?

    /// Creates the payload.
    package init(
        submissionId: UUID,
        nip: String,
        opd: String,
        reasonCode: String,
        reason: String,
        decidedAt: Date,
        decidedBy: String,
        fraud: Bool = false,
        approvedAt: Date? = nil,
        reasonCodes: [String]? = nil,
        method: String? = nil,
        note: String? = nil,
        appealable: Bool? = nil
    ) {
        self.submissionId = submissionId
        self.nip = nip
        self.opd = opd
        self.reasonCode = reasonCode
        self.reason = reason
        self.decidedAt = decidedAt
        self.decidedBy = decidedBy
        self.fraud = fraud
        self.approvedAt = approvedAt
        self.reasonCodes = reasonCodes
        self.method = method
        self.note = note
        self.appealable = appealable
    }

    /// The submission id (lowercase).
    package var subject: String { submissionId.lowercased }
}
