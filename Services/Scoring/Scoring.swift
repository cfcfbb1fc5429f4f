import Foundation
import Logging
import ServiceSupport

/// The scoring service (BKPP): programs and point rules, the append-only points ledger, periods.
///
/// Environment: the shared keys of `ServiceConfiguration` (prefix `SCORING_`) and `PROGRAMS_DIRECTORY`
/// (default `deploy/programs`).
@main
struct ScoringMain {
    static func main() async throws {
        let configuration = try ServiceConfiguration.fromEnvironment(serviceName: "scoring")
        Observability.bootstrap(configuration: configuration)
        let logger = Observability.logger(service: "scoring", logLevel: configuration.logLevel)
        let directory = configuration.string("PROGRAMS_DIRECTORY", default: "deploy/programs")
        do {
            let service = try buildScoring(
                configuration: configuration, logger: logger, programsDirectory: URL(fileURLWithPath: directory))
            try await service.run()
        } catch {
            logger.critical("scoring stopped", metadata: ["error": "\(error)"])
            throw error
        }
    }
}
