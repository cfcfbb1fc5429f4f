import Contracts
import Database
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import ServiceSupport
import TestSupport
import Testing

@testable import Scoring

/// The export benchmark of issue #11: 20,000 ASN in 40 OPDs, 1,000,000 ledger entries in 2026-Q1, commitments
/// for every OPD. Off by default; run with
/// `SCORING_BENCH=1 swift test --skip-build --disable-xctest --filter ExportBenchmark`. Prints the numbers;
/// asserts only that the work was done (the machine is shared).
@Suite("Scoring export benchmark", .enabled(if: ProcessInfo.processInfo.environment["SCORING_BENCH"] != nil))
struct ExportBenchmarkTests {
    typealias F = ScoringFixture
    typealias B = ScoringBenchmarkTests

    @Test("export of 20,000 ASN / 1,000,000 ledger entries: open (provisional) and closed (frozen)")
    func exportBenchmark() async throws {
        try await ScoringAdminRoutesTests.withApp { client, pool in
            let clock = ContinuousClock()
            let quarter = try Period(parsing: "2026-Q1")
            try await pool.withConnection { connection in
                try await connection.query(
                    """
                    INSERT INTO roster (nip, nip_kind, name, opd, active)
                    SELECT '1960010119850' || lpad(g::text, 5, '0'), 'pns', 'ASN ' || g, 'OPD' || (g % 40), true
                    FROM generate_series(0, \(B.asnCount - 1)) AS g
                    """)
                // 50 entries per ASN except every tenth ASN (no activity: the low-performance list).
                for offset in stride(from: 0, to: B.asnCount, by: 1000) {
                    try await connection.query(
                        """
                        INSERT INTO ledger_entries (id, nip, opd, submission_id, program, program_version, activity,
                                                    kind, points, breakdown, rule_version, period, activity_at)
                        SELECT gen_random_uuid(), r.nip, r.opd, gen_random_uuid(), 'peduli-sampah', 1,
                               'kurangi_plastik', 'award', 5 + (g % 3), '[{"kind":"base","points":5}]'::jsonb,
                               'peduli-sampah@1', '2026-Q1', timestamptz '2026-01-01 09:00+07' + (g * interval '36 hours')
                        FROM (SELECT nip, opd FROM roster ORDER BY nip OFFSET \(offset) LIMIT 1000) AS r
                        CROSS JOIN generate_series(0, \(B.entriesPerASN * 10 / 9 - 1)) AS g
                        WHERE right(r.nip, 1) <> '0'
                        """)
                }
                try await connection.query(
                    """
                    INSERT INTO commitments (id, opd, period, metric, target, baseline, created_by)
                    SELECT gen_random_uuid(), 'OPD' || g, '2026-Q1', 'participation_rate', 95, 80, 'bench'
                    FROM generate_series(0, 39) AS g
                    """)
                try await connection.execute(unsafeSQL: "ANALYZE")
            }
            let entries = try await F.count("SELECT count(*) FROM ledger_entries", pool: pool)
            print("EXPORT BENCHMARK seeded \(entries) ledger entries")
            let headers = try await F.bearer(nip: F.otherNIP, roles: ["scoring-admin"])
            func time(_ uri: String) async throws -> (Double, Int) {
                var best = Double.infinity
                var size = 0
                for _ in 0..<3 {
                    let start = clock.now
                    let response = try await client.execute(uri: uri, method: .get, headers: headers)
                    best = min(best, B.seconds(clock.now - start))
                    #expect(response.status == .ok)
                    size = response.body.readableBytes
                }
                return (best, size)
            }
            let (openCSV, openSize) = try await time("/v1/periods/2026-Q1/export.csv")
            let closeStart = clock.now
            let outcome = try await pool.withTransaction { connection in
                try await connection.query(
                    """
                    INSERT INTO periods (id, kind, starts_at, ends_at, state, closed_at, closed_by)
                    VALUES ('2026-Q1', 'quarter', \(quarter.start), \(quarter.end), 'closed', now(), 'bench')
                    """)
                let standings = try await PeriodStandings.compute(quarter, in: connection)
                let programs = Array(try await ProgramCatalog.currentPrograms(in: connection).values)
                return try await PeriodObligations.run(
                    .init(
                        period: quarter, programs: programs, standings: standings, closedAt: Date(), closedBy: "bench"),
                    in: connection)
            }
            let closeTime = B.seconds(clock.now - closeStart)
            #expect(outcome.exportRows == B.asnCount)
            let (closedCSV, closedSize) = try await time("/v1/periods/2026-Q1/export.csv")
            let (closedJSON, jsonSize) = try await time("/v1/periods/2026-Q1/export.json")
            print(
                """
                EXPORT BENCHMARK (debug build, shared 2-core machine; best of 3, in-process router)
                  \(B.asnCount) ASN, \(entries) ledger entries, 40 commitments
                  open period export.csv (computed, provisional): \(String(format: "%.2f", openCSV)) s, \(openSize) bytes
                  standings + obligations at close (\(outcome.sanctions.count) sanctions, export frozen): \
                \(String(format: "%.2f", closeTime)) s
                  closed period export.csv (frozen): \(String(format: "%.2f", closedCSV)) s, \(closedSize) bytes
                  closed period export.json (frozen): \(String(format: "%.2f", closedJSON)) s, \(jsonSize) bytes
                """)
        }
    }
}
