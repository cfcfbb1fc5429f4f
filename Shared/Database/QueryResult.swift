import CLibPQ

/// The rows of one statement, copied out of libpq's `PGresult` so they can cross threads and outlive it.
///
/// A `RandomAccessCollection` of ``PostgresRow``; `rowsAffected` is the count from the command tag
/// (`INSERT 0 5` → 5, and the row count for `SELECT`).
package struct QueryResult: Sendable, RandomAccessCollection {
    /// How many rows the statement inserted, updated, deleted, selected or copied.
    package var rowsAffected: Int
    /// The command tag, e.g. `INSERT 0 1`, `COMMIT` or `ROLLBACK`.
    package var commandTag: String
    let storage: ResultStorage

    /// The column names, in order.
    package var columns: [String] { storage.columnNames }
    package var startIndex: Int { 0 }
    package var endIndex: Int { storage.rowCount }
    package subscript(position: Int) -> PostgresRow { PostgresRow(storage: storage, row: position) }

    /// An empty result (for statements that return nothing).
    init(rowsAffected: Int = 0) {
        self.rowsAffected = rowsAffected
        self.commandTag = ""
        self.storage = .empty
    }

    /// Copies `result` (status `PGRES_TUPLES_OK` or `PGRES_COMMAND_OK`); the caller still clears it.
    init(copying result: OpaquePointer) {
        self.rowsAffected = Int(String(cString: PQcmdTuples(result))) ?? 0
        self.commandTag = String(cString: PQcmdStatus(result))
        let rows = Int(PQntuples(result))
        let columns = Int(PQnfields(result))
        self.storage = columns == 0 ? .empty : ResultStorage(copying: result, rows: rows, columns: columns)
    }
}

/// The cells of a result, flattened: one byte buffer and an offset/length per cell.
///
/// Immutable after `init`, hence `Sendable`.
final class ResultStorage: Sendable {
    static let empty = ResultStorage()

    let rowCount: Int
    let columnNames: [String]
    let columnTypes: [PostgresType]
    let columnIndex: [String: Int]
    let bytes: [UInt8]
    /// For cell `row * columns + column`: start in `bytes`, or -1 for `NULL`.
    let offsets: [Int]
    let lengths: [Int]

    private init() {
        rowCount = 0
        columnNames = []
        columnTypes = []
        columnIndex = [:]
        bytes = []
        offsets = []
        lengths = []
    }

    init(copying result: OpaquePointer, rows: Int, columns: Int) {
        rowCount = rows
        var names: [String] = []
        var types: [PostgresType] = []
        var index: [String: Int] = [:]
        for column in 0..<columns {
            let name = String(cString: PQfname(result, Int32(column)))
            names.append(name)
            types.append(PostgresType(rawValue: PQftype(result, Int32(column))))
            if index[name] == nil { index[name] = column }
        }
        columnNames = names
        columnTypes = types
        columnIndex = index
        var bytes: [UInt8] = []
        var offsets: [Int] = []
        var lengths: [Int] = []
        offsets.reserveCapacity(rows * columns)
        lengths.reserveCapacity(rows * columns)
        for row in 0..<Int32(rows) {
            for column in 0..<Int32(columns) {
                if PQgetisnull(result, row, column) != 0 {
                    offsets.append(-1)
                    lengths.append(0)
                    continue
                }
                let length = Int(PQgetlength(result, row, column))
                offsets.append(bytes.count)
                lengths.append(length)
                if length > 0, let value = PQgetvalue(result, row, column) {
                    value.withMemoryRebound(to: UInt8.self, capacity: length) {
                        bytes.append(contentsOf: UnsafeBufferPointer(start: $0, count: length))
                    }
                }
            }
        }
        self.bytes = bytes
        self.offsets = offsets
        self.lengths = lengths
    }
}

/// One row of a ``QueryResult``; decode columns by name or position.
package struct PostgresRow: Sendable {
    let storage: ResultStorage
    let row: Int

    /// The column names of the row.
    package var columns: [String] { storage.columnNames }

    /// Decodes a non-NULL column; a NULL or an unknown column throws ``DatabaseError/Code/decoding``.
    package func decode<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws -> T {
        try decode(try index(of: column), as: type)
    }

    /// Decodes a column that may be NULL (→ `nil`).
    package func decode<T: PostgresDecodable>(_ column: String, as type: T?.Type) throws -> T? {
        try decode(try index(of: column), as: type)
    }

    /// Decodes a non-NULL column by position (0-based).
    package func decode<T: PostgresDecodable>(_ index: Int, as type: T.Type = T.self) throws -> T {
        guard let value = try decode(index, as: T?.self) else {
            throw DatabaseError(
                .decoding,
                message: "column \"\(storage.columnNames[index])\" is NULL but \(T.self) is not optional"
            )
        }
        return value
    }

    /// Decodes a column that may be NULL by position (0-based).
    package func decode<T: PostgresDecodable>(_ index: Int, as type: T?.Type) throws -> T? {
        let columns = storage.columnNames.count
        guard index >= 0, index < columns else {
            throw DatabaseError(.decoding, message: "column index \(index) is out of range (\(columns) columns)")
        }
        let cell = row * columns + index
        let offset = storage.offsets[cell]
        if offset < 0 { return nil }
        do {
            return try T.decode(
                from: storage.bytes[offset..<offset + storage.lengths[cell]],
                type: storage.columnTypes[index]
            )
        } catch var error as DatabaseError {
            error.message = "column \"\(storage.columnNames[index])\": " + error.message
            throw error
        }
    }

    /// Whether the column is NULL.
    package func isNull(_ column: String) throws -> Bool {
        storage.offsets[row * storage.columnNames.count + (try index(of: column))] < 0
    }

    private func index(of column: String) throws -> Int {
        guard let index = storage.columnIndex[column] else {
            throw DatabaseError(.decoding, message: "no column named \"\(column)\"")
        }
        return index
    }
}
