import Contracts
import Database
import Eventing
import Foundation
import Logging

/// Applies a batch of events from `notification.events`, inside the inbox transaction, with a fixed handful of
/// set-based statements whatever the batch size:
/// 1. roster contacts (`asn.enrolled`/`asn.updated`), activity names (`program.published`) and submission facts
///    (`submission.verified`) are upserted;
/// 2. every person's notification is rendered from the templates and stored in the in-app inbox, and — for the
///    ASN who opted in and have a phone — queued for the WhatsApp/SMS gateway, in one statement;
/// 3. webhook deliveries are queued for every enabled endpoint subscribed to the event;
/// 4. the events for the live stream are appended to its retained window.
///
/// At most once per channel per event: `UNIQUE (event_id, channel, nip)` on the inbox and the gateway queue,
/// `UNIQUE (endpoint_id, event_id)` on webhook deliveries and `UNIQUE (event_id)` on the stream — on top of the
/// inbox, so a duplicate delivery or a second instance racing on the same event adds nothing.
struct NotificationConsumer: Sendable {
    /// The events bound to the queue: everything a person, a webhook or the stream may need. Not
    /// `submission.received` (busy, and nobody is told about a mere upload) nor `appeal.filed` (the ASN filed it).
    static let routingKeys = [
        SubmissionVerified.eventName, SubmissionRejected.eventName, SubmissionRevoked.eventName,
        ReviewAssigned.eventName, PointsAwarded.eventName, PointsReversed.eventName, PenaltyApplied.eventName,
        RankingPublished.eventName, AwardGranted.eventName, CommitmentEvaluated.eventName,
        SanctionImposed.eventName, ProgramPublished.eventName, ASNEnrolled.eventName, ASNUpdated.eventName,
    ]

    /// Events a webhook may subscribe to: the bound ones that are not confidential (no punishments, rejections
    /// or personal data leave for other agencies).
    static let webhookEventNames: Set<String> = Set(
        EventCatalog.all.filter { !$0.isConfidential && routingKeys.contains($0.eventName) }.map { $0.eventName })

    /// Events on the live stream: points, rankings, awards and commitments.
    static let streamEventNames: Set<String> = [
        PointsAwarded.eventName, PointsReversed.eventName, RankingPublished.eventName, AwardGranted.eventName,
        CommitmentEvaluated.eventName,
    ]

    /// NOTIFY channels that wake the dispatchers and the stream.
    static let webhookChannel = "notification_webhooks"
    static let gatewayChannel = "notification_gateway"
    static let streamChannel = "notification_stream"
    /// Serialises appends to the stream so that `seq` values become visible in order (see ``appendToStream``).
    static let streamLockKey: Int64 = 0x6E6F_7469_6673_7472

    let templates: NotificationTemplates
    /// The gateway channel name stored with queued messages (`whatsapp` or `sms`).
    let gatewayChannelName: String
    let logger: Logger

