import Contracts
import Foundation

/// What one event means for the people who should hear about it: the kind of template, its variables, and who
/// receives it (one ASN, or the heads of an OPD when the event concerns a whole OPD).
struct NotificationNote: Sendable {
    /// The event the note comes from (its id is the at-most-once key with channel and recipient).
    var eventId: String
    var eventType: String
    /// The ASN to notify; `nil` for the heads of `opd`.
    var nip: String?
    var opd: String
    var kind: String
    /// Template variables that do not depend on lookups.
    var values: [String: String]
    var flags: [String: Bool]
    var submissionId: UUID?
    /// Whether the note also goes out by WhatsApp/SMS (to ASN who opted in).
    var viaGateway: Bool
    /// The activity to name, looked up in the published programs (or through the submission).
    var activity: (program: String, code: String)?
}

extension NotificationNote {
    /// The notes of one event; empty when the event is for nobody in particular (rankings, programs, rosters).
    static func notes(for event: CloudEvent) throws -> [NotificationNote] {
        func note(
            nip: String?, opd: String, kind: String, values: [String: String] = [:], flags: [String: Bool] = [:],
            submissionId: UUID? = nil, gateway: Bool = true, activity: (String, String)? = nil
        ) -> NotificationNote {
            NotificationNote(
                eventId: event.id, eventType: event.type, nip: nip, opd: opd, kind: kind, values: values,
                flags: flags, submissionId: submissionId, viaGateway: gateway,
                activity: activity.map { (program: $0.0, code: $0.1) })
        }
        switch event.type {
        case SubmissionVerified.eventType:
            let verified = try event.decode(SubmissionVerified.self)
            var values = dates(verified.activityAt)
            values["place"] = verified.place == "home" ? "rumah" : "kantor"
            if let text = verified.note, !text.isEmpty { values["note"] = text }
            // The approval itself is in-app only; the points message that follows goes out by WhatsApp/SMS too.
            return [
                note(
                    nip: verified.nip, opd: verified.opd,
                    kind: verified.onAppeal == true ? "appeal.accepted" : "submission.verified", values: values,
                    submissionId: verified.submissionId, gateway: verified.onAppeal == true,
                    activity: (verified.program, verified.activity))
            ]
        case SubmissionRejected.eventType:
            let rejected = try event.decode(SubmissionRejected.self)
            let known = rejected.knownReasonCode
            let values = [
                "reason": rejected.reason.isEmpty ? (known?.indonesianText ?? rejected.reasonCode) : rejected.reason,
                "reasonEn": known?.englishText ?? rejected.reasonCode, "code": rejected.reasonCode,
            ]
            let activity = rejected.program.flatMap { program in rejected.activity.map { (program, $0) } }
            return [
                note(
                    nip: rejected.nip, opd: rejected.opd,
                    kind: rejected.onAppeal == true ? "appeal.rejected" : "submission.rejected", values: values,
                    flags: ["appealable": rejected.appealable == true && rejected.onAppeal != true],
                    submissionId: rejected.submissionId, activity: activity)
            ]
        case SubmissionRevoked.eventType:
            let revoked = try event.decode(SubmissionRevoked.self)
            let known = ReasonCode(rawValue: revoked.reasonCode)
            return [
                note(
                    nip: revoked.nip, opd: revoked.opd, kind: "submission.revoked",
                    values: [
                        "reason": revoked.reason.isEmpty
                            ? (known?.indonesianText ?? revoked.reasonCode) : revoked.reason,
                        "reasonEn": known?.englishText ?? revoked.reasonCode, "code": revoked.reasonCode,
                    ],
                    submissionId: revoked.submissionId)
            ]
        case ReviewAssigned.eventType:
            let review = try event.decode(ReviewAssigned.self)
            // Only entering the queue is news for the ASN; a verifier claiming it is not, and an audit sample is
            // not announced (that would defeat the audit).
            guard review.reviewerNip == nil, review.trigger != ReviewAssigned.Trigger.auditSample.rawValue else {
                return []
            }
            return [
                note(
                    nip: review.nip, opd: review.opd, kind: "review.assigned",
                    flags: ["appeal": review.trigger == ReviewAssigned.Trigger.appeal.rawValue],
                    submissionId: review.submissionId, gateway: false)
            ]
        case PointsAwarded.eventType:
            let awarded = try event.decode(PointsAwarded.self)
            var values = periodNames(awarded.period)
            values["points"] = IndonesianFormat.signedPoints(awarded.points)
            values["total"] = IndonesianFormat.integer(awarded.totalInPeriod)
            return [
                note(
                    nip: awarded.nip, opd: awarded.opd, kind: "points.awarded", values: values,
                    submissionId: awarded.submissionId, activity: (awarded.program, awarded.activity))
            ]
        case PointsReversed.eventType:
            let reversed = try event.decode(PointsReversed.self)
            var values =
                reversed.period.map(periodNames) ?? ["periodName": "periode ini", "periodNameEn": "this period"]
            values["points"] = IndonesianFormat.signedPoints(reversed.points)
            values["reason"] = reversed.reason
            if let total = reversed.totalInPeriod { values["total"] = IndonesianFormat.integer(total) }
            return [
                note(
                    nip: reversed.nip, opd: reversed.opd ?? "", kind: "points.reversed", values: values,
                    submissionId: reversed.submissionId)
            ]
        case PenaltyApplied.eventType:
            let penalty = try event.decode(PenaltyApplied.self)
            var values = periodNames(penalty.period)
            values["points"] = IndonesianFormat.signedPoints(penalty.points)
            values["reason"] = penalty.reason
            values["code"] = penalty.reasonCode
            if let total = penalty.totalInPeriod { values["total"] = IndonesianFormat.integer(total) }
            if let until = penalty.earningBannedUntil {
                values["bannedUntil"] = IndonesianFormat.date(until)
                values["bannedUntilEn"] = IndonesianFormat.date(until, english: true)
            }
            return [
                note(
                    nip: penalty.nip, opd: penalty.opd, kind: "penalty.applied", values: values,
                    submissionId: penalty.submissionId)
            ]
        case AwardGranted.eventType:
            let award = try event.decode(AwardGranted.self)
            var values = periodNames(award.period)
            values["rank"] = IndonesianFormat.integer(award.rank)
            values["points"] = IndonesianFormat.integer(award.points)
            values["prize"] = award.prize
            values["stage"] = award.stage
            return [note(nip: award.nip, opd: award.opd, kind: "award.granted", values: values)]
        case SanctionImposed.eventType:
            let sanction = try event.decode(SanctionImposed.self)
            var values = periodNames(sanction.period)
            values["reason"] = sanction.reason
            values["opd"] = sanction.opd
            if let tpp = sanction.tppAdjustmentPercent { values["tpp"] = IndonesianFormat.decimal(tpp) }
            if let nip = sanction.nip {
                return [note(nip: nip, opd: sanction.opd, kind: "sanction.imposed", values: values)]
            }
            return [note(nip: nil, opd: sanction.opd, kind: "sanction.opd", values: values)]
        case CommitmentEvaluated.eventType:
            let commitment = try event.decode(CommitmentEvaluated.self)
            var values = periodNames(commitment.period)
            values["opd"] = commitment.opd
            let metric = CommitmentEvaluated.Metric(rawValue: commitment.metric)
            let percent = metric == .participationRate ? "%" : (metric == .kgSorted ? " kg" : "")
            values["metric"] =
                switch metric {
                case .participationRate: "tingkat partisipasi"
                case .kgSorted: "sampah terpilah"
                case .approvedActivities: "kegiatan disetujui"
                case nil: commitment.metric
                }
            values["metricEn"] =
                switch metric {
                case .participationRate: "participation rate"
                case .kgSorted: "kg sorted"
                case .approvedActivities: "approved activities"
                case nil: commitment.metric
                }
            values["actual"] = IndonesianFormat.decimal(commitment.actual) + percent
            values["target"] = IndonesianFormat.decimal(commitment.target) + percent
            if let inactive = commitment.inactiveCount, inactive > 0 {
                values["inactive"] = IndonesianFormat.integer(inactive)
            }
            return [
                note(
                    nip: nil, opd: commitment.opd, kind: "commitment.evaluated", values: values,
                    flags: ["met": commitment.met])
            ]
        default:
            return []
        }
    }

    /// `date`/`dateEn` of an activity.
    static func dates(_ date: Date) -> [String: String] {
        ["date": IndonesianFormat.dayMonth(date), "dateEn": IndonesianFormat.dayMonth(date, english: true)]
    }

    /// `period`, `periodName` (`triwulan 2026-Q1`) and `periodNameEn` (`quarter 2026-Q1`).
    static func periodNames(_ period: String) -> [String: String] {
        let kind = (try? Period(parsing: period))?.kind
        let (indonesian, english) =
            switch kind {
            case .quarter?: ("triwulan", "quarter")
            case .semester?: ("semester", "semester")
            case .year?: ("tahun", "year")
            case nil: ("periode", "period")
            }
        return ["period": period, "periodName": "\(indonesian) \(period)", "periodNameEn": "\(english) \(period)"]
    }
}
