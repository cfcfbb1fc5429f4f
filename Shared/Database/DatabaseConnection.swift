import CLibPQ
import Dispatch
import Foundation
import Logging
import Synchronization

/// One libpq connection (`PGconn`) with its own serial dispatch queue.
///
/// Every libpq call on the connection runs on that queue, never on Swift's cooperative thread pool, so blocking
/// network I/O does not starve other tasks, and the `PGconn` is never used by two threads at once. Calls from
/// Swift suspend until the queue has done the work. Cancelling the calling task cancels the running statement
/// with `PQcancel`, and the call throws ``DatabaseError/Code/cancelled``.
///
/// Use a connection from one task at a time (the pool guarantees this); concurrent calls are queued, not mixed.
///
/// `@unchecked Sendable`: the mutable `handle` is only touched on `queue` (or in `deinit`, when nobody else holds
/// the object); the cached state the pool reads is behind a lock.
package final class DatabaseConnection: @unchecked Sendable {
    /// The queue all libpq calls of this connection run on.
    private let queue: DispatchQueue
    /// The `PGconn`; only touched on `queue`.
    private var handle: OpaquePointer?
    /// The `PGcancel` for this connection; only touched on `queue` (a running ``CancelToken`` holds its own
    /// reference).
    private var cancelHandle: CancelHandle?
    /// Statements prepared on this session, by text and parameter types; only touched on `queue`.
    var prepared: [PreparedKey: String] = [:]
    /// How many statements this session has prepared (names are never reused); only touched on `queue`.
    var preparedCount = 0
    /// When the session's prepared statements were last dropped (see ``preparedLifetime``); only touched on `queue`.
    var preparedSince = ContinuousClock.now
    /// The client-side deadline of each operation (``DatabaseConfiguration/operationDeadline``).
    private let operationDeadline: Duration
    /// State the pool reads between operations, updated on `queue` after each one.
    private let health = Mutex(Health())
    let logger: Logger

    /// What the pool needs to know to reuse or discard a connection.
    struct Health {
        var broken = false
        var inTransaction = false
        var closed = false
        var lastUsed = ContinuousClock.now
    }

    private init(logger: Logger, operationDeadline: Duration) {
        self.queue = DispatchQueue(label: "asnreward.database.connection")
        self.logger = logger
        self.operationDeadline = operationDeadline
    }

    deinit {
        if let handle { PQfinish(handle) }
    }

    /// Opens a connection, runs `body` with it and closes it, whether `body` returns or throws (for tools and
    /// tests that need one session, not a pool).
    package static func using<T: Sendable>(
        configuration: DatabaseConfiguration, logger: Logger, _ body: (DatabaseConnection) async throws -> T
    ) async throws -> T {
        let connection = try await connect(configuration: configuration, logger: logger)
        do {
            let result = try await body(connection)
            await connection.close()
            return result
        } catch {
            await connection.close()
            throw error
        }
    }

    /// Opens a connection, sets `statement_timeout`, `plan_cache_mode` and `application_name`.
    ///
    /// Throws ``DatabaseError/Code/connectionFailed`` with libpq's message, with the URL and password removed.
    package static func connect(configuration: DatabaseConfiguration, logger: Logger) async throws
        -> DatabaseConnection
    {
        let connection = DatabaseConnection(logger: logger, operationDeadline: configuration.operationDeadline)
        try await connection.onQueue { try connection.open(configuration) }
        logger.debug("database connection opened", metadata: ["application": "\(configuration.applicationName)"])
        return connection
    }

    /// Runs on `queue`: connects and configures the session.
    private func open(_ configuration: DatabaseConfiguration) throws {
        let timeoutSeconds = max(1, (configuration.connectTimeout.wholeMilliseconds + 999) / 1000)
        let keepaliveIdle = max(1, (configuration.keepaliveIdle.wholeMilliseconds + 999) / 1000)
        // Keepalives and tcp_user_timeout notice a server that vanished from the network (no FIN, no RST): without
        // them a connection waits for an answer forever. The operation deadline covers a server that is reachable
        // but frozen. These come before dbname so that values in the URL override them; application_name comes
        // after, so ours wins.
        let keywords = [
            "connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count",
            "tcp_user_timeout", "dbname", "application_name",
        ]
        let values = [
            "\(timeoutSeconds)", "1", "\(keepaliveIdle)", "\(max(1, keepaliveIdle / 3))", "3",
            "\(configuration.operationDeadline.wholeMilliseconds)", configuration.url, configuration.applicationName,
        ]
        let connection = withCStrings(keywords) { keywordPointers in
            withCStrings(values) { valuePointers in
                PQconnectdbParams(keywordPointers, valuePointers, 1)
            }
        }
        guard let connection else {
            throw DatabaseError(.connectionFailed, message: "libpq could not allocate a connection")
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = redact(connectionErrorMessage(connection), url: configuration.url)
            PQfinish(connection)
            throw DatabaseError(.connectionFailed, message: message)
        }
        handle = connection
        // Route server notices (e.g. "there is no transaction in progress") to the logger instead of stderr. The
        // receiver's argument is this object, which outlives the PGconn (deinit finishes it first).
        PQsetNoticeReceiver(
            connection,
            { argument, result in
                guard let argument, let result else { return }
                let connection = Unmanaged<DatabaseConnection>.fromOpaque(argument).takeUnretainedValue()
                let message = PQresultErrorField(result, Int32(UInt8(ascii: "M"))).map { String(cString: $0) } ?? ""
                connection.logger.debug("database notice", metadata: ["notice": "\(message)"])
            },
            Unmanaged.passUnretained(self).toOpaque())
        let timeout = configuration.statementTimeout.wholeMilliseconds
        let planCacheMode =
            ["auto", "force_generic_plan", "force_custom_plan"].contains(configuration.planCacheMode)
            ? configuration.planCacheMode : "auto"
        let setup = PQexec(
            connection, "SET statement_timeout = \(timeout); SET plan_cache_mode = \(planCacheMode)")
        defer { PQclear(setup) }
        guard let setup, PQresultStatus(setup) == PGRES_COMMAND_OK else {
            let error = makeError(setup, connection: connection, token: nil)
            PQfinish(connection)
            handle = nil
            throw DatabaseError(.connectionFailed, sqlState: error.sqlState, message: error.message)
        }
        cancelHandle = CancelHandle(connection: connection)
    }

    // MARK: - Queries

    /// Runs one parameterised statement and returns its rows (binary format).
    ///
    /// The statement is prepared once per connection (`PQprepare` under a name of its own, then `PQexecPrepared`),
    /// so the server parses and plans each distinct SQL text once per session, as pgbench `-M prepared` does; the
    /// first ``preparedStatementLimit`` distinct texts are kept, any further ones run with `PQexecParams`.
    @discardableResult
    package func query(_ query: SQLQuery) async throws -> QueryResult {
        let binds = try EncodedBinds(query.binds)
        let sql = query.sql
        return try await perform(cancellable: true) { connection, token in
            self.refreshPlansIfDue(connection)
            let key = PreparedKey(sql: sql, types: binds.types)
            guard let name = try self.preparedName(for: key, connection: connection, token: token) else {
                let result = binds.withCArrays { values, lengths, formats, types in
                    PQexecParams(connection, sql, Int32(binds.count), types, values, lengths, formats, 1)
                }
                return try self.consume(result, connection: connection, token: token)
            }
            let result = binds.withCArrays { values, lengths, formats, _ in
                PQexecPrepared(connection, name, Int32(binds.count), values, lengths, formats, 1)
            }
            do {
                return try self.consume(result, connection: connection, token: token)
            } catch let error as DatabaseError where error.sqlState == "0A000" || error.sqlState == "26000" {
                // The schema changed under a cached plan, or the statement is gone (DISCARD): prepare afresh next time.
                self.prepared[key] = nil
                throw error
            }
        }
    }

    /// The most distinct statements a connection keeps prepared.
    static let preparedStatementLimit = 256

    /// What identifies a prepared statement: its text and the types of its parameters.
    struct PreparedKey: Hashable {
        var sql: String
        var types: [UInt32]
    }

    /// How long this session keeps its prepared statements (and so their generic plans) before it prepares them
    /// afresh.
    ///
    /// A generic plan is made from the statistics of its first execution and kept until the server invalidates
    /// it (`ANALYZE`, DDL). On a table that was empty then (a fresh database, the first minute after a deploy) that
    /// plan is a sequential scan, and it stayed one while the table grew until autovacuum's analyze came round:
    /// a lookup by key took 14 ms instead of 0.4 ms in the bench's first run. Preparing again every 30 s bounds
    /// that at the cost of one `DEALLOCATE ALL` and a few re-prepares per connection every 30 s.
    static let preparedLifetime: Duration = .seconds(30)

    /// Drops the session's prepared statements once they are ``preparedLifetime`` old, between transactions only
    /// (`DEALLOCATE` in an aborted transaction fails). Runs on the queue.
    func refreshPlansIfDue(_ connection: OpaquePointer) {
        let now = ContinuousClock.now
        guard !prepared.isEmpty, now - preparedSince >= Self.preparedLifetime,
            PQtransactionStatus(connection) == PQTRANS_IDLE
        else { return }
        let result = PQexec(connection, "DEALLOCATE ALL")
        let ok = PQresultStatus(result) == PGRES_COMMAND_OK
        PQclear(result)
        guard ok else { return }
        prepared.removeAll(keepingCapacity: true)
        preparedSince = now
    }

    /// The name `key` is prepared under on this connection, preparing it first if needed; `nil` once the limit is
    /// reached. Runs on the queue.
    private func preparedName(for key: PreparedKey, connection: OpaquePointer, token: CancelToken) throws -> String? {
        if let name = prepared[key] { return name }
        guard prepared.count < Self.preparedStatementLimit else { return nil }
        preparedCount += 1
        let name = "asnreward_\(preparedCount)"
        let result = key.types.withUnsafeBufferPointer { types in
            PQprepare(connection, name, key.sql, Int32(types.count), types.baseAddress)
        }
        _ = try consume(result, connection: connection, token: token)
        prepared[key] = name
        return name
    }

    /// Runs SQL text with the simple query protocol (`PQexec`): no parameters, several statements allowed
    /// (migrations). Never build the text from user input. `deadline` replaces the operation deadline for a
    /// statement known to run longer (a migration, after `SET LOCAL statement_timeout`).
    package func execute(unsafeSQL sql: String, deadline: Duration? = nil) async throws {
        _ = try await perform(cancellable: true, deadline: deadline) { connection, token in
            try self.consume(PQexec(connection, sql), connection: connection, token: token)
        }
    }

    /// Runs a fixed statement regardless of task cancellation (COMMIT, ROLLBACK after an error).
    func executeUncancellable(_ sql: String) async throws -> QueryResult {
        try await perform(cancellable: false) { connection, token in
            try self.consume(PQexec(connection, sql), connection: connection, token: token)
        }
    }

    /// Checks a result, copies it out and clears it.
    func consume(_ result: OpaquePointer?, connection: OpaquePointer, token: CancelToken) throws -> QueryResult {
        defer { PQclear(result) }
        guard let result else { throw makeError(nil, connection: connection, token: token) }
        switch PQresultStatus(result) {
        case PGRES_TUPLES_OK, PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return QueryResult(copying: result)
        case PGRES_COPY_IN, PGRES_COPY_OUT, PGRES_COPY_BOTH:
            // A COPY started through query(); end it so the connection stays usable.
            _ = PQputCopyEnd(connection, "COPY is only supported through copyIn")
            while let next = PQgetResult(connection) { PQclear(next) }
            throw DatabaseError(.queryFailed, message: "COPY is only supported through copyIn")
        default:
            throw makeError(result, connection: connection, token: token)
        }
    }

    /// Builds the error for a failed result (or a missing one), without SQL or values.
    func makeError(_ result: OpaquePointer?, connection: OpaquePointer, token: CancelToken?) -> DatabaseError {
        let broken = PQstatus(connection) == CONNECTION_BAD
        guard let result else {
            return DatabaseError(broken ? .connectionLost : .queryFailed, message: connectionErrorMessage(connection))
        }
        let sqlState = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
        let message =
            PQresultErrorField(result, Int32(UInt8(ascii: "M"))).map { String(cString: $0) }
            ?? firstLine(String(cString: PQresultErrorMessage(result)))
        var code = DatabaseError.code(forSQLState: sqlState, cancelledByUs: token?.wasCancelled ?? false)
        if broken { code = .connectionLost }
        return DatabaseError(code, sqlState: sqlState, message: message)
    }

    // MARK: - Lifecycle

    /// Closes the connection; later calls fail with ``DatabaseError/Code/connectionLost``.
    package func close() async {
        try? await onQueue {
            if let handle = self.handle { PQfinish(handle) }
            self.cancelHandle = nil
            self.handle = nil
            self.health.withLock { $0.closed = true }
        }
    }

    /// Whether the connection broke or was closed; a pool discards such a connection.
    var isBroken: Bool { health.withLock { $0.broken || $0.closed } }
    /// Whether the last statement left a transaction open (or failed).
    var isInTransaction: Bool { health.withLock { $0.inTransaction } }
    /// When the connection last finished an operation.
    var lastUsed: ContinuousClock.Instant { health.withLock { $0.lastUsed } }

    /// Reads whatever the server sent while the connection was idle (e.g. a termination notice) without
    /// blocking, and reports whether the connection is still good.
    func checkAlive() async -> Bool {
        let alive = try? await onQueue { () -> Bool in
            guard let handle = self.handle else { return false }
            // The first read may return the server's termination notice; the next one sees end-of-file.
            for _ in 0..<2 where PQconsumeInput(handle) == 1 {}
            _ = PQisBusy(handle)  // parses what arrived
            let alive = PQstatus(handle) == CONNECTION_OK
            if !alive { self.health.withLock { $0.broken = true } }
            return alive
        }
        return alive ?? false
    }

    // MARK: - Running on the queue

    /// Runs `work` on the queue; without `cancellable`, task cancellation is ignored.
    ///
    /// Every operation has a deadline (`deadline`, by default ``DatabaseConfiguration/operationDeadline``): if the
    /// server has not answered by then, the socket is shut down, the call throws
    /// ``DatabaseError/Code/connectionLost`` and the connection is marked broken (the pool discards it).
    func perform<T: Sendable>(
        cancellable: Bool,
        deadline: Duration? = nil,
        _ work: @escaping @Sendable (OpaquePointer, CancelToken) throws -> T
    ) async throws -> T {
        let token = CancelToken()
        let limit = deadline ?? operationDeadline
        let operation: @Sendable () async throws -> T = {
            try await self.onQueue {
                guard let handle = self.handle else {
                    throw DatabaseError(.connectionLost, message: "the connection is closed")
                }
                guard token.start(cancelHandle: cancellable ? self.cancelHandle : nil, socket: PQsocket(handle)) else {
                    throw DatabaseError(.cancelled, message: "the task was cancelled")
                }
                let watch = DeadlineWatch.shared.watch(token, for: limit)
                defer {
                    DeadlineWatch.shared.unwatch(watch)
                    token.finish()
                    let broken = token.hasExpired || PQstatus(handle) != CONNECTION_OK
                    let inTransaction = PQtransactionStatus(handle) != PQTRANS_IDLE
                    self.health.withLock {
                        $0.broken = broken
                        $0.inTransaction = inTransaction
                        $0.lastUsed = .now
                    }
                }
                do {
                    return try work(handle, token)
                } catch {
                    guard token.hasExpired else { throw error }
                    throw DatabaseError(
                        .connectionLost,
                        message: "the database did not answer within \(limit); the connection was abandoned")
                }
            }
        }
        guard cancellable else { return try await operation() }
        if Task.isCancelled { throw DatabaseError(.cancelled, message: "the task was cancelled") }
        return try await withTaskCancellationHandler(operation: operation, onCancel: { token.cancel() })
    }

    /// Runs `body` on the connection's queue and resumes the caller with its result.
    private func onQueue<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }

    /// Waits up to `timeout` for `NOTIFY` payloads on a connection that ran `LISTEN`.
    func waitForNotifications(timeout: Duration) async throws -> [String] {
        try await perform(cancellable: false, deadline: timeout + operationDeadline) { connection, _ in
            var payloads = Self.drainNotifications(connection)
            if !payloads.isEmpty { return payloads }
            let socket = PQsocket(connection)
            guard socket >= 0 else { throw DatabaseError(.connectionLost, message: "the connection has no socket") }
            var descriptor = pollfd(fd: socket, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, Int32(timeout.wholeMilliseconds))
            if ready > 0 {
                guard PQconsumeInput(connection) == 1 else {
                    throw DatabaseError(.connectionLost, message: connectionErrorMessage(connection))
                }
                payloads = Self.drainNotifications(connection)
            }
            guard PQstatus(connection) == CONNECTION_OK else {
                throw DatabaseError(.connectionLost, message: connectionErrorMessage(connection))
            }
            return payloads
        }
    }

    private static func drainNotifications(_ connection: OpaquePointer) -> [String] {
        var payloads: [String] = []
        while let notification = PQnotifies(connection) {
            payloads.append(String(cString: notification.pointee.extra))
            PQfreemem(notification)
        }
        return payloads
    }
}

