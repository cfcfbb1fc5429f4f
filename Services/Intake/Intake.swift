import Logging
import ServiceSupport

/// `intake`: ASN submit activities with photo evidence; the status they see follows verification and scoring.
@main
struct IntakeMain {
    static func main() async throws {
        let configuration = try ServiceConfiguration.fromEnvironment(serviceName: "intake")
        Observability.bootstrap(configuration: configuration)
        let logger = Observability.logger(service: "intake", logLevel: configuration.logLevel)
        let evidenceStore = try DirectoryEvidenceStore(root: evidenceDirectory(configuration: configuration))
        let intake = try buildIntake(configuration: configuration, logger: logger, evidenceStore: evidenceStore)
        try await intake.backbone.migrate()
        try await intake.app.run()
    }
}
