/// A SQL statement with its bind values, written as a string interpolation.
///
/// ```swift
/// let query: SQLQuery = "SELECT * FROM \(unsafeSQL: table) WHERE nip = \(nip) AND x = \(optionalValue)"
/// // sql == "SELECT * FROM submissions WHERE nip = $1 AND x = $2", binds == [nip, optionalValue]
/// ```
/// Every interpolated value becomes a `$n` parameter; raw text only enters through `unsafeSQL:`.
package struct SQLQuery: ExpressibleByStringInterpolation, Sendable {
    /// The statement with `$1`, `$2`, … placeholders.
    package var sql: String
    /// The values for the placeholders, in order.
    package var binds: [any PostgresEncodable]

    /// A statement without parameters, from a string literal.
    package init(stringLiteral value: String) {
        self.sql = value
        self.binds = []
    }

    /// A statement built by interpolation.
    package init(stringInterpolation: StringInterpolation) {
        self.sql = stringInterpolation.sql
        self.binds = stringInterpolation.binds
    }

    /// A statement from text assembled at run time; the caller vouches that it contains no untrusted input.
    package init(unsafeSQL sql: String, binds: [any PostgresEncodable] = []) {
        self.sql = sql
        self.binds = binds
    }

    /// Collects literal text and binds while a ``SQLQuery`` literal is built.
    package struct StringInterpolation: StringInterpolationProtocol {
        var sql = ""
        var binds: [any PostgresEncodable] = []

        package init(literalCapacity: Int, interpolationCount: Int) {
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
            binds.reserveCapacity(interpolationCount)
        }

        /// Literal SQL text.
        package mutating func appendLiteral(_ literal: String) { sql += literal }

        /// A value, sent as the next `$n` parameter (optionals send `NULL`).
        package mutating func appendInterpolation<Value: PostgresEncodable>(_ value: Value) {
            binds.append(value)
            sql += "$\(binds.count)"
        }

        /// An optional value: `nil` is sent as a typed `NULL`.
        package mutating func appendInterpolation<Value: PostgresEncodable>(_ value: Value?) {
            binds.append(value)
            sql += "$\(binds.count)"
        }

        /// Raw SQL text (a table name, a fixed fragment); never pass user input here.
        package mutating func appendInterpolation(unsafeSQL text: String) { sql += text }
    }
}

/// Bind parameters encoded in binary format, laid out for `PQexecParams`/`PQsendQueryParams`.
struct EncodedBinds: Sendable {
    var types: [UInt32] = []
    /// All values back to back.
    var bytes: [UInt8] = []
    /// Start of each value in `bytes`, or -1 for `NULL`.
    var offsets: [Int] = []
    var lengths: [Int32] = []
    var count: Int { types.count }

    init(_ binds: [any PostgresEncodable]) throws {
        types.reserveCapacity(binds.count)
        offsets.reserveCapacity(binds.count)
        lengths.reserveCapacity(binds.count)
        for value in binds {
            types.append(value.postgresTypeOfValue.rawValue)
            if value.isPostgresNull {
                offsets.append(-1)
                lengths.append(0)
            } else {
                let start = bytes.count
                try value.encode(into: &bytes)
                offsets.append(start)
                lengths.append(Int32(bytes.count - start))
            }
        }
        // A trailing byte keeps the storage non-empty, so even an empty string gets a non-NULL pointer.
        bytes.append(0)
    }

    /// Calls `body` with the C arrays libpq expects: values, lengths, formats (all binary) and types.
    func withCArrays<T>(
        _ body: (
            UnsafePointer<UnsafePointer<CChar>?>?, UnsafePointer<Int32>?, UnsafePointer<Int32>?, UnsafePointer<UInt32>?
        ) throws -> T
    ) rethrows -> T {
        if count == 0 { return try body(nil, nil, nil, nil) }
        let formats = [Int32](repeating: 1, count: count)
        return try bytes.withUnsafeBufferPointer { storage in
            let base = UnsafeRawPointer(storage.baseAddress!)
            let pointers: [UnsafePointer<CChar>?] = offsets.map { offset in
                offset < 0 ? nil : (base + offset).assumingMemoryBound(to: CChar.self)
            }
            return try pointers.withUnsafeBufferPointer { values in
                try lengths.withUnsafeBufferPointer { lengths in
                    try formats.withUnsafeBufferPointer { formats in
                        try types.withUnsafeBufferPointer { types in
                            try body(values.baseAddress, lengths.baseAddress, formats.baseAddress, types.baseAddress)
                        }
                    }
                }
            }
        }
    }
}
