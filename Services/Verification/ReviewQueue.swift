import Contracts
import Database
import Eventing
import Foundation
import Logging
import ServiceSupport

/// The human review queue (role `verifier`): items are claimed with a lease (`FOR UPDATE SKIP LOCKED`), decided
/// only by the lease holder, released, or returned to the queue when the lease expires.
///
/// Rules: nobody reviews their own submission nor one from their own OPD; a claim worth at least the four-eyes
/// threshold needs approvals from two different verifiers; an appeal goes to a verifier other than the first
/// decider; an audit sample that a verifier rejects is revoked (`submission.revoked`). Every claim, release and
/// decision is written to the audit trail, and every state change others must learn about goes through the outbox.
struct ReviewQueue: Sendable {
    let pool: DatabasePool
    /// How long a claim holds an item.
    let lease: Duration
    /// CloudEvents source of the events.
    let source: String
    let logger: Logger

    /// Why a review action was refused; each maps to one problem.
    enum Refusal: Error, ProblemConvertible, Equatable {
        case notFound
        case ownSubmission
        case sameOPD
        case excluded(String)
        case alreadyDecided
        case leaseHeld
        case notLeaseHolder
        case leaseExpired
        case invalid(String)

        var problem: ProblemDetails {
            switch self {
            case .notFound:
                .notFound("Item tinjauan tidak ditemukan. Review item not found.", code: "REVIEW_NOT_FOUND")
            case .ownSubmission:
                .forbidden(
                    "Anda tidak boleh meninjau pengajuan Anda sendiri. You may not review your own submission.",
                    code: "SELF_REVIEW")
            case .sameOPD:
                .forbidden(
                    "Anda tidak boleh meninjau pengajuan dari OPD Anda sendiri. You may not review your own OPD.",
                    code: "SAME_OPD")
            case .excluded(let code):
                .forbidden(
                    code == "FOUR_EYES"
                        ? "Persetujuan kedua harus dari verifikator lain. A second verifier must approve this claim."
                        : "Banding harus diputus oleh verifikator lain. A different verifier must decide the appeal.",
                    code: code)
            case .alreadyDecided:
                .conflict("Item ini sudah diputuskan. This item is already decided.", code: "ALREADY_DECIDED")
            case .leaseHeld:
                .conflict(
                    "Item sedang ditinjau verifikator lain. Another verifier holds this item.", code: "LEASE_HELD")
            case .notLeaseHolder:
                .forbidden(
                    "Hanya pemegang klaim yang dapat memutuskan. Only the holder of the lease may do this.",
                    code: "NOT_LEASE_HOLDER")
            case .leaseExpired:
                .conflict(
                    "Masa klaim Anda sudah habis; klaim ulang item ini. Your lease expired; claim the item again.",
                    code: "LEASE_EXPIRED")
            case .invalid(let detail):
                .badRequest(detail, code: "INVALID_DECISION")
            }
        }
    }

    // MARK: - Reading

    /// One item as the queue lists it.
    struct Item: Codable, Sendable, Equatable {
        var id: UUID
        var submissionId: UUID
        var trigger: String
        var checks: [String]
        /// `open` (also after an expired lease), `claimed` or `decided`.
        var state: String
        var createdAt: Date
        var ageSeconds: Int
        var claimedBy: String?
        var leaseExpiresAt: Date?
        var requiredApprovals: Int
        var approvals: [String]
        var outcome: String?
        var reasonCode: String?
        var decidedBy: String?
        var decidedAt: Date?
        var nip: String
        var name: String?
        var opd: String
        var activity: String
        var place: String
        var quantity: Double
        var points: Double?
        var activityAt: Date
    }

    /// Counts per state.
    struct Counts: Codable, Sendable, Equatable {
        var open: Int
        var claimed: Int
        var decided: Int
        /// Age in seconds of the oldest open item.
        var oldestOpenSeconds: Int?
    }

    /// The effective state of a row: an expired lease is open again.
    private static let stateSQL =
        "CASE WHEN r.state = 'claimed' AND r.lease_expires_at <= now() THEN 'open' ELSE r.state END"

