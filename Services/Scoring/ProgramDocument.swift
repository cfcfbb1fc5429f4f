import Contracts
import Foundation

/// One version of a program as BKPP writes it in `deploy/programs/<program>.yaml`, and as it is stored in
/// `programs.document`.
///
/// The activities and verification limits reuse the `Contracts` types, so what scoring stores is exactly what it
/// publishes in `program.published`.
struct ProgramDocument: Codable, Sendable, Equatable {
    /// The program id, e.g. `peduli-sampah`.
    var program: String
    /// The version, 1, 2, …: a change of rules is a new version; a stored version never changes.
    var version: Int
    /// The display name in Bahasa Indonesia.
    var name: String
    /// A longer description in Bahasa Indonesia.
    var description: String?
    /// Whether submissions are open (default `true`).
    var active: Bool?
    /// Points multiplier per place; missing places count 1.0.
    var placeFactors: [String: Double]?
    /// Limits verification applies.
    var verification: VerificationPolicy?
    /// The activity catalogue.
    var activities: [ActivityDefinition]

    /// `peduli-sampah@1`: the rule version written on every ledger entry computed under this document.
    var ruleVersion: String { "\(program)@\(version)" }

    /// Whether submissions are open.
    var isActive: Bool { active ?? true }

    /// The activity with `code`.
    func activity(_ code: String) -> ActivityDefinition? {
        activities.first { $0.code == code }
    }

    /// The multiplier for `place` (1.0 when the program sets none).
    func placeFactor(_ place: String) -> Double {
        placeFactors?[place] ?? 1.0
    }

    /// The `program.published` payload announcing this version.
    func published(at date: Date) -> ProgramPublished {
        ProgramPublished(
            program: program,
            programVersion: String(version),
            name: name,
            activities: activities,
            publishedAt: date,
            description: description,
            placeFactors: placeFactors,
            active: isActive,
            verification: verification
        )
    }
}

/// The vocabulary a program file may use.
enum ProgramVocabulary {
    /// Units an activity is measured in.
    static let units: Set<String> = ["count", "kg"]
    /// Places an activity may happen at.
    static let places: Set<String> = ["office", "home"]
    /// Keys allowed at the top level of a program file.
    static let documentKeys: Set<String> = [
        "program", "version", "name", "description", "active", "placeFactors", "verification", "activities",
    ]
    /// Keys allowed in an activity.
    static let activityKeys: Set<String> = [
        "code", "name", "unit", "places", "basePoints", "pointsPerKg", "dailyCap", "weeklyCap", "maxQuantity",
        "description",
    ]
    /// Keys allowed under `verification`.
    static let verificationKeys: Set<String> = [
        "captureWindowHours", "geofenceMeters", "auditSampleRate", "fourEyesMinPoints",
    ]
}
