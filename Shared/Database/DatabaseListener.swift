import Logging
import ServiceLifecycle

/// A dedicated connection that `LISTEN`s on one channel and streams the `NOTIFY` payloads (outbox wake-ups).
///
/// `run()` connects, listens, and reconnects with backoff (0.1 s doubling to 5 s) when the connection is lost.
/// Notifications sent while disconnected are lost, so after every (re)connect the stream yields an empty string:
/// a consumer treats any element as "look again", never as the only source of truth. The stream finishes when
/// `run()` returns (graceful shutdown or cancellation). It has one consumer.
package final class DatabaseListener: Service, Sendable {
    /// The payloads of `NOTIFY channel, 'payload'`, plus `""` after each (re)connect.
    package let notifications: AsyncStream<String>
    private let continuation: AsyncStream<String>.Continuation
    private let configuration: DatabaseConfiguration
    private let channel: String
    private let logger: Logger

    /// Creates a listener for `channel`; nothing happens until `run()`.
    package init(configuration: DatabaseConfiguration, channel: String, logger: Logger) {
        self.configuration = configuration
        self.channel = channel
        self.logger = logger
        (notifications, continuation) = AsyncStream.makeStream(
            of: String.self, bufferingPolicy: .bufferingNewest(10_000))
    }

    /// Listens until graceful shutdown or cancellation, then finishes `notifications`.
    package func run() async throws {
        await cancelWhenGracefulShutdown { await self.listen() }
        continuation.finish()
    }

    private func listen() async {
        var backoff = Duration.milliseconds(100)
        while !Task.isCancelled {
            var connection: DatabaseConnection?
            do {
                let opened = try await DatabaseConnection.connect(configuration: configuration, logger: logger)
                connection = opened
                try await opened.execute(unsafeSQL: "LISTEN " + quoteIdentifier(channel))
                logger.debug("listening for notifications", metadata: ["channel": "\(channel)"])
                continuation.yield("")
                backoff = .milliseconds(100)
                while !Task.isCancelled {
                    for payload in try await opened.waitForNotifications(timeout: .milliseconds(250)) {
                        continuation.yield(payload)
                    }
                }
            } catch {
                if !Task.isCancelled {
                    logger.warning(
                        "notification listener lost its connection",
                        metadata: ["channel": "\(channel)", "error": "\(error)"])
                }
            }
            await connection?.close()
            if Task.isCancelled { break }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(5))
        }
    }
}
