import Foundation

/// `submission.verified` (verification → scoring, intake, notification): the submission is approved, by the
/// automatic checks or by a verifier (possibly on appeal). Scoring turns it into points.
///
/// Subject: the submission id.
package struct SubmissionVerified: EventPayload {
    /// `submission.verified`.
    package static let eventName = "submission.verified"
    /// Version 1.
    package static let version = 1
    /// `decidedBy` for automatic approvals.
    package static let automatic = "auto"

    /// The submission id.
    package var submissionId: UUID
    /// The ASN's NIP.
    package var nip: String
    /// The ASN's OPD code.
    package var opd: String
    /// The program id, e.g. `peduli-sampah`.
    package var program: String
    /// The activity code.
    package var activity: String
    /// `office` or `home`.
    package var place: String
    /// When the activity happened (decides period, caps and campaign windows).
    package var activityAt: Date
    /// The approved quantity (a verifier may have corrected it).
    package var quantity: Double
    /// When the decision was made.
    package var decidedAt: Date
    /// `auto` (`SubmissionVerified.automatic`) or the deciding verifier's NIP.
    package var decidedBy: String
    /// The checks that ran and passed or were overridden: `ReasonCode` raw values a reviewer accepted, or
    /// names of passed checks; informational.
    package var checks: [String]
    /// Whether this auto-approval was also sent to human review as an audit sample (a `submission.revoked`
    /// may follow).
    package var sampledForAudit: Bool
    /// `count` or `kg`.
    package var unit: String?
    /// The ASN's name, when known.
    package var name: String?
    /// When the ASN submitted (first-come tie-breaks).
    package var submittedAt: Date?
    /// The verifier's note to the ASN.
    package var note: String?
    /// Whether this approval decided an appeal.
    package var onAppeal: Bool?
    /// `auto` or `manual` (a verifier decided); `nil` from producers before this field.
    package var method: String?
    /// The reason codes the automatic checks found (a verifier approved despite them); empty when none.
    package var reasonCodes: [String]?
    /// Always `false` for an approval; carried so every decision event has the same shape.
    package var fraud: Bool?
    /// Whether the ASN may appeal (never for an approval).
    package var appealable: Bool?

    /// Creates the payload.
    package init(
        submissionId: UUID,
        nip: String,
        opd: String,
        program: String,
        activity: String,
        place: String,
        activityAt: Date,
        quantity: Double,
        decidedAt: Date,
        decidedBy: String,
        checks: [String] = [],
        sampledForAudit: Bool = false,
        unit: String? = nil,
        name: String? = nil,
        submittedAt: Date? = nil,
        note: String? = nil,
        onAppeal: Bool? = nil,
        method: String? = nil,
        reasonCodes: [String]? = nil,
        fraud: Bool? = nil,
        appealable: Bool? = nil
    ) {
        self.submissionId = submissionId
        self.nip = nip
        self.opd = opd
        self.program = program
        self.activity = activity
        self.place = place
        self.activityAt = activityAt
        self.quantity = quantity
        self.decidedAt = decidedAt
        self.decidedBy = decidedBy
        self.checks = checks
        self.sampledForAudit = sampledForAudit
        self.unit = unit
        self.name = name
        self.submittedAt = submittedAt
        self.note = note
        self.onAppeal = onAppeal
        self.method = method
        self.reasonCodes = reasonCodes
        self.fraud = fraud
        self.appealable = appealable
    }

    /// Whether no human decided.
    package var isAutomatic: Bool { decidedBy == Self.automatic }

    /// The submission id (lowercase).
    package var subject: String { submissionId.lowercased }
}
