import Contracts
import Foundation

/// A program's verification settings with the documented defaults filled in (DESIGN §4, issue #9).
///
/// | setting | from `program.published` `verification` | default |
/// |---|---|---|
/// | capture window | `captureWindowHours` (either side of the claimed activity time) | 48 h |
/// | geofence radius | a registered location's own `radiusMeters`, else `geofenceMeters` | 500 m |
/// | audit sample | `auditSampleRate` (share of auto-approvals also sent to review) | 0.05 |
/// | four-eyes | `fourEyesMinPoints` (claims worth at least this need two approvals) | 50 points |
/// | near duplicate | `nearDuplicateDistance` (Hamming distance, at most 11) | 6 |
struct EffectivePolicy: Sendable, Equatable {
    var captureWindow: TimeInterval
    var geofenceMeters: Double
    var auditSampleRate: Double
    var fourEyesMinPoints: Double
    var nearDuplicateDistance: Int

    static let defaults = EffectivePolicy(
        captureWindow: 48 * 3600, geofenceMeters: 500, auditSampleRate: 0.05, fourEyesMinPoints: 50,
        nearDuplicateDistance: 6)

    /// The defaults overridden by whatever the program sets.
    init(_ policy: VerificationPolicy?) {
        let defaults = Self.defaults
        captureWindow = policy?.captureWindowHours.map { max($0, 0) * 3600 } ?? defaults.captureWindow
        geofenceMeters = policy?.geofenceMeters ?? defaults.geofenceMeters
        auditSampleRate = min(max(policy?.auditSampleRate ?? defaults.auditSampleRate, 0), 1)
        fourEyesMinPoints = policy?.fourEyesMinPoints.map(Double.init) ?? defaults.fourEyesMinPoints
        nearDuplicateDistance = min(
            max(policy?.nearDuplicateDistance ?? defaults.nearDuplicateDistance, 0), NearDuplicateIndex.maxDistance)
    }

    init(
        captureWindow: TimeInterval, geofenceMeters: Double, auditSampleRate: Double, fourEyesMinPoints: Double,
        nearDuplicateDistance: Int
    ) {
        self.captureWindow = captureWindow
        self.geofenceMeters = geofenceMeters
        self.auditSampleRate = auditSampleRate
        self.fourEyesMinPoints = fourEyesMinPoints
        self.nearDuplicateDistance = nearDuplicateDistance
    }
}

/// What a finding of a check does to the automatic decision.
enum FindingAction: String, Codable, Sendable {
    /// Rejected automatically.
    case reject
    /// Sent to a person.
    case review
}

/// How each reason code is treated by the automatic decision (the documented defaults):
///
/// | code | action | fraud | appealable |
/// |---|---|---|---|
/// | `EARNING_BANNED` | reject | no | no (the ban is scoring's decision) |
/// | `DUPLICATE_EVIDENCE` | reject | yes | yes |
/// | `FUTURE_DATE` | reject | no | yes |
/// | `IMPLAUSIBLE_QUANTITY` | reject | no | yes |
/// | `DAILY_CAP` | reject | no | yes |
/// | `NEAR_DUPLICATE_EVIDENCE` | review | if a verifier rejects for it | — |
/// | `CAPTURE_OUTSIDE_WINDOW` | review | if a verifier rejects for it | — |
/// | `OUTSIDE_GEOFENCE` | review | if a verifier rejects for it | — |
/// | `NO_CAPTURE_METADATA` | review | no | — |
///
/// The main reason of a rejection is the first rejecting code in the order above. A submission with no
/// rejecting finding but a reviewing one goes to review; one with neither is approved automatically, unless it is
/// worth at least the four-eyes threshold (then two verifiers approve it) — and a sampled share of automatic
/// approvals is also sent to review as an audit.
enum DecisionPolicy {
    /// Rejecting codes in order of precedence (the first found is the main reason).
    static let rejecting: [ReasonCode] = [
        .earningBanned, .duplicateEvidence, .futureDate, .implausibleQuantity, .dailyCap,
    ]
    /// Codes that send a submission to a person.
    static let reviewing: [ReasonCode] = [
        .nearDuplicateEvidence, .captureOutsideWindow, .outsideGeofence, .noCaptureMetadata,
    ]

    /// The action of `code`.
    static func action(_ code: ReasonCode) -> FindingAction {
        rejecting.contains(code) ? .reject : .review
    }

    /// Whether a rejection (automatic or by a verifier) for `code` is for fraud: reused or manipulated evidence.
    static func isFraud(_ code: ReasonCode) -> Bool {
        [.duplicateEvidence, .nearDuplicateEvidence, .captureOutsideWindow, .outsideGeofence].contains(code)
    }

    /// Whether the ASN may appeal a rejection whose main reason is `code` (once; a decision on appeal is final).
    static func isAppealable(_ code: ReasonCode) -> Bool { code != .earningBanned }

    /// Whether an automatic approval of `submissionId` is sampled for audit at `rate`: a deterministic draw from
    /// the submission id, so a redelivered submission gets the same answer.
    static func isSampled(_ submissionId: UUID, rate: Double) -> Bool {
        guard rate > 0 else { return false }
        guard rate < 1 else { return true }
        let bytes = submissionId.uuid
        let draw = [bytes.8, bytes.9, bytes.10, bytes.11, bytes.12, bytes.13, bytes.14, bytes.15]
            .reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return Double(draw >> 11) / Double(UInt64(1) << 53) < rate
    }

    /// What a claim is worth by the program's rules: (base points + points per kg × kg) × place factor.
    static func points(
        activity: ActivityDefinition?, quantity: Double, place: String, placeFactors: [String: Double]?
    ) -> Double {
        guard let activity else { return 0 }
        var points = Double(activity.basePoints)
        if activity.unit == "kg", let perKg = activity.pointsPerKg, quantity.isFinite, quantity > 0 {
            points += perKg * quantity
        }
        return points * (placeFactors?[place] ?? 1)
    }
}
