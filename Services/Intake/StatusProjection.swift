import AMQP
import Contracts
import Database
import Eventing
import Foundation
import Logging

/// Keeps the status the ASN sees up to date from verification and scoring events (queue `intake.status`).
///
/// Events may arrive in any order and more than once (the inbox drops exact duplicates), so every update is
/// monotonic:
/// - `review.assigned` only moves `received` → `in_review`;
/// - a rejection records whether it may be appealed (`appealable`, else not when it decided an appeal), never
///   once an appeal was filed;
/// - `submission.verified` / `submission.rejected` apply only when decided later than the decision already
///   applied (`decided_at`), so a late or redelivered older decision never overrides a newer one, while a
///   later decision (an appeal) does;
/// - `points.awarded` records the points and means approved; it counts as a decision at `awardedAt`, so a
///   `submission.verified` arriving after it changes nothing, and a stale rejection decided before it is
///   ignored.
/// Events about submissions this database does not hold are logged and skipped.
package struct StatusProjection: Sendable {
    /// The queue's name.
    package static let queueName = "intake.status"
    /// The routing keys the queue binds.
    package static let bindings = [
        SubmissionVerified.eventName, SubmissionRejected.eventName, PointsAwarded.eventName,
        ReviewAssigned.eventName,
    ]
    /// Deliveries before a poisoned message is dead-lettered.
    package static let deliveryLimit = 5

    /// The queue specification (`name` differs from ``queueName`` only in tests sharing a broker).
    package static func queueSpec(name: String = queueName) -> QueueSpec {
        QueueSpec(name: name, bindings: bindings, deliveryLimit: deliveryLimit)
    }

    private let logger: Logger

    /// Creates the projection.
    package init(logger: Logger) {
        self.logger = logger
    }

    /// What one event did.
    package enum Effect: Sendable, Equatable {
        /// The status (or points) changed.
        case applied
        /// The event is older than what is recorded, or does not move the status.
        case stale
        /// No submission with that id here.
        case unknownSubmission
    }

    /// An event of a type this projection does not read (e.g. a newer version): thrown so the inbox requeues it
    /// until the delivery limit dead-letters it for an operator, instead of dropping it silently.
    package struct UnsupportedEventType: Error, CustomStringConvertible {
        /// The event's id.
        package var eventId: String
        /// The event's type.
        package var type: String
        package var description: String { "intake.status does not read events of type \(type) (event \(eventId))" }
    }

    /// Applies a batch of inbound events (the inbox handler of ``queueName``).
    package func handle(_ events: [InboundEvent], in connection: DatabaseConnection) async throws {
        try await apply(events.map(\.event), in: connection)
    }

    /// Applies a batch of events inside the caller's (inbox) transaction, in order, with a few statements whatever
    /// its size: one locks and reads the batch's submissions; then the events are applied in rounds in which each
    /// submission appears at most once (so two events of one submission apply in their order), each round one
    /// `UPDATE … FROM unnest(…)` per event type present.
    @discardableResult
    package func apply(_ events: [CloudEvent], in connection: DatabaseConnection) async throws -> [Effect] {
        let changes = try events.map(Change.init(event:))
        guard !changes.isEmpty else { return [] }
        let ids = Array(Set(changes.map(\.submissionId))).sorted { $0.uuidString < $1.uuidString }
        // Locked in one order (by id) for every consumer, so concurrent consumers apply in turn without deadlocks.
        let rows = try await connection.query(
            "SELECT id, nip FROM submissions WHERE id = ANY(\(ids)::uuid[]) ORDER BY id FOR UPDATE")
        var owners: [UUID: String] = [:]
        for row in rows { owners[try row.decode("id", as: UUID.self)] = try row.decode("nip", as: String.self) }

        var effects = [Effect](repeating: .unknownSubmission, count: changes.count)
        var rounds: [[Int]] = []
        var roundOf: [UUID: Int] = [:]
        for (index, change) in changes.enumerated() {
            guard let owner = owners[change.submissionId] else { continue }
            guard !change.isExtraEntry else {
                effects[index] = .stale
                continue
            }
            guard owner == change.nip else {
                logger.warning(
                    "Event untuk pengajuan dengan NIP berbeda diabaikan",
                    metadata: ["submission.id": .string(change.submissionId.lowercased)]
                )
                continue
            }
            let round = roundOf[change.submissionId, default: -1] + 1
            roundOf[change.submissionId] = round
            if round == rounds.count { rounds.append([]) }
            rounds[round].append(index)
        }
        for round in rounds {
            var applied = Set<UUID>()
            for kind in Change.Kind.allCases {
                let selected = round.map { changes[$0] }.filter { $0.kind == kind }
                guard !selected.isEmpty else { continue }
                applied.formUnion(try await update(kind, selected, in: connection))
            }
            for index in round { effects[index] = applied.contains(changes[index].submissionId) ? .applied : .stale }
        }
        for (change, effect) in zip(changes, effects) { log(effect, of: change) }
        return effects
    }

    /// Applies one event.
    package func apply(_ event: CloudEvent, in connection: DatabaseConnection) async throws -> Effect {
        try await apply([event], in: connection)[0]
    }

    /// One event's change to a submission's status.
    private struct Change {
        enum Kind: CaseIterable { case inReview, verified, rejected, awarded }
        var kind: Kind
        var eventId: String
        var eventType: String
        var submissionId: UUID
        var nip: String
        /// When it was decided (`awardedAt` for points).
        var decidedAt: Date = .distantPast
        var reasonCode = ""
        var reason = ""
        var points = 0
        var decidedBy = ""
        /// For rejections: whether the ASN may appeal (not when the rejection decided an appeal).
        var appealable = false
        /// A `points.awarded` that is not the submission's own award (a streak bonus or a recompute correction
        /// carried by it): it must not overwrite the points the ASN sees for the submission.
        var isExtraEntry = false

        init(event: CloudEvent) throws {
            eventId = event.id
            eventType = event.type
            switch event.type {
            case ReviewAssigned.eventType:
                let review = try event.decode(ReviewAssigned.self)
                (kind, submissionId, nip) = (.inReview, review.submissionId, review.nip)
            case SubmissionVerified.eventType:
                let verified = try event.decode(SubmissionVerified.self)
                (kind, submissionId, nip) = (.verified, verified.submissionId, verified.nip)
                decidedAt = verified.decidedAt
                decidedBy = verified.decidedBy
            case SubmissionRejected.eventType:
                let rejected = try event.decode(SubmissionRejected.self)
                (kind, submissionId, nip) = (.rejected, rejected.submissionId, rejected.nip)
                decidedAt = rejected.decidedAt
                decidedBy = rejected.decidedBy
                appealable = rejected.appealable ?? (rejected.onAppeal != true)
                reasonCode = rejected.reasonCode
                reason =
                    rejected.reason.isEmpty
                    ? (rejected.knownReasonCode?.indonesianText ?? "Pengajuan ditolak.") : rejected.reason
            case PointsAwarded.eventType:
                let awarded = try event.decode(PointsAwarded.self)
                (kind, submissionId, nip) = (.awarded, awarded.submissionId, awarded.nip)
                decidedAt = awarded.awardedAt
                points = awarded.points
                isExtraEntry = (awarded.entryKind ?? "award") != "award"
            default:
                throw UnsupportedEventType(eventId: event.id, type: event.type)
            }
        }
    }

    /// Runs one set-based update of `kind` for `changes` (at most one per submission); returns the ids it changed.
    private func update(_ kind: Change.Kind, _ changes: [Change], in connection: DatabaseConnection) async throws
        -> Set<UUID>
    {
        let ids = changes.map(\.submissionId)
        let times = changes.map(\.decidedAt)
        let statement: SQLQuery
        switch kind {
        case .inReview:
            statement = """
                UPDATE submissions s SET status = 'in_review', updated_at = now()
                FROM unnest(\(ids)::uuid[]) AS e(id)
                WHERE s.id = e.id AND s.status = 'received'
                RETURNING s.id
                """
        case .verified:
            statement = """
                UPDATE submissions s SET status = 'approved', reason_code = NULL, reason = NULL,
                    decided_at = e.decided_at, decided_by = e.decided_by, appealable = false, updated_at = now()
                FROM unnest(\(ids)::uuid[], \(times)::timestamptz[], \(changes.map(\.decidedBy))::text[])
                     AS e(id, decided_at, decided_by)
                WHERE s.id = e.id AND (s.decided_at IS NULL OR s.decided_at < e.decided_at)
                RETURNING s.id
                """
        case .rejected:
            statement = """
                UPDATE submissions s SET status = 'rejected', reason_code = e.reason_code, reason = e.reason,
                    decided_at = e.decided_at, decided_by = e.decided_by, updated_at = now(),
                    appealable = e.appealable AND NOT EXISTS (SELECT 1 FROM appeals a WHERE a.submission_id = s.id)
                FROM unnest(\(ids)::uuid[], \(times)::timestamptz[], \(changes.map(\.reasonCode))::text[],
                            \(changes.map(\.reason))::text[], \(changes.map(\.decidedBy))::text[],
                            \(changes.map(\.appealable))::bool[])
                     AS e(id, decided_at, reason_code, reason, decided_by, appealable)
                WHERE s.id = e.id AND (s.decided_at IS NULL OR s.decided_at < e.decided_at)
                RETURNING s.id
                """
        case .awarded:
            // Points mean approved, as a decision at awardedAt: a newer decision already applied keeps its status.
            statement = """
                UPDATE submissions s SET points = e.points,
                    status = CASE WHEN s.decided_at IS NULL OR s.decided_at <= e.awarded_at THEN 'approved'
                                  ELSE s.status END,
                    reason_code = CASE WHEN s.decided_at IS NULL OR s.decided_at <= e.awarded_at THEN NULL
                                       ELSE s.reason_code END,
                    reason = CASE WHEN s.decided_at IS NULL OR s.decided_at <= e.awarded_at THEN NULL
                                  ELSE s.reason END,
                    decided_at = GREATEST(s.decided_at, e.awarded_at), updated_at = now()
                FROM unnest(\(ids)::uuid[], \(times)::timestamptz[], \(changes.map(\.points))::int8[])
                     AS e(id, awarded_at, points)
                WHERE s.id = e.id
                RETURNING s.id
                """
        }
        var changed = Set<UUID>()
        for row in try await connection.query(statement) { changed.insert(try row.decode("id", as: UUID.self)) }
        return changed
    }

    private func log(_ effect: Effect, of change: Change) {
        switch effect {
        case .unknownSubmission:
            logger.info(
                "Event untuk pengajuan yang tidak dikenal diabaikan",
                metadata: [
                    "event.id": .string(change.eventId), "event.type": .string(change.eventType),
                    "submission.id": .string(change.submissionId.lowercased),
                ]
            )
        case .stale:
            logger.debug(
                "Event tidak mengubah status",
                metadata: [
                    "event.id": .string(change.eventId), "submission.id": .string(change.submissionId.lowercased),
                ]
            )
        case .applied:
            break
        }
    }
}
