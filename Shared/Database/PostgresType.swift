/// A PostgreSQL type OID, as sent with bind parameters and reported for result columns.
package struct PostgresType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The OID from `pg_type`.
    package var rawValue: UInt32
    /// Wraps an OID.
    package init(rawValue: UInt32) { self.rawValue = rawValue }

    package static let bool = PostgresType(rawValue: 16)
    package static let bytea = PostgresType(rawValue: 17)
    package static let name = PostgresType(rawValue: 19)
    package static let int8 = PostgresType(rawValue: 20)
    package static let int2 = PostgresType(rawValue: 21)
    package static let int4 = PostgresType(rawValue: 23)
    package static let text = PostgresType(rawValue: 25)
    package static let oid = PostgresType(rawValue: 26)
    package static let json = PostgresType(rawValue: 114)
    package static let xml = PostgresType(rawValue: 142)
    package static let float4 = PostgresType(rawValue: 700)
    package static let float8 = PostgresType(rawValue: 701)
    package static let unknown = PostgresType(rawValue: 705)
    package static let boolArray = PostgresType(rawValue: 1000)
    package static let byteaArray = PostgresType(rawValue: 1001)
    package static let int2Array = PostgresType(rawValue: 1005)
    package static let int4Array = PostgresType(rawValue: 1007)
    package static let textArray = PostgresType(rawValue: 1009)
    package static let varcharArray = PostgresType(rawValue: 1015)
    package static let int8Array = PostgresType(rawValue: 1016)
    package static let float8Array = PostgresType(rawValue: 1022)
    package static let bpchar = PostgresType(rawValue: 1042)
    package static let varchar = PostgresType(rawValue: 1043)
    package static let date = PostgresType(rawValue: 1082)
    package static let timestamp = PostgresType(rawValue: 1114)
    package static let timestampArray = PostgresType(rawValue: 1115)
    package static let timestamptz = PostgresType(rawValue: 1184)
    package static let timestamptzArray = PostgresType(rawValue: 1185)
    package static let numericArray = PostgresType(rawValue: 1231)
    package static let numeric = PostgresType(rawValue: 1700)
    package static let uuid = PostgresType(rawValue: 2950)
    package static let uuidArray = PostgresType(rawValue: 2951)
    package static let jsonb = PostgresType(rawValue: 3802)

    /// The OID as a number.
    package var description: String { String(rawValue) }

    /// Whether values of this type are sent as their UTF-8 text in binary format too: the text family, plus
    /// user-defined types (enums, citext, domains over text) whose OIDs are beyond the built-in range.
    var isTextLike: Bool {
        switch self {
        case .text, .varchar, .bpchar, .name, .unknown, .json, .xml: return true
        default: return rawValue >= 16384
        }
    }
}

/// Reads big-endian binary values from a cell.
struct PostgresByteReader {
    private let bytes: ArraySlice<UInt8>
    private var index: Int

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        self.index = bytes.startIndex
    }

    var remaining: Int { bytes.endIndex - index }

    mutating func read<T: FixedWidthInteger>(_: T.Type = T.self) throws -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw DatabaseError(.decoding, message: "binary value is too short") }
        var value: T = 0
        for offset in 0..<size { value = value << 8 | T(truncatingIfNeeded: bytes[index + offset]) }
        index += size
        return value
    }

    mutating func readBytes(_ count: Int) throws -> ArraySlice<UInt8> {
        guard count >= 0, remaining >= count else {
            throw DatabaseError(.decoding, message: "binary value is too short")
        }
        defer { index += count }
        return bytes[index..<index + count]
    }
}

extension Array where Element == UInt8 {
    /// Appends an integer in network byte order.
    @inlinable
    mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.bigEndian) { append(contentsOf: $0) }
    }

    /// Overwrites 4 bytes at `offset` with `value` in network byte order (for length prefixes written afterwards).
    mutating func writeBigEndian(_ value: Int32, at offset: Int) {
        let bits = UInt32(bitPattern: value)
        self[offset] = UInt8(truncatingIfNeeded: bits >> 24)
        self[offset + 1] = UInt8(truncatingIfNeeded: bits >> 16)
        self[offset + 2] = UInt8(truncatingIfNeeded: bits >> 8)
        self[offset + 3] = UInt8(truncatingIfNeeded: bits)
    }
}
