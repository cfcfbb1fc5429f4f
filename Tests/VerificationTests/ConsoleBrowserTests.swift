import Contracts
import Database
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import ServiceSupport
import TestSupport
import Testing

@testable import Verification

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The DLH console in a real headless Chromium, served by the verification app on a free port, with photos from a
/// stand-in for intake's `GET /v1/evidence/{sha256}` (which checks the verifier's token as intake does).
@Suite("Verification: DLH console in a browser")
struct ConsoleBrowserTests {
    @Test("a verifier claims an item, sees its photos and checks, approves it; the submission is approved")
    func claimAndApprove() async throws {
        try await VF.withDatabase { pool in
            try await VF.seed(pool)
            // An earlier photo by Budi, and Siti's photo whose perceptual hash is 3 bits from it: near duplicate.
            let earlierBytes = TestImages.png(seed: 11)
            let newBytes = TestImages.png(seed: 12)
            let earlier = Self.photo(earlierBytes, phash: "f0e1d2c3b4a59687")
            let new = Self.photo(newBytes, phash: "f0e1d2c3b4a59680")
            try await VF.check([VF.received(nip: VF.budi, opd: "DISDIK", photos: [earlier])], pool: pool)
            let submission = VF.received(photos: [new])
            try await VF.check([submission], pool: pool)
            #expect(try await VF.decision(submission.submissionId, pool: pool)?.outcome == "review")

            let verifierToken = try await VF.token(VF.ani)
            let photos = [earlier.ref.sha256: earlierBytes, new.ref.sha256: newBytes]
            let intakePort = try freeLoopbackPort()
            let consolePort = try freeLoopbackPort()
            let intake = Self.fakeIntake(port: intakePort, photos: photos)
            var configuration = VF.configuration
            configuration.httpPort = consolePort
            let console = try await verificationApp(
                configuration: configuration, logger: VF.logger, pool: pool, queue: VF.queue(pool),
                intakeURL: URL(string: "http://127.0.0.1:\(intakePort)")
            ).buildApplication()

            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await intake.runService() }
                group.addTask { try await console.runService() }
                defer { group.cancelAll() }
                #expect(await Self.listening(consolePort))
                #expect(await Self.listening(intakePort))

                let browser = try await HeadlessChromium.launch(width: 1280, height: 1400)
                do {
                    try await browser.open("http://127.0.0.1:\(consolePort)/")
                    try await browser.type("#token", verifierToken)
                    try await browser.click("#simpan-token")
                    try await browser.waitUntil(
                        "document.querySelectorAll('#antrian tr[data-id]').length === 1", timeout: .seconds(15))
                    #expect(try await browser.text("#hitung-open") == "1")
                    try await browser.click("#klaim-berikutnya")
                    try await browser.waitUntil(
                        """
                        document.querySelectorAll('#foto img[src^="blob:"]').length === 1 &&
                        document.querySelectorAll('#mirip img[src^="blob:"]').length === 1 &&
                        [...document.querySelectorAll('img')].every(i => i.complete && i.naturalWidth === 16)
                        """, timeout: .seconds(15))
                    let nearResult = try await browser.evaluate(
                        "return document.querySelector('#cek tr[data-code=\"NEAR_DUPLICATE_EVIDENCE\"]').dataset.result"
                    )
                    #expect(nearResult == "\"flag\"")
                    #expect(try await browser.text("#cek").contains("jarak 3"))
                    #expect(try await browser.text("#exif").contains("Samsung"))
                    let countdown = try await browser.text("#sisa-waktu")
                    #expect(countdown.contains(":"), "lease countdown: \(countdown)")
                    try await browser.documentationScreenshot("verification-console")

                    try await browser.type("#catatan", "Foto berbeda sudut, kegiatan sah.")
                    try await browser.click("#setujui")
                    try await browser.waitUntil(
                        "document.getElementById('pesan').textContent.includes('disetujui')", timeout: .seconds(15))
                    let errors = try await browser.consoleErrors()
                    #expect(errors.isEmpty, "\(errors)")
                    await browser.quit()
                } catch {
                    try? await browser.screenshot(to: "/tmp/verification-console-failure.png")
                    await browser.quit()
                    throw error
                }
            }

            let decision = try #require(try await VF.decision(submission.submissionId, pool: pool))
            #expect(decision.outcome == "approved")
            let verified = try await VF.events(SubmissionVerified.self, pool: pool)
            #expect(verified.last?.submissionId == submission.submissionId)
            #expect(verified.last?.decidedBy == VF.ani && verified.last?.note == "Foto berbeda sudut, kegiatan sah.")
        }
    }

    /// A PNG with the facts intake carries: EXIF-like capture metadata at the office, the given perceptual hash.
    static func photo(_ bytes: [UInt8], phash: String) -> VF.Photo {
        let sha = VF.sha256(bytes)
        return VF.Photo(
            bytes: bytes,
            ref: EvidenceRef(
                sha256: sha, mediaType: "image/png", sizeBytes: bytes.count,
                capture: CaptureMetadata(
                    capturedAt: VF.activityAt.addingTimeInterval(300), latitude: VF.office.latitude,
                    longitude: VF.office.longitude, cameraMake: "Samsung", cameraModel: "Galaxy A14",
                    capturedAtOffset: "+07:00"),
                perceptualHash: phash, url: "/v1/evidence/\(sha)", width: 16, height: 16))
    }

    /// Intake's evidence route as a verifier meets it: a bearer token is required, photos are served by SHA-256.
    static func fakeIntake(port: Int, photos: [String: [UInt8]]) -> some ApplicationProtocol {
        let router = Router()
        router.get("/v1/evidence/{sha}") { request, context -> Response in
            guard request.headers[.authorization]?.hasPrefix("Bearer ") == true else {
                return Response(status: .unauthorized)
            }
            guard let sha = context.parameters.get("sha"), let bytes = photos[sha] else {
                return Response(status: .notFound)
            }
            var headers = HTTPFields()
            headers[.contentType] = "image/png"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
        }
        var logger = Logger(label: "fake-intake")
        logger.logLevel = .warning
        return Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: port)), logger: logger)
    }

    /// Whether something answers HTTP on `port` within 20 s.
    static func listening(_ port: Int) async -> Bool {
        await eventually(timeout: .seconds(20)) {
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/health/live")!)
            request.timeoutInterval = 2
            return (try? await URLSession.shared.data(for: request)) != nil
        }
    }
}
