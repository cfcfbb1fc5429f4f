import Logging
import ServiceSupport

/// `intake`: ASN submit activities with photo evidence; the status they see follows verification and scoring.
@main
struct IntakeMain {
    static func main() async {
        await ServiceMain.run("intake") { configuration, logger in
            let evidenceStore = try DirectoryEvidenceStore(root: evidenceDirectory(configuration: configuration))
            let intake = try IntakeService(configuration: configuration, logger: logger, evidenceStore: evidenceStore)
            try await intake.run()
        }
    }
}
