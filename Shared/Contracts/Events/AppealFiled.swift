import Foundation

/// `appeal.filed` (intake or verification → verification, notification): an ASN appealed a rejection (once per
/// submission); a different verifier decides.
///
/// Subject: the submission id. Confidential.
package struct AppealFiled: EventPayload {
    /// `appeal.filed`.
    package static let eventName = "appeal.filed"
    /// Version 1.
    package static let version = 1
    /// Appeals concern rejections, which are not public.
    package static var isConfidential: Bool { true }

    /// The appeal id.
    package var appealId: UUID
    /// The appealed submission.
    package var submissionId: UUID
    /// The appealing ASN's NIP.
    package var nip: String
    /// The ASN's OPD code.
    package var opd: String
    /// The ASN's statement.
    package var statement: String
    /// When the appeal was filed.
    package var filedAt: Date
    /// The reason code of the rejection being appealed.
    package var originalReasonCode: String?
    /// Who made the rejection (`auto` or a NIP): that verifier may not decide the appeal.
    package var originalDecidedBy: String?

    /// Creates the payload.
    package init(
        appealId: UUID,
        submissionId: UUID,
        nip: String,
        opd: String,
        statement: String,
        filedAt: Date,
        originalReasonCode: String? = nil,
        originalDecidedBy: String? = nil
    ) {
        self.appealId = appealId
        self.submissionId = submissionId
        self.nip = nip
        self.opd = opd
        self.statement = statement
        self.filedAt = filedAt
        self.originalReasonCode = originalReasonCode
        self.originalDecidedBy = originalDecidedBy
    }

    /// The submission id (lowercase).
    package var subject: String { submissionId.lowercased }
}
