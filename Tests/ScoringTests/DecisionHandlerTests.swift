import Contracts
import Database
import Foundation
import Testing

@testable import Scoring

@Suite("Scoring approved submissions")
struct DecisionHandlerTests {
    /// A database with the Peduli Sampah program applied (its `program.published` row removed from view by type).
    static func withProgram(_ body: (DatabasePool) async throws -> Void) async throws {
        try await ScoringFixture.withDatabase { pool in
            try await ProgramCatalog.apply(try ScoringFixture.peduliSampah(), pool: pool, logger: ScoringFixture.logger)
            try await body(pool)
        }
    }

    @Test("an approval appends one award and enqueues points.awarded with the running total")
    func award() async throws {
        try await Self.withProgram { pool in
            let first = ScoringFixture.verified(activity: "bank_sampah", place: "home", quantity: 3.5)
            try await ScoringFixture.handle([try ScoringFixture.event(first)], pool: pool)
            let second = ScoringFixture.verified(activity: "pilah_sampah")
            try await ScoringFixture.handle([try ScoringFixture.event(second)], pool: pool)

            let entries = try await pool.withConnection { connection in
                try await PointsLedger.entries(of: ScoringFixture.nip, in: ["2026-Q1"], connection: connection)
            }
            #expect(entries.map(\.points) == [12, 10])
            #expect(entries.map(\.kind) == [.award, .award])
            #expect(entries[0].submissionId == first.submissionId)
            #expect(entries[0].ruleVersion == "peduli-sampah@1")
            #expect(entries[0].breakdown.map(\.kind) == ["base", "per_kg"])

            let awarded = try await ScoringFixture.outbox(PointsAwarded.self, pool: pool)
            #expect(awarded.count == 2)
            #expect(awarded.map(\.points) == [12, 10])
            #expect(awarded.map(\.totalInPeriod) == [12, 22])
            #expect(awarded.map(\.period) == ["2026-Q1", "2026-Q1"])
            #expect(awarded[0].entryId == entries[0].id)
            #expect(awarded[0].nip == ScoringFixture.nip)
            #expect(awarded[0].name == "Siti Rahma")
            let subjects = try await pool.withConnection { connection in
                try await connection.query("SELECT subject FROM outbox WHERE type = \(PointsAwarded.eventType)")
                    .map { try $0.decode("subject", as: String.self) }
            }
            #expect(subjects == [ScoringFixture.nip, ScoringFixture.nip])
        }
    }

    @Test("a batch scores every approval with running totals per ASN and period")
    func batch() async throws {
        try await Self.withProgram { pool in
            // Version 2 without caps or streaks, so every approval earns its 5 points.
            var uncapped = try ScoringFixture.peduliSampah()
            uncapped.version = 2
            uncapped.streak = nil
            uncapped.activities = uncapped.activities.map { activity in
                var activity = activity
                activity.dailyCap = nil
                activity.weeklyCap = nil
                return activity
            }
            try await ProgramCatalog.apply(uncapped, pool: pool, logger: ScoringFixture.logger)
            let april = Date(timeIntervalSince1970: 1_774_980_000)  // 1 April 01:00 WIB: 2026-Q2
            let events = try (0..<150).map { index in
                try ScoringFixture.event(
                    ScoringFixture.verified(
                        nip: index % 2 == 0 ? ScoringFixture.nip : ScoringFixture.otherNIP,
                        activity: "kurangi_plastik",
                        activityAt: index % 3 == 0 ? april : ScoringFixture.february))
            }
            try await ScoringFixture.handle(events, pool: pool)
            #expect(try await ScoringFixture.count("SELECT count(*) FROM ledger_entries", pool: pool) == 150)
            let awarded = try await ScoringFixture.outbox(PointsAwarded.self, pool: pool)
            #expect(awarded.count == 150)
            var expected: [String: Int] = [:]
            for event in awarded {
                expected["\(event.nip) \(event.period)", default: 0] += 5
                #expect(event.totalInPeriod == expected["\(event.nip) \(event.period)"])
            }
            #expect(Set(awarded.map(\.period)) == ["2026-Q1", "2026-Q2"])
            try await Self.expectTotalsMatchLedger(pool, pairs: 4)
        }
    }

    /// The kept per-ASN per-period totals equal the ledger's sums, and there are `pairs` of them; the kept weeks with
    /// awards equal the ledger's.
    static func expectTotalsMatchLedger(
        _ pool: DatabasePool, pairs: Int, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let disagreeing = try await pool.withConnection { try await PointsLedger.totalsDisagreeingWithLedger(in: $0) }
        #expect(disagreeing.isEmpty, "totals differ from the ledger for \(disagreeing)", sourceLocation: sourceLocation)
        let kept = try await ScoringFixture.count("SELECT count(*) FROM points_totals", pool: pool)
        #expect(kept == pairs, sourceLocation: sourceLocation)
        let weeks = try await pool.withConnection { try await PointsLedger.awardWeeksDisagreeingWithLedger(in: $0) }
        #expect(weeks.isEmpty, "award_weeks differ from the ledger for \(weeks)", sourceLocation: sourceLocation)
    }

