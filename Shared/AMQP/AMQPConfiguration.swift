import Foundation

/// Where and how to connect to RabbitMQ: parsed from an `amqp://` or `amqps://` URL.
///
/// `amqp://user:password@host:port/vhost` — the virtual host is the percent-decoded path (`%2F` is `/`; no path
/// means `/`), the port defaults to 5672 (`amqp`) or 5671 (`amqps`). `amqps` uses TLS 1.2 or newer and verifies
/// the peer certificate and the host name, against `caCertificatePath` if set, else the system trust store.
/// `description` leaves the password out.
package struct AMQPConfiguration: Sendable, CustomStringConvertible {
    /// Broker host name or address.
    package var host: String
    /// Broker TCP port.
    package var port: Int
    /// Virtual host.
    package var virtualHost: String
    /// User name for PLAIN authentication.
    package var user: String
    /// Password for PLAIN authentication; never logged.
    package var password: String
    /// Whether the connection uses TLS (`amqps`).
    package var useTLS: Bool
    /// Name shown by the broker for the connection (client property `connection_name`).
    package var connectionName: String
    /// Heartbeat interval requested from the broker; a connection silent for twice this long is declared dead.
    package var heartbeat: Duration
    /// PEM file of the certificate authorities trusted for `amqps` (nil: the system store).
    package var caCertificatePath: String?
    /// Limit for the TCP connect, the TLS and AMQP handshakes and each synchronous AMQP request; also how long
    /// `Publisher.publish` waits for a connection before it throws `.notConnected`.
    package var connectTimeout: Duration = .seconds(10)
    /// How long a single blocking write (publish, ack) may take before the watchdog shuts the socket down.
    /// Defaults to the heartbeat interval (at least 2 s).
    package var writeStallLimit: Duration?
    /// How many published messages may await their confirm at once.
    package var publishWindow: Int = 512
    /// How long a published message may wait for its confirm before it is reported `.failed`.
    package var confirmTimeout: Duration = .seconds(30)

    /// Parses `url` (`amqp://` or `amqps://`); `connectionName` identifies the connection in the broker's tools.
    package init(url: String, connectionName: String, heartbeat: Duration = .seconds(10)) throws {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else {
            throw MessagingError(.connectionFailed, "invalid AMQP URL")
        }
        switch scheme {
        case "amqp": useTLS = false
        case "amqps": useTLS = true
        default: throw MessagingError(.connectionFailed, "unsupported URL scheme '\(scheme)' (use amqp or amqps)")
        }
        guard let host = components.host, !host.isEmpty else {
            throw MessagingError(.connectionFailed, "AMQP URL has no host")
        }
        self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        port = components.port ?? (useTLS ? 5671 : 5672)
        user = components.user ?? "guest"
        password = components.password ?? "guest"
        let path = components.percentEncodedPath
        if path.isEmpty || path == "/" {
            virtualHost = "/"
        } else {
            guard let decoded = String(path.dropFirst()).removingPercentEncoding else {
                throw MessagingError(.connectionFailed, "AMQP URL has an invalid virtual host")
            }
            virtualHost = decoded
        }
        self.connectionName = connectionName
        self.heartbeat = heartbeat
        caCertificatePath = nil
    }

    /// `amqp[s]://user@host:port/vhost (name)` — no password.
    package var description: String {
        "\(useTLS ? "amqps" : "amqp")://\(user)@\(host):\(port)/\(virtualHost == "/" ? "%2F" : virtualHost) (\(connectionName))"
    }

    /// Heartbeat in whole seconds as sent to the broker (at least 1).
    var heartbeatSeconds: Int32 {
        Int32(max(1, heartbeat.components.seconds))
    }

    /// The watchdog's limit for one blocking write.
    var effectiveWriteStallLimit: Duration {
        writeStallLimit ?? max(.seconds(2), heartbeat)
    }
}

extension Duration {
    /// The duration in (fractional) seconds.
    var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }

    /// The duration in nanoseconds, saturating.
    var nanoseconds: UInt64 {
        let value = seconds * 1e9
        return value <= 0 ? 0 : UInt64(min(value, 1.8e19))
    }
}
