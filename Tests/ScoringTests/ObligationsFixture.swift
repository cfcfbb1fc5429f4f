import Contracts
import Database
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ServiceSupport
import TestSupport
import Testing

@testable import Scoring

/// A small city for the obligations tests: two OPDs, a closed-able 2026-Q1 and three commitments.
///
/// DLH has five active ASN — Ani (320 points, 2 approved activities), Budi (100, 1), Citra (an approval reversed:
/// 0 points, no approved activity), Dedi and Gita (nothing) — and Hadi, inactive. DINKES has Eka (bank sampah 3.5 kg,
/// 300 points) and Fajar (2 kg, 100 points, plus an approval the program could not score). Commitments: DLH
/// participation 75 % (achieved 40 %: missed), DLH approved activities 3 (met), DINKES kg sorted 5 (5.5: met).
/// The program file's TPP rule: 100 points → 2.5 %, 300 → 5 %, low performance −5 %, collective minimum 50 %.
enum ObligationsFixture {
    typealias F = ScoringFixture

    static let ani = "198001012005011001"
    static let budi = "198102022006022002"
    static let citra = "198203032007011003"
    static let dedi = "198304042008012004"
    static let gita = "198405052009011005"
    static let hadi = "198506062010012006"
    static let eka = "198607072011011007"
    static let fajar = "198708082012012008"
    static let admin = "199001012015032002"
    static let auditor = "199101012016031009"
    static let headDLH = "197001011995031001"
    static let headDINKES = "197101011996031002"

    static let quarter = try! Period(parsing: "2026-Q1")
    /// The fixed close time: 2026-04-01 10:00 WIB.
    static let closedAt = Date(timeIntervalSince1970: 1_775_012_400)

    static let participationCommitment = UUID(uuidString: "00000000-0000-4000-8000-000000000001")!
    static let activitiesCommitment = UUID(uuidString: "00000000-0000-4000-8000-000000000002")!
    static let kgCommitment = UUID(uuidString: "00000000-0000-4000-8000-000000000003")!

    static func token(_ nip: String, roles: [String], opd: String = "DLH", name: String = "Penguji") async throws
        -> HTTPFields
    {
        let token = try await TokenIssuer(hs256Secret: F.secret).token(
            nip: nip, name: name, opd: opd, roles: roles, expiresIn: .seconds(600))
        return [.authorization: "Bearer \(token)"]
    }

    /// The scoring service on a fresh database with the repository's program files applied; its clock says `now`
    /// (default: inside 2026-Q1).
    static func withApp(
        now: Date = ScoringFixture.february, testing: TestingSetup = .router,
        _ body: @Sendable (any TestClientProtocol, DatabasePool) async throws -> Void
    ) async throws {
        try await withTestDatabaseURL(service: "scoring", migrations: scoringResources.allMigrations()) { url in
            let service = try ScoringService(
                configuration: F.configuration(databaseURL: url), logger: F.logger,
                programsDirectory: F.programsDirectory, now: { now })
            let pool = service.backbone.pool
            do {
                try await service.prepare()
                let app = try await service.app.buildApplication()
                try await app.test(testing) { client in try await body(client, pool) }
            } catch {
                await pool.close()
                throw error
            }
            await pool.close()
        }
    }

    /// Inserts the roster, the ledger and the decisions of the city, and the three commitments.
    static func seed(_ pool: DatabasePool) async throws {
        try await pool.withTransaction { connection in
            let roster: [(String, String, String, Bool)] = [
                (ani, "Ani Lestari", "DLH", true), (budi, "Budi \"Bud\" Santoso, S.Kom", "DLH", true),
                (citra, "Citra Dewi", "DLH", true), (dedi, "Dedi Pratama", "DLH", true),
                (gita, "Gita Anggraini", "DLH", true), (hadi, "Hadi Susanto", "DLH", false),
                (eka, "Eka Wulandari", "DINKES", true), (fajar, "Fajar Nugroho", "DINKES", true),
            ]
            for (nip, name, opd, active) in roster {
                try await connection.query(
                    """
                    INSERT INTO roster (nip, nip_kind, name, opd, active)
                    VALUES (\(nip), 'pns', \(name), \(opd), \(active))
                    """)
            }
            let citraAward = UUID()
            // In ledger order (seq decides award tie-breaks: Budi reached 100 before Fajar).
            try await award(ani, "DLH", "komposting", 200, in: connection)
            try await award(ani, "DLH", "pilah_sampah", 120, in: connection)
            try await award(budi, "DLH", "pilah_sampah", 100, in: connection)
            try await award(citra, "DLH", "pilah_sampah", 10, id: citraAward, in: connection)
            try await award(eka, "DINKES", "bank_sampah", 300, kg: 3.5, in: connection)
            try await award(fajar, "DINKES", "bank_sampah", 100, kg: 2, in: connection)
            try await award(fajar, "DINKES", "pilah_sampah", 0, eligible: false, in: connection)
            try await connection.query(
                """
                INSERT INTO ledger_entries (id, nip, opd, submission_id, program, program_version, activity, kind,
                                            points, rule_version, period, activity_at, reverses)
                SELECT \(UUID()), nip, opd, submission_id, program, program_version, activity, 'reversal', -points,
                       rule_version, period, activity_at, id
                FROM ledger_entries WHERE id = \(citraAward)
                """)
            for (id, opd, metric, target, baseline) in [
                (participationCommitment, "DLH", "participation_rate", 75.0, 40.0),
                (activitiesCommitment, "DLH", "approved_activities", 3.0, 1.0),
                (kgCommitment, "DINKES", "kg_sorted", 5.0, 2.0),
            ] {
                try await connection.query(
                    """
                    INSERT INTO commitments (id, opd, period, metric, target, baseline, created_by, created_at)
                    VALUES (\(id), \(opd), '2026-Q1', \(metric), \(target), \(baseline), \(admin),
                            '2026-01-05T09:00:00+07:00')
                    """)
            }
        }
    }