    private static let itemColumns = """
        r.id, r.submission_id, r.trigger, r.checks, \(stateSQL) AS effective_state, r.created_at,
        GREATEST(0, extract(epoch FROM now() - r.created_at))::bigint AS age_seconds,
        CASE WHEN \(stateSQL) = 'claimed' THEN r.claimed_by END AS holder,
        CASE WHEN \(stateSQL) = 'claimed' THEN r.lease_expires_at END AS lease, r.required_approvals, r.approvals,
        r.outcome, r.reason_code, r.decided_by, r.decided_at, s.nip, s.name, s.opd, s.activity, s.place, s.quantity,
        s.points, s.activity_at
        """

    private static func item(_ row: PostgresRow) throws -> Item {
        Item(
            id: try row.decode("id"), submissionId: try row.decode("submission_id"), trigger: try row.decode("trigger"),
            checks: try row.decode("checks"), state: try row.decode("effective_state"),
            createdAt: try row.decode("created_at"), ageSeconds: try row.decode("age_seconds", as: Int.self),
            claimedBy: try row.decode("holder", as: String?.self),
            leaseExpiresAt: try row.decode("lease", as: Date?.self),
            requiredApprovals: try row.decode("required_approvals", as: Int.self),
            approvals: try row.decode("approvals"),
            outcome: try row.decode("outcome", as: String?.self),
            reasonCode: try row.decode("reason_code", as: String?.self),
            decidedBy: try row.decode("decided_by", as: String?.self),
            decidedAt: try row.decode("decided_at", as: Date?.self), nip: try row.decode("nip"),
            name: try row.decode("name", as: String?.self), opd: try row.decode("opd"),
            activity: try row.decode("activity"), place: try row.decode("place"), quantity: try row.decode("quantity"),
            points: try row.decode("points", as: Double?.self), activityAt: try row.decode("activity_at"))
    }

    /// The items in `state` (oldest first for open and claimed, newest first for decided), and the counts.
    func list(state: String, limit: Int) async throws -> (items: [Item], counts: Counts) {
        try await pool.withConnection { connection in
            let order = state == "decided" ? "r.decided_at DESC, r.id" : "r.created_at, r.id"
            let results = try await connection.pipeline([
                SQLQuery(
                    unsafeSQL: """
                        SELECT \(Self.itemColumns) FROM reviews r JOIN submissions s ON s.id = r.submission_id
                        WHERE \(Self.stateSQL) = $1 ORDER BY \(order) LIMIT $2
                        """, binds: [state, limit]),
                SQLQuery(
                    unsafeSQL: """
                        SELECT count(*) FILTER (WHERE \(Self.stateSQL) = 'open') AS open,
                               count(*) FILTER (WHERE \(Self.stateSQL) = 'claimed') AS claimed,
                               count(*) FILTER (WHERE r.state = 'decided') AS decided,
                               extract(epoch FROM now() - min(r.created_at)
                                   FILTER (WHERE \(Self.stateSQL) = 'open'))::bigint AS oldest
                        FROM reviews r
                        """),
            ])
            let items = try results[0].map(Self.item)
            guard let row = results[1].first else { return (items, Counts(open: 0, claimed: 0, decided: 0)) }
            return (
                items,
                Counts(
                    open: try row.decode("open", as: Int.self), claimed: try row.decode("claimed", as: Int.self),
                    decided: try row.decode("decided", as: Int.self),
                    oldestOpenSeconds: try row.decode("oldest", as: Int?.self))
            )
        }
    }

    /// Everything the console shows for one item.
    struct Detail: Codable, Sendable {
        var item: Item
        var submission: SubmissionFacts
        var registeredLocation: RegisteredLocation?
        var checks: [CheckResult]
        var appealStatement: String?
        var decision: DecisionFacts?
    }

    /// The submission as verification knows it.
    struct SubmissionFacts: Codable, Sendable {
        var id: UUID
        var nip: String
        var name: String?
        var opd: String
        var program: String
        var activity: String
        var place: String
        var activityAt: Date
        var submittedAt: Date
        var quantity: Double
        var unit: String?
        var note: String?
        var points: Double?
        var status: String
        var evidence: [EvidenceRef]
        var deviceLocation: GeoPoint?
    }

    /// The submission's current decision.
    struct DecisionFacts: Codable, Sendable {
        var outcome: String
        var reasonCode: String?
        var reasonCodes: [String]
        var decidedBy: String
        var decidedAt: Date
        var method: String
        var fraud: Bool
        var appealable: Bool
    }

    /// The detail of item `id`.
    func detail(_ id: UUID) async throws -> Detail {
        try await pool.withConnection { connection in try await detail(id, in: connection) }
    }

