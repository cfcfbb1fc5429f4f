import Foundation

/// `numeric` in binary format: a header (digit count, weight, sign, display scale) and base-10,000 digits.
extension Decimal: PostgresArrayElement {
    package static var postgresType: PostgresType { .numeric }
    package static var postgresArrayType: PostgresType { .numericArray }

    private static let positive: UInt16 = 0x0000
    private static let negative: UInt16 = 0x4000
    private static let notANumber: UInt16 = 0xC000

    /// Encodes the exact decimal digits of the value (no binary floating point involved).
    package func encode(into buffer: inout [UInt8]) throws {
        if isNaN {
            buffer.appendBigEndian(Int16(0))
            buffer.appendBigEndian(Int16(0))
            buffer.appendBigEndian(Self.notANumber)
            buffer.appendBigEndian(Int16(0))
            return
        }
        // Decimal's description is plain notation with "." in every locale, e.g. "-1234.5678".
        var text = Substring(description)
        var sign = Self.positive
        if text.first == "-" {
            sign = Self.negative
            text = text.dropFirst()
        }
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let integerDigits = Array(parts[0].utf8).map { Int16($0) - 48 }
        let fractionDigits = parts.count > 1 ? Array(parts[1].utf8).map { Int16($0) - 48 } : []
        guard (integerDigits + fractionDigits).allSatisfy({ (0...9).contains($0) }) else {
            throw DatabaseError(.decoding, message: "decimal value cannot be encoded as numeric")
        }
        // Pad the integer part on the left and the fraction on the right to whole groups of four digits.
        let integerPadded = Array(repeating: Int16(0), count: (4 - integerDigits.count % 4) % 4) + integerDigits
        let fractionPadded = fractionDigits + Array(repeating: Int16(0), count: (4 - fractionDigits.count % 4) % 4)
        func groups(_ digits: [Int16]) -> [Int16] {
            stride(from: 0, to: digits.count, by: 4).map {
                digits[$0] * 1000 + digits[$0 + 1] * 100 + digits[$0 + 2] * 10 + digits[$0 + 3]
            }
        }
        var digits = groups(integerPadded) + groups(fractionPadded)
        var weight = integerPadded.count / 4 - 1
        while let first = digits.first, first == 0 {
            digits.removeFirst()
            weight -= 1
        }
        while let last = digits.last, last == 0 { digits.removeLast() }
        if digits.isEmpty {
            weight = 0
            sign = Self.positive
        }
        buffer.appendBigEndian(Int16(digits.count))
        buffer.appendBigEndian(Int16(weight))
        buffer.appendBigEndian(sign)
        buffer.appendBigEndian(Int16(fractionDigits.count))
        for digit in digits { buffer.appendBigEndian(digit) }
    }

    /// Decodes `numeric` (and integer columns); fails for ±Infinity, which `Decimal` cannot hold.
    package static func decode(from bytes: ArraySlice<UInt8>, type: PostgresType) throws -> Decimal {
        switch type {
        case .int2, .int4, .int8:
            return Decimal(try Int64.decode(from: bytes, type: type))
        case .numeric:
            break
        default:
            throw decodingError(Decimal.self, type)
        }
        var reader = PostgresByteReader(bytes)
        let count = Int(try reader.read(Int16.self))
        let weight = Int(try reader.read(Int16.self))
        let sign = try reader.read(UInt16.self)
        let scale = Int(try reader.read(UInt16.self))
        if sign == notANumber { return .nan }
        guard sign == positive || sign == negative else {
            throw DatabaseError(.decoding, message: "numeric infinity cannot be decoded as Decimal")
        }
        var digits: [Int] = []
        for _ in 0..<count { digits.append(Int(try reader.read(Int16.self))) }
        func digit(_ index: Int) -> Int { index >= 0 && index < digits.count ? digits[index] : 0 }

        var text = sign == negative ? "-" : ""
        if weight < 0 {
            text += "0"
        } else {
            for index in 0...weight {
                let group = String(digit(index))
                text += index == 0 ? group : String(repeating: "0", count: 4 - group.count) + group
            }
        }
        if scale > 0 {
            var fraction = ""
            var index = weight + 1
            while fraction.count < scale {
                let group = String(digit(index))
                fraction += String(repeating: "0", count: 4 - group.count) + group
                index += 1
            }
            text += "." + fraction.prefix(scale)
        }
        guard let value = Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")) else {
            throw DatabaseError(.decoding, message: "numeric value cannot be represented as Decimal")
        }
        return value
    }
}
