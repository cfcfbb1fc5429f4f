import Foundation
import Logging
import Metrics
import Prometheus
import Synchronization

/// Process-wide logging and metrics set-up; call ``bootstrap(configuration:)`` once at the top of `main`.
package enum Observability {
    /// Guards the once-only bootstrap (swift-log and swift-metrics trap on a second bootstrap).
    private static let state = BootstrapState()

    /// Installs the JSON log handler and the Prometheus metrics factory, and returns the registry that
    /// `/metrics` renders. Later calls do nothing and return the same registry.
    @discardableResult
    package static func bootstrap(configuration: ServiceConfiguration) -> PrometheusCollectorRegistry {
        bootstrap(service: configuration.serviceName, logLevel: configuration.logLevel)
    }

    /// Same as ``bootstrap(configuration:)`` for tools without a full configuration (the CLI).
    @discardableResult
    package static func bootstrap(service: String, logLevel: Logger.Level) -> PrometheusCollectorRegistry {
        let registry = PrometheusMetricsFactory.defaultRegistry
        state.once {
            LoggingSystem.bootstrap { label in
                JSONLogHandler(label: label, service: service, logLevel: logLevel)
            }
            MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        }
        return registry
    }

    /// A logger for `service` at `logLevel` (after bootstrap: JSON lines on stdout).
    package static func logger(service: String, logLevel: Logger.Level) -> Logger {
        var logger = Logger(label: service)
        logger.logLevel = logLevel
        return logger
    }
}

/// Runs a closure at most once per process.
private final class BootstrapState: Sendable {
    private let done = Mutex(false)

    /// Runs `body` unless it ran before; a concurrent caller waits until it has.
    func once(_ body: () -> Void) {
        done.withLock { done in
            guard !done else { return }
            done = true
            body()
        }
    }
}
