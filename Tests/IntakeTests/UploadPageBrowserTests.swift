import Contracts
import Database
import Eventing
import Foundation
import HummingbirdTesting
import Photo
import TestSupport
import Testing

@testable import Intake

/// The ASN page at `/` in a real headless Chromium at a phone's width (412 px), served by intake over HTTP on a
/// real PostgreSQL database: sign in with a token, choose the activity from the program, upload a camera photo
/// (its EXIF reaches the server), see it in the list until its status changes, and appeal the rejection.
@Suite("ASN upload page in headless Chromium", .serialized, .timeLimit(.minutes(5)))
struct UploadPageBrowserTests {
    typealias F = IntakeFixture

    @Test("sign in, choose from the program, upload a photo with EXIF, watch its status, appeal the rejection")
    func uploadAndAppeal() async throws {
        let photoPath = FileManager.default.temporaryDirectory.appendingPathComponent("foto-\(UUID()).jpg").path
        try Data(PhotoSamples.jpeg(seed: 4242, exif: PhotoSamples.phoneExif())).write(
            to: URL(fileURLWithPath: photoPath))
        defer { try? FileManager.default.removeItem(atPath: photoPath) }

        try await F.withIntakeApp(evidenceStore: InMemoryEvidenceStore(), program: F.program, testing: .live) {
            client, pool, _, _ in
            let port = try #require(client.port)
            let browser = try await HeadlessChromium.launch(width: 412, height: 915)
            do {
                try await run(browser, url: "http://127.0.0.1:\(port)/", photo: photoPath, pool: pool)
            } catch {
                let shot = FileManager.default.temporaryDirectory.appendingPathComponent("intake-page-\(UUID()).png")
                try? await browser.screenshot(to: shot.path)
                print("Upload page test failed; screenshot at \(shot.path)")
                await browser.quit()
                throw error
            }
            await browser.quit()
        }
    }

