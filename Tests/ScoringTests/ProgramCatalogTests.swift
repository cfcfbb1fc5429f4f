import Contracts
import Database
import Foundation
import Testing

@testable import Scoring

@Suite("Program files")
struct ProgramFileTests {
    static let valid = """
        program: uji-coba
        version: 2
        name: Program Uji
        placeFactors: { office: 1.0, home: 1.5 }
        activities:
          - code: pilah_sampah
            name: Memilah sampah
            unit: count
            places: [office, home]
            basePoints: 10
          - code: bank_sampah
            name: Bank sampah
            unit: kg
            places: [home]
            basePoints: 5
            pointsPerKg: 2.5
            dailyCap: 1
            weeklyCap: 3
        """

    @Test("the Peduli Sampah file holds the six activities")
    func peduliSampah() throws {
        let programs = try ProgramCatalog.load(directory: ScoringFixture.programsDirectory)
        let program = try #require(programs.first { $0.program == "peduli-sampah" })
        #expect(program.ruleVersion == "peduli-sampah@\(program.version)")
        #expect(
            Set(program.activities.map(\.code)) == [
                "pilah_sampah", "komposting", "bank_sampah", "kerja_bakti", "kurangi_plastik", "edukasi_warga",
            ])
        #expect(program.activity("bank_sampah")?.unit == "kg")
        #expect(program.activity("bank_sampah")?.pointsPerKg == 2)
    }

    @Test("a valid file parses into the published catalogue")
    func parses() throws {
        let program = try ProgramCatalog.parse(Self.valid, file: "uji.yaml")
        #expect(program.version == 2)
        #expect(program.placeFactor("home") == 1.5)
        #expect(program.placeFactor("office") == 1.0)
        let published = program.published(at: Date(timeIntervalSince1970: 0))
        #expect(published.programVersion == "2")
        #expect(published.active == true)
        #expect(published.activity("bank_sampah")?.pointsPerKg == 2.5)
    }

    static func problems(_ yaml: String) -> [String] {
        do {
            _ = try ProgramCatalog.parse(yaml, file: "bad.yaml")
            return []
        } catch let error as ProgramFileError {
            #expect(error.file == "bad.yaml")
            #expect(error.description.contains("bad.yaml"))
            return error.problems
        } catch {
            Issue.record("unexpected error \(error)")
            return []
        }
    }

    @Test(
        "invalid files are refused with a message naming the problem",
        arguments: [
            ("unit: count", "unit: liter", "activities[0] (pilah_sampah).unit"),
            ("basePoints: 10", "basePoints: -10", "basePoints: poin tidak boleh negatif"),
            ("pointsPerKg: 2.5", "pointsPerKg: -1", "pointsPerKg: poin tidak boleh negatif"),
            ("code: bank_sampah", "code: pilah_sampah", "kode kegiatan ganda"),
            ("places: [home]", "places: [home, kantor]", "tempat tidak dikenal 'kantor'"),
            ("pointsPerKg: 2.5", "pointPerKg: 2.5", "activities[1].pointPerKg: kunci tidak dikenal"),
            ("version: 2", "version: 0", "version 0"),
            ("version: 2", "version: dua", "version: jenis nilai salah"),
            ("name: Program Uji\n", "", "name: wajib diisi"),
            ("home: 1.5", "home: -1", "placeFactors.home"),
            ("weeklyCap: 3", "weeklyCap: 0", "weeklyCap: harus ≥ 1"),
            ("    unit: count\n", "    unit: count\n    pointsPerKg: 1\n", "pointsPerKg: hanya untuk satuan kg"),
        ])
    func invalid(original: String, replacement: String, expected: String) {
        let yaml = Self.valid.replacingOccurrences(of: original, with: replacement)
        #expect(yaml != Self.valid)
        let problems = Self.problems(yaml)
        #expect(problems.contains { $0.contains(expected) }, "problems: \(problems)")
    }

    @Test("every problem of a file is reported at once")
    func allProblems() {
        let yaml = Self.valid.replacingOccurrences(of: "unit: count", with: "unit: liter")
            .replacingOccurrences(of: "basePoints: 5", with: "basePoints: -5")
        #expect(Self.problems(yaml).count == 2)
    }

    @Test("not YAML, or not a mapping, is refused")
    func notYAML() {
        #expect(!Self.problems("program: [unclosed").isEmpty)
        #expect(!Self.problems("- just\n- a list").isEmpty)
        #expect(!Self.problems("program: x\nversion: 1\nname: X\nactivities: []").isEmpty)
    }

    @Test("a directory with one program version in two files is refused")
    func duplicateVersion() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("programs-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try Self.valid.write(to: directory.appendingPathComponent("a.yaml"), atomically: true, encoding: .utf8)
        try Self.valid.write(to: directory.appendingPathComponent("b.yml"), atomically: true, encoding: .utf8)
        #expect(
            throws: ProgramCatalogError.duplicateVersion(program: "uji-coba", version: 2, files: ["a.yaml", "b.yml"])
        ) {
            try ProgramCatalog.load(directory: directory)
        }
        #expect(throws: ProgramCatalogError.self) {
            try ProgramCatalog.load(directory: directory.appendingPathComponent("missing"))
        }
    }
}

