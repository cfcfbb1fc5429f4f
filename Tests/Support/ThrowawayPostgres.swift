import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A PostgreSQL cluster of its own (own port and data directory under /tmp), for tests that stop or freeze the
/// whole server (SIGSTOP) without disturbing the shared dev server and the tests running beside them.
///
/// `initdb` runs once (about 1–2 s, with `fsync=off`); as root everything runs as the `postgres` user. Connect as
/// `postgres` without a password (trust) on 127.0.0.1.
package final class ThrowawayPostgres: Sendable {
    /// The server's port.
    package let port: Int
    private let directory: String

    /// Reserves a port and a directory; call `start()`.
    package init() throws {
        port = try freeLoopbackPort()
        directory = "/tmp/asnreward-pg-\(getpid())-\(UUID().uuidString.prefix(6).lowercased())"
    }

    /// The URL of database `database` as the superuser `postgres`.
    package func url(database: String = "postgres") -> String {
        "postgres://postgres@127.0.0.1:\(port)/\(database)?sslmode=disable"
    }

    /// Creates the cluster on first use, then starts the server and waits until it accepts connections.
    package func start() async throws {
        let binaries = try Self.binaries()
        try await run(
            """
            if [ ! -f '\(directory)/data/PG_VERSION' ]; then
                mkdir -p '\(directory)' && { [ "$(id -u)" != 0 ] || chown postgres '\(directory)'; }
                $AS '\(binaries)/initdb' -D '\(directory)/data' -A trust -U postgres --no-sync -E UTF8 >/dev/null
            fi
            $AS '\(binaries)/pg_ctl' -D '\(directory)/data' -l '\(directory)/log' -w -t 60 \
                -o "-p \(port) -c listen_addresses=127.0.0.1 -k '\(directory)' -c fsync=off -c max_connections=50" \
                start >/dev/null
            """
        )
    }

    /// Stops the server (`pg_ctl stop -m fast`), keeping its data.
    package func stop() async throws {
        try await thaw()
        try await run("$AS '\(try Self.binaries())/pg_ctl' -D '\(directory)/data' -m fast -w -t 60 stop >/dev/null")
    }

    /// Freezes the postmaster and every backend (SIGSTOP): connections stay open, nothing answers.
    package func freeze() async throws {
        try await signalAll(SIGSTOP)
    }

    /// Resumes a frozen server (SIGCONT).
    package func thaw() async throws {
        try await signalAll(SIGCONT)
    }

    /// Stops the server if it runs and deletes its directory.
    package func destroy() async {
        try? await stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The postmaster and its children.
    private func signalAll(_ number: Int32) async throws {
        guard let text = try? String(contentsOfFile: "\(directory)/data/postmaster.pid", encoding: .utf8),
            let first = text.split(separator: "\n").first, let postmaster = pid_t(first)
        else { return }
        let children = (try? await DevEnvironment.shellOffPool("pgrep -P \(postmaster) || true")) ?? ""
        let pids = [postmaster] + children.split(separator: "\n").compactMap { pid_t($0) }
        // Children first when freezing (the postmaster would notice them otherwise), last when resuming.
        for pid in number == SIGSTOP ? pids.reversed() : pids { kill(pid, number) }
    }

    private func run(_ script: String) async throws {
        let prefix = getuid() == 0 ? "runuser -u postgres --" : ""
        // Close every inherited descriptor above 2 first: Foundation's Process notices the shell's exit through a
        // descriptor the postmaster would otherwise keep open.
        _ = try await DevEnvironment.shellOffPool(
            """
            for fd in $(ls /proc/$$/fd); do if [ "$fd" -gt 2 ]; then eval "exec $fd>&-"; fi; done
            AS='\(prefix)'

            """ + script, capture: false)
    }

    /// The newest installed PostgreSQL server's `bin` directory.
    private static func binaries() throws -> String {
        let root = "/usr/lib/postgresql"
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
        guard let newest = versions.compactMap(Int.init).max() else {
            throw DevEnvironmentError(message: "no PostgreSQL server under \(root) (apt-get install postgresql)")
        }
        return "\(root)/\(newest)/bin"
    }
}