/// A `PGcancel`, freed when its last user lets go: a cancel request sent from another thread may outlive the
/// connection's own reference (the connection closing meanwhile must not free it under `PQcancel`).
///
/// `@unchecked Sendable`: the pointer is immutable after creation, and `PQcancel` only reads it (libpq documents
/// it as safe to call from any thread, even a signal handler).
final class CancelHandle: @unchecked Sendable {
    private let pointer: OpaquePointer

    init?(connection: OpaquePointer) {
        guard let pointer = PQgetCancel(connection) else { return nil }
        self.pointer = pointer
    }

    deinit { PQfreeCancel(pointer) }

    /// Sends the cancel request (blocking: it opens a connection to the server and waits for it to close).
    func send() {
        var buffer = [CChar](repeating: 0, count: 256)
        _ = PQcancel(pointer, &buffer, Int32(buffer.count))
    }
}

/// Coordinates the end of one operation: `cancel()` from the task's cancellation handler, `expire()` from the
/// deadline watchdog, `start`/`finish` from the connection's queue.
///
/// Neither `cancel()` nor `expire()` ever blocks its caller: the cancel request (`PQcancel`, which connects to the
/// server and waits for it) runs on a thread of its own, so a frozen server cannot occupy a cooperative thread; the
/// deadline shuts the socket down (`shutdown(2)`, the descriptor stays open until libpq closes it), which makes
/// the blocked libpq call on the connection's queue return with a broken connection. Both act only while the
/// operation runs, under the lock, so the socket cannot be closed underneath them.
final class CancelToken: Sendable {
    private enum Phase { case pending, running, finished }
    private struct State {
        var phase = Phase.pending
        var cancelled = false
        var expired = false
        var cancelHandle: CancelHandle?
        var socket: Int32 = -1
    }
    private let state = Mutex(State())

