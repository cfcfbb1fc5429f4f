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
    /// How many Jakarta calendar days back an activity may be claimed (intake); `nil`: intake's default (7).
    var maxClaimAgeDays: Int?
    /// Bonus for consecutive ISO weeks with approved work.
    var streak: StreakRule?
    /// Penalty for fraud findings and the temporary earning ban after repeated fraud.
    var fraud: FraudRule?
    /// The TPP adjustment of the HR export and the collective rule (see ``TPPRule``).
    var tpp: TPPRule?
    /// The activity catalogue.
    var activities: [ActivityDefinition]
    /// Rankings privacy and award schemes (quarterly, semester, yearly); see ``AwardScheme``.
    var leaderboard: LeaderboardPrivacy?
    var awards: [AwardScheme]?

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
            verification: verification,
            maxClaimAgeDays: maxClaimAgeDays
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
        "maxClaimAgeDays", "streak", "fraud", "tpp",
        "leaderboard", "awards",
    ]
    /// Keys allowed in an activity.
    static let activityKeys: Set<String> = [
        "code", "name", "unit", "places", "basePoints", "pointsPerKg", "dailyCap", "weeklyCap", "maxQuantity",
        "minQuantity", "description",
    ]
    /// Keys allowed under `verification`.
    static let verificationKeys: Set<String> = [
        "captureWindowHours", "geofenceMeters", "auditSampleRate", "fourEyesMinPoints", "nearDuplicateDistance",
    ]
}

/// The streak bonus: an ASN whose approved work spans `weeks` consecutive ISO weeks (Asia/Jakarta) earns `points`
/// once, when the week completing the run gets its first approved work.
struct StreakRule: Codable, Sendable, Equatable {
    struct Bonus: Codable, Sendable, Equatable {
        /// The run length in consecutive ISO weeks, e.g. 4.
        var weeks: Int
        /// Bonus points.
        var points: Int
    }

    var bonuses: [Bonus]

    /// The longest configured run.
    var longest: Int { bonuses.map(\.weeks).max() ?? 0 }
}

/// Fraud: every rejection (or revocation) flagged as fraud costs `penaltyPoints`; `ban` bars earning for a while
/// after repeated fraud.
struct FraudRule: Codable, Sendable, Equatable {
    struct Ban: Codable, Sendable, Equatable {
        /// This many fraud findings …
        var rejections: Int
        /// … within this many days (by decision time) …
        var withinDays: Int
        /// … ban earning for this many days from the last finding.
        var banDays: Int
    }

    /// Points deducted per fraud finding (written positive).
    var penaltyPoints: Int
    var ban: Ban?
}