    func handle(_ batch: [InboundEvent], in connection: DatabaseConnection) async throws {
        var programs: [ProgramPublished] = []
        var contacts: [String: Contact] = [:]
        var facts: [SubmissionVerified] = []
        var notes: [NotificationNote] = []
        var webhook: [(event: CloudEvent, name: String, body: String)] = []
        var stream: [(event: CloudEvent, name: String, body: String)] = []
        for inbound in batch {
            let event = inbound.event
            let name = event.eventName ?? inbound.routingKey
            switch event.type {
            case ProgramPublished.eventType: programs.append(try event.decode(ProgramPublished.self))
            case ASNEnrolled.eventType:
                let enrolled = try event.decode(ASNEnrolled.self)
                contacts[enrolled.nip] = Contact(enrolled)
            case ASNUpdated.eventType:
                let updated = try event.decode(ASNUpdated.self)
                contacts[updated.nip] = Contact(updated)
            case SubmissionVerified.eventType: facts.append(try event.decode(SubmissionVerified.self))
            default: break
            }
            let eventNotes = try NotificationNote.notes(for: event)
            notes += eventNotes
            let wantsWebhook = Self.webhookEventNames.contains(name)
            let wantsStream = Self.streamEventNames.contains(name)
            if wantsWebhook || wantsStream {
                // An event with notes had its data decoded (as JSON) to write them.
                let body = CloudEventJSON.structured(event, dataIsJSON: !eventNotes.isEmpty)
                if wantsWebhook { webhook.append((event, name, body)) }
                if wantsStream { stream.append((event, name, body)) }
            }
        }
        try await upsertContacts(Array(contacts.values), in: connection)
        try await remember(programs, in: connection)
        try await rememberFacts(facts, in: connection)
        let gatewayQueued = try await store(notes, in: connection)
        let webhooksQueued = try await queueWebhooks(webhook, in: connection)
        if gatewayQueued || webhooksQueued {
            try await connection.query(
                """
                SELECT pg_notify(\(Self.webhookChannel), '') WHERE \(webhooksQueued)
                UNION ALL SELECT pg_notify(\(Self.gatewayChannel), '') WHERE \(gatewayQueued)
                """)
        }
        // Last, so the stream lock is held only for the end of the transaction.
        try await appendToStream(stream, in: connection)
    }

    /// A roster record as notification keeps it.
    struct Contact: Sendable {
        var nip, name, opd: String
        var phone, email: String?
        var optIn, opdHead, active: Bool
        var updatedAt: Date

        init(_ enrolled: ASNEnrolled) {
            (nip, name, opd, phone, email) = (enrolled.nip, enrolled.name, enrolled.opd, enrolled.phone, enrolled.email)
            optIn = enrolled.messagingOptIn ?? false
            opdHead = enrolled.isOPDHead ?? (enrolled.roles?.contains(Role.opdHead.rawValue) ?? false)
            active = true
            updatedAt = enrolled.enrolledAt
        }

        init(_ updated: ASNUpdated) {
            (nip, name, opd, phone, email) = (updated.nip, updated.name, updated.opd, updated.phone, updated.email)
            optIn = updated.messagingOptIn ?? false
            opdHead = updated.isOPDHead ?? (updated.roles?.contains(Role.opdHead.rawValue) ?? false)
            active = updated.active
            updatedAt = updated.updatedAt
        }
    }

    /// Upserts contacts; an older record (a late redelivery) never overwrites a newer one.
    private func upsertContacts(_ contacts: [Contact], in connection: DatabaseConnection) async throws {
        guard !contacts.isEmpty else { return }
        try await connection.query(
            """
            INSERT INTO contacts (nip, name, opd, phone, email, messaging_opt_in, opd_head, active, updated_at)
            SELECT nip, name, opd, NULLIF(phone, ''), NULLIF(email, ''), opt_in, opd_head, active, updated_at
            FROM unnest(\(contacts.map(\.nip))::text[], \(contacts.map(\.name))::text[], \(contacts.map(\.opd))::text[],
                        \(contacts.map { $0.phone ?? "" })::text[], \(contacts.map { $0.email ?? "" })::text[],
                        \(contacts.map(\.optIn))::bool[], \(contacts.map(\.opdHead))::bool[],
                        \(contacts.map(\.active))::bool[], \(contacts.map(\.updatedAt))::timestamptz[])
                 AS c(nip, name, opd, phone, email, opt_in, opd_head, active, updated_at)
            ORDER BY nip
            ON CONFLICT (nip) DO UPDATE SET name = excluded.name, opd = excluded.opd, phone = excluded.phone,
                email = excluded.email, messaging_opt_in = excluded.messaging_opt_in, opd_head = excluded.opd_head,
                active = excluded.active, updated_at = excluded.updated_at
            WHERE contacts.updated_at <= excluded.updated_at
            """)
    }