    /// Marks the operation running on `socket`; false if it was cancelled before it started.
    func start(cancelHandle: CancelHandle?, socket: Int32) -> Bool {
        state.withLock { state in
            guard !state.cancelled else { return false }
            state.phase = .running
            state.cancelHandle = cancelHandle
            state.socket = socket
            return true
        }
    }

    func finish() {
        state.withLock { state in
            state.phase = .finished
            state.cancelHandle = nil
            state.socket = -1
        }
    }

    /// Whether `cancel()` was called; a "query canceled" error is then ours, not a statement timeout.
    var wasCancelled: Bool { state.withLock { $0.cancelled } }

    /// Whether the deadline passed while the operation ran (its connection is then unusable).
    var hasExpired: Bool { state.withLock { $0.expired } }

    /// Asks the server to cancel the running statement, from the cancel queue.
    func cancel() {
        state.withLock { state in
            guard state.phase != .finished else { return }
            state.cancelled = true
            if state.phase == .running, let handle = state.cancelHandle {
                // A thread of its own: `PQcancel` blocks until the server answers, and a frozen server (another
                // pool's, in tests) held the few threads a global concurrent queue gets on two cores, so a cancel
                // here waited behind it (seen: a cancelled 30 s statement ran to its end under the full suite).
                Thread.detachNewThread { handle.send() }
            }
        }
    }

