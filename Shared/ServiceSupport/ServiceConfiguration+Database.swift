import Database

extension ServiceConfiguration {
    /// The database settings of this service: ``databaseURL`` plus the client-side limits, each overridable from
    /// the environment (service-prefixed first, like every key).
    ///
    /// | key | default | what |
    /// |---|---|---|
    /// | `DATABASE_POOL_SIZE` | `poolSize` | connections of the shared pool |
    /// | `DATABASE_STATEMENT_TIMEOUT_MS` | 10 000 | server-side `statement_timeout` |
    /// | `DATABASE_DEADLINE_MS` | statement timeout + 5 000 | client-side deadline of one operation (frozen server) |
    /// | `DATABASE_ACQUIRE_TIMEOUT_MS` | 5 000 | longest wait for a pooled connection |
    /// | `DATABASE_CONNECT_TIMEOUT_MS` | 5 000 | longest wait to open a connection |
    /// | `DATABASE_PLAN_CACHE_MODE` | `force_generic_plan` | `plan_cache_mode` (`auto`, `force_generic_plan`, `force_custom_plan`) |
    ///
    /// - Throws: ``ConfigurationError`` when a key is present but not a positive integer.
    package func databaseConfiguration(poolSize: Int, applicationName: String) throws -> DatabaseConfiguration {
        func positive(_ key: String, default value: Int) throws -> Int {
            let number = try int(key, default: value)
            guard number > 0 else {
                throw ConfigurationError.invalid(key: key, reason: "harus lebih dari 0 (must be positive)")
            }
            return number
        }
        let statementMillis = try positive("DATABASE_STATEMENT_TIMEOUT_MS", default: 10_000)
        return DatabaseConfiguration(
            url: databaseURL,
            poolSize: try positive("DATABASE_POOL_SIZE", default: poolSize),
            statementTimeout: .milliseconds(statementMillis),
            applicationName: applicationName,
            connectTimeout: .milliseconds(try positive("DATABASE_CONNECT_TIMEOUT_MS", default: 5_000)),
            operationDeadline: .milliseconds(try positive("DATABASE_DEADLINE_MS", default: statementMillis + 5_000)),
            acquireTimeout: .milliseconds(try positive("DATABASE_ACQUIRE_TIMEOUT_MS", default: 5_000)),
            planCacheMode: try planCacheMode()
        )
    }

    /// `DATABASE_PLAN_CACHE_MODE`, checked against the values PostgreSQL knows.
    private func planCacheMode() throws -> String {
        let value = string("DATABASE_PLAN_CACHE_MODE", default: "force_generic_plan")
        guard ["auto", "force_generic_plan", "force_custom_plan"].contains(value) else {
            throw ConfigurationError.invalid(
                key: "DATABASE_PLAN_CACHE_MODE",
                reason: "harus auto, force_generic_plan atau force_custom_plan (must be one of these)")
        }
        return value
    }
}
