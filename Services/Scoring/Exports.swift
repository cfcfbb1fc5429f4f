import Contracts
import Database
import Foundation

/// One ASN's line of the HR export (SIMPEG / e-Kinerja / SIASN).
struct ExportRow: Sendable, Equatable, Codable {
    var nip: String
    var name: String
    var opd: String
    var points: Int
    /// Standard competition rank in the city; `nil` for an ASN with no ledger entry in the period (not ranked).
    var rankCity: Int?
    var rankOpd: Int?
    /// The awards of the period, `; `-separated (empty when none).
    var award: String
    /// The sanction kinds that concern the ASN, `; `-separated: their own `low_performance`, and
    /// `commitment_missed` when their OPD missed a commitment.
    var sanction: String
    /// TPP allowance adjustment in percent (negative reduces).
    var tppAdjustmentPercent: Double
    /// The collective rule withheld the OPD's band percent.
    var tppWithheld: Bool

    private enum CodingKeys: String, CodingKey {
        case nip, name, opd, points, rankCity, rankOpd, award, sanction, tppAdjustmentPercent, tppWithheld
    }

    /// Every key always present (`null` ranks for an unranked ASN), so importers see one shape.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(nip, forKey: .nip)
        try container.encode(name, forKey: .name)
        try container.encode(opd, forKey: .opd)
        try container.encode(points, forKey: .points)
        try container.encode(rankCity, forKey: .rankCity)
        try container.encode(rankOpd, forKey: .rankOpd)
        try container.encode(award, forKey: .award)
        try container.encode(sanction, forKey: .sanction)
        try container.encode(tppAdjustmentPercent, forKey: .tppAdjustmentPercent)
        try container.encode(tppWithheld, forKey: .tppWithheld)
    }
}

/// A period's export: frozen at close, computed (and marked provisional) while the period is open.
struct PeriodExport: Sendable, Equatable {
    var period: Period
    var provisional: Bool
    var rows: [ExportRow]

    /// The CSV columns, in their stable order.
    static let columns = [
        "nip", "name", "opd", "points", "rank_city", "rank_opd", "award", "sanction", "tpp_adjustment_percent",
        "tpp_withheld", "status",
    ]

    /// `final` or `provisional`.
    var status: String { provisional ? "provisional" : "final" }

    /// UTF-8 CSV, RFC 4180: CRLF line ends, a header, fields with `,`, `"`, CR or LF quoted (`"` doubled). Every
    /// row carries the status, so a provisional file cannot be mistaken for a final one once saved.
    func csv() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(96 * (rows.count + 1))
        func field(_ text: String) {
            if text.utf8.contains(where: { $0 == UInt8(ascii: ",") || $0 == UInt8(ascii: "\"") || $0 == 10 || $0 == 13 }
            ) {
                out.append(UInt8(ascii: "\""))
                for byte in text.utf8 {
                    if byte == UInt8(ascii: "\"") { out.append(byte) }
                    out.append(byte)
                }
                out.append(UInt8(ascii: "\""))
            } else {
                out.append(contentsOf: text.utf8)
            }
        }
        func line(_ fields: [String]) {
            for (index, text) in fields.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                field(text)
            }
            out.append(13)
            out.append(10)
        }
        line(Self.columns)
        let status = status
        for row in rows {
            line([
                row.nip, row.name, row.opd, String(row.points), row.rankCity.map(String.init) ?? "",
                row.rankOpd.map(String.init) ?? "", row.award, row.sanction, Self.percent(row.tppAdjustmentPercent),
                row.tppWithheld ? "true" : "false", status,
            ])
        }
        return out
    }

    /// The JSON body: `{"period", "periodName", "status", "provisional", "rows": […]}`, keys sorted, `null` for an
    /// unranked ASN's ranks.
    func json() throws -> Data {
        struct Body: Encodable {
            var period: String
            var periodName: String
            var status: String
            var provisional: Bool
            var rows: [ExportRow]
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(
            Body(
                period: period.description, periodName: period.indonesianName, status: status,
                provisional: provisional, rows: rows))
    }

    /// `5`, `-2.5`, `0.25`: shortest form, `.` as the decimal point.
    static func percent(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int(value)) }
        var text = String(format: "%.2f", locale: Locale(identifier: "en_US_POSIX"), value)
        while text.hasSuffix("0") { text.removeLast() }
        return text
    }
}

