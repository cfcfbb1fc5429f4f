import Database
import Foundation
import TestSupport

/// The processes of the running stack whose CPU time and memory the end-to-end bench reports.
struct StackProcesses: Sendable {
    /// Service name → pid (from `.run/pids/<service>.pid`, written by `deploy/dev up`).
    var services: [(name: String, pid: Int)]
    /// The PostgreSQL postmaster (its children are the backends and background workers).
    var postmaster: Int?
    /// RabbitMQ's `beam.smp`.
    var rabbit: Int?

    /// Finds the processes: services by their pid files under `root/.run/pids`, PostgreSQL by the `postmaster.pid`
    /// of the server's `data_directory`, RabbitMQ by `ASNREWARD_RABBIT_PID_FILE` (set by `deploy/dev bench`) or
    /// `root/.run/rabbitmq/rabbitmq.pid`.
    static func discover(root: String, admin: DatabaseConnection) async -> StackProcesses {
        var services: [(name: String, pid: Int)] = []
        for name in ["intake", "verification", "scoring", "notification"] {
            guard let pid = ProcessProbe.pid(fromFile: "\(root)/.run/pids/\(name).pid") else { continue }
            let command = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? ""
            guard name == "intake", command.hasPrefix("haproxy") else {
                services.append((name, pid))
                continue
            }
            // `deploy/dev up --intake N`: the pid file names the balancer; the processes are intake-1…intake-N.
            services.append(("haproxy", pid))
            for replica in 1...99 {
                guard let pid = ProcessProbe.pid(fromFile: "\(root)/.run/pids/intake-\(replica).pid") else { break }
                services.append(("intake-\(replica)", pid))
            }
        }
        return StackProcesses(
            services: services, postmaster: await ProcessProbe.postmaster(of: admin),
            rabbit: ProcessProbe.rabbit(root: root))
    }
}

/// Counters read before and after a run: CPU seconds per process, the machine's CPU, and PostgreSQL's activity per
/// database.
struct ResourceSnapshot: Sendable {
    /// Process label → CPU seconds (`postgres` is the whole server, `load-generator` is this process).
    var cpu: [String: Double]
    /// Machine busy CPU seconds since boot (all processes, other users' builds included).
    var machineBusy: Double
    /// Database → counters.
    var databases: [String: DatabaseCounters]
    /// WAL bytes written by the server since its statistics were reset (`pg_stat_wal`).
    var walBytes: Double
    /// When the CPU counters were read (seconds since 1970).
    var taken: Double
    /// `database:queryid` → the statement's cumulative figures (empty without `pg_stat_statements`).
    var statementTotals: [String: StatementTotals] = [:]

    /// One normalised statement's cumulative figures from `pg_stat_statements`.
    struct StatementTotals: Sendable {
        /// Database name.
        var database: String
        /// Executions.
        var calls: Int
        /// Time spent executing, in ms (`total_exec_time`: includes lock and I/O waits).
        var milliseconds: Double
        /// Rows returned or affected.
        var rows: Int
        /// The normalised text, whitespace collapsed, cut at 200 characters.
        var query: String
    }

    /// Per-database counters from `pg_stat_database` and `pg_stat_statements`.
    struct DatabaseCounters: Sendable {
        /// Committed transactions.
        var commits: Int
        /// Rolled back transactions.
        var rollbacks: Int
        /// Rows inserted + updated + deleted.
        var rowsWritten: Int
        /// Rows fetched by index scans (`tup_fetched`).
        var rowsFetched: Int
        /// Statements executed by roles other than the bench's own (`pg_stat_statements.calls`), if available.
        var statements: Int?
    }

    /// The databases the services own.
    static let serviceDatabases = ["intake", "verification", "scoring", "notification"]

    /// Whether `pg_stat_statements` is loaded and its view exists in the admin connection's database.
    static func statementsAvailable(_ admin: DatabaseConnection) async -> Bool {
        let rows = try? await admin.query(
            """
            SELECT count(*)::bigint AS n FROM pg_extension WHERE extname = 'pg_stat_statements'
            AND current_setting('shared_preload_libraries') LIKE '%pg_stat_statements%'
            """)
        return ((try? rows?.first?.decode("n", as: Int.self)) ?? 0) > 0
    }

    /// Reads every counter now.
    static func take(
        processes: StackProcesses, admin: DatabaseConnection, statements: Bool
    ) async throws -> ResourceSnapshot {
        var cpu: [String: Double] = [:]
        for (name, pid) in processes.services { cpu[name] = ProcessProbe.cpuSeconds(pid) }
        if let pid = processes.postmaster { cpu["postgres"] = ProcessProbe.treeCPUSeconds(pid) }
        if let pid = processes.rabbit { cpu["rabbitmq"] = ProcessProbe.cpuSeconds(pid) }
        cpu["load-generator"] = ProcessProbe.cpuSeconds(Int(ProcessInfo.processInfo.processIdentifier))
        let taken = Date().timeIntervalSince1970

        var databases: [String: DatabaseCounters] = [:]
        let rows = try await admin.query(
            """
            SELECT datname::text AS name, xact_commit AS commits, xact_rollback AS rollbacks,
                   tup_inserted + tup_updated + tup_deleted AS written, tup_fetched AS fetched
            FROM pg_stat_database WHERE datname = ANY(\(serviceDatabases))
            """)
        for row in rows {
            databases[try row.decode("name", as: String.self)] = DatabaseCounters(
                commits: try row.decode("commits", as: Int.self), rollbacks: try row.decode("rollbacks", as: Int.self),
                rowsWritten: try row.decode("written", as: Int.self),
                rowsFetched: try row.decode("fetched", as: Int.self), statements: nil)
        }
        var totals: [String: StatementTotals] = [:]
        if statements {
            let calls = try await admin.query(
                """
                SELECT d.datname::text AS name, s.queryid::text AS id, s.calls AS calls,
                       s.total_exec_time::float8 AS ms, s.rows AS rows,
                       left(regexp_replace(s.query, '\\s+', ' ', 'g'), 200) AS query
                FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
                WHERE s.userid <> (SELECT oid FROM pg_roles WHERE rolname = current_user)
                  AND d.datname = ANY(\(serviceDatabases))
                """)
            for name in serviceDatabases where databases[name] != nil { databases[name]?.statements = 0 }
            for row in calls {
                let name = try row.decode("name", as: String.self)
                let count = try row.decode("calls", as: Int.self)
                databases[name]?.statements? += count
                totals["\(name):\(try row.decode("id", as: String.self))"] = StatementTotals(
                    database: name, calls: count, milliseconds: try row.decode("ms", as: Double.self),
                    rows: try row.decode("rows", as: Int.self), query: try row.decode("query", as: String.self))
            }
        }
        let wal = try await admin.query("SELECT wal_bytes::float8 AS bytes FROM pg_stat_wal")
        return ResourceSnapshot(
            cpu: cpu, machineBusy: ProcessProbe.machineCPUSeconds()?.busy ?? 0, databases: databases,
            walBytes: (try? wal.first?.decode("bytes", as: Double.self)) ?? 0, taken: taken, statementTotals: totals)
    }
}
