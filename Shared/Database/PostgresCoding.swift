import Foundation

/// A Swift value that can be bound to a `$n` parameter or written by ``DatabaseConnection/copyIn(table:columns:rows:)``.
///
/// Values travel in PostgreSQL's binary format with an explicit type OID, so the server never guesses: an `Int` is
/// a `bigint`, a `String` is `text`, a `Date` is `timestamptz`. Assignment to narrower columns (`integer`, `varchar`)
/// works through PostgreSQL's assignment casts, but function arguments must match (bind an `Int32` for `integer`).
/// `COPY` accepts only exact column types.
package protocol PostgresEncodable: Sendable {
    /// The type OID sent with the value.
    static var postgresType: PostgresType { get }
    /// Whether this value is SQL `NULL` (only `Optional.none` is).
    var isPostgresNull: Bool { get }
    /// Appends the binary representation (without a length prefix).
    func encode(into buffer: inout [UInt8]) throws
}

extension PostgresEncodable {
    /// Values are not `NULL` unless they say so.
    package var isPostgresNull: Bool { false }
    /// The type OID of this value's dynamic type (for existentials).
    var postgresTypeOfValue: PostgresType { Self.postgresType }
}

/// A Swift value that can be read from a result column in binary format.
package protocol PostgresDecodable {
    /// Decodes a non-NULL value of column type `type` from its binary representation.
    static func decode(from bytes: ArraySlice<UInt8>, type: PostgresType) throws -> Self
}

/// A value that can be an element of a PostgreSQL one-dimensional array (`[String]` is `text[]`).
package protocol PostgresArrayElement: PostgresEncodable, PostgresDecodable {
    /// The OID of the array type, e.g. `text[]` for `String`.
    static var postgresArrayType: PostgresType { get }
}

func decodingError(_ swiftType: Any.Type, _ type: PostgresType) -> DatabaseError {
    DatabaseError(.decoding, message: "cannot decode a value of type oid \(type) as \(swiftType)")
}

// MARK: - Optional

extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    /// The wrapped type's OID: a `NULL` still carries a type so the server can resolve `$n`.
    package static var postgresType: PostgresType { Wrapped.postgresType }
    /// `nil` is `NULL`.
    package var isPostgresNull: Bool {
        switch self {
        case .none: return true
        case .some(let value): return value.isPostgresNull
        }
    }
    /// Encodes the wrapped value; `NULL` has no bytes.
    package func encode(into buffer: inout [UInt8]) throws {
        if case .some(let value) = self { try value.encode(into: &buffer) }
    }
}

// MARK: - Text

extension String: PostgresArrayElement {
    package static var postgresType: PostgresType { .text }
    package static var postgresArrayType: PostgresType { .textArray }
    package func encode(into buffer: inout [UInt8]) throws { buffer.append(contentsOf: utf8) }
    package static func decode(from bytes: ArraySlice<UInt8>, type: PostgresType) throws -> String {
        if type == .jsonb {  // version byte, then the JSON text
            guard bytes.first == 1 else { throw decodingError(String.self, type) }
            return String(decoding: bytes.dropFirst(), as: UTF8.self)
        }
        guard type.isTextLike else { throw decodingError(String.self, type) }
        return String(decoding: bytes, as: UTF8.self)
    }
}

// MARK: - Integers

/// Reads `int2`, `int4` or `int8` as an `Int64`.
private func decodeInteger(_ bytes: ArraySlice<UInt8>, type: PostgresType, as swiftType: Any.Type) throws -> Int64 {
    var reader = PostgresByteReader(bytes)
    switch (type, bytes.count) {
    case (.int8, 8): return try reader.read(Int64.self)
    case (.int4, 4), (.oid, 4): return Int64(try reader.read(Int32.self))
    case (.int2, 2): return Int64(try reader.read(Int16.self))
    default: throw decodingError(swiftType, type)
    }
}

/// Narrows a decoded integer, refusing values that do not fit.
private func narrow<T: FixedWidthInteger>(_ value: Int64, type: PostgresType) throws -> T {
    guard let result = T(exactly: value) else {
        throw DatabaseError(.decoding, message: "integer of type oid \(type) does not fit \(T.self)")
    }
    return result
}

extension Int: PostgresArrayElement {
    package static var postgresType: PostgresType { .int8 }
    package static var postgresArrayType: PostgresType { .int8Array }
    package func encode(into buffer: inout [UInt8]) throws { buffer.appendBigEndian(Int64(self)) }
    package static func decode(from bytes: ArraySlice<UInt8>, type: PostgresType) throws -> Int {
        try narrow(try decodeInteger(bytes, type: type, as: Int.self), type: type)
    }
}