/// Building and reading exports.
enum Exports {
    /// The export of `period`: the rows frozen by its close, or, for an open period (or a closed one whose close
    /// froze none), rows computed now from the standings, the awards and sanctions stored so far, and the TPP rule of
    /// the current programs.
    static func load(_ period: Period, opd: String?, in connection: DatabaseConnection) async throws -> PeriodExport {
        let closed = try await PeriodStandings.isClosed(period, in: connection)
        if closed, try await hasFrozenRows(period, in: connection) {
            let frozen = try await connection.query(
                """
                SELECT nip, name, opd, points, city_rank, opd_rank, award, sanction, tpp_adjustment_percent,
                       tpp_withheld
                FROM period_export_rows
                WHERE period = \(period.description) AND (\(opd)::text IS NULL OR opd = \(opd))
                ORDER BY position
                """
            )
            return PeriodExport(period: period, provisional: false, rows: try frozen.map(exportRow))
        }
        let programs = Array(try await ProgramCatalog.currentPrograms(in: connection).values)
        let standings = try await PeriodStandings.load(period, in: connection)
        var rows = try await compute(
            period, standings: standings, rule: TPPRule.inForce(programs),
            participation: nil, kgActivities: Commitments.kgActivities(programs), in: connection)
        if let opd { rows = rows.filter { $0.opd == opd } }
        return PeriodExport(period: period, provisional: !closed, rows: rows)
    }

    private static func hasFrozenRows(_ period: Period, in connection: DatabaseConnection) async throws -> Bool {
        !(try await connection.query(
            "SELECT 1 FROM period_export_rows WHERE period = \(period.description) LIMIT 1"
        ).isEmpty)
    }

