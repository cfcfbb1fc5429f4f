import Contracts
import Database
import Eventing
import Foundation
import Logging

/// Keeps verification's local copies of the roster, the programs and the earning bans, from scoring's events
/// (`asn.enrolled`, `asn.updated`, `program.published`, `penalty.applied`), inside the inbox transaction.
///
/// Each kind is applied with one upsert per batch. Late or repeated events never overwrite newer state: a roster
/// record is replaced only by one at least as recent, a program only by a later publication, a ban only extended.
struct ReferenceData: Sendable {
    let logger: Logger

    /// Applies a batch of reference events.
    func handle(_ events: [InboundEvent], in connection: DatabaseConnection) async throws {
        var roster: [String: (name: String, opd: String, active: Bool, locations: [RegisteredLocation], at: Date)] = [:]
        var programs: [String: ProgramPublished] = [:]
        var bans: [String: (until: Date, code: String)] = [:]
        for inbound in events {
            let event = inbound.event
            switch event.type {
            case ASNEnrolled.eventType:
                let asn = try event.decode(ASNEnrolled.self)
                if let known = roster[asn.nip], known.at > asn.enrolledAt { continue }
                roster[asn.nip] = (asn.name, asn.opd, true, asn.locations ?? [], asn.enrolledAt)
            case ASNUpdated.eventType:
                let asn = try event.decode(ASNUpdated.self)
                if let known = roster[asn.nip], known.at > asn.updatedAt { continue }
                roster[asn.nip] = (asn.name, asn.opd, asn.active, asn.locations ?? [], asn.updatedAt)
            case ProgramPublished.eventType:
                let program = try event.decode(ProgramPublished.self)
                if let known = programs[program.program], known.publishedAt > program.publishedAt { continue }
                programs[program.program] = program
            case PenaltyApplied.eventType:
                let penalty = try event.decode(PenaltyApplied.self)
                guard let until = penalty.earningBannedUntil else { continue }
                if let known = bans[penalty.nip], known.until >= until { continue }
                bans[penalty.nip] = (until, penalty.reasonCode)
            default:
                logger.debug("ignoring event", metadata: ["event.type": "\(event.type)"])
            }
        }
        if !roster.isEmpty {
            let entries = roster.sorted { $0.key < $1.key }
            let locations = try entries.map {
                String(decoding: try ContractsJSON.encode($0.value.locations), as: UTF8.self)
            }
            try await connection.query(
                """
                INSERT INTO roster (nip, name, opd, active, locations, updated_at)
                SELECT n, na, o, a, l::jsonb, t
                FROM unnest(\(entries.map(\.key))::text[], \(entries.map(\.value.name))::text[],
                            \(entries.map(\.value.opd))::text[], \(entries.map(\.value.active))::bool[],
                            \(locations)::text[], \(entries.map(\.value.at))::timestamptz[]) AS r(n, na, o, a, l, t)
                ON CONFLICT (nip) DO UPDATE SET name = EXCLUDED.name, opd = EXCLUDED.opd, active = EXCLUDED.active,
                    locations = EXCLUDED.locations, updated_at = EXCLUDED.updated_at
                WHERE roster.updated_at <= EXCLUDED.updated_at
                """
            )
        }
        if !programs.isEmpty {
            let entries = programs.values.sorted { $0.program < $1.program }
            let documents = try entries.map { String(decoding: try ContractsJSON.encode($0), as: UTF8.self) }
            try await connection.query(
                """
                INSERT INTO programs (program, version, published_at, document)
                SELECT p, v, t, d::jsonb
                FROM unnest(\(entries.map(\.program))::text[], \(entries.map(\.programVersion))::text[],
                            \(entries.map(\.publishedAt))::timestamptz[], \(documents)::text[]) AS r(p, v, t, d)
                ON CONFLICT (program) DO UPDATE SET version = EXCLUDED.version, published_at = EXCLUDED.published_at,
                    document = EXCLUDED.document
                WHERE programs.published_at <= EXCLUDED.published_at
                """
            )
        }
        if !bans.isEmpty {
            let entries = bans.sorted { $0.key < $1.key }
            try await connection.query(
                """
                INSERT INTO earning_bans (nip, banned_until, reason_code)
                SELECT * FROM unnest(\(entries.map(\.key))::text[], \(entries.map(\.value.until))::timestamptz[],
                                     \(entries.map(\.value.code))::text[])
                ON CONFLICT (nip) DO UPDATE SET banned_until = EXCLUDED.banned_until,
                    reason_code = EXCLUDED.reason_code, updated_at = now()
                WHERE earning_bans.banned_until < EXCLUDED.banned_until
                """
            )
        }
    }
}