    /// The deadline passed: abandons the connection by shutting its socket down.
    func expire() {
        state.withLock { state in
            guard state.phase == .running, !state.expired, state.socket >= 0 else { return }
            state.expired = true
            _ = shutdown(state.socket, Int32(SHUT_RDWR))
        }
    }
}

/// Fires the deadlines of running operations (``CancelToken/expire()``) from one timer per process that ticks only
/// while operations run, instead of one `asyncAfter` per operation: scheduling and cancelling a dispatch timer for
/// every statement woke libdispatch's manager thread twice per statement, 3–8 % of a service's CPU in the
/// end-to-end bench. A deadline fires up to ``tick`` late, which is nothing against deadlines of seconds.
final class DeadlineWatch: Sendable {
    /// The one watch of the process.
    static let shared = DeadlineWatch()
    /// How often running operations are checked.
    static let tick: Duration = .milliseconds(100)

    private struct State {
        var nextID: UInt64 = 0
        var running: [UInt64: (deadline: ContinuousClock.Instant, token: CancelToken)] = [:]
        var scheduled = false
    }
    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "asnreward.database.watchdog")

    /// Watches `token` until ``unwatch(_:)``; it expires once `limit` has passed.
    func watch(_ token: CancelToken, for limit: Duration) -> UInt64 {
        let deadline = ContinuousClock.now + limit
        let (id, schedule) = state.withLock { state -> (UInt64, Bool) in
            state.nextID &+= 1
            state.running[state.nextID] = (deadline, token)
            let schedule = !state.scheduled
            state.scheduled = true
            return (state.nextID, schedule)
        }
        if schedule { scheduleCheck() }
        return id
    }

    /// Stops watching (the operation finished).
    func unwatch(_ id: UInt64) {
        _ = state.withLock { $0.running.removeValue(forKey: id) }
    }

    private func scheduleCheck() {
        queue.asyncAfter(deadline: .now() + .milliseconds(Int(Self.tick.wholeMilliseconds))) { self.check() }
    }

    /// Expires the overdue operations; ticks again while any operation runs.
    private func check() {
        let now = ContinuousClock.now
        let (overdue, again) = state.withLock { state -> ([CancelToken], Bool) in
            var overdue: [CancelToken] = []
            for (id, entry) in state.running where entry.deadline <= now {
                overdue.append(entry.token)
                state.running[id] = nil
            }
            state.scheduled = !state.running.isEmpty
            return (overdue, state.scheduled)
        }
        for token in overdue { token.expire() }
        if again { scheduleCheck() }
    }
}

