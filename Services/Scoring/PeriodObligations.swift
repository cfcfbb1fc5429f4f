import Contracts
import Database
import Eventing
import Foundation

/// What a period's close decides besides rankings and awards: Lelang Kinerja commitments, sanctions and the
/// collective rule. ``PeriodClose`` calls it once, inside the close transaction, after the standings are frozen
/// and the awards stored; it writes its own rows and enqueues its events (`commitment.evaluated`,
/// `sanction.imposed`) with `Outbox.enqueue` on `connection`.
///
/// In order:
/// 1. every commitment of the period is evaluated against its OPD's achievement (see ``OPDAchievement`` for the
///    definitions) — met when the achieved value reaches the target — stored in `commitment_results` and announced
///    with `commitment.evaluated`;
/// 2. each missed commitment imposes a `commitment_missed` sanction on the OPD, and the OPD's active ASN with no
///    approved activity in the period are listed for the `low_performance` sanction (one per ASN and period, even
///    when the OPD missed several commitments); each sanction is announced with `sanction.imposed` (confidential);
/// 3. each OPD's participation is stored with whether the collective rule withheld its TPP adjustment;
/// 4. the HR export rows are computed (TPP adjustments included) and frozen.
///
/// Rows already written for the period are kept (unique keys, `ON CONFLICT DO NOTHING`) and their events are not
/// enqueued again, so a second call adds nothing.
enum PeriodObligations {
    /// The close in progress.
    struct Close: Sendable {
        var period: Period
        /// The current version of each program.
        var programs: [ProgramDocument]
        /// The frozen standings of the period.
        var standings: [Standing]
        var closedAt: Date
        var closedBy: String
    }

    /// What ``evaluate(_:in:)`` decided (for logs and tests).
    struct Outcome: Sendable, Equatable {
        var evaluated: [CommitmentEvaluated] = []
        var sanctions: [Sanction] = []
        var withheldOPDs: [String] = []
        var exportRows = 0
    }

    /// Evaluates the period's commitments, imposes sanctions and applies the collective rule.
    static func evaluate(_ close: Close, in connection: DatabaseConnection) async throws {
        _ = try await run(close, in: connection)
    }

