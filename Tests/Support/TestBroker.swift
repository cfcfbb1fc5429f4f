import AMQP
import Contracts
import Eventing
import Foundation
import Logging

/// Per-test RabbitMQ names and topology on the broker started by `deploy/dev up`, plus a throwaway broker node
/// for tests that must freeze or restart one.
///
/// The URL comes from `AMQP_URL_TEST` in the environment, or else from `.run/env` (found by walking up from the
/// current directory and from this file's directory). Each test works on its own uniquely named exchanges and
/// queues, so tests run in parallel, and deletes them afterwards.
package enum TestBroker {
    /// The test virtual host's URL.
    package static func url() throws -> String {
        try DevEnvironment.value("AMQP_URL_TEST")
    }

    /// A configuration for the test virtual host; `name` becomes the connection's client-provided name.
    package static func configuration(name: String, heartbeat: Duration = .seconds(10)) throws -> AMQPConfiguration {
        try AMQPConfiguration(url: url(), connectionName: name, heartbeat: heartbeat)
    }

    /// A unique name: `<prefix>-<8 hex digits>`.
    package static func uniqueName(_ prefix: String = "t") -> String {
        "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// A topology whose exchanges and queues have unique names; `queues` maps a queue's base name to its
    /// bindings. Returns the topology and the unique queue names in the order given.
    package static func topology(queues: [(String, [String])], deliveryLimit: Int = 5) -> Topology {
        let prefix = uniqueName()
        return Topology(
            eventsExchange: "\(prefix).events",
            deadLetterExchange: "\(prefix).dead",
            queues: queues.map { QueueSpec(name: "\(prefix).\($0.0)", bindings: $0.1, deliveryLimit: deliveryLimit) }
        )
    }

    /// Runs `body` with `topology`, deleting its exchanges and queues afterwards (also when `body` throws).
    package static func withTopology<Result>(
        _ topology: Topology,
        _ body: () async throws -> Result
    ) async throws -> Result {
        let admin = try AMQPAdmin(configuration: configuration(name: uniqueName("admin")))
        do {
            let result = try await body()
            try? await admin.delete(topology)
            return result
        } catch {
            try? await admin.delete(topology)
            throw error
        }
    }

    /// An admin for the test virtual host.
    package static func admin() throws -> AMQPAdmin {
        try AMQPAdmin(configuration: configuration(name: uniqueName("admin")))
    }

    /// Closes the broker's connections whose client-provided name is `name` (`rabbitmqctl close_connection`);
    /// returns how many it closed.
    @discardableResult
    package static func closeConnections(named name: String) async throws -> Int {
        // 3.10's rabbitmqctl has no user_provided_name column: match the name inside client_properties,
        // printed as {"connection_name","<name>"}.
        let listing = try await rabbitmqctl(
            "list_connections", "pid", "client_properties", "--no-table-headers", "--quiet")
        var closed = 0
        for line in listing.split(separator: "\n") {
            let fields = line.split(separator: "\t", maxSplits: 1).map(String.init)
            guard fields.count == 2, fields[1].contains("{\"connection_name\",\"\(name)\"}") else { continue }
            _ = try await rabbitmqctl("close_connection", fields[0], "closed by a test")
            closed += 1
        }
        return closed
    }

    /// Runs the dev node's `rabbitmqctl` (the `RABBITMQCTL` command line) with `arguments`; returns its output.
    package static func rabbitmqctl(_ arguments: String...) async throws -> String {
        let command = try DevEnvironment.value("RABBITMQCTL")
        let quoted = arguments.map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        // From `/`: rabbitmqctl runs as the rabbitmq user, and in a checkout it cannot enter (a fresh clone under
        // /tmp) Erlang prints its file errors on standard output, among the listing.
        return try await DevEnvironment.shellOffPool("cd / && \(command) \(quoted.joined(separator: " "))")
    }
}

/// A RabbitMQ node of its own (own node name, ports and data directory under /tmp), for tests that freeze
/// (SIGSTOP) or restart the broker without disturbing the shared dev broker.
///
/// Runs `rabbitmq-server` as the `rabbitmq` user (the Debian wrapper switches to it when started as root, so
/// the data directory is owned by that user). Starting takes about 5–10 s. Connect as guest/guest on 127.0.0.1.
package final class ThrowawayBroker: Sendable {
    /// AMQP port.
    package let port: Int
    /// `amqp://guest:guest@127.0.0.1:<port>/`.
    package var url: String { "amqp://guest:guest@127.0.0.1:\(port)/" }

    private let nodeName: String
    private let distributionPort: Int
    private let directory: String

    /// Reserves ports and a directory; call `start()`.
    package init() throws {
        let tag = "\(getpid())-\(UUID().uuidString.prefix(6).lowercased())"
        nodeName = "rabbit-freeze-\(tag)@localhost"
        port = try freeLoopbackPort()
        distributionPort = try freeLoopbackPort()
        directory = "/tmp/asnreward-rabbit-\(tag)"
    }

    /// Starts the node (on the same data directory if it ran before) and waits until it accepts AMQP logins.
    package func start(timeout: Duration = .seconds(60)) async throws {
        _ = try await DevEnvironment.shellOffPool(
            """
            mkdir -p '\(directory)' && echo '[].' > '\(directory)/enabled_plugins' && : > '\(directory)/rabbitmq.conf' \
            && { [ "$(id -u)" != 0 ] || chown -R rabbitmq:rabbitmq '\(directory)'; }
            """
        )
        var environment = ProcessInfo.processInfo.environment
        let settings = [
            "RABBITMQ_NODENAME": nodeName, "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": "\(port)", "RABBITMQ_DIST_PORT": "\(distributionPort)",
            "RABBITMQ_MNESIA_BASE": "\(directory)/mnesia", "RABBITMQ_LOG_BASE": "\(directory)/log",
            "RABBITMQ_ENABLED_PLUGINS_FILE": "\(directory)/enabled_plugins",
            "RABBITMQ_CONFIG_FILE": "\(directory)/rabbitmq.conf", "RABBITMQ_PID_FILE": "\(directory)/pid",
            "RABBITMQ_ADVANCED_CONFIG_FILE": "\(directory)/advanced.config",
            "RABBITMQ_CONF_ENV_FILE": "\(directory)/rabbitmq-env.conf",
        ]
        environment.merge(settings) { $1 }
        _ = try await DevEnvironment.shellOffPool(
            // Close every inherited descriptor above 2 first: Foundation's Process notices the shell's exit
            // through a descriptor the daemon would otherwise keep open.
            """
            for fd in $(ls /proc/$$/fd); do if [ "$fd" -gt 2 ]; then eval "exec $fd>&-"; fi; done
            nohup /usr/sbin/rabbitmq-server > '\(directory)/server.out' 2>&1 < /dev/null &
            """,
            environment: environment,
            capture: false
        )
        let admin = try AMQPAdmin(configuration: AMQPConfiguration(url: url, connectionName: "throwaway-probe"))
        let deadline = ContinuousClock.now + timeout
        while true {
            do {
                try await admin.ping()
                return
            } catch {
                if ContinuousClock.now > deadline { throw error }
                try await Task.sleep(for: .milliseconds(300))
            }
        }
    }

    /// Freezes the broker's Erlang VM (SIGSTOP) and returns once every thread of it has stopped. `kill` returns
    /// before that: a thread finishes the system call it is in (an `fsync` on a slow disk) first, and on a loaded
    /// machine the VM went on confirming messages published after `kill` had returned.
    package func freeze() async throws {
        try signal(SIGSTOP)
        let pid = try beamPID()
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if Self.allThreadsStopped(pid) { return }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw MessagingError(.protocolError, "the broker (pid \(pid)) did not stop within 10 s of SIGSTOP")
    }

    /// Whether every thread of `pid` is in state `T` (stopped) in `/proc/<pid>/task/<tid>/stat`.
    private static func allThreadsStopped(_ pid: pid_t) -> Bool {
        guard let threads = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task"),
            !threads.isEmpty
        else { return false }
        return threads.allSatisfy { thread in
            // The state follows the command name, which is in parentheses and may hold spaces.
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/task/\(thread)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { return false }
            let state = stat[stat.index(after: close)...].drop { $0 == " " }.first
            return state == "T" || state == "t"
        }
    }

    /// Resumes a frozen broker (SIGCONT).
    package func thaw() throws {
        try signal(SIGCONT)
    }

    /// Stops the node (SIGCONT, SIGTERM, SIGKILL after 20 s) and waits until it is gone; keeps the data directory.
    package func stop() async {
        guard let pid = try? beamPID() else { return }
        kill(pid, SIGCONT)
        kill(pid, SIGTERM)
        for _ in 0..<200 {
            if kill(pid, 0) != 0 { break }
            try? await Task.sleep(for: .milliseconds(100))
        }
        if kill(pid, 0) == 0 { kill(pid, SIGKILL) }
        try? FileManager.default.removeItem(atPath: "\(directory)/pid")
    }

    /// Stops the node and deletes its data directory.
    package func destroy() async {
        await stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func beamPID() throws -> pid_t {
        let text = try String(contentsOfFile: "\(directory)/pid", encoding: .utf8)
        guard let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw MessagingError(.protocolError, "no pid in \(directory)/pid")
        }
        return pid
    }

    private func signal(_ number: Int32) throws {
        let pid = try beamPID()
        guard kill(pid, number) == 0 else { throw MessagingError(.protocolError, "kill(\(pid), \(number)) failed") }
    }
}

extension Publisher {
    /// Publishes `events` to `exchange` in chunks of 500, each again after 200 ms until the broker confirms all of
    /// it (a benchmark's load, published while the consumers start).
    package func publishConfirmed(_ events: [CloudEvent], exchange: String) async throws {
        var sent = 0
        while sent < events.count {
            let chunk = events[sent..<min(sent + 500, events.count)]
            let outcomes = try? await publish(chunk.map { OutgoingMessage(event: $0, exchange: exchange) })
            if let outcomes, outcomes.allSatisfy({ $0 == .confirmed }) {
                sent += chunk.count
            } else {
                try await Task.sleep(for: .milliseconds(200))
            }
        }
    }
}
