import Contracts
import Database
import Eventing
import Foundation
import Hummingbird

/// What a roster import did, or would do (`dryRun`).
struct RosterReport: Codable, Sendable, Equatable {
    var dryRun: Bool
    var partial: Bool
    /// Whether the roster was changed.
    var applied: Bool
    /// Data rows in the file (not counting the header and blank lines).
    var rows: Int
    var valid: Int
    var invalid: Int
    /// Valid rows that are new, changed, or the same as the roster.
    var enrolled: Int
    var updated: Int
    var unchanged: Int
    /// All errors found (the list holds at most the first 1,000).
    var errorCount: Int
    var errors: [RosterRowError]
}

/// A roster record as `GET /v1/roster/{nip}` shows it.
struct RosterRecord: Codable, Sendable, Equatable {
    var nip: String
    var nipKind: String
    var name: String
    var opd: String
    var unit: String?
    var phone: String?
    var email: String?
    var locations: [RegisteredLocation]
    var active: Bool
    var enrolledAt: Date
    var updatedAt: Date
}

/// The roster (`roster`): imports from CSV and reads.
///
/// An import streams the body through ``CSVRecordReader`` and ``RosterValidator`` into a temporary staging table
/// with binary COPY, 2,000 rows at a time, so memory holds one chunk (plus the NIPs seen, for duplicates) whatever
/// the file's length. The comparison with the roster is one set-based query; applying it goes in chunks of 1,000
/// changed rows (one upsert and one outbox insert each). The whole import is one transaction: a file with an
/// invalid row changes nothing unless `partial`.
enum Roster {
    static let maxBytes = 64 * 1024 * 1024
    static let maxReportedErrors = 1000
    private static let copyChunk = 2000
    private static let applyChunk = 1000
    /// Serialises imports ("ROST").
    private static let lockKey: Int64 = 0x524F_5354

    /// Imports `body` (CSV). Throws ``RosterImportRefused`` (422) when the header is wrong, or a row is invalid
    /// and `partial` is not set, with the report.
    static func importCSV<Body: AsyncSequence>(
        _ body: Body, dryRun: Bool, partial: Bool, pool: DatabasePool
    ) async throws -> RosterReport where Body.Element == ByteBuffer {
        try await pool.withTransaction { connection in
            try await connection.query("SELECT pg_advisory_xact_lock(\(lockKey))")
            try await connection.execute(
                unsafeSQL: """
                    CREATE TEMP TABLE roster_staging (
                        line int8 NOT NULL, nip text NOT NULL, nip_kind text NOT NULL, name text NOT NULL,
                        opd text NOT NULL, unit text, phone text, email text, office_lat float8, office_lon float8,
                        home_lat float8, home_lon float8, active bool NOT NULL
                    ) ON COMMIT DROP
                    """)
            var reader = CSVRecordReader()
            var validator = RosterValidator()
            var headerRead = false
            var headerErrors: [RosterRowError] = []
            var report = RosterReport(
                dryRun: dryRun, partial: partial, applied: false, rows: 0, valid: 0, invalid: 0, enrolled: 0,
                updated: 0, unchanged: 0, errorCount: 0, errors: [])
            var pending: [RosterRow] = []
            var received = 0

            func take(_ fields: [String], _ line: Int) {
                if !headerRead {
                    headerRead = true
                    headerErrors = validator.header(fields)
                    return
                }
                if fields.count == 1 && fields[0].trimmingCharacters(in: .whitespaces).isEmpty { return }
                report.rows += 1
                switch validator.row(fields, line: line) {
                case .success(let row):
                    report.valid += 1
                    pending.append(row)
                case .failure(let failure):
                    report.invalid += 1
                    report.errorCount += failure.errors.count
                    for error in failure.errors where report.errors.count < maxReportedErrors {
                        report.errors.append(error)
                    }
                }
            }
            for try await chunk in body {
                received += chunk.readableBytes
                if received > maxBytes { throw RosterImportRefused.tooLarge }
                reader.feed(chunk.readableBytesView) { fields, line in take(fields, line) }
                if !headerErrors.isEmpty { break }
                if pending.count >= copyChunk {
                    try await stage(pending, in: connection)
                    pending.removeAll(keepingCapacity: true)
                }
            }
            reader.finish { fields, line in take(fields, line) }
            if !headerRead {
                headerErrors = [
                    RosterRowError(
                        line: 1, field: "*", code: "EMPTY_FILE", message: "berkas kosong / the file is empty")
                ]
            }
            if !headerErrors.isEmpty {
                report.errors = headerErrors
                report.errorCount = headerErrors.count
                throw RosterImportRefused.invalid(report)
            }
            try await stage(pending, in: connection)
            pending = []

            let counts = try await connection.query(
                """
                SELECT count(*) FILTER (WHERE r.nip IS NULL) AS enrolled,
                       count(*) FILTER (WHERE r.nip IS NOT NULL AND \(unsafeSQL: differs)) AS updated,
                       count(*) FILTER (WHERE r.nip IS NOT NULL AND NOT \(unsafeSQL: differs)) AS unchanged
                FROM roster_staging s LEFT JOIN roster r ON r.nip = s.nip
                """
            )[0]
            report.enrolled = try counts.decode("enrolled")
            report.updated = try counts.decode("updated")
            report.unchanged = try counts.decode("unchanged")
            if report.invalid > 0 && !partial { throw RosterImportRefused.invalid(report) }
            if dryRun { return report }
            try await apply(in: connection)
            report.applied = report.enrolled + report.updated > 0
            return report
        }
    }

