import Contracts
import Foundation
import Testing

@Suite("Periods in Asia/Jakarta")
struct PeriodTests {
    func utc(_ string: String) -> Date { RFC3339.parse(string)! }

    @Test(
        "parse and print",
        arguments: [("2026-Q1", "2026-Q1"), ("2026-q4", "2026-Q4"), ("2026-S2", "2026-S2"), ("2026", "2026")]
    )
    func parsing(_ input: String, _ printed: String) throws {
        #expect(try Period(parsing: input).description == printed)
    }

    @Test(
        "malformed periods",
        arguments: ["", "2026-Q5", "2026-Q0", "2026-S3", "2026-H1", "26-Q1", "2026-Q", "2026-Q1-x", "2026Q1"])
    func malformed(_ input: String) throws {
        let error = try #require(throws: ContractError.self) { try Period(parsing: input) }
        #expect(error.code == .invalidData)
    }

    @Test func boundariesAreJakartaMidnight() throws {
        let q2 = try Period(parsing: "2026-Q2")
        #expect(q2.start == utc("2026-03-31T17:00:00Z"))
        #expect(q2.end == utc("2026-06-30T17:00:00Z"))
        #expect(Period.containing(utc("2026-03-31T17:00:00Z"), kind: .quarter) == q2)  // 1 April 00:00 WIB
        #expect(Period.containing(utc("2026-03-31T16:59:59.999999Z"), kind: .quarter).description == "2026-Q1")
        #expect(q2.contains(q2.start))
        #expect(!q2.contains(q2.end))
        // New year in Jakarta is 17:00 UTC on 31 December.
        #expect(Period.containing(utc("2025-12-31T17:00:00Z"), kind: .year).description == "2026")
        #expect(Period.containing(utc("2025-12-31T16:59:59Z"), kind: .quarter).description == "2025-Q4")
        #expect(Period.containing(utc("2026-06-30T17:00:00Z"), kind: .semester).description == "2026-S2")
        #expect(try Period.year(2026).start == utc("2025-12-31T17:00:00Z"))
        #expect(try Period.year(2026).end == utc("2026-12-31T17:00:00Z"))
        #expect(try Period.semester(2, of: 2026).end == utc("2026-12-31T17:00:00Z"))
    }

    @Test func leapYears() throws {
        let q1in2024 = try Period.quarter(1, of: 2024)
        #expect(q1in2024.end.timeIntervalSince(q1in2024.start) == 91 * 86_400)  // 31 + 29 + 31
        let q1in2026 = try Period.quarter(1, of: 2026)
        #expect(q1in2026.end.timeIntervalSince(q1in2026.start) == 90 * 86_400)
        #expect(try Period.year(2024).end.timeIntervalSince(Period.year(2024).start) == 366 * 86_400)
        #expect(Period.containing(utc("2024-02-29T16:59:59Z"), kind: .quarter).description == "2024-Q1")
        #expect(RFC3339.isLeapYear(2000) && !RFC3339.isLeapYear(2100) && RFC3339.isLeapYear(2024))
        #expect(RFC3339.parse("2024-02-29T00:00:00Z") != nil)
        #expect(RFC3339.parse("2026-02-29T00:00:00Z") == nil)
    }

    @Test func navigation() throws {
        let q4 = try Period(parsing: "2025-Q4")
        #expect(q4.next.description == "2026-Q1")
        #expect(q4.next.previous == q4)
        #expect(try Period(parsing: "2026-Q3").enclosing(.semester)?.description == "2026-S2")
        #expect(try Period(parsing: "2026-Q3").enclosing(.year)?.description == "2026")
        #expect(try Period(parsing: "2026").enclosing(.quarter) == nil)
        #expect(try Period(parsing: "2026-S1").subperiods(.quarter).map(\.description) == ["2026-Q1", "2026-Q2"])
        #expect(try Period(parsing: "2026").subperiods(.semester).map(\.description) == ["2026-S1", "2026-S2"])
        #expect(try Period(parsing: "2026-Q2").indonesianName == "Triwulan II 2026")
        let sorted = try ["2026", "2026-Q2", "2025-Q4", "2026-Q1", "2026-S1"].map(Period.init(parsing:)).sorted()
        #expect(sorted.map(\.description) == ["2025-Q4", "2026-Q1", "2026-S1", "2026", "2026-Q2"])
    }

    @Test func codableAsString() throws {
        let period = try Period(parsing: "2026-S1")
        #expect(String(decoding: try ContractsJSON.encode([period]), as: UTF8.self) == #"["2026-S1"]"#)
        #expect(try ContractsJSON.decode([Period].self, from: Data(#"["2026-S1"]"#.utf8)) == [period])
        #expect(throws: ContractError.self) { try ContractsJSON.decode([Period].self, from: Data(#"["Q1"]"#.utf8)) }
    }
}

@Suite("RFC 3339")
struct RFC3339Tests {
    @Test(
        "accepted forms",
        arguments: [
            ("2026-03-31T17:00:00Z", 1_774_976_400.0),
            ("2026-04-01T00:00:00+07:00", 1_774_976_400.0),
            ("2026-04-01t00:00:00.5+07:00", 1_774_976_400.5),
            ("2026-03-31 17:00:00.000000001z", 1_774_976_400.0),
            ("1969-12-31T23:59:59.75Z", -0.25),
        ]
    )
    func parses(_ string: String, _ seconds: Double) throws {
        #expect(try #require(RFC3339.parse(string)).timeIntervalSince1970 == seconds)
    }

    @Test(
        "rejected forms",
        arguments: [
            "", "2026-03-31", "2026-03-31T17:00:00", "2026-03-31T24:00:00Z", "2026-13-01T00:00:00Z",
            "2026-03-31T17:00:00.Z", "2026-03-31T17:00:00+0700", "2026-03-31T17:00:00Zjunk",
        ]
    )
    func rejects(_ string: String) {
        #expect(RFC3339.parse(string) == nil)
    }

    @Test func formatsUTCWithMicroseconds() {
        #expect(RFC3339.format(Date(timeIntervalSince1970: 1_774_976_400)) == "2026-03-31T17:00:00.000000Z")
        #expect(RFC3339.format(Date(timeIntervalSince1970: -0.25)) == "1969-12-31T23:59:59.750000Z")
        let now = RFC3339.normalized(Date())
        #expect(RFC3339.parse(RFC3339.format(now)) == now)
    }
}
