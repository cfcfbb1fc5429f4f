import Dispatch
import Logging
import ServiceLifecycle
import Synchronization

/// A bounded pool of ``DatabaseConnection``s; a `Service` that closes them on graceful shutdown.
///
/// Connections are opened lazily, up to `configuration.poolSize`; callers beyond that wait in FIFO order, each for
/// at most `configuration.acquireTimeout` and at most `configuration.maxWaiters` at once (either limit fails the
/// caller with ``DatabaseError/Code/poolTimeout``, which services answer with 503 and `Retry-After`; a cancelled
/// waiter leaves the queue with ``DatabaseError/Code/cancelled``). A connection that broke
/// (`CONNECTION_BAD`, e.g. after `pg_terminate_backend`) is discarded when returned, and its slot is reopened for
/// the next caller; an idle connection is checked for a termination notice before it is handed out again. A
/// connection returned with an open transaction is rolled back first.
package final class DatabasePool: Service, Sendable {
    /// The configuration the connections are opened with.
    package let configuration: DatabaseConfiguration
    private let logger: Logger
    private let state = Mutex(State())

    private struct State {
        var idle: [DatabaseConnection] = []
        /// Open connections plus slots being opened.
        var open = 0
        var waiters: [(id: Int, continuation: CheckedContinuation<Lease, any Error>)] = []
        var nextWaiterID = 0
        var closed = false
    }

    /// What a caller gets: a ready connection, or the right to open one.
    private enum Lease: Sendable {
        case connection(DatabaseConnection)
        case slot
    }

    /// Creates a pool; no connection is opened until one is needed.
    package init(configuration: DatabaseConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Keeps the pool alive until graceful shutdown (or cancellation), then closes it.
    package func run() async throws {
        try? await gracefulShutdown()
        await close()
    }

    /// Closes idle connections, fails waiting callers with ``DatabaseError/Code/poolClosed``; connections in use
    /// are closed when they are returned. Later calls fail with `poolClosed`.
    package func close() async {
        let (idle, waiters) = state.withLock { state in
            state.closed = true
            defer {
                state.open -= state.idle.count
                state.idle = []
                state.waiters = []
            }
            return (state.idle, state.waiters)
        }
        for waiter in waiters {
            waiter.continuation.resume(throwing: DatabaseError(.poolClosed, message: "the database pool is closed"))
        }
        for connection in idle { await connection.close() }
    }

    /// Runs `body` with a connection of its own, returned to the pool afterwards (even if `body` throws).
    @discardableResult
    package func withConnection<T: Sendable>(_ body: (DatabaseConnection) async throws -> T) async throws -> T {
        let connection = try await lease()
        do {
            let result = try await body(connection)
            await release(connection)
            return result
        } catch {
            await release(connection)
            throw error
        }
    }

    /// Runs `body` inside `BEGIN` … `COMMIT`; if `body` throws, the transaction is rolled back and the error
    /// rethrown. `COMMIT` runs even if the task was cancelled after `body` finished. If an error inside `body`
    /// was caught and swallowed, the server turns `COMMIT` into `ROLLBACK`; that throws
    /// ``DatabaseError/Code/queryFailed`` rather than pretending success.
    @discardableResult
    package func withTransaction<T: Sendable>(_ body: (DatabaseConnection) async throws -> T) async throws -> T {
        try await withConnection { connection in
            try await connection.execute(unsafeSQL: "BEGIN")
            do {
                let result = try await body(connection)
                let commit = try await connection.executeUncancellable("COMMIT")
                guard commit.commandTag == "COMMIT" else {
                    throw DatabaseError(
                        .queryFailed, message: "the transaction was aborted by an earlier error and rolled back")
                }
                return result
            } catch {
                if !connection.isBroken, connection.isInTransaction {
                    _ = try? await connection.executeUncancellable("ROLLBACK")
                }
                throw error
            }
        }
    }

    /// Whether a connection can run `SELECT 1` (for readiness probes).
    ///
    /// Bounded by the pool's own limits (acquire timeout, connect timeout, operation deadline); `HealthRoutes`
    /// additionally answers "down" by its check timeout without waiting for a stalled probe.
    package func ping() async -> Bool {
        (try? await withConnection { try await $0.query("SELECT 1") }) != nil
    }

    // MARK: - Leasing

    private func lease() async throws -> DatabaseConnection {
        while true {
            switch try await acquire() {
            case .connection(let connection):
                // A connection idle for a while may have been terminated by the server meanwhile.
                if ContinuousClock.now - connection.lastUsed > .seconds(1), !(await connection.checkAlive()) {
                    logger.info("discarding a database connection that broke while idle")
                    await discard(connection)
                    continue
                }
                return connection
            case .slot:
                do {
                    return try await DatabaseConnection.connect(configuration: configuration, logger: logger)
                } catch {
                    freeSlot()
                    throw error
                }
            }
        }
    }

    private func acquire() async throws -> Lease {
        let immediate: Lease? = try state.withLock { state in
            if state.closed { throw DatabaseError(.poolClosed, message: "the database pool is closed") }
            if let connection = state.idle.popLast() { return .connection(connection) }
            if state.open < configuration.poolSize {
                state.open += 1
                return .slot
            }
            return nil
        }
        if let immediate { return immediate }
        let id = state.withLock { state in
            defer { state.nextWaiterID += 1 }
            return state.nextWaiterID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let error: DatabaseError? = state.withLock { state in
                    if state.closed { return DatabaseError(.poolClosed, message: "the database pool is closed") }
                    if Task.isCancelled { return DatabaseError(.cancelled, message: "the task was cancelled") }
                    // A connection may have come back between the first check and now.
                    if let connection = state.idle.popLast() {
                        continuation.resume(returning: .connection(connection))
                        return nil
                    }
                    if state.open < configuration.poolSize {
                        state.open += 1
                        continuation.resume(returning: .slot)
                        return nil
                    }
                    guard state.waiters.count < configuration.maxWaiters else {
                        return DatabaseError(
                            .poolTimeout,
                            message: "too many requests are waiting for a database connection"
                        )
                    }
                    state.waiters.append((id, continuation))
                    return nil
                }
                if let error {
                    continuation.resume(throwing: error)
                } else {
                    scheduleAcquireTimeout(waiterID: id)
                }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Lease, any Error>? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index).continuation
            }
            waiter?.resume(throwing: DatabaseError(.cancelled, message: "the task was cancelled"))
        }
    }

    /// Fails waiter `waiterID` with ``DatabaseError/Code/poolTimeout`` if it still waits after `acquireTimeout`.
    private func scheduleAcquireTimeout(waiterID: Int) {
        let timeout = configuration.acquireTimeout
        Self.timerQueue.asyncAfter(deadline: .now() + .milliseconds(Int(clamping: timeout.wholeMilliseconds))) {
            [self] in
            let waiter = state.withLock { state -> CheckedContinuation<Lease, any Error>? in
                guard let index = state.waiters.firstIndex(where: { $0.id == waiterID }) else { return nil }
                return state.waiters.remove(at: index).continuation
            }
            waiter?.resume(
                throwing: DatabaseError(.poolTimeout, message: "no database connection became free within \(timeout)"))
        }
    }

    /// Fires acquire timeouts.
    private static let timerQueue = DispatchQueue(label: "asnreward.database.pool-timer")

    private func release(_ connection: DatabaseConnection) async {
        if !connection.isBroken, connection.isInTransaction {
            _ = try? await connection.executeUncancellable("ROLLBACK")
        }
        if connection.isBroken || connection.isInTransaction {
            logger.info("discarding a broken database connection")
            await discard(connection)
            return
        }
        let (waiter, closed) = state.withLock { state -> (CheckedContinuation<Lease, any Error>?, Bool) in
            if state.closed { return (nil, true) }
            if !state.waiters.isEmpty { return (state.waiters.removeFirst().continuation, false) }
            state.idle.append(connection)
            return (nil, false)
        }
        if closed {
            await discard(connection)
        } else {
            waiter?.resume(returning: .connection(connection))
        }
    }

    private func discard(_ connection: DatabaseConnection) async {
        await connection.close()
        freeSlot()
    }

    /// Gives a freed slot to the first waiter (who opens a connection), or shrinks the pool.
    private func freeSlot() {
        let waiter = state.withLock { state -> CheckedContinuation<Lease, any Error>? in
            if !state.closed, !state.waiters.isEmpty { return state.waiters.removeFirst().continuation }
            state.open -= 1
            return nil
        }
        waiter?.resume(returning: .slot)
    }
}
