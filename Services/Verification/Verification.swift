import ServiceSupport

/// The `verification` service (DLH): automatic evidence checks on every received submission.
@main
struct VerificationMain {
    static func main() async {
        await ServiceMain.run("verification") { configuration, logger in
            let service = try VerificationService(configuration: configuration, logger: logger)
            try await service.run()
        }
    }
}
