import ServiceSupport

/// The `notification` service (Kominfo): tells ASN what happened to their work.
@main
struct NotificationMain {
    static func main() async {
        await ServiceMain.run("notification") { configuration, logger in
            let service = try NotificationService(configuration: configuration, logger: logger)
            try await service.run()
        }
    }
}
