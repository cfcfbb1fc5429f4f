/// How to reach PostgreSQL and how the pool behaves.
///
/// `url` is a libpq connection URI (`postgres://user:pass@host:port/db?sslmode=disable`) and is passed to libpq
/// untouched; it is never logged nor put into an error.
package struct DatabaseConfiguration: Sendable {
    /// The libpq connection URI, including credentials.
    package var url: String
    /// The largest number of connections a ``DatabasePool`` opens.
    package var poolSize: Int
    /// Applied with `SET statement_timeout` on every new connection; a statement running longer fails with
    /// ``DatabaseError/Code/timeout``.
    package var statementTimeout: Duration
    /// Reported to the server as `application_name` (visible in `pg_stat_activity`).
    package var applicationName: String
    /// How long libpq waits for the server when connecting; a `connect_timeout` in `url` takes precedence.
    package var connectTimeout: Duration
    /// The client-side deadline of one operation (statement, pipeline, COPY, `COMMIT`): when the server has not
    /// answered by then (a frozen or unreachable server, which `statement_timeout` cannot catch), the connection's
    /// socket is shut down, the call fails with ``DatabaseError/Code/connectionLost`` and the pool discards the
    /// connection. Defaults to `statementTimeout` + 5 s, so a slow statement meets the server's timeout first.
    package var operationDeadline: Duration
    /// How long a caller waits for a pooled connection before it fails with ``DatabaseError/Code/poolTimeout``.
    package var acquireTimeout: Duration
    /// The most callers that may wait for a pooled connection at once; the next one fails at once with
    /// ``DatabaseError/Code/poolTimeout`` instead of joining an unbounded queue.
    package var maxWaiters: Int
    /// TCP keepalive idle time; with `tcp_user_timeout` it detects a peer that vanished from the network.
    package var keepaliveIdle: Duration
    /// Applied with `SET plan_cache_mode` on every new connection (`auto`, `force_generic_plan` or
    /// `force_custom_plan`).
    ///
    /// The default, `force_generic_plan`, plans each prepared statement once per session. Under `auto` the server
    /// plans the hot batch statements (`… FROM unnest($1::uuid[], …)`) afresh on every execution, because their
    /// custom plans look cheaper than the generic one: planning was 13 % of PostgreSQL's CPU in the end-to-end
    /// bench. The statements here look rows up by key or by an index prefix, where a generic plan is the same plan.
    package var planCacheMode: String

    /// Creates a configuration; only `url` is required.
    package init(
        url: String,
        poolSize: Int = 4,
        statementTimeout: Duration = .seconds(30),
        applicationName: String = "asnreward",
        connectTimeout: Duration = .seconds(10),
        operationDeadline: Duration? = nil,
        acquireTimeout: Duration = .seconds(30),
        maxWaiters: Int = 1000,
        keepaliveIdle: Duration = .seconds(10),
        planCacheMode: String = "force_generic_plan"
    ) {
        self.url = url
        self.poolSize = max(1, poolSize)
        self.statementTimeout = statementTimeout
        self.applicationName = applicationName
        self.connectTimeout = connectTimeout
        self.operationDeadline = operationDeadline ?? statementTimeout + .seconds(5)
        self.acquireTimeout = acquireTimeout
        self.maxWaiters = max(0, maxWaiters)
        self.keepaliveIdle = keepaliveIdle
        self.planCacheMode = planCacheMode
    }
}

extension DatabaseConfiguration: CustomStringConvertible {
    /// Describes the configuration without the URL, which carries the password.
    package var description: String {
        "DatabaseConfiguration(poolSize: \(poolSize), statementTimeout: \(statementTimeout), "
            + "operationDeadline: \(operationDeadline), acquireTimeout: \(acquireTimeout), "
            + "applicationName: \(applicationName))"
    }
}

extension Duration {
    /// The duration in whole milliseconds, rounded up so that a small non-zero timeout never becomes 0 (= off).
    var wholeMilliseconds: Int64 {
        let (seconds, attoseconds) = components
        let millis = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        let rest = attoseconds % 1_000_000_000_000_000
        return rest > 0 ? millis + 1 : millis
    }
}

extension DatabaseConfiguration {
    /// The options every service database is created with (`CREATE DATABASE name <options>`; `deploy/dev` and
    /// `deploy/postgres/service-database.sql` say the same): UTF-8, with the `C` collation for comparisons and
    /// `C.UTF-8` for character classes. PostgreSQL compares text in a `C` database with `memcmp`, but in any other
    /// (`C.UTF-8` included) through `strcoll` with a copy of both strings; the btree indexes on event ids, NIPs and
    /// codes are compared on every insert and lookup. The order is the same as `C.UTF-8`'s (code points).
    package static let createDatabaseOptions =
        "TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C.UTF-8'"
}