    /// One approved submission: its decision input and its `award` ledger entry in 2026-Q1.
    static func award(
        _ nip: String, _ opd: String, _ activity: String, _ points: Int, kg: Double = 1, eligible: Bool = true,
        id: UUID = UUID(), in connection: DatabaseConnection
    ) async throws {
        let submission = UUID()
        let at = F.february
        try await connection.query(
            """
            INSERT INTO decision_inputs (kind, submission_id, nip, opd, program, activity, place, quantity,
                                         activity_at, decided_at, event_id)
            VALUES ('verified', \(submission), \(nip), \(opd), 'peduli-sampah', \(activity), 'office', \(kg), \(at),
                    \(at), \(UUID().uuidString))
            """)
        let breakdown = eligible ? #"[{"kind":"base","points":\#(points)}]"# : #"[{"kind":"not_eligible","points":0}]"#
        try await connection.query(
            """
            INSERT INTO ledger_entries (id, nip, opd, submission_id, program, program_version, activity, kind, points,
                                        breakdown, rule_version, period, activity_at)
            VALUES (\(id), \(nip), \(opd), \(submission), 'peduli-sampah', 1, \(activity), 'award', \(points),
                    \(breakdown)::jsonb, 'peduli-sampah@1', '2026-Q1', \(at))
            """)
    }

    /// Closes 2026-Q1 as the periods close does: the period row, the frozen standings, then the obligations.
    @discardableResult
    static func close(_ pool: DatabasePool) async throws -> PeriodObligations.Outcome {
        try await pool.withTransaction { connection in
            try await connection.query(
                """
                INSERT INTO periods (id, kind, starts_at, ends_at, state, closed_at, closed_by)
                VALUES ('2026-Q1', 'quarter', \(quarter.start), \(quarter.end), 'closed', \(closedAt), \(admin))
                ON CONFLICT (id) DO UPDATE SET state = 'closed', closed_at = excluded.closed_at,
                                               closed_by = excluded.closed_by
                """)
            let standings = try await PeriodStandings.compute(quarter, in: connection)
            // The award the close stores before the obligations (the quarterly winner).
            try await connection.query(
                """
                INSERT INTO awards (award_id, program, scheme, stage, period, nip, name, opd, rank, points, prize,
                                    prize_amount_rupiah, granted_at)
                VALUES ('00000000-0000-4000-8000-0000000000a1', 'peduli-sampah', 'triwulan', 'quarterly', '2026-Q1',
                        \(ani), 'Ani Lestari', 'DLH', 1, 320, 'Rp 1.000.000 — juara triwulan', 1000000, \(closedAt))
                ON CONFLICT DO NOTHING
                """)
            let programs = Array(try await ProgramCatalog.currentPrograms(in: connection).values)
            return try await PeriodObligations.run(
                .init(period: quarter, programs: programs, standings: standings, closedAt: closedAt, closedBy: admin),
                in: connection)
        }
    }

    /// `Tests/ScoringTests/Fixtures/<name>`; rewritten instead of compared when `ASNREWARD_UPDATE_FIXTURES=1`.
    static func expectFixture(_ name: String, _ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation)
        throws
    {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures").appendingPathComponent(name)
        if ProcessInfo.processInfo.environment["ASNREWARD_UPDATE_FIXTURES"] == "1" {
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(bytes).write(to: url)
            return
        }
        let expected = try Data(contentsOf: url)
        #expect(
            Data(bytes) == expected,
            "export differs from \(name):\n\(String(decoding: bytes, as: UTF8.self))",
            sourceLocation: sourceLocation)
    }
}
