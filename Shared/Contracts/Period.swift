import Foundation

/// A scoring period: a quarter, semester or year of the calendar in Asia/Jakarta time (WIB, UTC+7, no DST).
///
/// Written `2026-Q1`, `2026-S2` or `2026`; Codable as that string. `start` is inclusive and `end` exclusive, both
/// at Jakarta midnight: 2026-Q2 runs from 2026-03-31T17:00:00Z to 2026-06-30T17:00:00Z.
package struct Period: Hashable, Codable, Sendable, CustomStringConvertible, Comparable {
    /// The length of a period.
    package enum Kind: String, Codable, Sendable, CaseIterable, Comparable {
        /// Three months: Q1–Q4.
        case quarter
        /// Six months: S1–S2.
        case semester
        /// The calendar year.
        case year

        /// Months per period.
        package var months: Int {
            switch self {
            case .quarter: 3
            case .semester: 6
            case .year: 12
            }
        }

        /// Periods per year.
        package var perYear: Int { 12 / months }

        /// Shorter kinds first.
        package static func < (lhs: Kind, rhs: Kind) -> Bool { lhs.months < rhs.months }
    }

    /// Asia/Jakarta, or a fixed UTC+7 when the time zone database is unavailable.
    package static let timeZone: TimeZone = TimeZone(identifier: "Asia/Jakarta") ?? TimeZone(secondsFromGMT: 7 * 3600)!

    /// A Gregorian calendar in `timeZone`.
    package static let calendar: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        return calendar
    }()

    /// Quarter, semester or year.
    package let kind: Kind
    /// The calendar year.
    package let year: Int
    /// 1–4 for quarters, 1–2 for semesters, 1 for years.
    package let index: Int

    /// Creates a period, checking the index.
    ///
    /// - Throws: `ContractError` `.invalidData` when `index` is out of range for `kind` or the year is not 1900–9999.
    package init(kind: Kind, year: Int, index: Int = 1) throws {
        guard (1...kind.perYear).contains(index), (1900...9999).contains(year) else {
            throw ContractError.invalidData(
                "periode tidak valid: \(kind.rawValue) \(index) tahun \(year). / invalid period: \(kind.rawValue) "
                    + "\(index) of \(year)."
            )
        }
        self.kind = kind
        self.year = year
        self.index = index
    }

    /// Parses `2026-Q1`, `2026-S2` or `2026` (letters in either case).
    ///
    /// - Throws: `ContractError` `.invalidData` with a Bahasa Indonesia and English message.
    package init(parsing string: String) throws {
        let parts = string.split(separator: "-", omittingEmptySubsequences: false)
        let invalid = ContractError.invalidData(
            "format periode tidak dikenal '\(string)' (contoh: 2026-Q1, 2026-S2, 2026). / unknown period format "
                + "'\(string)' (examples: 2026-Q1, 2026-S2, 2026)."
        )
        guard let yearPart = parts.first, yearPart.count == 4, yearPart.allSatisfy(\.isASCIIDigitCharacter),
            let year = Int(yearPart)
        else { throw invalid }
        if parts.count == 1 {
            try self.init(kind: .year, year: year)
            return
        }
        guard parts.count == 2, parts[1].count == 2, let letter = parts[1].first?.uppercased(),
            let digit = parts[1].last, digit.isASCIIDigitCharacter, let index = Int(String(digit))
        else { throw invalid }
        switch letter {
        case "Q": try self.init(kind: .quarter, year: year, index: index)
        case "S": try self.init(kind: .semester, year: year, index: index)
        default: throw invalid
        }
    }

    /// The quarter of `year`.
    package static func quarter(_ quarter: Int, of year: Int) throws -> Period {
        try Period(kind: .quarter, year: year, index: quarter)
    }

    /// The semester of `year`.
    package static func semester(_ semester: Int, of year: Int) throws -> Period {
        try Period(kind: .semester, year: year, index: semester)
    }

    /// The whole `year`.
    package static func year(_ year: Int) throws -> Period {
        try Period(kind: .year, year: year)
    }

    /// The period of `kind` containing `date` in Jakarta time.
    package static func containing(_ date: Date, kind: Kind) -> Period {
        let components = calendar.dateComponents([.year, .month], from: date)
        let year = components.year ?? 1970
        let month = components.month ?? 1
        return Period(unchecked: kind, year: year, index: (month - 1) / kind.months + 1)
    }

    private init(unchecked kind: Kind, year: Int, index: Int) {
        self.kind = kind
        self.year = year
        self.index = index
    }

    /// The first month (1–12) of the period.
    package var firstMonth: Int { (index - 1) * kind.months + 1 }

    /// Jakarta midnight at the start of the first day (inclusive).
    package var start: Date { Self.midnight(year: year, month: firstMonth) }

    /// Jakarta midnight after the last day (exclusive): the start of the next period of the same kind.
    package var end: Date {
        let month = firstMonth + kind.months
        return month > 12 ? Self.midnight(year: year + 1, month: month - 12) : Self.midnight(year: year, month: month)
    }

    /// `start..<end`.
    package var range: Range<Date> { start..<end }

    /// Whether `date` falls in the period.
    package func contains(_ date: Date) -> Bool { range.contains(date) }

    /// The next period of the same kind.
    package var next: Period {
        index == kind.perYear
            ? Period(unchecked: kind, year: year + 1, index: 1) : Period(unchecked: kind, year: year, index: index + 1)
    }

    /// The previous period of the same kind.
    package var previous: Period {
        index == 1
            ? Period(unchecked: kind, year: year - 1, index: kind.perYear)
            : Period(unchecked: kind, year: year, index: index - 1)
    }

    /// The period of a longer (or equal) kind that contains this one, e.g. `2026-Q3` → `2026-S2` → `2026`;
    /// `nil` when `kind` is shorter than this period's.
    package func enclosing(_ kind: Kind) -> Period? {
        guard kind >= self.kind else { return nil }
        return Period(unchecked: kind, year: year, index: (firstMonth - 1) / kind.months + 1)
    }

    /// The periods of a shorter (or equal) kind inside this one, e.g. `2026-S1` → `[2026-Q1, 2026-Q2]`.
    package func subperiods(_ kind: Kind) -> [Period] {
        guard kind <= self.kind else { return [] }
        let first = (firstMonth - 1) / kind.months + 1
        return (first..<(first + self.kind.months / kind.months)).map { Period(unchecked: kind, year: year, index: $0) }
    }

    /// `2026-Q1`, `2026-S2`, `2026`.
    package var description: String {
        switch kind {
        case .quarter: "\(year)-Q\(index)"
        case .semester: "\(year)-S\(index)"
        case .year: "\(year)"
        }
    }

    /// Indonesian label, e.g. `Triwulan I 2026`, `Semester II 2026`, `Tahun 2026`.
    package var indonesianName: String {
        let roman = ["I", "II", "III", "IV"][index - 1]
        switch kind {
        case .quarter: return "Triwulan \(roman) \(year)"
        case .semester: return "Semester \(roman) \(year)"
        case .year: return "Tahun \(year)"
        }
    }

    /// Orders by start, then shorter kind first.
    package static func < (lhs: Period, rhs: Period) -> Bool {
        (lhs.year, lhs.firstMonth, lhs.kind.months) < (rhs.year, rhs.firstMonth, rhs.kind.months)
    }

    /// Decodes from a string such as `2026-Q1`.
    package init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let string = try container.decode(String.self)
        do {
            try self.init(parsing: string)
        } catch let error as ContractError {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.message)
        }
    }

    /// Encodes as a string such as `2026-Q1`.
    package func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    private static func midnight(year: Int, month: Int) -> Date {
        calendar.date(from: DateComponents(year: year, month: month, day: 1))
            ?? Date(timeIntervalSince1970: Double(RFC3339.days(fromCivil: year, month, 1) * 86_400 - 7 * 3600))
    }
}

extension Character {
    /// `0`–`9` only (not other Unicode digits).
    fileprivate var isASCIIDigitCharacter: Bool { ("0"..."9").contains(self) }
}