    /// `s` (staging) differs from `r` (roster) in a field the roster keeps.
    private static let differs = """
        ((s.nip_kind, s.name, s.opd, s.unit, s.phone, s.email, s.office_lat, s.office_lon, s.home_lat, s.home_lon,
          s.active) IS DISTINCT FROM
         (r.nip_kind, r.name, r.opd, r.unit, r.phone, r.email, r.office_lat, r.office_lon, r.home_lat, r.home_lon,
          r.active))
        """

    private static func stage(_ rows: [RosterRow], in connection: DatabaseConnection) async throws {
        guard !rows.isEmpty else { return }
        _ = try await connection.copyIn(
            table: "roster_staging",
            columns: [
                "line", "nip", "nip_kind", "name", "opd", "unit", "phone", "email", "office_lat", "office_lon",
                "home_lat", "home_lon", "active",
            ],
            rows: rows.map { row in
                [
                    row.line, row.nip, row.nipKind, row.name, row.opd, row.unit, row.phone, row.email,
                    row.office?.latitude, row.office?.longitude, row.home?.latitude, row.home?.longitude, row.active,
                ]
            })
    }

    /// Applies the staged rows that are new or changed, in chunks, publishing `asn.enrolled` / `asn.updated`.
    private static func apply(in connection: DatabaseConnection) async throws {
        var after = 0
        while true {
            let rows = try await connection.query(
                """
                SELECT s.*, r.nip IS NULL AS is_new,
                       array_remove(ARRAY[
                           CASE WHEN s.name IS DISTINCT FROM r.name THEN 'name' END,
                           CASE WHEN s.opd IS DISTINCT FROM r.opd THEN 'opd' END,
                           CASE WHEN s.unit IS DISTINCT FROM r.unit THEN 'unit' END,
                           CASE WHEN s.phone IS DISTINCT FROM r.phone THEN 'phone' END,
                           CASE WHEN s.email IS DISTINCT FROM r.email THEN 'email' END,
                           CASE WHEN (s.office_lat, s.office_lon, s.home_lat, s.home_lon)
                                     IS DISTINCT FROM (r.office_lat, r.office_lon, r.home_lat, r.home_lon)
                                THEN 'locations' END,
                           CASE WHEN s.active IS DISTINCT FROM r.active THEN 'active' END], NULL) AS changed
                FROM roster_staging s LEFT JOIN roster r ON r.nip = s.nip
                WHERE s.line > \(after) AND (r.nip IS NULL OR \(unsafeSQL: differs))
                ORDER BY s.line LIMIT \(applyChunk)
                """
            )
            guard !rows.isEmpty else { return }
            let now = Date()
            var nips: [String] = []
            var events: [CloudEvent] = []
            for row in rows {
                let nip: String = try row.decode("nip")
                nips.append(nip)
                after = try row.decode("line")
                let record = try Self.record(row, at: now)
                if try row.decode("is_new", as: Bool.self) {
                    events.append(
                        try CloudEvent(
                            ASNEnrolled(
                                nip: nip, name: record.name, opd: record.opd, enrolledAt: now, phone: record.phone,
                                email: record.email, locations: record.locations, active: record.active,
                                unit: record.unit),
                            from: .scoring, time: now))
                } else {
                    events.append(
                        try CloudEvent(
                            ASNUpdated(
                                nip: nip, name: record.name, opd: record.opd, updatedAt: now, active: record.active,
                                phone: record.phone, email: record.email, locations: record.locations,
                                changedFields: try row.decode("changed", as: [String].self), unit: record.unit),
                            from: .scoring, time: now))
                }
            }
            try await connection.query(
                """
                INSERT INTO roster (nip, nip_kind, name, opd, unit, phone, email, office_lat, office_lon, home_lat,
                                    home_lon, active)
                SELECT nip, nip_kind, name, opd, unit, phone, email, office_lat, office_lon, home_lat, home_lon, active
                FROM roster_staging WHERE nip = ANY(\(nips)::text[])
                ON CONFLICT (nip) DO UPDATE SET
                    nip_kind = EXCLUDED.nip_kind, name = EXCLUDED.name, opd = EXCLUDED.opd, unit = EXCLUDED.unit,
                    phone = EXCLUDED.phone, email = EXCLUDED.email, office_lat = EXCLUDED.office_lat,
                    office_lon = EXCLUDED.office_lon, home_lat = EXCLUDED.home_lat, home_lon = EXCLUDED.home_lon,
                    active = EXCLUDED.active, updated_at = now()
                """
            )
            try await Outbox.enqueue(events, in: connection)
            if rows.count < applyChunk { return }
        }
    }

