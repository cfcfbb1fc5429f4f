import Contracts
import Database
import Eventing
import Foundation

/// One valid roster row, normalised.
struct RosterRow: Sendable, Equatable {
    var line: Int
    var nip: String
    var nipKind: String
    var name: String
    var opd: String
    var unit: String?
    var phone: String?
    var email: String?
    var office: (latitude: Double, longitude: Double)?
    var home: (latitude: Double, longitude: Double)?
    var active: Bool

    static func == (lhs: RosterRow, rhs: RosterRow) -> Bool {
        lhs.line == rhs.line && lhs.nip == rhs.nip && lhs.name == rhs.name && lhs.opd == rhs.opd
            && lhs.phone == rhs.phone && lhs.email == rhs.email && lhs.active == rhs.active
            && lhs.office?.latitude == rhs.office?.latitude && lhs.office?.longitude == rhs.office?.longitude
            && lhs.home?.latitude == rhs.home?.latitude && lhs.home?.longitude == rhs.home?.longitude
    }
}

/// A problem with one field of one row of a roster file.
struct RosterRowError: Codable, Sendable, Equatable {
    /// 1-based line of the file (the header is line 1).
    var line: Int
    /// The column, e.g. `nip`, `office_lat`; `*` for the whole row.
    var field: String
    var code: String
    /// What is wrong, Bahasa Indonesia first.
    var message: String
}

/// Parses and validates roster CSV rows (`nip,name,opd,unit,phone,email,office_lat,office_lon,home_lat,home_lon,
/// active`), one record at a time, so a file of any length needs memory for one row plus the NIPs seen.
struct RosterValidator {
    static let columns = [
        "nip", "name", "opd", "unit", "phone", "email", "office_lat", "office_lon", "home_lat", "home_lon", "active",
    ]
    /// Column → index in the file's header.
    private var index: [String: Int] = [:]
    /// NIP → the line it first appeared on (duplicates in the file are errors).
    private var seen: [String: Int] = [:]

    /// Reads the header; errors name line 1.
    mutating func header(_ fields: [String]) -> [RosterRowError] {
        // Spreadsheet programs often start the file with a byte-order mark.
        let names = fields.map {
            $0.trimmingCharacters(in: CharacterSet.whitespaces.union(["\u{FEFF}"])).lowercased()
        }
        var errors: [RosterRowError] = []
        for (position, name) in names.enumerated() {
            if !Self.columns.contains(name) {
                errors.append(
                    RosterRowError(
                        line: 1, field: name, code: "UNKNOWN_COLUMN",
                        message: "kolom tidak dikenal '\(name)' / unknown column"))
            } else if index[name] != nil {
                errors.append(
                    RosterRowError(
                        line: 1, field: name, code: "DUPLICATE_COLUMN", message: "kolom ganda / duplicate column"))
            } else {
                index[name] = position
            }
        }
        for column in Self.columns where index[column] == nil {
            errors.append(
                RosterRowError(
                    line: 1, field: column, code: "MISSING_COLUMN",
                    message: "kolom '\(column)' tidak ada di baris judul / missing from the header"))
        }
        return errors
    }

