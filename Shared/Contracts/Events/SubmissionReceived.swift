import Foundation

/// `submission.received` (intake → verification, notification): an ASN submitted an activity with evidence.
///
/// Subject: the submission id. Confidential: carries locations.
package struct SubmissionReceived: EventPayload {
    /// `submission.received`.
    package static let eventName = "submission.received"
    /// Version 1.
    package static let version = 1
    /// Carries the ASN's locations.
    package static var isConfidential: Bool { true }

    /// The submission id, assigned by intake.
    package var submissionId: UUID
    /// The submitting ASN's NIP (18 digits; carried as a string, validated by intake with `NIP`).
    package var nip: String
    /// The ASN's name from the token, when known.
    package var name: String?
    /// The ASN's agency (OPD) code.
    package var opd: String
    /// The program id, e.g. `peduli-sampah`.
    package var program: String
    /// The activity code, e.g. `pilah_sampah`, `bank_sampah`.
    package var activity: String
    /// `office` or `home` (see `Place`).
    package var place: String
    /// When the ASN says the activity happened.
    package var activityAt: Date
    /// When intake accepted the submission.
    package var submittedAt: Date
    /// How much: a count, or kilograms for kg activities.
    package var quantity: Double
    /// `count` or `kg`, as in the program's activity definition.
    package var unit: String?
    /// The ASN's free-text note.
    package var note: String?
    /// 1–3 photos.
    package var evidence: [EvidenceRef]
    /// The device GPS at submission, when the ASN allowed it: **client-provided** (sent by the browser, not read
    /// from the photo), so never trusted alone. The photo's own GPS is in each `evidence[].capture`.
    package var deviceLocation: GeoPoint?
    /// The program version the submission was validated against.
    package var programVersion: String?

    /// Creates the payload.
    package init(
        submissionId: UUID,
        nip: String,
        name: String? = nil,
        opd: String,
        program: String,
        activity: String,
        place: String,
        activityAt: Date,
        submittedAt: Date,
        quantity: Double,
        unit: String? = nil,
        note: String? = nil,
        evidence: [EvidenceRef],
        deviceLocation: GeoPoint? = nil,
        programVersion: String? = nil
    ) {
        self.submissionId = submissionId
        self.nip = nip
        self.name = name
        self.opd = opd
        self.program = program
        self.activity = activity
        self.place = place
        self.activityAt = activityAt
        self.submittedAt = submittedAt
        self.quantity = quantity
        self.unit = unit
        self.note = note
        self.evidence = evidence
        self.deviceLocation = deviceLocation
        self.programVersion = programVersion
    }

    /// The submission id (lowercase).
    package var subject: String { submissionId.lowercased }
}
