import Foundation

/// `submission.rejected` (verification → scoring, intake, notification): the submission earns nothing.
/// When `fraud` is set, scoring applies a penalty and may ban earning.
///
/// Subject: the submission id. Confidential: a rejection is visible only to the ASN and authorised staff.
package struct SubmissionRejected: EventPayload {
    /// `submission.rejected`.
    package static let eventName = "submission.rejected"
    /// Version 1.
    package static let version = 1
    /// Rejections are not public.
    package static var isConfidential: Bool { true }

    /// The submission id.
    package var submissionId: UUID
    /// The ASN's NIP.
    package var nip: String
    /// The ASN's OPD code.
    package var opd: String
    /// The main reason: a `ReasonCode` raw value, e.g. `DUPLICATE_EVIDENCE`.
    package var reasonCode: String
    /// The reason as shown to the ASN, in Bahasa Indonesia.
    package var reason: String
    /// When the decision was made.
    package var decidedAt: Date
    /// `auto` or the deciding verifier's NIP.
    package var decidedBy: String
    /// Whether the rejection is for fraud (duplicate or manipulated evidence): scoring penalises it.
    package var fraud: Bool
    /// The program id.
    package var program: String?
    /// The activity code.
    package var activity: String?
    /// Every reason code found, the main one first.
    package var reasonCodes: [String]?
    /// Whether the ASN may still appeal (an ASN may appeal once; a decision on appeal is final).
    package var appealable: Bool?
    /// Whether this rejection decided an appeal.
    package var onAppeal: Bool?
    /// `auto` or `manual` (a verifier decided); `nil` from producers before this field.
    package var method: String?
    /// The verifier's note to the ASN.
    package var note: String?

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
        program: String? = nil,
        activity: String? = nil,
        reasonCodes: [String]? = nil,
        appealable: Bool? = nil,
        onAppeal: Bool? = nil,
        method: String? = nil,
        note: String? = nil
    ) {
        self.submissionId = submissionId
        self.nip = nip
        self.opd = opd
        self.reasonCode = reasonCode
        self.reason = reason
        self.decidedAt = decidedAt
        self.decidedBy = decidedBy
        self.fraud = fraud
        self.program = program
        self.activity = activity
        self.reasonCodes = reasonCodes
        self.appealable = appealable
        self.onAppeal = onAppeal
        self.method = method
        self.note = note
    }

    /// The typed reason code, when it is one this version knows.
    package var knownReasonCode: ReasonCode? { ReasonCode(rawValue: reasonCode) }

    /// The submission id (lowercase).
    package var subject: String { submissionId.lowercased }
}