extension Int64: PostgresArrayElement {
    package static var postgresType: PostgresType { .int8 }
    package static var postgresArrayType: PostgresType { .int8Array }
    package func encode(into buffer: inout [UInt8]) throws { buffer.appendBigEndian(self) }
    package static func decode(from bytes: ArraySlice<UInt8>, type: PostgresType) throws -> Int64 {
        try decodeInteger(bytes, type: type, as: Int64.self)
    }
}

extension Int32: PostgresArrayElement {
    package static var postgresType: PostgresType { .int4 }
    package static var postgresArrayType: PostgresType { .int4Array }
    package func encode(into buffer: inout [UInt8]) throws { buffer.appendBigEndian(self) }
    package static func decode(from bytes: ArraySlice<UInt8>, type: PostgresType) throws -> Int32 {
        try narrow(try decodeInteger(bytes, type: type, as: Int32.self), type: type)
    }
}

extension Int16: PostgresArrayElement {
    package static var postgresType: PostgresType { .int2 }
    package static var postgresArrayType: PostgresType { .int2Array }
    package func encode(into buffer: inout [UInt8]) throws { buffer.appendBigEndian(self) }
    package static func decode(from bytes: ArraySlice<UInt8>, type: PostgresType) throws -> Int16 {
        try narrow(try decodeInteger(bytes, type: type, as: Int16.self), type: type)
    }
}

// MARK: - Bool, Double

extension Bool: PostgresArrayElement {
    package static var postgresType: PostgresType { .bool }
    package static var postgresArrayType: PostgresType { .boolArray }
    package func encode(into buffer: inout [UInt8]) throws { buffer.append(self ? 1 : 0) }
    package static func decode(from bytes: ArraySlice<UInt8>, type: PostgresType) throws -> Bool {
        guard type == .bool, bytes.count == 1 else { throw decodingError(Bool.self, type) }
        return bytes.first! != 0
    }
}

extension Double: PostgresArrayElement {
    package static var postgresType: PostgresType { .float8 }
    package static var postgresArrayType: PostgresType { .float8Array }
    package func encode(into buffer: inout [UInt8]) throws { buffer.appendBigEndian(bitPattern) }
    package static func decode(from bytes: ArraySlice<UInt8>, type: PostgresType) throws -> Double {
        var reader = PostgresByteReader(bytes)
        switch (type, bytes.count) {
        case (.float8, 8): return Double(bitPattern: try reader.read(UInt64.self))
        case (.float4, 4): return Double(Float(bitPattern: try reader.read(UInt32.self)))
        case (.int2, _), (.int4, _), (.int8, _): return Double(try decodeInteger(bytes, type: type, as: Double.self))
        case (.numeric, _): return NSDecimalNumber(decimal: try Decimal.decode(from: bytes, type: type)).doubleValue
        default: throw decodingError(Double.self, type)
        }
    }
}

// MARK: - UUID, Data

extension UUID: PostgresArrayElement {
    package static var postgresType: PostgresType { .uuid }
    package static var postgresArrayType: PostgresType { .uuidArray }
    package func encode(into buffer: inout [UInt8]) throws {
        withUnsafeBytes(of: uuid) { buffer.append(contentsOf: $0) }
    }
    package static func decode(from bytes: ArraySlice<UInt8>, type: PostgresType) throws -> UUID {
        if type.isTextLike, let uuid = UUID(uuidString: String(decoding: bytes, as: UTF8.self)) { return uuid }
        guard type == .uuid, bytes.count == 16 else { throw decodingError(UUID.self, type) }
        var raw: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &raw) { target in
            for (offset, byte) in bytes.enumerated() { target[offset] = byte }
        }
        return UUID(uuid: raw)
    }
}

extension Data: PostgresArrayElement {
    package static var postgresType: PostgresType { .bytea }
    package static var postgresArrayType: PostgresType { .byteaArray }
    package func encode(into buffer: inout [UInt8]) throws { buffer.append(contentsOf: self) }
    package static func decode(from bytes: ArraySlice<UInt8>, type: PostgresType) throws -> Data {
        guard type == .bytea else { throw decodingError(Data.self, type) }
        return Data(bytes)
    }
}

// MARK: - Date (timestamptz)

/// Seconds from 2000-01-01 (PostgreSQL's epoch) to 2001-01-01 (Foundation's reference date).
private let postgresEpochOffset: Int64 = 31_622_400

