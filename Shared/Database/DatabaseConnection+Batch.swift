import CLibPQ

extension DatabaseConnection {
    /// Sends all `queries` in libpq pipeline mode (one `Sync`, one round trip) and returns one result per query.
    ///
    /// Error semantics: the queries run in order; if query *k* fails, the server skips the rest
    /// (`PGRES_PIPELINE_ABORTED`) and this throws query *k*'s error with `queryIndex == k`. Outside an explicit
    /// transaction the whole pipeline is one implicit transaction, so nothing of it commits; inside a transaction
    /// the transaction is aborted (``DatabasePool/withTransaction(_:)`` rolls it back). Either way it is
    /// all-or-nothing, unless the pipeline itself contains `BEGIN`/`COMMIT`.
    @discardableResult
    package func pipeline(_ queries: [SQLQuery]) async throws -> [QueryResult] {
        if queries.isEmpty { return [] }
        let statements = try queries.map { PipelineStatement(sql: $0.sql, binds: try EncodedBinds($0.binds)) }
        return try await perform(cancellable: true) { connection, token in
            self.refreshPlansIfDue(connection)
            return try self.runPipeline(statements, connection: connection, token: token)
        }
    }

    /// Writes `rows` with `COPY table (columns) FROM STDIN (FORMAT binary)` and returns the number of rows copied.
    ///
    /// Binary COPY does not cast: each value's Swift type must match its column's type exactly (`Int` for
    /// `bigint`, `Int32` for `integer`, `String` for `text`/`varchar`, …); a mismatch fails the whole COPY
    /// (nothing is written). `nil` writes `NULL`. `table` may be schema-qualified; names are quoted.
    package func copyIn(table: String, columns: [String], rows: [[(any PostgresEncodable)?]]) async throws -> Int {
        let sql =
            "COPY \(quoteQualifiedIdentifier(table)) (\(columns.map(quoteIdentifier).joined(separator: ", "))) "
            + "FROM STDIN (FORMAT binary)"
        let columnCount = columns.count
        return try await perform(cancellable: true) { connection, token in
            try self.runCopy(sql: sql, columnCount: columnCount, rows: rows, connection: connection, token: token)
        }
    }

    // MARK: - On the queue

    private func runPipeline(
        _ statements: [PipelineStatement],
        connection: OpaquePointer,
        token: CancelToken
    ) throws -> [QueryResult] {
        guard PQenterPipelineMode(connection) == 1 else {
            throw makeError(nil, connection: connection, token: token)
        }
        defer {
            if PQpipelineStatus(connection) != PQ_PIPELINE_OFF { _ = PQexitPipelineMode(connection) }
        }
        // Each statement runs as a named prepared statement of this session, prepared (inside the pipeline) the
        // first time its text and parameter types are seen, like ``query(_:)``: the server parses it once per
        // session and, with `plan_cache_mode = force_generic_plan`, plans it once. Beyond the session's limit of
        // prepared statements the rest run with `PQsendQueryParams`.
        var sent = 0
        var sendError: DatabaseError?
        var expected: [PipelineReply] = []
        expected.reserveCapacity(statements.count + 1)
        // Names prepared by this pipeline: cached once their prepare succeeded.
        var preparing: [PreparedKey: String] = [:]
        for (index, statement) in statements.enumerated() {
            let key = PreparedKey(sql: statement.sql, types: statement.binds.types)
            var name = prepared[key] ?? preparing[key]
            var accepted: Int32 = 1
            if name == nil, prepared.count + preparing.count < Self.preparedStatementLimit {
                preparedCount += 1
                let fresh = "asnreward_\(preparedCount)"
                accepted = statement.binds.types.withUnsafeBufferPointer { types in
                    PQsendPrepare(connection, fresh, statement.sql, Int32(types.count), types.baseAddress)
                }
                if accepted == 1 {
                    expected.append(.prepare(index, key: key, name: fresh))
                    preparing[key] = fresh
                    name = fresh
                }
            }
            if accepted == 1 {
                accepted = statement.binds.withCArrays { values, lengths, formats, types in
                    if let name {
                        return PQsendQueryPrepared(
                            connection, name, Int32(statement.binds.count), values, lengths, formats, 1)
                    }
                    return PQsendQueryParams(
                        connection, statement.sql, Int32(statement.binds.count), types, values, lengths, formats, 1)
                }
            }
            guard accepted == 1 else {
                sendError = makeError(nil, connection: connection, token: token)
                break
            }
            expected.append(.query(index, key: name == nil ? nil : key))
            sent += 1
        }
        guard PQpipelineSync(connection) == 1 else {
            throw sendError ?? makeError(nil, connection: connection, token: token)
        }

        var results: [QueryResult] = []
        results.reserveCapacity(sent)
        var firstError: DatabaseError?
        for reply in expected {
            // Each query's (and each prepare's) results end with a NULL from PQgetResult.
            var sawResult = false
            let index: Int
            switch reply {
            case .prepare(let query, _, _), .query(let query, _): index = query
            }
            while let result = PQgetResult(connection) {
                sawResult = true
                defer { PQclear(result) }
                switch PQresultStatus(result) {
                case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
                    switch reply {
                    case .query: results.append(QueryResult(copying: result))
                    case .prepare(_, let key, let name): prepared[key] = name
                    }
                case PGRES_PIPELINE_ABORTED:
                    break  // skipped because an earlier query failed
                default:
                    var error = makeError(result, connection: connection, token: token)
                    if case .query(_, let key?) = reply, error.sqlState == "0A000" || error.sqlState == "26000" {
                        // The schema changed under a cached plan, or the statement is gone: prepare afresh.
                        prepared[key] = nil
                    }
                    if firstError == nil {
                        error.queryIndex = index
                        firstError = error
                    }
                }
            }
            if !sawResult, PQstatus(connection) == CONNECTION_BAD {
                throw firstError ?? makeError(nil, connection: connection, token: token)
            }
        }
        // Then the sync point.
        var emptyReads = 0
        while true {
            guard let result = PQgetResult(connection) else {
                emptyReads += 1
                if PQstatus(connection) == CONNECTION_BAD || emptyReads > 2 {
                    throw firstError ?? makeError(nil, connection: connection, token: token)
                }
                continue
            }
            let status = PQresultStatus(result)
            PQclear(result)
            if status == PGRES_PIPELINE_SYNC { break }
        }
        if let error = sendError ?? firstError { throw error }
        return results
    }