    /// Keeps the activity names of published programs (of a program published twice in a batch, the later).
    private func remember(_ programs: [ProgramPublished], in connection: DatabaseConnection) async throws {
        var latest: [String: ProgramPublished] = [:]
        for program in programs { latest[program.program] = program }
        let activities = latest.values.sorted { $0.program < $1.program }.flatMap { program in
            program.activities.map { (program.program, $0.code, $0.name, program.programVersion) }
        }
        guard !activities.isEmpty else { return }
        try await connection.query(
            """
            INSERT INTO activities (program, code, name, program_version)
            SELECT * FROM unnest(\(activities.map(\.0))::text[], \(activities.map(\.1))::text[],
                                 \(activities.map(\.2))::text[], \(activities.map(\.3))::text[])
            ON CONFLICT (program, code) DO UPDATE SET name = excluded.name, program_version = excluded.program_version
            """)
    }

    /// Keeps program, activity and date of verified submissions, for the messages that follow them.
    private func rememberFacts(_ verified: [SubmissionVerified], in connection: DatabaseConnection) async throws {
        guard !verified.isEmpty else { return }
        var latest: [UUID: SubmissionVerified] = [:]
        for item in verified { latest[item.submissionId] = item }
        let items = latest.values.sorted { $0.submissionId.uuidString < $1.submissionId.uuidString }
        try await connection.query(
            """
            INSERT INTO submission_facts (submission_id, program, activity, activity_at)
            SELECT * FROM unnest(\(items.map(\.submissionId))::uuid[], \(items.map(\.program))::text[],
                                 \(items.map(\.activity))::text[], \(items.map(\.activityAt))::timestamptz[])
            ON CONFLICT (submission_id) DO NOTHING
            """)
    }

    /// Renders `notes` and stores them in the inbox, queueing the gateway copies, in one statement (after one
    /// lookup of activity names and dates). Returns whether any gateway message was queued.
    private func store(_ notes: [NotificationNote], in connection: DatabaseConnection) async throws -> Bool {
        guard !notes.isEmpty else { return false }
        let lookups = try await connection.query(
            """
            SELECT k.position, a.name AS activity_name, coalesce(NULLIF(k.code, ''), f.activity) AS activity_code,
                   f.activity_at
            FROM unnest(\(notes.map { $0.activity?.program ?? "" })::text[],
                        \(notes.map { $0.activity?.code ?? "" })::text[],
                        \(notes.map { $0.submissionId?.uuidString ?? "" })::text[])
                 WITH ORDINALITY AS k(program, code, submission, position)
            LEFT JOIN submission_facts f ON f.submission_id = NULLIF(k.submission, '')::uuid
            LEFT JOIN activities a ON a.program = coalesce(NULLIF(k.program, ''), f.program)
                                  AND a.code = coalesce(NULLIF(k.code, ''), f.activity)
            """)
        var found: [Int: (name: String?, code: String?, at: Date?)] = [:]
        for row in lookups {
            found[try row.decode("position", as: Int.self) - 1] = (
                try row.decode("activity_name", as: String?.self), try row.decode("activity_code", as: String?.self),
                try row.decode("activity_at", as: Date?.self)
            )
        }
        var rendered: [(note: NotificationNote, id: NotificationTemplates.Text, en: NotificationTemplates.Text)] = []
        rendered.reserveCapacity(notes.count)
        for (index, note) in notes.enumerated() {
            var values: [String: Any] = note.values
            for (key, flag) in note.flags { values[key] = flag }
            let lookup = found[index]
            values["activity"] =
                lookup?.name ?? lookup?.code.map { $0.replacingOccurrences(of: "_", with: " ") } ?? "tanpa nama"
            if values["date"] == nil, let at = lookup?.at {
                for (key, value) in NotificationNote.dates(at) { values[key] = value }
            }
            let (id, en) = templates.render(note.kind, values)
            rendered.append((note, id, en))
        }
        let result = try await connection.query(
            """
            WITH n AS (
                SELECT * FROM unnest(\(rendered.map { $0.note.nip ?? "" })::text[],
                                     \(rendered.map(\.note.opd))::text[], \(rendered.map(\.note.eventId))::text[],
                                     \(rendered.map(\.note.eventType))::text[], \(rendered.map(\.note.kind))::text[],
                                     \(rendered.map(\.id.title))::text[], \(rendered.map(\.id.body))::text[],
                                     \(rendered.map(\.en.title))::text[], \(rendered.map(\.en.body))::text[],
                                     \(rendered.map { $0.note.submissionId?.uuidString ?? "" })::text[],
                                     \(rendered.map(\.note.viaGateway))::bool[])
                    WITH ORDINALITY AS n(nip, opd, event_id, event_type, kind, title, body, title_en, body_en,
                                         submission_id, gateway, position)
            ), r AS (
                SELECT n.*, n.nip AS recipient FROM n WHERE n.nip <> ''
                UNION ALL
                SELECT n.*, c.nip FROM n JOIN contacts c ON n.nip = '' AND c.opd = n.opd AND c.opd_head AND c.active
            ), ins AS (
                INSERT INTO notifications (id, nip, event_id, event_type, channel, kind, title, body, title_en, body_en,
                                           submission_id)
                SELECT uuid_time_ordered(), recipient, event_id, event_type, 'inapp', kind, title, body, title_en,
                       body_en, NULLIF(submission_id, '')::uuid
                FROM r ORDER BY position, recipient
                ON CONFLICT (event_id, channel, nip) DO NOTHING
                RETURNING nip, event_id
            )
            INSERT INTO gateway_messages (id, nip, event_id, channel, phone, body)
            SELECT uuid_time_ordered(), ins.nip, ins.event_id, \(gatewayChannelName), c.phone, r.body
            FROM ins
            JOIN r ON r.recipient = ins.nip AND r.event_id = ins.event_id AND r.gateway
            JOIN contacts c ON c.nip = ins.nip AND c.messaging_opt_in AND c.active AND c.phone IS NOT NULL
            ON CONFLICT (event_id, channel, nip) DO NOTHING
            """)
        return result.rowsAffected > 0
    }

