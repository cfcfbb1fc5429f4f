import Foundation

/// `program.published` (scoring → intake, verification, notification): a program version with its activity
/// catalogue and limits (event-carried state: consumers keep a local copy and replace it on each version).
///
/// Subject: the program id.
package struct ProgramPublished: EventPayload {
    /// `program.published`.
    package static let eventName = "program.published"
    /// Version 1.
    package static let version = 1

    /// The program id, e.g. `peduli-sampah`.
    package var program: String
    /// The program version, e.g. `3` (rule versions are `<program>@<version>`).
    package var programVersion: String
    /// The display name, e.g. `Reward ASN Peduli Sampah`.
    package var name: String
    /// The activities.
    package var activities: [ActivityDefinition]
    /// When this version was published.
    package var publishedAt: Date
    /// A longer description in Bahasa Indonesia.
    package var description: String?
    /// Points multiplier per place (`office`, `home`); missing places count 1.0.
    package var placeFactors: [String: Double]?
    /// Whether submissions are open.
    package var active: Bool?
    /// Verification limits; `nil` fields mean the verification defaults.
    package var verification: VerificationPolicy?
    /// How many days back (Asia/Jakarta calendar days) an activity may be claimed; `nil` means intake's default (7).
    package var maxClaimAgeDays: Int?

    /// Creates the payload.
    package init(
        program: String,
        programVersion: String,
        name: String,
        activities: [ActivityDefinition],
        publishedAt: Date,
        description: String? = nil,
        placeFactors: [String: Double]? = nil,
        active: Bool? = nil,
        verification: VerificationPolicy? = nil,
        maxClaimAgeDays: Int? = nil
    ) {
        self.program = program
        self.programVersion = programVersion
        self.name = name
        self.activities = activities
        self.publishedAt = publishedAt
        self.description = description
        self.placeFactors = placeFactors
        self.active = active
        self.verification = verification
        self.maxClaimAgeDays = maxClaimAgeDays
    }

    /// The activity with `code`.
    package func activity(_ code: String) -> ActivityDefinition? {
        activities.first { $0.code == code }
    }

    /// The program id.
    package var subject: String { program }
}

/// One activity of a program, e.g. `bank_sampah` (deposit, kg).
package struct ActivityDefinition: Codable, Sendable, Equatable, Hashable {
    /// The code, e.g. `pilah_sampah`.
    package var code: String
    /// The display name in Bahasa Indonesia.
    package var name: String
    /// `count` or `kg`.
    package var unit: String
    /// Allowed places (`office`, `home`).
    package var places: [String]
    /// Points per approved submission.
    package var basePoints: Int
    /// Extra points per kilogram (kg activities).
    package var pointsPerKg: Double?
    /// Most approved submissions of this activity per ASN per day (`DAILY_CAP`).
    package var dailyCap: Int?
    /// Most approved submissions of this activity per ASN per week.
    package var weeklyCap: Int?
    /// Largest plausible quantity per submission (`IMPLAUSIBLE_QUANTITY`).
    package var maxQuantity: Double?
    /// The smallest plausible quantity per submission; `nil` means any positive quantity.
    package var minQuantity: Double?
    /// A description in Bahasa Indonesia.
    package var description: String?

    /// Creates an activity definition.
    package init(
        code: String,
        name: String,
        unit: String,
        places: [String],
        basePoints: Int,
        pointsPerKg: Double? = nil,
        dailyCap: Int? = nil,
        weeklyCap: Int? = nil,
        maxQuantity: Double? = nil,
        minQuantity: Double? = nil,
        description: String? = nil
    ) {
        self.code = code
        self.name = name
        self.unit = unit
        self.places = places
        self.basePoints = basePoints
        self.pointsPerKg = pointsPerKg
        self.dailyCap = dailyCap
        self.weeklyCap = weeklyCap
        self.maxQuantity = maxQuantity
        self.minQuantity = minQuantity
        self.description = description
    }
}

/// Verification limits a program may set.
package struct VerificationPolicy: Codable, Sendable, Equatable, Hashable {
    /// How many hours around the claimed activity time an EXIF capture time may be (`CAPTURE_OUTSIDE_WINDOW`).
    package var captureWindowHours: Double?
    /// Geofence radius in metres around a registered location (`OUTSIDE_GEOFENCE`).
    package var geofenceMeters: Double?
    /// Share of auto-approvals sent to audit review, 0–1.
    package var auditSampleRate: Double?
    /// Claims worth at least this many points need two verifiers.
    package var fourEyesMinPoints: Int?
    /// The largest Hamming distance between perceptual hashes that counts as `NEAR_DUPLICATE_EVIDENCE` (default 6).
    package var nearDuplicateDistance: Int?

    /// Creates a policy.
    package init(
        captureWindowHours: Double? = nil,
        geofenceMeters: Double? = nil,
        auditSampleRate: Double? = nil,
        fourEyesMinPoints: Int? = nil,
        nearDuplicateDistance: Int? = nil
    ) {
        self.captureWindowHours = captureWindowHours
        self.geofenceMeters = geofenceMeters
        self.auditSampleRate = auditSampleRate
        self.fourEyesMinPoints = fourEyesMinPoints
        self.nearDuplicateDistance = nearDuplicateDistance
    }
}
