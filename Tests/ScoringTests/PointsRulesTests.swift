import Contracts
import Foundation
import Testing

@testable import Scoring

@Suite("Points rules")
struct PointsRulesTests {
    static func program(placeFactors: [String: Double]? = nil, active: Bool? = nil) throws -> ProgramDocument {
        var program = try ScoringFixture.peduliSampah()
        program.placeFactors = placeFactors
        program.active = active
        return program
    }

    static func input(activity: String, place: String = "office", quantity: Double = 1) -> ScoringInput {
        ScoringInput(ScoringFixture.verified(activity: activity, place: place, quantity: quantity))
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var activity: String
        var place: String
        var quantity: Double
        var factors: [String: Double]?
        var points: Int
        var kinds: [String]
        var testDescription: String { "\(activity)@\(place) ×\(quantity) factors \(factors ?? [:]) → \(points)" }
    }

    @Test(
        "points = ⌊(base + ⌊perKg × kg⌋) × place factor⌋",
        arguments: [
            Case(activity: "pilah_sampah", place: "office", quantity: 1, points: 10, kinds: ["base"]),
            // Count activities earn the base points whatever the quantity.
            Case(activity: "pilah_sampah", place: "home", quantity: 4, points: 10, kinds: ["base"]),
            Case(activity: "edukasi_warga", place: "home", quantity: 3, points: 25, kinds: ["base"]),
            Case(activity: "bank_sampah", place: "office", quantity: 3.5, points: 12, kinds: ["base", "per_kg"]),
            // ⌊2 × 2.29⌋ = 4.
            Case(activity: "bank_sampah", place: "home", quantity: 2.29, points: 9, kinds: ["base", "per_kg"]),
            // Capped at maxQuantity 50 kg: 5 + 100.
            Case(activity: "bank_sampah", place: "home", quantity: 80, points: 105, kinds: ["base", "per_kg"]),
            Case(activity: "bank_sampah", place: "home", quantity: -3, points: 5, kinds: ["base", "per_kg"]),
            Case(
                activity: "komposting", place: "home", quantity: 1, factors: ["home": 1.5], points: 22,
                kinds: ["base", "place_factor"]),
            Case(
                activity: "bank_sampah", place: "office", quantity: 1.5, factors: ["office": 0.5], points: 4,
                kinds: ["base", "per_kg", "place_factor"]),
            Case(
                activity: "kerja_bakti", place: "office", quantity: 1, factors: ["home": 2], points: 20, kinds: ["base"]
            ),
        ])
    func points(_ example: Case) throws {
        let result = PointsRules.compute(
            Self.input(activity: example.activity, place: example.place, quantity: example.quantity),
            program: try Self.program(placeFactors: example.factors))
        #expect(result.points == example.points)
        #expect(result.breakdown.map(\.kind) == example.kinds)
        #expect(result.breakdown.reduce(0) { $0 + $1.points } == result.points)
        #expect(result.ineligibleReason == nil)
    }

    @Test("binary fractions round the way a person computes")
    func rounding() {
        #expect(PointsRules.roundedDown(100 * 0.29) == 29)
        #expect(PointsRules.roundedDown(4.999) == 4)
        #expect(PointsRules.roundedDown(-1) == 0)
        #expect(PointsRules.roundedDown(.nan) == 0)
        #expect(PointsRules.roundedDown(.infinity) == 0)
    }

    @Test(
        "what the program cannot score earns 0 points with a reason",
        arguments: [
            ("tanam_pohon", "office", "peduli-sampah"),  // not in the program
            ("edukasi_warga", "office", "peduli-sampah"),  // home only
            ("pilah_sampah", "office", "program-lain"),  // unknown program
        ])
    func ineligible(activity: String, place: String, programCode: String) throws {
        var input = Self.input(activity: activity, place: place)
        input.program = programCode
        let program = programCode == "peduli-sampah" ? try Self.program() : nil
        let result = PointsRules.compute(input, program: program)
        #expect(result.points == 0)
        #expect(result.breakdown.map(\.kind) == ["not_eligible"])
        #expect(result.ineligibleReason?.isEmpty == false)
    }

    @Test("a closed program or a revoked submission earns nothing")
    func closedOrRevoked() throws {
        let input = Self.input(activity: "pilah_sampah")
        #expect(PointsRules.compute(input, program: try Self.program(active: false)).points == 0)
        let revoked = PointsRules.compute(input, program: try Self.program(), context: RuleContext(revoked: true))
        #expect(revoked.points == 0)
        #expect(revoked.ineligibleReason?.contains("dicabut") == true)
    }
}

@Suite("Periods of activities")
struct PeriodDefaultTests {
    @Test("the period is the quarter of the activity time in Jakarta")
    func jakartaQuarter() {
        // 2026-03-31T18:00Z is 1 April 01:00 WIB.
        let lateMarchUTC = Date(timeIntervalSince1970: 1_774_980_000)
        #expect(Period.containing(lateMarchUTC, kind: .quarter).description == "2026-Q2")
        #expect(Period.containing(ScoringFixture.february, kind: .quarter).description == "2026-Q1")
    }
}

@Suite("Jakarta calendar")
struct JakartaCalendarTests {
    @Test("a week starts on Monday 00:00 WIB, also across a year boundary")
    func weekStart() {
        // Mondays 00:00 WIB: 2026-03-02 (2026-W10), 2026-12-28 (2026-W53) and 2027-01-04 (2027-W01).
        let mondays = [(1_772_384_400.0, "2026-W10"), (1_798_390_800.0, "2026-W53"), (1_798_995_600.0, "2027-W01")]
        for (seconds, label) in mondays {
            let monday = Date(timeIntervalSince1970: seconds)
            let week = JakartaCalendar.weekIndex(monday)
            #expect(JakartaCalendar.weekStart(week) == monday)
            #expect(JakartaCalendar.weekLabel(monday) == label)
            #expect(JakartaCalendar.weekIndex(monday.addingTimeInterval(-1)) == week - 1)
            #expect(JakartaCalendar.weekIndex(monday.addingTimeInterval(7 * 86_400 - 1)) == week)
        }
        #expect(
            JakartaCalendar.weekIndex(Date(timeIntervalSince1970: 1_798_995_600))
                == JakartaCalendar.weekIndex(Date(timeIntervalSince1970: 1_798_390_800)) + 1)
    }
}
