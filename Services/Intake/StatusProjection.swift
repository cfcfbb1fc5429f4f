import Contracts
import Database
import Foundation
import Logging
import Messaging

/// Keeps the status the ASN sees up to date from verification and scoring events (queue `intake.status`).
///
/// Events may arrive in any order and more than once (the inbox drops exact duplicates), so every update is
/// monotonic:
/// - `review.assigned` only moves `received` → `in_review`;
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

    /// Applies a batch of events inside the caller's (inbox) transaction, in order.
    @discardableResult
    package func apply(_ events: [CloudEvent], in connection: DatabaseConnection) async throws -> [Effect] {
        var effects: [Effect] = []
        for event in events {
            effects.append(try await apply(event, in: connection))
        }
        return effects
    }

    /// Applies one event.
    package func apply(_ event: CloudEvent, in connection: DatabaseConnection) async throws -> Effect {
        let effect: Effect
        let submissionId: UUID
        switch event.type {
        case ReviewAssigned.eventType:
            let review = try event.decode(ReviewAssigned.self)
            submissionId = review.submissionId
            effect = try await update(
                submissionId, nip: review.nip, in: connection,
                """
                UPDATE submissions SET status = 'in_review', updated_at = now()
                WHERE id = \(review.submissionId) AND status = 'received'
                """
            )
        case SubmissionVerified.eventType:
            let verified = try event.decode(SubmissionVerified.self)
            submissionId = verified.submissionId
            effect = try await update(
                submissionId, nip: verified.nip, in: connection,
                """
                UPDATE submissions SET status = 'approved', reason_code = NULL, reason = NULL,
                    decided_at = \(verified.decidedAt), updated_at = now()
                WHERE id = \(verified.submissionId) AND (decided_at IS NULL OR decided_at < \(verified.decidedAt))
                """
            )
        case SubmissionRejected.eventType:
            let rejected = try event.decode(SubmissionRejected.self)
            submissionId = rejected.submissionId
            let reason =
                rejected.reason.isEmpty
                ? (rejected.knownReasonCode?.indonesianText ?? "Pengajuan ditolak.") : rejected.reason
            effect = try await update(
                submissionId, nip: rejected.nip, in: connection,
                """
                UPDATE submissions SET status = 'rejected', reason_code = \(rejected.reasonCode), reason = \(reason),
                    decided_at = \(rejected.decidedAt), updated_at = now()
                WHERE id = \(rejected.submissionId) AND (decided_at IS NULL OR decided_at < \(rejected.decidedAt))
                """
            )
        case PointsAwarded.eventType:
            let awarded = try event.decode(PointsAwarded.self)
            submissionId = awarded.submissionId
            effect = try await update(
                submissionId, nip: awarded.nip, in: connection,
                """
                UPDATE submissions SET points = \(awarded.points),
                    status = CASE WHEN decided_at IS NULL OR decided_at <= \(awarded.awardedAt) THEN 'approved'
                                  ELSE status END,
                    reason_code = CASE WHEN decided_at IS NULL OR decided_at <= \(awarded.awardedAt) THEN NULL
                                       ELSE reason_code END,
                    reason = CASE WHEN decided_at IS NULL OR decided_at <= \(awarded.awardedAt) THEN NULL
                                  ELSE reason END,
                    decided_at = GREATEST(decided_at, \(awarded.awardedAt)), updated_at = now()
                WHERE id = \(awarded.submissionId)
                """
            )
        default:
            logger.warning(
                "Jenis event tidak dibaca oleh proyeksi status",
                metadata: ["event.id": .string(event.id), "event.type": .string(event.type)]
            )
            throw UnsupportedEventType(eventId: event.id, type: event.type)
        }
        switch effect {
        case .unknownSubmission:
            logger.info(
                "Event untuk pengajuan yang tidak dikenal diabaikan",
                metadata: [
                    "event.id": .string(event.id), "event.type": .string(event.type),
                    "submission.id": .string(submissionId.lowercased),
                ]
            )
        case .stale:
            logger.debug(
                "Event tidak mengubah status",
                metadata: ["event.id": .string(event.id), "submission.id": .string(submissionId.lowercased)]
            )
        case .applied:
            break
        }
        return effect
    }

    /// Locks the submission row (so concurrent consumers apply in turn), checks it exists and belongs to `nip`,
    /// then runs `statement`.
    private func update(
        _ id: UUID,
        nip: String,
        in connection: DatabaseConnection,
        _ statement: SQLQuery
    ) async throws -> Effect {
        let rows = try await connection.query("SELECT nip FROM submissions WHERE id = \(id) FOR UPDATE")
        guard let row = rows.first else { return .unknownSubmission }
        let owner = try row.decode("nip", as: String.self)
        guard owner == nip else {
            logger.warning(
                "Event untuk pengajuan dengan NIP berbeda diabaikan",
                metadata: ["submission.id": .string(id.lowercased)]
            )
            return .unknownSubmission
        }
        let result = try await connection.query(statement)
        return result.rowsAffected > 0 ? .applied : .stale
    }
}