@Suite("Program versions in the database")
struct ProgramApplyTests {
    @Test("applying a version twice stores it once and publishes it once")
    func idempotent() async throws {
        try await ScoringFixture.withDatabase { pool in
            let program = try ScoringFixture.peduliSampah()
            #expect(try await ProgramCatalog.apply(program, pool: pool, logger: ScoringFixture.logger) == .published)
            #expect(try await ProgramCatalog.apply(program, pool: pool, logger: ScoringFixture.logger) == .unchanged)
            let published = try await ScoringFixture.outbox(ProgramPublished.self, pool: pool)
            #expect(published.count == 1)
            #expect(published.first?.program == "peduli-sampah")
            #expect(published.first?.programVersion == String(program.version))
            #expect(published.first?.activities.count == 6)
            #expect(try await ScoringFixture.count("SELECT count(*) FROM programs", pool: pool) == 1)

            var next = program
            next.version += 1
            next.activities[0].basePoints += 5
            #expect(try await ProgramCatalog.apply(next, pool: pool, logger: ScoringFixture.logger) == .published)
            #expect(try await ScoringFixture.outbox(ProgramPublished.self, pool: pool).count == 2)
            let current = try await ProgramCatalog.find("peduli-sampah", pool: pool)
            #expect(current?.document == next)
            #expect(
                try await ProgramCatalog.find("peduli-sampah", version: program.version, pool: pool)?.document
                    == program)
        }
    }

    @Test("a stored version with different content is refused, and nothing is published")
    func conflictingVersion() async throws {
        try await ScoringFixture.withDatabase { pool in
            let program = try ScoringFixture.peduliSampah()
            try await ProgramCatalog.apply(program, pool: pool, logger: ScoringFixture.logger)
            var changed = program
            changed.activities[0].basePoints = 99
            await #expect(
                throws: ProgramCatalogError.versionConflict(program: "peduli-sampah", version: program.version)
            ) {
                try await ProgramCatalog.apply(changed, pool: pool, logger: ScoringFixture.logger)
            }
            #expect(try await ScoringFixture.outbox(ProgramPublished.self, pool: pool).count == 1)
            #expect(try await ProgramCatalog.find("peduli-sampah", pool: pool)?.document == program)
        }
    }

    @Test("stored versions cannot be changed or deleted")
    func immutable() async throws {
        try await ScoringFixture.withDatabase { pool in
            try await ProgramCatalog.apply(try ScoringFixture.peduliSampah(), pool: pool, logger: ScoringFixture.logger)
            await #expect(throws: DatabaseError.self) {
                try await pool.withConnection { try await $0.query("UPDATE programs SET name = 'x'") }
            }
            await #expect(throws: DatabaseError.self) {
                try await pool.withConnection { try await $0.query("DELETE FROM programs") }
            }
        }
    }
}