    private func detail(_ id: UUID, in connection: DatabaseConnection) async throws -> Detail {
        let rows = try await connection.query(
            SQLQuery(
                unsafeSQL: """
                    SELECT \(Self.itemColumns), r.appeal_statement, s.program, s.submitted_at, s.unit, s.note,
                           s.status, s.evidence::text AS evidence, s.device_location::text AS device,
                           ro.locations::text AS locations,
                           (SELECT details::text FROM audit_trail a WHERE a.submission_id = s.id AND a.kind = 'checks'
                            ORDER BY seq DESC LIMIT 1) AS checks_json,
                           d.outcome AS d_outcome, d.reason_code AS d_code, d.reason_codes AS d_codes,
                           d.decided_by AS d_by, d.decided_at AS d_at, d.method AS d_method, d.fraud AS d_fraud,
                           d.appealable AS d_appealable
                    FROM reviews r JOIN submissions s ON s.id = r.submission_id
                    LEFT JOIN roster ro ON ro.nip = s.nip
                    LEFT JOIN decisions d ON d.submission_id = s.id
                    WHERE r.id = $1
                    """, binds: [id]))
        guard let row = rows.first else { throw Refusal.notFound }
        let item = try Self.item(row)
        let evidence = try ContractsJSON.decode(
            [EvidenceRef].self, from: Data(try row.decode("evidence", as: String.self).utf8))
        let device = try row.decode("device", as: String?.self).map {
            try ContractsJSON.decode(GeoPoint.self, from: Data($0.utf8))
        }
        let locations = try row.decode("locations", as: String?.self).map {
            try ContractsJSON.decode([RegisteredLocation].self, from: Data($0.utf8))
        }
        struct Checks: Decodable { var checks: [CheckResult] }
        let checks = try row.decode("checks_json", as: String?.self).map {
            try ContractsJSON.decode(Checks.self, from: Data($0.utf8)).checks
        }
        var decision: DecisionFacts?
        if let outcome = try row.decode("d_outcome", as: String?.self) {
            decision = DecisionFacts(
                outcome: outcome, reasonCode: try row.decode("d_code", as: String?.self),
                reasonCodes: try row.decode("d_codes"), decidedBy: try row.decode("d_by"),
                decidedAt: try row.decode("d_at"), method: try row.decode("d_method"),
                fraud: try row.decode("d_fraud"), appealable: try row.decode("d_appealable"))
        }
        return Detail(
            item: item,
            submission: SubmissionFacts(
                id: item.submissionId, nip: item.nip, name: item.name, opd: item.opd,
                program: try row.decode("program"),
                activity: item.activity, place: item.place, activityAt: item.activityAt,
                submittedAt: try row.decode("submitted_at"), quantity: item.quantity,
                unit: try row.decode("unit", as: String?.self), note: try row.decode("note", as: String?.self),
                points: item.points, status: try row.decode("status"), evidence: evidence, deviceLocation: device),
            registeredLocation: locations?.first { $0.place == item.place },
            checks: checks ?? [],
            appealStatement: try row.decode("appeal_statement", as: String?.self),
            decision: decision)
    }

    // MARK: - Claiming

