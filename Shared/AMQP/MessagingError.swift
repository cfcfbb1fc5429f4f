/// An error from the broker layer (the `AMQP` module).
///
/// `description` names what failed and why (broker reply codes and texts, library status strings) but never
/// contains a password: URLs are reduced to host, port and virtual host before they reach an error.
package struct MessagingError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The kind of failure, for callers that branch on it.
    package enum Code: Sendable, Equatable {
        /// The TCP/TLS connection, the AMQP handshake or the login failed.
        case connectionFailed
        /// An established connection broke (socket error, missed heartbeats, broker closed it, watchdog).
        case connectionLost
        /// The broker closed a channel with this reply code (e.g. 404 NOT_FOUND for a missing exchange).
        case channelClosed(replyCode: Int)
        /// An operation did not finish in time.
        case timeout
        /// The client has no connection to the broker at the moment.
        case notConnected
        /// The publisher or consumer has been shut down.
        case shutdown
        /// The broker or the library reported something the client did not expect.
        case protocolError
    }

    /// The kind of failure.
    package var code: Code
    /// A human-readable explanation without secrets.
    package var message: String

    /// Creates an error of `code` explained by `message` (which must not contain secrets).
    package init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `"<code>: <message>"`.
    package var description: String {
        switch code {
        case .connectionFailed: "connection failed: \(message)"
        case .connectionLost: "connection lost: \(message)"
        case .channelClosed(let replyCode): "channel closed (\(replyCode)): \(message)"
        case .timeout: "timeout: \(message)"
        case .notConnected: "not connected: \(message)"
        case .shutdown: "shut down: \(message)"
        case .protocolError: "protocol error: \(message)"
        }
    }
}
