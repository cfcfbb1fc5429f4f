import Contracts
import Database
import Eventing
import Foundation
import Logging

/// Turns events into in-app notifications for the ASN concerned, in Bahasa Indonesia (English second).
///
/// `UNIQUE (event_id, channel, nip)` makes delivery at most once per channel per event, on top of the inbox.
struct InAppInbox: Sendable {
    /// The events this version handles; the queue binds exactly these.
    static let routingKeys = [PointsAwarded.eventName, SubmissionRejected.eventName, ProgramPublished.eventName]

    let logger: Logger

    /// A notification ready to store.
    struct Message: Equatable, Sendable {
        var nip: String
        var title: String
        var body: String
        var titleEnglish: String
        var bodyEnglish: String
        var submissionId: UUID?
    }

    /// Applies a batch with at most three statements: remember the programs published in it, read the names of the
    /// activities it mentions, store every notification.
    func handle(_ events: [InboundEvent], in connection: DatabaseConnection) async throws {
        var programs: [ProgramPublished] = []
        var awarded: [(CloudEvent, PointsAwarded)] = []
        var rejected: [(CloudEvent, SubmissionRejected)] = []
        for inbound in events {
            let event = inbound.event
            switch event.type {
            case ProgramPublished.eventType: programs.append(try event.decode(ProgramPublished.self))
            case PointsAwarded.eventType: awarded.append((event, try event.decode(PointsAwarded.self)))
            case SubmissionRejected.eventType: rejected.append((event, try event.decode(SubmissionRejected.self)))
            default: logger.debug("Peristiwa tidak diberitahukan", metadata: ["type": "\(event.type)"])
            }
        }
        try await remember(programs, in: connection)
        var wanted: Set<ActivityKey> = []
        for (_, payload) in awarded { wanted.insert(ActivityKey(program: payload.program, code: payload.activity)) }
        for (_, payload) in rejected {
            if let program = payload.program, let code = payload.activity {
                wanted.insert(ActivityKey(program: program, code: code))
            }
        }
        let names = try await activityNames(wanted, in: connection)
        func name(_ program: String, _ code: String) -> String {
            names[ActivityKey(program: program, code: code)] ?? code.replacingOccurrences(of: "_", with: " ")
        }
        var messages: [(CloudEvent, Message)] = []
        for (event, payload) in awarded {
            messages.append((event, Self.message(for: payload, activityName: name(payload.program, payload.activity))))
        }
        for (event, payload) in rejected {
            let activityName = payload.program.flatMap { program in payload.activity.map { name(program, $0) } }
            messages.append((event, Self.message(for: payload, activityName: activityName)))
        }
        try await store(messages, in: connection)
    }

    /// An activity of a program.
    private struct ActivityKey: Hashable {
        var program: String
        var code: String
    }

    /// The message for awarded points.
    static func message(for awarded: PointsAwarded, activityName: String) -> Message {
        Message(
            nip: awarded.nip,
            title: "Poin bertambah +\(awarded.points)",
            body: "Kegiatan \"\(activityName)\" Anda telah diverifikasi dan mendapat \(awarded.points) poin. "
                + "Total poin Anda pada \(awarded.period): \(awarded.totalInPeriod).",
            titleEnglish: "+\(awarded.points) points",
            bodyEnglish: "Your activity \"\(activityName)\" was verified and earned \(awarded.points) points. "
                + "Your total for \(awarded.period): \(awarded.totalInPeriod).",
            submissionId: awarded.submissionId
        )
    }

    /// The message for a rejected submission, with the reason in plain words.
    static func message(for rejected: SubmissionRejected, activityName: String?) -> Message {
        let known = rejected.knownReasonCode
        let reason = rejected.reason.isEmpty ? (known?.indonesianText ?? rejected.reasonCode) : rejected.reason
        let what = activityName.map { "Pengajuan kegiatan \"\($0)\"" } ?? "Pengajuan kegiatan Anda"
        let whatEnglish = activityName.map { "Your submission \"\($0)\"" } ?? "Your submission"
        let appeal = rejected.appealable == true ? " Anda dapat mengajukan banding satu kali." : ""
        return Message(
            nip: rejected.nip,
            title: "Pengajuan ditolak",
            body: "\(what) ditolak: \(reason) (kode \(rejected.reasonCode)).\(appeal)",
            titleEnglish: "Submission rejected",
            bodyEnglish: "\(whatEnglish) was rejected: \(known?.englishText ?? rejected.reasonCode) "
                + "(code \(rejected.reasonCode)).",
            submissionId: rejected.submissionId
        )
    }

    /// Stores the notifications in one statement; a second copy of an event's notification is ignored.
    private func store(_ messages: [(CloudEvent, Message)], in connection: DatabaseConnection) async throws {
        guard !messages.isEmpty else { return }
        let events = messages.map(\.0)
        let texts = messages.map(\.1)
        try await connection.query(
            """
            INSERT INTO notifications (id, nip, event_id, event_type, channel, title, body, title_en, body_en,
                                       submission_id)
            SELECT gen_random_uuid(), nip, event_id, event_type, 'inapp', title, body, title_en, body_en,
                   NULLIF(submission_id, '')::uuid
            FROM unnest(\(texts.map(\.nip))::text[], \(events.map(\.id))::text[], \(events.map(\.type))::text[],
                        \(texts.map(\.title))::text[], \(texts.map(\.body))::text[], \(texts.map(\.titleEnglish))::text[],
                        \(texts.map(\.bodyEnglish))::text[], \(texts.map { $0.submissionId?.uuidString ?? "" })::text[])
                 WITH ORDINALITY AS n(nip, event_id, event_type, title, body, title_en, body_en, submission_id,
                                      position)
            ORDER BY position
            ON CONFLICT (event_id, channel, nip) DO NOTHING
            """
        )
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
            """
        )
    }

    /// The names of `activities` from the last published programs (absent ones are missing from the result).
    private func activityNames(_ activities: Set<ActivityKey>, in connection: DatabaseConnection) async throws
        -> [ActivityKey: String]
    {
        guard !activities.isEmpty else { return [:] }
        let keys = Array(activities)
        let rows = try await connection.query(
            """
            SELECT a.program, a.code, a.name FROM activities a
            JOIN unnest(\(keys.map(\.program))::text[], \(keys.map(\.code))::text[]) AS k(program, code)
              ON a.program = k.program AND a.code = k.code
            """
        )
        var names: [ActivityKey: String] = [:]
        for row in rows {
            names[ActivityKey(program: try row.decode("program"), code: try row.decode("code"))] = try row.decode(
                "name")
        }
        return names
    }
}
