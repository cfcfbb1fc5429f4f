/// The one error type of the `Database` module.
///
/// `description` carries the code, the SQLSTATE and the server's primary message only: never SQL text, bind
/// values, passwords or the connection URL, so it is safe to log and to return in problem+json details.
package struct DatabaseError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, coarse enough to decide what to do (retry, 409, 503, …).
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The stable name of the code, e.g. `uniqueViolation`.
        package let name: String
        private init(_ name: String) { self.name = name }

        /// The connection could not be established (bad URL, server down, authentication failed).
        package static let connectionFailed = Code("connectionFailed")
        /// An established connection broke (backend terminated, network loss); the connection is discarded.
        package static let connectionLost = Code("connectionLost")
        /// The server rejected the statement for any other reason; see `sqlState`.
        package static let queryFailed = Code("queryFailed")
        /// SQLSTATE 23505.
        package static let uniqueViolation = Code("uniqueViolation")
        /// SQLSTATE 23503.
        package static let foreignKeyViolation = Code("foreignKeyViolation")
        /// SQLSTATE 40001 or 40P01 (deadlock): retrying the whole transaction may succeed.
        package static let serializationFailure = Code("serializationFailure")
        /// The statement ran longer than `statement_timeout` (SQLSTATE 57014 not caused by us) or `lock_timeout`.
        package static let timeout = Code("timeout")
        /// The calling Swift task was cancelled; a running statement was cancelled with `PQcancel`.
        package static let cancelled = Code("cancelled")
        /// The pool is shut down.
        package static let poolClosed = Code("poolClosed")
        /// No pooled connection became free within `acquireTimeout`, or too many callers were already waiting.
        package static let poolTimeout = Code("poolTimeout")
        /// A value could not be converted between PostgreSQL and Swift (wrong type, NULL into non-optional, …).
        package static let decoding = Code("decoding")
        /// A migration could not be loaded or applied, or an applied migration was changed.
        package static let migration = Code("migration")

        /// The name of the code.
        package var description: String { name }
    }

    /// What went wrong.
    package var code: Code
    /// The SQLSTATE reported by the server, if the server reported the error.
    package var sqlState: String?
    /// The server's primary message (or a short message of our own); never SQL or bind values.
    package var message: String
    /// For ``DatabaseConnection/pipeline(_:)``: the index of the query that failed.
    package var queryIndex: Int?

    /// Creates an error.
    package init(_ code: Code, sqlState: String? = nil, message: String, queryIndex: Int? = nil) {
        self.code = code
        self.sqlState = sqlState
        self.message = message
        self.queryIndex = queryIndex
    }

    /// `DatabaseError(uniqueViolation, sqlState: 23505): duplicate key value violates unique constraint "x"`.
    package var description: String {
        var text = "DatabaseError(\(code)"
        if let sqlState { text += ", sqlState: \(sqlState)" }
        if let queryIndex { text += ", queryIndex: \(queryIndex)" }
        return text + "): " + message
    }

    /// Whether the error means the database cannot be reached or is overloaded, rather than that the statement
    /// or its data are wrong: the same work may succeed later (HTTP 503 with `Retry-After`; an inbox consumer holds
    /// its batch and retries instead of dead-lettering it).
    package var isUnavailable: Bool {
        code == .connectionFailed || code == .connectionLost || code == .poolClosed || code == .poolTimeout
    }

    /// Maps a SQLSTATE to a code; `cancelledByUs` tells a statement cancelled by `PQcancel` apart from a timeout.
    static func code(forSQLState state: String?, cancelledByUs: Bool) -> Code {
        guard let state else { return .queryFailed }
        switch state {
        case "23505": return .uniqueViolation
        case "23503": return .foreignKeyViolation
        case "40001", "40P01": return .serializationFailure
        case "57014": return cancelledByUs ? .cancelled : .timeout
        case "55P03": return .timeout
        case "57P01", "57P02", "57P03", "25P03": return .connectionLost
        default:
            return state.hasPrefix("08") ? .connectionLost : .queryFailed
        }
    }
}