    private func runCopy(
        sql: String,
        columnCount: Int,
        rows: [[(any PostgresEncodable)?]],
        connection: OpaquePointer,
        token: CancelToken
    ) throws -> Int {
        guard let start = PQexec(connection, sql) else { throw makeError(nil, connection: connection, token: token) }
        guard PQresultStatus(start) == PGRES_COPY_IN else {
            defer { PQclear(start) }
            throw makeError(start, connection: connection, token: token)
        }
        PQclear(start)

        // Binary COPY header: signature, flags, header extension length.
        var buffer: [UInt8] = Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00]
        buffer.appendBigEndian(Int32(0))
        buffer.appendBigEndian(Int32(0))
        buffer.reserveCapacity(Self.copyChunkSize + 4096)
        var clientError: DatabaseError?
        var sendFailed = false

        func flush() {
            guard !buffer.isEmpty, !sendFailed else { return }
            let status = buffer.withUnsafeBufferPointer { bytes in
                bytes.withMemoryRebound(to: CChar.self) { PQputCopyData(connection, $0.baseAddress, Int32($0.count)) }
            }
            if status != 1 { sendFailed = true }
            buffer.removeAll(keepingCapacity: true)
        }

        rows: for (rowIndex, row) in rows.enumerated() {
            guard row.count == columnCount else {
                clientError = DatabaseError(
                    .decoding, message: "COPY row \(rowIndex) has \(row.count) values for \(columnCount) columns")
                break
            }
            buffer.appendBigEndian(Int16(columnCount))
            for value in row {
                guard let value, !value.isPostgresNull else {
                    buffer.appendBigEndian(Int32(-1))
                    continue
                }
                let lengthOffset = buffer.count
                buffer.appendBigEndian(Int32(0))
                do {
                    try value.encode(into: &buffer)
                } catch {
                    clientError = (error as? DatabaseError) ?? DatabaseError(.decoding, message: "cannot encode value")
                    break rows
                }
                buffer.writeBigEndian(Int32(buffer.count - lengthOffset - 4), at: lengthOffset)
            }
            if buffer.count >= Self.copyChunkSize { flush() }
            if sendFailed { break }
        }
        if clientError == nil {
            buffer.appendBigEndian(Int16(-1))  // trailer
            flush()
        }
        // An error message makes the server abort the COPY: nothing is written.
        _ = PQputCopyEnd(connection, clientError == nil ? nil : "COPY aborted by the client")

        var copied = 0
        var serverError: DatabaseError?
        while let result = PQgetResult(connection) {
            defer { PQclear(result) }
            if PQresultStatus(result) == PGRES_COMMAND_OK {
                copied = QueryResult(copying: result).rowsAffected
            } else if serverError == nil {
                serverError = makeError(result, connection: connection, token: token)
            }
        }
        if let error = clientError ?? serverError { throw error }
        if sendFailed || PQstatus(connection) == CONNECTION_BAD {
            throw makeError(nil, connection: connection, token: token)
        }
        return copied
    }

    /// COPY data is sent in chunks of about this many bytes.
    private static var copyChunkSize: Int { 256 * 1024 }
}

/// What the server answers, in order: a prepare of the unnamed statement before query `n`, or query `n`.
private enum PipelineReply {
    /// The prepare of statement `index` under `name`.
    case prepare(Int, key: DatabaseConnection.PreparedKey, name: String)
    /// Statement `index`, run as the prepared statement `key` (`nil`: unnamed, with `PQsendQueryParams`).
    case query(Int, key: DatabaseConnection.PreparedKey?)
}

/// One statement of a pipeline with its encoded binds.
private struct PipelineStatement: Sendable {
    var sql: String
    var binds: EncodedBinds
}