extension Date: PostgresArrayElement {
    package static var postgresType: PostgresType { .timestamptz }
    package static var postgresArrayType: PostgresType { .timestamptzArray }
    /// Microseconds since 2000-01-01 UTC, rounded to the nearest microsecond.
    package func encode(into buffer: inout [UInt8]) throws {
        let interval = timeIntervalSinceReferenceDate
        guard interval.isFinite, abs(interval) < 9e12 else {
            throw DatabaseError(.decoding, message: "date is out of PostgreSQL's range")
        }
        let seconds = interval.rounded(.down)
        var micros = Int64(((interval - seconds) * 1_000_000).rounded())
        var wholeSeconds = Int64(seconds)
        if micros == 1_000_000 {
            wholeSeconds += 1
            micros = 0
        }
        buffer.appendBigEndian((wholeSeconds + postgresEpochOffset) * 1_000_000 + micros)
    }
    /// Reads `timestamptz`, `timestamp` (taken as UTC) and `date` (midnight UTC); ±infinity become
    /// `distantFuture`/`distantPast`.
    package static func decode(from bytes: ArraySlice<UInt8>, type: PostgresType) throws -> Date {
        var reader = PostgresByteReader(bytes)
        switch (type, bytes.count) {
        case (.timestamptz, 8), (.timestamp, 8):
            let micros = try reader.read(Int64.self)
            if micros == .max { return .distantFuture }
            if micros == .min { return .distantPast }
            let (seconds, fraction) = micros.quotientAndRemainder(dividingBy: 1_000_000)
            return Date(
                timeIntervalSinceReferenceDate: Double(seconds - postgresEpochOffset) + Double(fraction) / 1_000_000
            )
        case (.date, 4):
            let days = try reader.read(Int32.self)
            if days == .max { return .distantFuture }
            if days == .min { return .distantPast }
            return Date(timeIntervalSinceReferenceDate: Double(Int64(days) * 86_400 - postgresEpochOffset))
        default:
            throw decodingError(Date.self, type)
        }
    }
}

// MARK: - Arrays

extension Array: PostgresEncodable where Element: PostgresArrayElement {
    /// `text[]`, `int8[]`, `uuid[]`, … after the element type.
    package static var postgresType: PostgresType { Element.postgresArrayType }
    /// One dimension, lower bound 1; `NULL` elements are written when the element is an optional that is `nil`.
    package func encode(into buffer: inout [UInt8]) throws {
        buffer.appendBigEndian(Int32(isEmpty ? 0 : 1))
        buffer.appendBigEndian(Int32(contains { $0.isPostgresNull } ? 1 : 0))
        buffer.appendBigEndian(Element.postgresType.rawValue)
        guard !isEmpty else { return }
        buffer.appendBigEndian(Int32(count))
        buffer.appendBigEndian(Int32(1))
        for element in self {
            if element.isPostgresNull {
                buffer.appendBigEndian(Int32(-1))
                continue
            }
            let lengthOffset = buffer.count
            buffer.appendBigEndian(Int32(0))
            try element.encode(into: &buffer)
            buffer.writeBigEndian(Int32(buffer.count - lengthOffset - 4), at: lengthOffset)
        }
    }
}

extension Array: PostgresDecodable where Element: PostgresArrayElement {
    /// Reads a one-dimensional array (or an empty one); a `NULL` element fails with ``DatabaseError/Code/decoding``.
    package static func decode(from bytes: ArraySlice<UInt8>, type: PostgresType) throws -> [Element] {
        var reader = PostgresByteReader(bytes)
        let dimensions = try reader.read(Int32.self)
        _ = try reader.read(Int32.self)  // has-nulls flag; NULLs are detected per element
        let elementType = PostgresType(rawValue: try reader.read(UInt32.self))
        if dimensions == 0 { return [] }
        guard dimensions == 1 else {
            throw DatabaseError(.decoding, message: "only one-dimensional arrays can be decoded")
        }
        let count = Int(try reader.read(Int32.self))
        _ = try reader.read(Int32.self)  // lower bound
        var result: [Element] = []
        result.reserveCapacity(count)
        for _ in 0..<count {
            let length = Int(try reader.read(Int32.self))
            guard length >= 0 else {
                throw DatabaseError(.decoding, message: "array element is NULL but \(Element.self) is not optional")
            }
            result.append(try Element.decode(from: try reader.readBytes(length), type: elementType))
        }
        return result
    }
}