    /// The export rows of `period`: every ranked ASN in `standings` order, then the active roster ASN without a
    /// ledger entry in the period (unranked, by OPD and NIP).
    ///
    /// - Parameter participation: each OPD's achievement (for the collective rule); computed here when `nil` and
    ///   the rule needs it.
    static func compute(
        _ period: Period, standings: [Standing], rule: TPPRule?, participation: [String: OPDAchievement]?,
        kgActivities: Set<String>, in connection: DatabaseConnection
    ) async throws -> [ExportRow] {
        let description = period.description
        var awards: [String: [String]] = [:]
        for row in try await connection.query(
            """
            SELECT nip, prize, rank FROM awards WHERE period = \(description) ORDER BY nip, stage, scheme, rank
            """
        ) {
            let nip: String = try row.decode("nip")
            let prize: String = try row.decode("prize")
            let rank: Int = try row.decode("rank")
            awards[nip, default: []].append("\(prize) (peringkat \(rank))")
        }
        var ownSanctions: [String: Set<String>] = [:]
        var opdSanctions: [String: Set<String>] = [:]
        for sanction in try await Sanctions.all(period: description, in: connection) {
            if let nip = sanction.nip {
                ownSanctions[nip, default: []].insert(sanction.kind)
            } else {
                opdSanctions[sanction.opd, default: []].insert(sanction.kind)
            }
        }
        var withheld: Set<String> = []
        if let minimum = rule?.collective?.minParticipationRate {
            let achievements: [String: OPDAchievement]
            if let participation {
                achievements = participation
            } else {
                // Participation only: no kilograms needed.
                achievements = try await Commitments.achievements(period, kgActivities: [], in: connection)
            }
            withheld = Set(achievements.values.filter { $0.participationRate < minimum }.map(\.opd))
        }
        func row(nip: String, name: String, opd: String, points: Int, city: Int?, inOPD: Int?) -> ExportRow {
            let kinds = (ownSanctions[nip] ?? []).union(opdSanctions[opd] ?? [])
            let isWithheld = withheld.contains(opd)
            return ExportRow(
                nip: nip, name: name, opd: opd, points: points, rankCity: city, rankOpd: inOPD,
                award: (awards[nip] ?? []).joined(separator: "; "), sanction: kinds.sorted().joined(separator: "; "),
                tppAdjustmentPercent: rule?.adjustment(points: points, sanctionKinds: kinds, withheld: isWithheld)
                    ?? 0,
                tppWithheld: isWithheld)
        }
        var rows = standings.map {
            row(nip: $0.nip, name: $0.name, opd: $0.opd, points: $0.points, city: $0.cityRank, inOPD: $0.opdRank)
        }
        let ranked = Set(standings.map(\.nip))
        // Active ASN without a ledger entry counted in the period (the ranked ones are skipped again below, in
        // case the standings came from elsewhere).
        let quarters = period.subperiods(.quarter).map(\.description)
        for asn in try await connection.query(
            """
            SELECT r.nip, r.name, r.opd FROM roster r
            WHERE r.active AND NOT EXISTS (
                SELECT 1 FROM ledger_entries l WHERE l.nip = r.nip AND l.period = ANY(\(quarters)::text[]))
            ORDER BY r.opd, r.nip
            """
        ) {
            let nip: String = try asn.decode("nip")
            guard !ranked.contains(nip) else { continue }
            rows.append(
                row(
                    nip: nip, name: try asn.decode("name"), opd: try asn.decode("opd"), points: 0, city: nil, inOPD: nil
                ))
        }
        return rows
    }

    /// Freezes `rows` as the export of `period` (inside the close transaction).
    static func freeze(_ rows: [ExportRow], period: Period, in connection: DatabaseConnection) async throws {
        let chunk = 5_000
        var start = 0
        while start < rows.count {
            let part = Array(rows[start..<min(start + chunk, rows.count)])
            try await connection.query(
                """
                INSERT INTO period_export_rows (period, position, nip, name, opd, points, city_rank, opd_rank, award,
                                                sanction, tpp_adjustment_percent, tpp_withheld)
                SELECT \(period.description), \(start) + position::int4, nip, name, opd, points, NULLIF(city_rank, 0),
                       NULLIF(opd_rank, 0), award, sanction, tpp, withheld
                FROM unnest(\(part.map(\.nip))::text[], \(part.map(\.name))::text[], \(part.map(\.opd))::text[],
                            \(part.map(\.points))::int8[], \(part.map { $0.rankCity ?? 0 })::int4[],
                            \(part.map { $0.rankOpd ?? 0 })::int4[], \(part.map(\.award))::text[],
                            \(part.map(\.sanction))::text[], \(part.map(\.tppAdjustmentPercent))::float8[],
                            \(part.map(\.tppWithheld))::bool[])
                     WITH ORDINALITY AS r(nip, name, opd, points, city_rank, opd_rank, award, sanction, tpp, withheld,
                                          position)
                """
            )
            start += chunk
        }
    }

    private static func exportRow(_ row: PostgresRow) throws -> ExportRow {
        ExportRow(
            nip: try row.decode("nip"), name: try row.decode("name"), opd: try row.decode("opd"),
            points: try row.decode("points"), rankCity: try row.decode("city_rank", as: Int?.self),
            rankOpd: try row.decode("opd_rank", as: Int?.self), award: try row.decode("award"),
            sanction: try row.decode("sanction"), tppAdjustmentPercent: try row.decode("tpp_adjustment_percent"),
            tppWithheld: try row.decode("tpp_withheld"))
    }
}