// MARK: - Helpers

/// libpq's connection error, first line only (the rest is hints about the server).
func connectionErrorMessage(_ connection: OpaquePointer) -> String {
    guard let text = PQerrorMessage(connection) else { return "unknown libpq error" }
    let message = firstLine(String(cString: text))
    return message.isEmpty ? "unknown libpq error" : message
}

func firstLine(_ text: String) -> String {
    String(text.split(separator: "\n", maxSplits: 1).first ?? "").trimmingCharacters(in: .whitespaces)
}

/// Removes the URL, its user-info part and the password from a libpq message.
func redact(_ message: String, url: String) -> String {
    var secrets = [url]
    if let scheme = url.range(of: "://"), let at = url[scheme.upperBound...].firstIndex(of: "@") {
        let userInfo = url[scheme.upperBound..<at]
        secrets.append(String(userInfo))
        if let colon = userInfo.firstIndex(of: ":") {
            let password = String(userInfo[userInfo.index(after: colon)...])
            secrets.append(password)
            secrets.append(password.removingPercentEncoding ?? password)
        }
    }
    var errorMessage: UnsafeMutablePointer<CChar>?
    if let options = PQconninfoParse(url, &errorMessage) {
        var option = options
        while let keyword = option.pointee.keyword {
            if String(cString: keyword) == "password", let value = option.pointee.val {
                secrets.append(String(cString: value))
            }
            option += 1
        }
        PQconninfoFree(options)
    }
    if let errorMessage { PQfreemem(errorMessage) }
    var result = message
    for secret in secrets where secret.count >= 3 {
        result = result.replacingOccurrences(of: secret, with: "[redacted]")
    }
    return result
}

/// Calls `body` with a NULL-terminated array of C strings.
func withCStrings<T>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> T) -> T {
    let copies = strings.map { strdup($0) }
    defer { copies.forEach { free($0) } }
    let pointers = copies.map { UnsafePointer($0) } + [nil]
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

/// Quotes an identifier (`"my ""table"""`); a dotted name is quoted per part (`schema.table`).
func quoteQualifiedIdentifier(_ name: String) -> String {
    name.split(separator: ".", omittingEmptySubsequences: false).map { quoteIdentifier(String($0)) }
        .joined(separator: ".")
}

/// Quotes one identifier.
func quoteIdentifier(_ name: String) -> String {
    "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}
