import Foundation
import TestSupport
import Testing

/// The browser harness itself, against a page given inline: if these fail, every page test would lie.
@Suite("Headless Chromium harness", .timeLimit(.minutes(2)))
struct HeadlessChromiumTests {
    @Test("drives a real Chromium: types, clicks, reads text, evaluates, sees console errors and screenshots")
    func drivesARealBrowser() async throws {
        let browser = try await HeadlessChromium.launch(width: 412, height: 915)
        do {
            let page = """
                <!doctype html><meta charset=utf-8><meta name=viewport content="width=device-width,initial-scale=1"><title>uji</title>
                <input id=nama><select id=pilih><option value=a>A</option><option value=b>B</option></select>
                <button id=kirim onclick="document.getElementById('hasil').textContent =
                  'Halo, ' + document.getElementById('nama').value + ' ' + document.getElementById('pilih').value">
                Kirim</button><p id=hasil></p>
                <script>console.error('galat-uji')</script>
                """
            try await browser.open(
                "data:text/html;charset=utf-8," + page.addingPercentEncoding(
                    withAllowedCharacters: .alphanumerics)!)
            try await browser.type("#nama", "Sari")
            try await browser.select("#pilih", value: "b")
            try await browser.click("#kirim")
            try await browser.waitUntil("document.getElementById('hasil').textContent.length > 0")
            #expect(try await browser.text("#hasil") == "Halo, Sari b")
            let width = try await browser.evaluate("return window.innerWidth")
            #expect(width == "412", "innerWidth \(String(describing: width))")
            #expect(try await browser.evaluate("return {a: 1}") == #"{"a":1}"#)
            #expect(try await browser.consoleErrors().contains { $0.contains("galat-uji") })
            let shot = FileManager.default.temporaryDirectory.appendingPathComponent("harness-\(UUID()).png").path
            try await browser.screenshot(to: shot)
            let bytes = try Data(contentsOf: URL(fileURLWithPath: shot))
            #expect(bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]))
            try? FileManager.default.removeItem(atPath: shot)
            await #expect(throws: BrowserError.self) {
                try await browser.waitUntil("false", timeout: .milliseconds(300))
            }
        } catch {
            await browser.quit()
            throw error
        }
        await browser.quit()
    }
}