    private func run(_ browser: HeadlessChromium, url: String, photo: String, pool: DatabasePool) async throws {
        // Signed in by a link, as deploy/dev up prints them: the token rides in the fragment, which the page
        // stores and then drops from the address bar.
        let token = try await F.token()
        try await browser.open(url + "#token=" + token)
        try await browser.waitUntil("document.getElementById('token').value.length > 0")
        #expect(try await browser.evaluate("return location.hash") == #""""#)
        // Activities and places come from the published program, not from the page.
        try await browser.waitUntil("document.querySelectorAll('#activity option').length === 2")
        let options = try await browser.evaluate(
            "return [...document.querySelectorAll('#activity option')].map(o => o.value)")
        #expect(options == #"["pilah_sampah","bank_sampah"]"#)
        try await browser.select("#activity", value: "bank_sampah")
        #expect(
            try await browser.evaluate("return [...document.querySelectorAll('input[name=place]')].map(i => i.value)")
                == #"["home"]"#, "bank_sampah is home-only in the program")
        try await browser.select("#activity", value: "pilah_sampah")
        #expect(
            try await browser.evaluate("return document.getElementById('photo').getAttribute('capture')")
                == #""environment""#)

        // A quantity over the program's maximum: the server's problem+json is shown, field by field.
        try await browser.clear("#quantity")
        try await browser.type("#quantity", "6")
        try await browser.type("#photo", photo)
        try await browser.click("#submit")
        try await browser.waitUntil("document.getElementById('message').textContent.includes('maksimal')")
        #expect(try await count(pool, "submissions") == 0)

        try await browser.clear("#quantity")
        try await browser.type("#quantity", "2")
        try await browser.type("#photo", photo)
        try await browser.click("#submit")
        try await browser.waitUntil("document.getElementById('message').textContent.includes('Terkirim')")
        #expect(try await browser.evaluate("return document.getElementById('progress').value") == "100")
        try await browser.waitUntil("document.querySelector('#list li[data-status=received]') !== null")
        #expect(try await browser.text("#list li[data-status=received] .status").contains("Diterima"))

        // The photo was uploaded as taken: its EXIF reached the event.
        let event = try #require(try await outboxEvents(SubmissionReceived.self, pool).first)
        #expect(event.evidence.first?.capture?.cameraModel == "SM-A145F")
        #expect(event.evidence.first?.perceptualHash?.count == 16)

        // Verification rejects it; the page's list picks the change up on its own.
        let rejected = SubmissionRejected(
            submissionId: event.submissionId, nip: F.nip, opd: "DLH", reasonCode: ReasonCode.outsideGeofence.rawValue,
            reason: ReasonCode.outsideGeofence.indonesianText, decidedAt: Date(), decidedBy: F.verifierNIP)
        let cloudEvent = try CloudEvent(rejected, from: .verification)
        try await pool.withTransaction { connection in
            _ = try await StatusProjection(logger: F.logger).apply([cloudEvent], in: connection)
        }
        try await browser.waitUntil(
            "document.querySelector('#list li[data-status=rejected] button.appeal') !== null", timeout: .seconds(30))
        #expect(try await browser.text("#list li[data-status=rejected] .alasan").contains("jauh dari kantor"))

        try await browser.click("#list li[data-status=rejected] button.appeal")
        try await browser.type(
            "#list li[data-status=rejected] .appeal-reason", "Foto diambil di halaman kantor, GPS ponsel melenceng.")
        try await browser.click("#list li[data-status=rejected] .appeal-send")
        try await browser.waitUntil("document.querySelector('#list li[data-status=appealed]') !== null")
        #expect(try await outboxEvents(AppealFiled.self, pool).count == 1)
        #expect(try await browser.text("#total").contains("poin"))

        // Nothing overflows a 412 px screen, and the page logged no error (the favicon exists).
        let overflowing = try await browser.evaluate(
            """
            return [...document.querySelectorAll('body *')]
              .filter(e => e.getClientRects().length && e.getBoundingClientRect().right > window.innerWidth + 0.5)
              .map(e => e.id || e.className || e.tagName)
            """)
        #expect(overflowing == "[]", "elements beyond 412 px: \(overflowing ?? "?")")
        #expect(
            try await browser.evaluate("return document.documentElement.scrollWidth <= window.innerWidth") == "true")
        try await browser.documentationScreenshot("intake-asn-page")
        let errors = try await browser.consoleErrors()
        #expect(errors.filter { !$0.contains("422") }.isEmpty, "console errors: \(errors)")
    }

    @Test("a photo over 5 MB is downscaled in the page with its EXIF APP1 carried over, and accepted")
    func largePhotoKeepsExif() async throws {
        // ≈3000×2250 of fine noise at quality 98 is well over 5 MB.
        let width = 3000
        let height = 2250
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        var state: UInt32 = 12_345
        rgb.withUnsafeMutableBufferPointer { pixels in
            for index in 0..<pixels.count {
                state = state &* 1_664_525 &+ 1_013_904_223
                pixels[index] = UInt8(truncatingIfNeeded: 60 + Int(state >> 25) + (index / 3 % width) / 40)
            }
        }
        let large = ExifBuilder.splice(
            PhotoSamples.phoneExif().app1(),
            into: try #require(JPEGCodec.encode(rgb: rgb, width: width, height: height, quality: 98)))
        try #require(large.count > SubmissionRules.maxEvidenceBytes, "the sample must be over 5 MB: \(large.count)")
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("besar-\(UUID()).jpg").path
        try Data(large).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }

        try await F.withIntakeApp(evidenceStore: InMemoryEvidenceStore(), program: F.program, testing: .live) {
            client, pool, _, _ in
            let port = try #require(client.port)
            let browser = try await HeadlessChromium.launch(width: 412, height: 915)
            do {
                try await browser.open("http://127.0.0.1:\(port)/")
                try await browser.type("#token", try await F.token())
                try await browser.click("#login")
                try await browser.waitUntil("document.querySelectorAll('#activity option').length === 2")
                try await browser.type("#photo", path)
                try await browser.click("#submit")
                try await browser.waitUntil(
                    "document.getElementById('message').textContent.includes('Terkirim')", timeout: .seconds(60))
                let event = try #require(try await outboxEvents(SubmissionReceived.self, pool).first)
                let evidence = try #require(event.evidence.first)
                #expect(evidence.sizeBytes <= SubmissionRules.maxEvidenceBytes)
                #expect(evidence.width.map { $0 < width } == true, "downscaled: \(String(describing: evidence.width))")
                #expect(evidence.capture?.cameraModel == "SM-A145F", "the camera's EXIF survived the re-encode")
                #expect(evidence.capture?.capturedAt == RFC3339.parse("2026-11-30T01:15:30Z"))
            } catch {
                await browser.quit()
                throw error
            }
            await browser.quit()
        }
    }
}