    /// Claims item `id`, or the oldest item the verifier may take when `id` is `nil`; `nil` when none is left.
    func claim(_ id: UUID?, by verifier: Identity) async throws -> Detail? {
        let seconds = Double(lease.components.seconds) + Double(lease.components.attoseconds) / 1e18
        return try await pool.withTransaction { connection -> Detail? in
            let target: UUID
            var previousHolder: String?
            if let id {
                let rows = try await connection.query(
                    """
                    SELECT r.state, r.claimed_by, r.lease_expires_at <= now() AS expired, r.excluded, r.approvals,
                           r.trigger, s.nip, s.opd
                    FROM reviews r JOIN submissions s ON s.id = r.submission_id
                    WHERE r.id = \(id) FOR UPDATE OF r
                    """)
                guard let row = rows.first else { throw Refusal.notFound }
                try Self.checkEligible(row, verifier: verifier)
                let state: String = try row.decode("state")
                let holder = try row.decode("claimed_by", as: String?.self)
                let expired = try row.decode("expired", as: Bool?.self) ?? true
                if state == "decided" { throw Refusal.alreadyDecided }
                if state == "claimed", !expired, holder != verifier.nip { throw Refusal.leaseHeld }
                if state == "claimed", holder != verifier.nip { previousHolder = holder }
                target = id
            } else {
                let rows = try await connection.query(
                    """
                    SELECT r.id, CASE WHEN r.state = 'claimed' THEN r.claimed_by END AS previous
                    FROM reviews r JOIN submissions s ON s.id = r.submission_id
                    WHERE (r.state = 'open' OR (r.state = 'claimed' AND r.lease_expires_at <= now()))
                      AND s.nip <> \(verifier.nip) AND s.opd <> \(verifier.opd)
                      AND NOT (\(verifier.nip) = ANY(r.excluded)) AND NOT (\(verifier.nip) = ANY(r.approvals))
                    ORDER BY r.created_at, r.id
                    LIMIT 1
                    FOR UPDATE OF r SKIP LOCKED
                    """)
                guard let row = rows.first else { return nil }
                target = try row.decode("id")
                previousHolder = try row.decode("previous", as: String?.self)
            }
            let updated = try await connection.query(
                """
                UPDATE reviews SET state = 'claimed', claimed_by = \(verifier.nip),
                    lease_expires_at = now() + make_interval(secs => \(seconds))
                WHERE id = \(target)
                RETURNING submission_id, lease_expires_at, trigger, checks, required_approvals, appeal_id
                """)
            guard let row = updated.first else { throw Refusal.notFound }
            let detail = try await detail(target, in: connection)
            let expires: Date = try row.decode("lease_expires_at")
            let event = ReviewAssigned(
                reviewId: target, submissionId: detail.item.submissionId, nip: detail.item.nip, opd: detail.item.opd,
                trigger: detail.item.trigger, checks: detail.item.checks, assignedAt: Date(),
                reviewerNip: verifier.nip, leaseExpiresAt: expires, requiredApprovals: detail.item.requiredApprovals,
                appealId: try row.decode("appeal_id", as: UUID?.self))
            try await Outbox.enqueue(event, source: source, in: connection)
            var details: [String: Fact] = ["leaseExpiresAt": .date(expires)]
            if let previousHolder { details["previousHolderLeaseExpired"] = .string(previousHolder) }
            try await Self.audit(
                detail.item.submissionId, review: target, actor: verifier.nip, kind: "review.claimed", code: nil,
                result: "claimed", details: details, in: connection)
            return detail
        }
    }

    /// Refuses a verifier who may not take the item (own submission, own OPD, first decider, first approver).
    private static func checkEligible(_ row: PostgresRow, verifier: Identity) throws {
        let nip: String = try row.decode("nip")
        let opd: String = try row.decode("opd")
        if nip == verifier.nip { throw Refusal.ownSubmission }
        if opd == verifier.opd { throw Refusal.sameOPD }
        let excluded: [String] = try row.decode("excluded")
        let approvals: [String] = try row.decode("approvals")
        if approvals.contains(verifier.nip) { throw Refusal.excluded("FOUR_EYES") }
        if excluded.contains(verifier.nip) {
            let trigger: String = try row.decode("trigger")
            throw Refusal.excluded(trigger == "appeal" ? "APPEAL_SAME_VERIFIER" : "FOUR_EYES")
        }
    }

    /// Gives item `id` back to the queue; only its lease holder may.
    func release(_ id: UUID, by verifier: Identity) async throws {
        try await pool.withTransaction { connection in
            let rows = try await connection.query(
                """
                SELECT r.state, r.claimed_by, r.submission_id, r.lease_expires_at <= now() AS expired
                FROM reviews r WHERE r.id = \(id) FOR UPDATE
                """)
            guard let row = rows.first else { throw Refusal.notFound }
            let state: String = try row.decode("state")
            if state == "decided" { throw Refusal.alreadyDecided }
            guard state == "claimed", try row.decode("claimed_by", as: String?.self) == verifier.nip else {
                throw Refusal.notLeaseHolder
            }
            try await connection.query(
                "UPDATE reviews SET state = 'open', claimed_by = NULL, lease_expires_at = NULL WHERE id = \(id)")
            try await Self.audit(
                try row.decode("submission_id"), review: id, actor: verifier.nip, kind: "review.released", code: nil,
                result: "open", details: [:], in: connection)
        }
    }

    // MARK: - Deciding

