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
        limitMallocArenas()
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

    /// Caps glibc's malloc arenas at two, unless `MALLOC_ARENA_MAX` is set (glibc then reads it itself).
    ///
    /// glibc gives each thread that meets a locked arena a new one, up to eight per core, and each keeps its own
    /// free memory: with the threads of NIO, libdispatch (one queue per database connection), the thread pool and
    /// the AMQP pumps, a service's resident memory grew with the arenas rather than with its work. Two arenas suit
    /// the two cores the services are sized for.
    static func limitMallocArenas() {
        #if os(Linux)
            guard ProcessInfo.processInfo.environment["MALLOC_ARENA_MAX"] == nil else { return }
            _ = glibcMallopt(glibcArenaMax, 2)
        #endif
    }
}

#if os(Linux)
    /// glibc's `mallopt(3)` (declared in `<malloc.h>`, which the Glibc module does not export).
    @_silgen_name("mallopt")
    private func glibcMallopt(_ parameter: Int32, _ value: Int32) -> Int32
    /// `M_ARENA_MAX` of `<malloc.h>`.
    private let glibcArenaMax: Int32 = -8
#endif