    /// Validates one record at `line`; either a row or its errors (every field's, not only the first).
    mutating func row(_ fields: [String], line: Int) -> Result<RosterRow, RosterErrors> {
        var errors: [RosterRowError] = []
        func fail(_ field: String, _ code: String, _ message: String) {
            errors.append(RosterRowError(line: line, field: field, code: code, message: message))
        }
        guard fields.count == index.count else {
            fail(
                "*", "COLUMN_COUNT",
                "baris berisi \(fields.count) kolom, seharusnya \(index.count) / the row has \(fields.count) columns, "
                    + "expected \(index.count)")
            return .failure(RosterErrors(errors))
        }
        func value(_ column: String) -> String {
            fields[index[column]!].trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let nipText = value("nip")
        var nipKind = "pns"
        do {
            nipKind = try NIP(nipText).kind.rawValue
            if let first = seen[nipText] {
                fail("nip", "DUPLICATE_NIP", "NIP \(nipText) sudah ada di baris \(first) / duplicate of line \(first)")
            } else {
                seen[nipText] = line
            }
        } catch let error as ContractError {
            fail("nip", "INVALID_NIP", error.message)
        } catch {
            fail("nip", "INVALID_NIP", "\(error)")
        }
        let name = value("name")
        if name.isEmpty || name.count > 200 {
            fail("name", "INVALID_NAME", "nama wajib diisi, paling panjang 200 karakter / name is required, ≤ 200")
        }
        let opd = value("opd").uppercased()
        if !Self.isOPDCode(opd) {
            fail(
                "opd", "INVALID_OPD",
                "kode OPD harus 2–16 huruf besar/angka, mis. DLH, DINKES / OPD code must be 2–16 letters or digits "
                    + "(got '\(value("opd"))')")
        }
        let unit = value("unit")
        var phone: String?
        if !value("phone").isEmpty {
            phone = Self.normalisePhone(value("phone"))
            if phone == nil {
                fail(
                    "phone", "INVALID_PHONE",
                    "nomor telepon tidak valid '\(value("phone"))' (contoh 081234567890) / invalid phone number")
            }
        }
        let email = value("email")
        if !email.isEmpty && !Self.isEmail(email) {
            fail("email", "INVALID_EMAIL", "alamat email tidak valid / invalid e-mail address")
        }
        let office = coordinates("office", value("office_lat"), value("office_lon"), fail: fail)
        let home = coordinates("home", value("home_lat"), value("home_lon"), fail: fail)
        var active = true
        switch value("active").lowercased() {
        case "true", "1", "": active = true
        case "false", "0": active = false
        default:
            fail(
                "active", "INVALID_ACTIVE", "nilai active harus true/false atau 1/0 / active must be true/false or 1/0")
        }
        guard errors.isEmpty else { return .failure(RosterErrors(errors)) }
        return .success(
            RosterRow(
                line: line, nip: nipText, nipKind: nipKind, name: name, opd: opd, unit: unit.isEmpty ? nil : unit,
                phone: phone, email: email.isEmpty ? nil : email.lowercased(), office: office, home: home,
                active: active))
    }

    /// Both or neither coordinate; on Earth and inside Indonesia (catches swapped or zero coordinates).
    private func coordinates(
        _ place: String, _ latitude: String, _ longitude: String, fail: (String, String, String) -> Void
    ) -> (latitude: Double, longitude: Double)? {
        if latitude.isEmpty && longitude.isEmpty { return nil }
        guard let lat = Double(latitude), lat.isFinite else {
            fail("\(place)_lat", "INVALID_COORDINATE", "lintang tidak valid '\(latitude)' / invalid latitude")
            return nil
        }
        guard let lon = Double(longitude), lon.isFinite else {
            fail("\(place)_lon", "INVALID_COORDINATE", "bujur tidak valid '\(longitude)' / invalid longitude")
            return nil
        }
        guard (-11.5...6.5).contains(lat) else {
            fail(
                "\(place)_lat", "INVALID_COORDINATE",
                "lintang \(latitude) di luar Indonesia (−11,5…6,5) / latitude outside Indonesia")
            return nil
        }
        guard (94.5...141.5).contains(lon) else {
            fail(
                "\(place)_lon", "INVALID_COORDINATE",
                "bujur \(longitude) di luar Indonesia (94,5…141,5) / longitude outside Indonesia")
            return nil
        }
        return (lat, lon)
    }

    static func isOPDCode(_ code: String) -> Bool {
        (2...16).contains(code.count)
            && code.allSatisfy { ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "-" || $0 == "_" }
            && ("A"..."Z").contains(code.first!)
    }

    /// `0812-3456-7890`, `+62 812 3456 7890`, `62812…`, `812…` → `+62812…`; `nil` when not an Indonesian mobile or
    /// landline number (8–13 digits after 62).
    static func normalisePhone(_ text: String) -> String? {
        var digits = text.filter { !" -.()".contains($0) }
        if digits.hasPrefix("+") { digits.removeFirst() }
        guard !digits.isEmpty, digits.allSatisfy({ ("0"..."9").contains($0) }) else { return nil }
        if digits.hasPrefix("62") {
            digits.removeFirst(2)
        } else if digits.hasPrefix("0") {
            digits.removeFirst()
        }
        guard (8...13).contains(digits.count), digits.first != "0" else { return nil }
        return "+62" + digits
    }

    static func isEmail(_ text: String) -> Bool {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !parts[1].hasPrefix("."),
            !parts[1].hasSuffix("."), text.count <= 254
        else { return false }
        return !text.contains { $0 == " " || $0 == "," || $0 == ";" }
    }
}

/// The errors of one row.
struct RosterErrors: Error {
    var errors: [RosterRowError]
    init(_ errors: [RosterRowError]) { self.errors = errors }
}

/// A streaming CSV reader (RFC 4180: quoted fields, doubled quotes, CRLF or LF; a newline inside quotes stays in
/// the field). Records are reported with the line they start on.
struct CSVRecordReader {
    private var field: [UInt8] = []
    private var fields: [String] = []
    private var inQuotes = false
    private var quoteSeen = false
    private var line = 1
    private var recordLine = 1
    private var started = false

    mutating func feed(_ bytes: some Sequence<UInt8>, _ emit: (_ fields: [String], _ line: Int) throws -> Void) rethrows
    {
        for byte in bytes {
            if inQuotes {
                if byte == UInt8(ascii: "\"") {
                    inQuotes = false
                    quoteSeen = true
                } else {
                    if byte == UInt8(ascii: "\n") { line += 1 }
                    field.append(byte)
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                // A doubled quote inside a quoted field is a literal quote.
                if quoteSeen { field.append(byte) }
                inQuotes = true
                started = true
            case UInt8(ascii: ","):
                endField()
                started = true
            case UInt8(ascii: "\r"):
                continue
            case UInt8(ascii: "\n"):
                if started || !field.isEmpty || !fields.isEmpty {
                    endField()
                    try emit(fields, recordLine)
                }
                fields = []
                started = false
                line += 1
                recordLine = line
            default:
                field.append(byte)
                started = true
            }
            if byte != UInt8(ascii: "\"") { quoteSeen = false }
        }
    }

    mutating func finish(_ emit: (_ fields: [String], _ line: Int) throws -> Void) rethrows {
        if started || !field.isEmpty || !fields.isEmpty {
            endField()
            try emit(fields, recordLine)
        }
        fields = []
        started = false
    }

    private mutating func endField() {
        fields.append(String(decoding: field, as: UTF8.self))
        field.removeAll(keepingCapacity: true)
        quoteSeen = false
    }
}