    /// ``evaluate(_:in:)``, returning what it did.
    static func run(_ close: Close, in connection: DatabaseConnection) async throws -> Outcome {
        let period = close.period
        let rule = TPPRule.inForce(close.programs)
        let kgActivities = Commitments.kgActivities(close.programs)
        let achievements = try await Commitments.achievements(period, kgActivities: kgActivities, in: connection)
        var outcome = Outcome()

        // 1. Commitments.
        let commitments = try await Commitments.list(period: period.description, opd: nil, in: connection)
            .filter { $0.result == nil }
        var evaluated: [(commitment: Commitment, payload: CommitmentEvaluated)] = []
        for commitment in commitments {
            let achievement =
                achievements[commitment.opd]
                ?? OPDAchievement(
                    opd: commitment.opd, activeASN: 0, participatingASN: 0, approvedActivities: 0, kgSorted: 0)
            let metric = CommitmentEvaluated.Metric(rawValue: commitment.metric) ?? .approvedActivities
            let actual = achievement.value(of: metric)
            evaluated.append(
                (
                    commitment,
                    CommitmentEvaluated(
                        commitmentId: commitment.id, opd: commitment.opd, period: commitment.period,
                        metric: commitment.metric, target: commitment.target, baseline: commitment.baseline,
                        actual: actual, met: actual >= commitment.target, evaluatedAt: close.closedAt,
                        inactiveCount: achievement.activeASN - achievement.participatingASN)
                ))
        }
        if !evaluated.isEmpty {
            let payloads = evaluated.map(\.payload)
            let stored = try await connection.query(
                """
                INSERT INTO commitment_results (commitment_id, period, actual, met, inactive_count, evaluated_at)
                SELECT * FROM unnest(\(payloads.map(\.commitmentId))::uuid[], \(payloads.map(\.period))::text[],
                                     \(payloads.map(\.actual))::float8[], \(payloads.map(\.met))::bool[],
                                     \(payloads.map { $0.inactiveCount ?? 0 })::int4[],
                                     \(payloads.map(\.evaluatedAt))::timestamptz[])
                ON CONFLICT DO NOTHING RETURNING commitment_id
                """
            )
            let ids = Set(try stored.map { try $0.decode("commitment_id", as: UUID.self) })
            evaluated = evaluated.filter { ids.contains($0.commitment.id) }
            outcome.evaluated = evaluated.map(\.payload)
            try await Outbox.enqueue(
                try outcome.evaluated.map {
                    try CloudEvent($0, source: ServiceName.scoring.eventSource, time: close.closedAt)
                }, in: connection)
        }

        // 2. Sanctions for missed commitments and the low-performance list.
        let missed = evaluated.filter { !$0.payload.met }
        var sanctions: [Sanction] = missed.map { item in
            let cut = rule?.cut(for: SanctionImposed.Kind.commitmentMissed.rawValue) ?? 0
            return Sanction(
                id: UUID.timeOrdered(), kind: SanctionImposed.Kind.commitmentMissed.rawValue,
                period: period.description,
                opd: item.commitment.opd, nip: nil, name: nil, commitmentId: item.commitment.id,
                reason: missedReason(item.payload, period: period), tppAdjustmentPercent: cut > 0 ? -cut : nil,
                imposedAt: close.closedAt)
        }
        var firstMiss: [String: UUID] = [:]
        for item in missed where firstMiss[item.commitment.opd] == nil {
            firstMiss[item.commitment.opd] = item.commitment.id
        }
        let lowCut = rule?.cut(for: SanctionImposed.Kind.lowPerformance.rawValue) ?? 0
        for asn in try await Commitments.inactiveASN(period, opds: firstMiss.keys.sorted(), in: connection) {
            sanctions.append(
                Sanction(
                    id: UUID.timeOrdered(), kind: SanctionImposed.Kind.lowPerformance.rawValue,
                    period: period.description,
                    opd: asn.opd, nip: asn.nip, name: asn.name, commitmentId: firstMiss[asn.opd],
                    reason: "Tidak ada kegiatan yang disetujui pada \(period.indonesianName) sementara OPD \(asn.opd) "
                        + "tidak memenuhi komitmen Lelang Kinerja. / No approved activity in \(period) while the OPD "
                        + "missed its commitment.",
                    tppAdjustmentPercent: lowCut > 0 ? -lowCut : nil, imposedAt: close.closedAt))
        }
        outcome.sanctions = try await Sanctions.insert(sanctions, in: connection)
        let events = try outcome.sanctions.map {
            try CloudEvent($0.imposed, source: ServiceName.scoring.eventSource, time: close.closedAt)
        }
        for start in stride(from: 0, to: events.count, by: 2_000) {
            try await Outbox.enqueue(Array(events[start..<min(start + 2_000, events.count)]), in: connection)
        }

        // 3. Participation and the collective rule.
        let minimum = rule?.collective?.minParticipationRate
        let opds = achievements.values.sorted { $0.opd < $1.opd }
        let withheld = opds.map { achievement in minimum.map { achievement.participationRate < $0 } ?? false }
        outcome.withheldOPDs = zip(opds, withheld).filter(\.1).map(\.0.opd)
        if !opds.isEmpty {
            try await connection.query(
                """
                INSERT INTO opd_participation (period, opd, active_asn, participating_asn, participation_rate,
                                               min_participation_rate, tpp_withheld)
                SELECT \(period.description), opd, active, participating, rate, \(minimum)::float8, withheld
                FROM unnest(\(opds.map(\.opd))::text[], \(opds.map(\.activeASN))::int4[],
                            \(opds.map(\.participatingASN))::int4[], \(opds.map(\.participationRate))::float8[],
                            \(withheld)::bool[]) AS p(opd, active, participating, rate, withheld)
                ON CONFLICT DO NOTHING
                """
            )
        }

        // 4. The export, frozen.
        if try await connection.query(
            "SELECT 1 FROM period_export_rows WHERE period = \(period.description) LIMIT 1"
        ).isEmpty {
            let rows = try await Exports.compute(
                period, standings: close.standings, rule: rule, participation: achievements,
                kgActivities: kgActivities, in: connection)
            try await Exports.freeze(rows, period: period, in: connection)
            outcome.exportRows = rows.count
        }
        return outcome
    }

    static func metricName(_ metric: String) -> String {
        switch CommitmentEvaluated.Metric(rawValue: metric) {
        case .participationRate: "tingkat partisipasi (%)"
        case .kgSorted: "sampah terpilah (kg)"
        case .approvedActivities: "kegiatan disetujui"
        case nil: metric
        }
    }

    private static func missedReason(_ result: CommitmentEvaluated, period: Period) -> String {
        "OPD \(result.opd) tidak memenuhi komitmen Lelang Kinerja \(period.indonesianName): \(metricName(result.metric)) "
            + "tercapai \(PeriodExport.percent(result.actual)), target \(PeriodExport.percent(result.target)). / "
            + "Missed its \(result.metric) commitment: \(PeriodExport.percent(result.actual)) of "
            + "\(PeriodExport.percent(result.target))."
    }
}
