import Foundation
import Logging
import ServiceSupport

/// The scoring service (BKPP): programs and point rules, the append-only points ledger, periods.
///
/// Environment: the shared keys of `ServiceConfiguration` (prefix `SCORING_`) and `PROGRAMS_DIRECTORY`
/// (default `deploy/programs`).
@main
struct ScoringMain {
    static func main() async {
        await ServiceMain.run("scoring") { configuration, logger in
            let directory = configuration.string("PROGRAMS_DIRECTORY", default: "deploy/programs")
            let service = try ScoringService(
                configuration: configuration, logger: logger, programsDirectory: URL(fileURLWithPath: directory))
            try await service.run()
        }
    }
}
