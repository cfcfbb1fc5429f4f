import Contracts
import Database
import Foundation
import Logging
import Messaging

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

    func handle(_ events: [InboundEvent], in connection: DatabaseConnection) async throws {
        for inbound in events {
            let event = inbound.event
            switch event.type {
            case ProgramPublished.eventType:
                try await remember(try event.decode(ProgramPublished.self), in: connection)
            case PointsAwarded.eventType:
                let awarded = try event.decode(PointsAwarded.self)
                let name = try await activityName(program: awarded.program, code: awarded.activity, in: connection)
                try await store(Self.message(for: awarded, activityName: name), event: event, in: connection)
            case SubmissionRejected.eventType:
                let rejected = try event.decode(SubmissionRejected.self)
                var name: String?
                if let program = rejected.program, let activity = rejected.activity {
                    name = try await activityName(program: program, code: activity, in: connection)
                }
                try await store(Self.message(for: rejected, activityName: name), event: event, in: connection)
            default:
                logger.debug("Peristiwa tidak diberitahukan", metadata: ["type": "\(event.type)"])
            }
        }
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

    private func store(_ message: Message, event: CloudEvent, in connection: DatabaseConnection) async throws {
        try await connection.query(
            """
            INSERT INTO notifications (id, nip, event_id, event_type, channel, title, body, title_en, body_en,
                                       submission_id)
            VALUES (\(UUID()), \(message.nip), \(event.id), \(event.type), 'inapp', \(message.title), \(message.body),
                    \(message.titleEnglish), \(message.bodyEnglish), \(message.submissionId))
            ON CONFLICT (event_id, channel, nip) DO NOTHING
            """
        )
    }

    private func remember(_ program: ProgramPublished, in connection: DatabaseConnection) async throws {
        for activity in program.activities {
            try await connection.query(
                """
                INSERT INTO activities (program, code, name, program_version)
                VALUES (\(program.program), \(activity.code), \(activity.name), \(program.programVersion))
                ON CONFLICT (program, code) DO UPDATE SET name = excluded.name, program_version = excluded.program_version
                """
            )
        }
    }

    /// The activity's name from the last published program, or its code made readable.
    private func activityName(program: String, code: String, in connection: DatabaseConnection) async throws
        -> String
    {
        let rows = try await connection.query(
            "SELECT name FROM activities WHERE program = \(program) AND code = \(code)"
        )
        if let row = rows.first { return try row.decode("name") }
        return code.replacingOccurrences(of: "_", with: " ")
    }
}
