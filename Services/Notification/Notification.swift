import ServiceSupport

/// The `notification` service (Kominfo): tells ASN what happened to their work.
@main
struct NotificationMain {
    static func main() async throws {
        let configuration = try ServiceConfiguration.fromEnvironment(serviceName: "notification")
        _ = Observability.bootstrap(configuration: configuration)
        let logger = Observability.logger(service: "notification", logLevel: configuration.logLevel)
        let service = try NotificationService(configuration: configuration, logger: logger)
        try await service.backbone.migrate()
        try await service.app.run()
    }
}