    /// One roster record by NIP.
    static func find(_ nip: String, pool: DatabasePool) async throws -> RosterRecord? {
        try await pool.withConnection { connection in
            try await connection.query("SELECT * FROM roster WHERE nip = \(nip)").first.map { row in
                try record(row, at: Date())
            }
        }
    }

    private static func record(_ row: PostgresRow, at now: Date) throws -> RosterRecord {
        var locations: [RegisteredLocation] = []
        for place in ["office", "home"] {
            if let latitude = try row.decode("\(place)_lat", as: Double?.self),
                let longitude = try row.decode("\(place)_lon", as: Double?.self)
            {
                locations.append(RegisteredLocation(place: place, latitude: latitude, longitude: longitude))
            }
        }
        let columns = row.columns
        return RosterRecord(
            nip: try row.decode("nip"), nipKind: try row.decode("nip_kind"), name: try row.decode("name"),
            opd: try row.decode("opd"), unit: try row.decode("unit", as: String?.self),
            phone: try row.decode("phone", as: String?.self), email: try row.decode("email", as: String?.self),
            locations: locations, active: try row.decode("active"),
            enrolledAt: columns.contains("enrolled_at") ? try row.decode("enrolled_at") : now,
            updatedAt: columns.contains("updated_at") ? try row.decode("updated_at") : now)
    }
}

/// A roster import that changes nothing.
enum RosterImportRefused: Error {
    case invalid(RosterReport)
    case tooLarge
}