    /// Queues one delivery per enabled endpoint subscribed to each event; returns whether any was queued.
    private func queueWebhooks(
        _ events: [(event: CloudEvent, name: String, body: String)], in connection: DatabaseConnection
    )
        async throws -> Bool
    {
        guard !events.isEmpty else { return false }
        let result = try await connection.query(
            """
            INSERT INTO webhook_deliveries (id, endpoint_id, event_id, event_type, body)
            SELECT uuid_time_ordered(), e.id, u.event_id, u.event_name, u.body
            FROM unnest(\(events.map(\.event.id))::text[], \(events.map(\.name))::text[], \(events.map(\.body))::text[])
                 WITH ORDINALITY AS u(event_id, event_name, body, position)
            JOIN webhook_endpoints e ON e.enabled AND e.deleted_at IS NULL AND u.event_name = ANY (e.event_types)
            ORDER BY u.position, e.id
            ON CONFLICT (endpoint_id, event_id) DO NOTHING
            """)
        return result.rowsAffected > 0
    }

    /// Appends to the stream's retained window under a transaction-scoped advisory lock: `seq` is drawn while the
    /// lock is held and the lock is released at commit, so rows become visible in `seq` order and a reader that
    /// remembers the last `seq` it saw never skips one committed later.
    private func appendToStream(
        _ events: [(event: CloudEvent, name: String, body: String)], in connection: DatabaseConnection
    )
        async throws
    {
        guard !events.isEmpty else { return }
        try await connection.query("SELECT pg_advisory_xact_lock(\(Self.streamLockKey))")
        try await connection.query(
            """
            INSERT INTO stream_events (event_id, event_name, body)
            SELECT event_id, event_name, body
            FROM unnest(\(events.map(\.event.id))::text[], \(events.map(\.name))::text[], \(events.map(\.body))::text[])
                 WITH ORDINALITY AS u(event_id, event_name, body, position)
            ORDER BY position
            ON CONFLICT (event_id) DO NOTHING
            """)
        try await connection.query("SELECT pg_notify(\(Self.streamChannel), '')")
    }
}
