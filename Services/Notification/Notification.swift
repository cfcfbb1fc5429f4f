import ServiceSupport

/// The `notification` service (Kominfo): tells ASN what happened to their work, and dashboards what happens.
@main
struct NotificationMain {
    static func main() async {
        await ServiceMain.run("notification") { configuration, logger in
            let service = try await NotificationService(configuration: configuration, logger: logger)
            try await service.run()
        }
    }
}
