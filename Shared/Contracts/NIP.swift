/// A Nomor Induk Pegawai: the 18-digit national civil-servant number.
///
/// Layout for PNS: birth date `YYYYMMDD` (digits 1–8), start of service (TMT) `YYYYMM` (9–14), sex `1`/`2` (15),
/// serial `001`–`999` (16–18), e.g. `198503152010011001`. PPPK numbers keep the birth date, sex and serial but use
/// the TMT segment differently (e.g. appointment year then `21`), so a NIP whose birth date, sex and serial are
/// valid but whose TMT is not is accepted as `.pppk`. Codable as a plain JSON string.
package struct NIP: Hashable, Codable, Sendable, CustomStringConvertible, Comparable {
    /// Which kind of civil servant the number's structure indicates.
    package enum Kind: String, Sendable, Codable, Hashable {
        /// Pegawai Negeri Sipil: every segment valid.
        case pns
        /// Pegawai Pemerintah dengan Perjanjian Kerja: the TMT segment is not a PNS start of service.
        case pppk
    }

    /// Sex as encoded in digit 15.
    package enum Sex: Int, Sendable, Codable, Hashable {
        /// `1`.
        case male = 1
        /// `2`.
        case female = 2
    }

    /// Plausible birth years.
    package static let birthYears = 1940...2010

    /// The 18 digits.
    package let value: String
    /// PNS or PPPK.
    package let kind: Kind
    /// Birth year, month, day from digits 1–8.
    package let birthYear: Int, birthMonth: Int, birthDay: Int
    /// Start-of-service year and month (PNS); for PPPK the raw digits 9–12 and 13–14.
    package let serviceYear: Int, serviceMonth: Int
    /// Digit 15.
    package let sex: Sex
    /// Digits 16–18, 1–999.
    package let serial: Int

    /// Parses and validates a NIP (surrounding whitespace is ignored; nothing else is).
    ///
    /// - Throws: `ContractError` `.invalidData` with a message in Bahasa Indonesia and English.
    package init(_ string: String) throws {
        let trimmed = string.trimmingWhitespace()
        let digits = Array(trimmed.utf8)
        guard digits.allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
            throw Self.invalid("NIP hanya boleh berisi angka", "NIP must contain digits only")
        }
        guard digits.count == 18 else {
            throw Self.invalid(
                "NIP harus 18 digit (diterima \(digits.count) digit)",
                "NIP must be 18 digits (got \(digits.count))"
            )
        }
        func number(_ from: Int, _ count: Int) -> Int {
            digits[from..<(from + count)].reduce(0) { $0 * 10 + Int($1 - 48) }
        }
        let year = number(0, 4)
        let month = number(4, 2)
        let day = number(6, 2)
        guard Self.birthYears.contains(year), (1...12).contains(month),
            (1...RFC3339.daysInMonth(year: year, month: month)).contains(day)
        else {
            throw Self.invalid(
                "tanggal lahir pada NIP (digit 1–8) tidak valid",
                "the birth date in the NIP (digits 1–8) is not a valid date between 1940 and 2010"
            )
        }
        guard let sex = Sex(rawValue: number(14, 1)) else {
            throw Self.invalid("digit ke-15 NIP (jenis kelamin) harus 1 atau 2", "NIP digit 15 (sex) must be 1 or 2")
        }
        let serial = number(15, 3)
        guard serial >= 1 else {
            throw Self.invalid(
                "nomor urut NIP (digit 16–18) harus 001–999", "NIP serial (digits 16–18) must be 001–999")
        }
        let serviceYear = number(8, 4)
        let serviceMonth = number(12, 2)
        // A PNS starts service at 18 at the earliest and before the pension age.
        let tmtValid = (1...12).contains(serviceMonth) && serviceYear > year + 17 && serviceYear <= year + 60
        self.value = trimmed
        self.kind = tmtValid ? .pns : .pppk
        self.birthYear = year
        self.birthMonth = month
        self.birthDay = day
        self.serviceYear = serviceYear
        self.serviceMonth = serviceMonth
        self.sex = sex
        self.serial = serial
    }

    /// Whether `string` is a valid NIP.
    package static func isValid(_ string: String) -> Bool {
        (try? NIP(string)) != nil
    }

    /// The 18 digits.
    package var description: String { value }

    /// The NIP with the middle digits hidden (`198503**********01`), for logs.
    package var redacted: String {
        String(value.prefix(6)) + String(repeating: "*", count: 10) + String(value.suffix(2))
    }

    /// Decodes from a JSON string, validating it.
    package init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let string = try container.decode(String.self)
        do {
            try self.init(string)
        } catch let error as ContractError {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.message)
        }
    }

    /// Encodes as a JSON string.
    package func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }

    /// Equality is by digits.
    package static func == (lhs: NIP, rhs: NIP) -> Bool { lhs.value == rhs.value }

    /// Hashes the digits.
    package func hash(into hasher: inout Hasher) { hasher.combine(value) }

    /// Orders by digits.
    package static func < (lhs: NIP, rhs: NIP) -> Bool { lhs.value < rhs.value }

    private static func invalid(_ indonesian: String, _ english: String) -> ContractError {
        ContractError.invalidData("\(indonesian). / \(english).")
    }
}

extension String {
    /// The string without leading and trailing spaces, tabs and newlines (no Foundation needed).
    fileprivate func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}