    /// A verifier's decision.
    struct Decision: Codable, Sendable {
        /// `approve` or `reject`.
        var decision: String
        /// A `ReasonCode` raw value; required to reject.
        var reasonCode: String?
        /// A note to the ASN (and the audit trail).
        var note: String?
        /// Whether a rejection is for fraud; defaults from the reason code.
        var fraud: Bool?
    }

    /// What a decision did.
    struct DecisionResult: Codable, Sendable, Equatable {
        var reviewId: UUID
        var submissionId: UUID
        /// `decided`, or `open` when a four-eyes claim waits for its second approval.
        var state: String
        /// `approved`, `rejected`, `revoked` (an audit overturned the approval), `confirmed` (an audit upheld
        /// it), or `awaiting_second_approval`.
        var outcome: String
        var approvals: [String]
    }

    /// Applies the lease holder's decision on item `id`.
    func decide(_ id: UUID, by verifier: Identity, _ request: Decision) async throws -> DecisionResult {
        let approve: Bool
        switch request.decision {
        case "approve": approve = true
        case "reject": approve = false
        default: throw Refusal.invalid("Keputusan harus 'approve' atau 'reject'. Decision must be approve or reject.")
        }
        var code: ReasonCode?
        if let raw = request.reasonCode, !raw.isEmpty {
            guard let known = ReasonCode(rawValue: raw) else {
                throw Refusal.invalid("Kode alasan '\(raw)' tidak dikenal. Unknown reason code.")
            }
            code = known
        }
        if !approve, code == nil {
            throw Refusal.invalid("Penolakan memerlukan kode alasan. A rejection needs a reason code.")
        }
        let note = request.note.map { String($0.prefix(2000)) }

        return try await pool.withTransaction { connection -> DecisionResult in
            let rows = try await connection.query(
                """
                SELECT r.state, r.claimed_by, r.lease_expires_at <= now() AS expired, r.excluded, r.approvals,
                       r.required_approvals, r.trigger, r.checks, r.appeal_id, s.id AS submission_id, s.nip, s.opd,
                       s.name, s.program, s.activity, s.place, s.activity_at, s.submitted_at, s.quantity, s.unit,
                       d.decided_at AS approved_at
                FROM reviews r JOIN submissions s ON s.id = r.submission_id
                LEFT JOIN decisions d ON d.submission_id = s.id
                WHERE r.id = \(id) FOR UPDATE OF r, s
                """)
            guard let row = rows.first else { throw Refusal.notFound }
            let state: String = try row.decode("state")
            if state == "decided" { throw Refusal.alreadyDecided }
            guard state == "claimed", try row.decode("claimed_by", as: String?.self) == verifier.nip else {
                throw Refusal.notLeaseHolder
            }
            if try row.decode("expired", as: Bool?.self) ?? true { throw Refusal.leaseExpired }
            try Self.checkEligible(row, verifier: verifier)

            let submissionId: UUID = try row.decode("submission_id")
            let trigger: String = try row.decode("trigger")
            let checks: [String] = try row.decode("checks")
            let approvals: [String] = try row.decode("approvals") + (approve ? [verifier.nip] : [])
            let required: Int = try row.decode("required_approvals", as: Int.self)
            let nip: String = try row.decode("nip")
            let opd: String = try row.decode("opd")
            let now = Date()
            let onAppeal = trigger == "appeal"

            if approve && approvals.count < required {
                // Four eyes: back to the queue for a different verifier.
                try await connection.query(
                    """
                    UPDATE reviews SET state = 'open', claimed_by = NULL, lease_expires_at = NULL,
                        approvals = \(approvals)::text[], excluded = array_append(excluded, \(verifier.nip))
                    WHERE id = \(id)
                    """)
                try await Outbox.enqueue(
                    ReviewAssigned(
                        reviewId: id, submissionId: submissionId, nip: nip, opd: opd,
                        trigger: ReviewAssigned.Trigger.secondReview.rawValue, checks: checks, assignedAt: now,
                        requiredApprovals: required, appealId: try row.decode("appeal_id", as: UUID?.self)),
                    source: source, in: connection)
                try await Self.audit(
                    submissionId, review: id, actor: verifier.nip, kind: "review.approved", code: code?.rawValue,
                    result: "awaiting_second_approval",
                    details: ["note": .optional(note), "approvals": .array(approvals.map { .string($0) })],
                    in: connection)
                return DecisionResult(
                    reviewId: id, submissionId: submissionId, state: "open", outcome: "awaiting_second_approval",
                    approvals: approvals)
            }

            let outcome: String
            var fraud = false
            var appealable = false
            var event: CloudEvent?
            if approve {
                if trigger == ReviewAssigned.Trigger.auditSample.rawValue {
                    outcome = "confirmed"
                } else {
                    outcome = "approved"
                    event = try CloudEvent(
                        SubmissionVerified(
                            submissionId: submissionId, nip: nip, opd: opd, program: try row.decode("program"),
                            activity: try row.decode("activity"), place: try row.decode("place"),
                            activityAt: try row.decode("activity_at"), quantity: try row.decode("quantity"),
                            decidedAt: now, decidedBy: verifier.nip, checks: checks,
                            unit: try row.decode("unit", as: String?.self),
                            name: try row.decode("name", as: String?.self),
                            submittedAt: try row.decode("submitted_at"), note: note, onAppeal: onAppeal,
                            method: "manual", reasonCodes: checks, fraud: false, appealable: false),
                        source: source)
                }
            } else {
                let reason = code ?? .reviewerRejected
                fraud = request.fraud ?? DecisionPolicy.isFraud(reason)
                if trigger == ReviewAssigned.Trigger.auditSample.rawValue {
                    outcome = "revoked"
                    appealable = true
                    event = try CloudEvent(
                        SubmissionRevoked(
                            submissionId: submissionId, nip: nip, opd: opd, reasonCode: reason.rawValue,
                            reason: reason.indonesianText, decidedAt: now, decidedBy: verifier.nip, fraud: fraud,
                            approvedAt: try row.decode("approved_at", as: Date?.self),
                            reasonCodes: [reason.rawValue] + checks.filter { $0 != reason.rawValue }, method: "manual",
                            note: note, appealable: appealable),
                        source: source)
                } else {
                    outcome = "rejected"
                    appealable = !onAppeal && DecisionPolicy.isAppealable(reason)
                    event = try CloudEvent(
                        SubmissionRejected(
                            submissionId: submissionId, nip: nip, opd: opd, reasonCode: reason.rawValue,
                            reason: reason.indonesianText, decidedAt: now, decidedBy: verifier.nip, fraud: fraud,
                            program: try row.decode("program"), activity: try row.decode("activity"),
                            reasonCodes: [reason.rawValue] + checks.filter { $0 != reason.rawValue },
                            appealable: appealable, onAppeal: onAppeal, method: "manual", note: note),
                        source: source)
                }
            }
            let reviewOutcome = approve ? "approved" : "rejected"
            try await connection.query(
                """
                UPDATE reviews SET state = 'decided', outcome = \(reviewOutcome), reason_code = \(code?.rawValue),
                    note = \(note), decided_by = \(verifier.nip), decided_at = \(now), approvals = \(approvals)::text[],
                    lease_expires_at = NULL
                WHERE id = \(id)
                """)
            if outcome != "confirmed" {
                let status = outcome
                let decisionCode = approve ? nil : (code ?? .reviewerRejected)
                try await connection.query(
                    """
                    UPDATE submissions SET status = \(status) WHERE id = \(submissionId)
                    """)
                try await connection.query(
                    """
                    UPDATE decisions SET outcome = \(status), reason_code = \(decisionCode?.rawValue),
                        reason = \(decisionCode?.indonesianText), decided_by = \(verifier.nip), decided_at = \(now),
                        method = 'manual', fraud = \(fraud), appealable = \(appealable), on_appeal = \(onAppeal),
                        note = \(note),
                        reason_codes = CASE WHEN \(approve) THEN reason_codes
                                            ELSE array_prepend(\(decisionCode?.rawValue ?? ""), reason_codes) END
                    WHERE submission_id = \(submissionId)
                    """)
            }
            if let event { try await Outbox.enqueue([event], in: connection) }
            try await Self.audit(
                submissionId, review: id, actor: verifier.nip, kind: "decision", code: code?.rawValue, result: outcome,
                details: [
                    "method": .string("manual"), "trigger": .string(trigger), "note": .optional(note),
                    "fraud": .bool(fraud), "appealable": .bool(appealable),
                    "approvals": .array(approvals.map { .string($0) }), "onAppeal": .bool(onAppeal),
                ], in: connection)
            return DecisionResult(
                reviewId: id, submissionId: submissionId, state: "decided", outcome: outcome, approvals: approvals)
        }
    }

