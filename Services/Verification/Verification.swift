import ServiceSupport

/// The `verification` service (DLH): automatic evidence checks on every received submission.
@main
struct VerificationMain {
    static func main() async throws {
        let configuration = try ServiceConfiguration.fromEnvironment(serviceName: "verification")
        _ = Observability.bootstrap(configuration: configuration)
        let logger = Observability.logger(service: "verification", logLevel: configuration.logLevel)
        let service = try VerificationService(configuration: configuration, logger: logger)
        try await service.backbone.migrate()
        try await service.app.run()
    }
}