    @Test("the same submission approved twice under different message ids is awarded once")
    func duplicateApproval() async throws {
        try await Self.withProgram { pool in
            let approval = ScoringFixture.verified(activity: "komposting", place: "home")
            try await ScoringFixture.handle([try ScoringFixture.event(approval)], pool: pool)
            // Again in a later batch, and twice within one batch: no error (no poison loop), no second award.
            try await ScoringFixture.handle([try ScoringFixture.event(approval)], pool: pool)
            let other = ScoringFixture.verified()
            try await ScoringFixture.handle(
                [try ScoringFixture.event(other), try ScoringFixture.event(other)], pool: pool)

            #expect(try await ScoringFixture.count("SELECT count(*) FROM ledger_entries", pool: pool) == 2)
            let awarded = try await ScoringFixture.outbox(PointsAwarded.self, pool: pool)
            #expect(awarded.map(\.submissionId) == [approval.submissionId, other.submissionId])
            #expect(awarded.map(\.totalInPeriod) == [15, 25])
        }
    }

    @Test("the database itself refuses a second award for a submission")
    func uniqueAward() async throws {
        try await Self.withProgram { pool in
            let approval = ScoringFixture.verified()
            try await ScoringFixture.handle([try ScoringFixture.event(approval)], pool: pool)
            await #expect {
                try await pool.withConnection { connection in
                    try await connection.query(
                        """
                        INSERT INTO ledger_entries (id, nip, opd, submission_id, program, program_version, activity,
                            kind, points, rule_version, period, activity_at)
                        SELECT gen_random_uuid(), nip, opd, submission_id, program, program_version, activity, kind,
                               points, rule_version, period, activity_at
                        FROM ledger_entries
                        """
                    )
                }
            } throws: { ($0 as? DatabaseError)?.code == .uniqueViolation }
        }
    }

    @Test("the ledger refuses UPDATE and DELETE")
    func appendOnly() async throws {
        try await Self.withProgram { pool in
            try await ScoringFixture.handle([try ScoringFixture.event(ScoringFixture.verified())], pool: pool)
            for statement in [
                "UPDATE ledger_entries SET points = 1000", "DELETE FROM ledger_entries",
                "TRUNCATE ledger_entries CASCADE",
            ] {
                await #expect(throws: DatabaseError.self, "\(statement)") {
                    try await pool.withConnection { try await $0.query(SQLQuery(unsafeSQL: statement)) }
                }
            }
            #expect(try await ScoringFixture.count("SELECT sum(points) FROM ledger_entries", pool: pool) == 10)
        }
    }

    @Test("an approval the program cannot score is recorded with 0 points and the reason")
    func ineligible() async throws {
        try await Self.withProgram { pool in
            let approval = ScoringFixture.verified(activity: "edukasi_warga", place: "office")
            try await ScoringFixture.handle([try ScoringFixture.event(approval)], pool: pool)
            let awarded = try #require(try await ScoringFixture.outbox(PointsAwarded.self, pool: pool).first)
            #expect(awarded.points == 0)
            #expect(awarded.breakdown?.first?.kind == "not_eligible")
            #expect(awarded.totalInPeriod == 0)
        }
    }

    @Test("a revocation reverses the award; an approval after its revocation earns nothing")
    func revocation() async throws {
        try await Self.withProgram { pool in
            let approval = ScoringFixture.verified(activity: "kerja_bakti")
            try await ScoringFixture.handle([try ScoringFixture.event(approval)], pool: pool)
            let revocation = SubmissionRevoked(
                submissionId: approval.submissionId, nip: approval.nip, opd: approval.opd,
                reasonCode: "REVIEWER_REJECTED", reason: "Foto bukan kegiatan kerja bakti.",
                decidedAt: ScoringFixture.february.addingTimeInterval(86_400), decidedBy: ScoringFixture.otherNIP)
            try await ScoringFixture.handle([try ScoringFixture.event(revocation)], pool: pool)
            try await ScoringFixture.handle([try ScoringFixture.event(revocation)], pool: pool)  // again: no effect

            let reversed = try await ScoringFixture.outbox(PointsReversed.self, pool: pool)
            #expect(reversed.count == 1)
            #expect(reversed.first?.points == -20)
            #expect(reversed.first?.totalInPeriod == 0)
            #expect(try await ScoringFixture.count("SELECT sum(points) FROM ledger_entries", pool: pool) == 0)
            try await Self.expectTotalsMatchLedger(pool, pairs: 1)

            // Revoked before approved (out of order), in one batch.
            let late = ScoringFixture.verified()
            var early = revocation
            early.submissionId = late.submissionId
            try await ScoringFixture.handle(
                [try ScoringFixture.event(early), try ScoringFixture.event(late)], pool: pool)
            let awarded = try await ScoringFixture.outbox(PointsAwarded.self, pool: pool)
            #expect(awarded.last?.submissionId == late.submissionId)
            #expect(awarded.last?.points == 0)
            try await Self.expectTotalsMatchLedger(pool, pairs: 1)
        }
    }

    @Test("a rejection that is not for fraud has no ledger effect")
    func rejection() async throws {
        try await Self.withProgram { pool in
            let rejection = SubmissionRejected(
                submissionId: UUID(), nip: ScoringFixture.nip, opd: "DLH", reasonCode: "DUPLICATE_EVIDENCE",
                reason: "Foto sudah pernah dipakai.", decidedAt: ScoringFixture.february, decidedBy: "auto")
            try await ScoringFixture.handle([try ScoringFixture.event(rejection)], pool: pool)
            #expect(try await ScoringFixture.count("SELECT count(*) FROM ledger_entries", pool: pool) == 0)
            #expect(
                try await ScoringFixture.count("SELECT count(*) FROM outbox WHERE type LIKE '%points%'", pool: pool)
                    == 0)
        }
    }
}
