import Foundation
import Logging

/// The body of every service's `@main`: read the configuration, set up logs and metrics, run.
///
/// A failure (bad configuration, a database that refuses a changed migration, a port in use) ends the process
/// with one clear log line and exit status 1 — not a crash dump — so operators and `deploy/dev` see the cause.
package enum ServiceMain {
    /// Runs `body` with the service's configuration and logger; never returns.
    package static func run(
        _ serviceName: String,
        _ body: @Sendable (ServiceConfiguration, Logger) async throws -> Void
    ) async -> Never {
        let configuration: ServiceConfiguration
        do {
            configuration = try ServiceConfiguration.fromEnvironment(serviceName: serviceName)
        } catch {
            // Configuration errors name the key, never its value.
            FileHandle.standardError.write(
                Data("\(serviceName): konfigurasi tidak valid (invalid configuration): \(error)\n".utf8))
            exit(2)
        }
        Observability.bootstrap(configuration: configuration)
        let logger = Observability.logger(service: serviceName, logLevel: configuration.logLevel)
        do {
            try await body(configuration, logger)
            exit(0)
        } catch {
            logger.critical("Layanan berhenti karena galat (stopped by an error)", metadata: ["error": "\(error)"])
            exit(1)
        }
    }
}