    // MARK: - Appeals

    /// Turns `appeal.filed` events into review items that the first decider may not take (one appeal per submission).
    static func enqueueAppeals(
        _ events: [InboundEvent], source: String, logger: Logger, in connection: DatabaseConnection
    ) async throws {
        for inbound in events where inbound.event.type == AppealFiled.eventType {
            let appeal = try inbound.event.decode(AppealFiled.self)
            let rows = try await connection.query(
                """
                SELECT d.outcome, d.decided_by FROM decisions d
                WHERE d.submission_id = \(appeal.submissionId)
                FOR UPDATE
                """)
            guard let row = rows.first else {
                logger.warning(
                    "Banding untuk pengajuan yang tidak dikenal diabaikan",
                    metadata: ["submission": "\(appeal.submissionId)", "appeal": "\(appeal.appealId)"])
                continue
            }
            let outcome: String = try row.decode("outcome")
            guard outcome == "rejected" || outcome == "revoked" else {
                logger.warning(
                    "Banding atas pengajuan yang tidak ditolak diabaikan",
                    metadata: ["submission": "\(appeal.submissionId)", "outcome": "\(outcome)"])
                continue
            }
            let already = try await connection.query(
                "SELECT 1 FROM reviews WHERE submission_id = \(appeal.submissionId) AND trigger = 'appeal'")
            guard already.isEmpty else {
                logger.warning(
                    "Banding kedua untuk pengajuan yang sama diabaikan",
                    metadata: ["submission": "\(appeal.submissionId)"])
                continue
            }
            var excluded = Set<String>()
            let decidedBy: String = try row.decode("decided_by")
            for decider in [decidedBy, appeal.originalDecidedBy ?? ""]
            where !decider.isEmpty && decider != SubmissionVerified.automatic {
                excluded.insert(decider)
            }
            let reviewId = UUID.timeOrdered()
            let inserted = try await connection.query(
                """
                INSERT INTO reviews (id, submission_id, trigger, checks, excluded, appeal_id, appeal_statement,
                                     required_approvals)
                SELECT \(reviewId), \(appeal.submissionId), 'appeal', d.reason_codes, \(excluded.sorted())::text[],
                       \(appeal.appealId), \(String(appeal.statement.prefix(4000))),
                       CASE WHEN coalesce(s.points, 0) >= coalesce(
                           (p.document -> 'verification' ->> 'fourEyesMinPoints')::float8,
                           \(EffectivePolicy.defaults.fourEyesMinPoints)) THEN 2 ELSE 1 END
                FROM decisions d JOIN submissions s ON s.id = d.submission_id
                LEFT JOIN programs p ON p.program = s.program
                WHERE d.submission_id = \(appeal.submissionId)
                ON CONFLICT (appeal_id) WHERE appeal_id IS NOT NULL DO NOTHING
                RETURNING checks, required_approvals
                """)
            guard let review = inserted.first else { continue }
            try await Outbox.enqueue(
                ReviewAssigned(
                    reviewId: reviewId, submissionId: appeal.submissionId, nip: appeal.nip, opd: appeal.opd,
                    trigger: ReviewAssigned.Trigger.appeal.rawValue, checks: try review.decode("checks"),
                    assignedAt: Date(), requiredApprovals: try review.decode("required_approvals", as: Int.self),
                    appealId: appeal.appealId),
                source: source, in: connection)
            try await audit(
                appeal.submissionId, review: reviewId, actor: appeal.nip, kind: "appeal.filed", code: nil,
                result: "appeal",
                details: [
                    "appealId": .string(appeal.appealId.lowercased), "statement": .string(appeal.statement),
                    "excludedVerifiers": .array(excluded.sorted().map { .string($0) }),
                ], in: connection)
        }
    }

    // MARK: - Audit trail

    /// Appends one entry to the audit trail.
    static func audit(
        _ submission: UUID, review: UUID?, actor: String, kind: String, code: String?, result: String?,
        details: [String: Fact], in connection: DatabaseConnection
    ) async throws {
        let json = String(decoding: try ContractsJSON.encode(details), as: UTF8.self)
        try await connection.query(
            """
            INSERT INTO audit_trail (submission_id, review_id, actor, kind, code, result, details)
            VALUES (\(submission), \(review), \(actor), \(kind), \(code), \(result), \(json)::jsonb)
            """)
    }
}
