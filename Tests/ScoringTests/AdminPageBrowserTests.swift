import Database
import Foundation
import Hummingbird
import HummingbirdTesting
import ServiceSupport
import TestSupport
import Testing

@testable import Scoring

/// The BKPP admin page at `/admin` in a real headless Chromium against the real service and database.
@Suite("Scoring: BKPP admin page")
struct AdminPageBrowserTests {
    typealias O = ObligationsFixture
    typealias F = ScoringFixture

    /// The service listening on a real port, on a fresh database with the repository's program files.
    static func withLiveApp(
        now: Date = ScoringFixture.february, _ body: @Sendable (Int, DatabasePool) async throws -> Void
    ) async throws {
        try await O.withApp(now: now, testing: .live) { client, pool in
            try await body(try #require(client.port), pool)
        }
    }

    @Test("BKPP uploads a program, checks and imports a roster, starts a campaign, registers a commitment, exports")
    func adminPage() async throws {
        try await Self.withLiveApp { port, pool in
            try await O.seed(pool)
            let token = try await TokenIssuer(hs256Secret: F.secret).token(
                nip: O.admin, name: "Admin BKPP", opd: "BKPP", roles: ["scoring-admin"], expiresIn: .seconds(600))
            let browser = try await HeadlessChromium.launch(width: 412, height: 915)
            let csv = FileManager.default.temporaryDirectory.appendingPathComponent("roster-\(UUID()).csv")
            defer { try? FileManager.default.removeItem(at: csv) }
            do {
                try await browser.open("http://127.0.0.1:\(port)/admin#token=\(token)")
                #expect(try await browser.text("h1") == "Admin BKPP — Reward ASN")
                try await browser.waitUntil("document.getElementById('who').textContent.includes('Admin BKPP')")
                // Fits a phone: no horizontal scrolling (which also threw WebDriver's clicks off target).
                #expect(try await browser.evaluate("return document.documentElement.scrollWidth") == "412")
                // The token left the address bar.
                #expect(try await browser.evaluate("return location.hash") == "\"\"")

                // A program file with a typo: the 422's line and column are listed.
                let yaml = try String(
                    contentsOf: F.programsDirectory.appendingPathComponent("peduli-sampah.yaml"), encoding: .utf8
                ).replacingOccurrences(of: "version: 1", with: "version: 2")
                    .replacingOccurrences(of: "    basePoints: 15\n", with: "    basePoint: 15\n")
                let line =
                    (yaml.split(separator: "\n", omittingEmptySubsequences: false).firstIndex {
                        $0 == "    basePoint: 15"
                    } ?? -2) + 1
                _ = try await browser.evaluate(
                    "document.getElementById('programText').value = \(Self.jsString(yaml)); return null")
                try await Self.press(browser, "#programUpload")
                try await browser.waitUntil("document.querySelectorAll('#programProblems li').length > 0")
                let problems = try await browser.text("#programProblems")
                #expect(problems.contains("baris \(line), kolom"))
                #expect(problems.contains("activities[1].basePoint"))

                // Roster: the dry run reports, nothing changes; then the import.
                let header = "nip,name,opd,unit,phone,email,office_lat,office_lon,home_lat,home_lon,active\n"
                try (header + "199202022019032001,Rina Kartika,DISDIK,,,,,,,,true\n").write(
                    to: csv, atomically: true, encoding: .utf8)
                try await browser.type("#rosterFile", csv.path)
                try await Self.press(browser, "#rosterDryRun")
                try await browser.waitUntil("document.getElementById('rosterResult').textContent.includes('Uji coba')")
                #expect(try await browser.text("#rosterResult").contains("1 baru"))
                #expect(try await F.count("SELECT count(*) FROM roster WHERE opd = 'DISDIK'", pool: pool) == 0)
                try await browser.waitUntil("!document.getElementById('rosterImport').disabled")
                try await Self.press(browser, "#rosterImport")
                try await browser.waitUntil("document.getElementById('rosterResult').textContent.includes('Diimpor')")
                #expect(try await F.count("SELECT count(*) FROM roster WHERE opd = 'DISDIK'", pool: pool) == 1)

                // A campaign.
                try await browser.type("#campaignName", "Hari Peduli Sampah Nasional")
                _ = try await browser.evaluate(
                    """
                    document.getElementById('campaignStart').value = '2026-02-21T00:00';
                    document.getElementById('campaignEnd').value = '2026-02-22T00:00'; return null
                    """)
                try await Self.press(browser, "#campaignCreate")
                try await browser.waitUntil("document.getElementById('campaignResult').textContent !== ''")
                #expect(try await browser.text("#campaignResult").contains("Kampanye dimulai"))
                try await browser.waitUntil(
                    "document.getElementById('campaignList').textContent.includes('Hari Peduli Sampah Nasional')")

                // A commitment: a missing target is named, then a valid one is listed.
                try await browser.type("#commitmentOpd", "DISDIK")
                try await browser.type("#commitmentPeriod", "2026-Q2")
                try await browser.select("#commitmentMetric", value: "kg_sorted")
                try await browser.type("#commitmentBaseline", "10")
                try await Self.press(browser, "#commitmentCreate")
                try await browser.waitUntil(
                    "document.getElementById('commitmentProblems').textContent.includes('/target')")
                try await browser.type("#commitmentTarget", "25.5")
                try await Self.press(browser, "#commitmentCreate")
                try await browser.waitUntil(
                    "document.getElementById('commitmentList').textContent.includes('DISDIK')")
                #expect(try await browser.text("#commitmentList").contains("menunggu"))
                #expect(
                    try await F.count(
                        "SELECT count(*) FROM commitments WHERE opd = 'DISDIK' AND target = 25.5", pool: pool)
                        == 1)

                // The export of the open quarter downloads and says it is provisional.
                try await browser.type("#exportPeriod", "2026-Q1")
                try await Self.press(browser, "#exportCsv")
                try await browser.waitUntil("document.getElementById('exportResult').textContent.includes('diunduh')")
                #expect(try await browser.text("#exportResult").contains("SEMENTARA"))
                try await browser.documentationScreenshot("scoring-admin")
                // Only the two refusals the test provoked (the bad program file, the commitment without a target).
                let errors = try await browser.consoleErrors().filter {
                    !($0.contains("/v1/programs/peduli-sampah ") && $0.contains("422"))
                        && !($0.contains("/v1/commitments ") && $0.contains("422"))
                }
                #expect(errors == [])
            } catch {
                print("admin page console: \((try? await browser.consoleErrors()) ?? [])")
                await browser.quit()
                throw error
            }
            await browser.quit()
        }
    }

    @Test("BKPP closes a period from the admin page after a confirmation; cancelling closes nothing")
    func periodClose() async throws {
        try await Self.withLiveApp(now: O.closedAt) { port, pool in
            try await O.seed(pool)
            let token = try await TokenIssuer(hs256Secret: F.secret).token(
                nip: O.admin, name: "Admin BKPP", opd: "BKPP", roles: ["scoring-admin"], expiresIn: .seconds(600))
            let browser = try await HeadlessChromium.launch(width: 412, height: 915)
            do {
                try await browser.open("http://127.0.0.1:\(port)/admin#token=\(token)")
                let row = "#periodList tr[data-period='2026-Q1']"
                try await browser.waitUntil(
                    "document.querySelector(\(Self.jsString(row + " button.close-period"))) !== null")
                #expect(try await browser.text(row).contains("terbuka"))

                // Cancelled: nothing happens.
                try await Self.press(browser, row + " button.close-period")
                try await browser.waitUntil("document.getElementById('closeDialog').open")
                #expect(try await browser.text("#closeName") == "Triwulan I 2026")
                try await browser.click("#closeCancel")
                try await browser.waitUntil("!document.getElementById('closeDialog').open")
                try await Task.sleep(for: .milliseconds(500))
                #expect(try await F.count("SELECT count(*) FROM periods WHERE state = 'closed'", pool: pool) == 0)

                // Confirmed: closed, with the obligations of the close.
                try await Self.press(browser, row + " button.close-period")
                try await browser.waitUntil("document.getElementById('closeDialog').open")
                try await browser.click("#closeConfirm")
                try await browser.waitUntil(
                    "document.getElementById('periodResult').textContent.includes('Periode ditutup')",
                    timeout: .seconds(30))
                #expect(try await browser.text("#periodResult").contains("Triwulan I 2026"))
                try await browser.waitUntil(
                    "document.querySelector(\(Self.jsString(row))).textContent.includes('ditutup')")
                #expect(
                    try await F.count(
                        "SELECT count(*) FROM periods WHERE id = '2026-Q1' AND state = 'closed'", pool: pool)
                        == 1)
                #expect(try await F.count("SELECT count(*) FROM sanctions", pool: pool) == 4)
                // The commitments show their outcome.
                try await browser.waitUntil(
                    "document.getElementById('commitmentList').textContent.includes('tidak tercapai')")
                // The export of the closed period is final.
                #expect(
                    try await browser.evaluate("return document.getElementById('exportPeriod').value") == "\"2026-Q1\"")
                try await Self.press(browser, "#exportCsv")
                try await browser.waitUntil("document.getElementById('exportResult').textContent.includes('diunduh')")
                #expect(try await browser.text("#exportResult").contains("Final"))
                try await browser.documentationScreenshot("scoring-admin-close")
                #expect(try await browser.consoleErrors() == [])
            } catch {
                print("admin page console: \((try? await browser.consoleErrors()) ?? [])")
                await browser.quit()
                throw error
            }
            await browser.quit()
        }
    }

    /// Scrolls the element to the middle of the phone-sized window, then clicks it (a real click).
    static func press(_ browser: HeadlessChromium, _ css: String) async throws {
        _ = try await browser.evaluate(
            "document.querySelector(\(jsString(css))).scrollIntoView({block: 'center'}); return null")
        try await browser.click(css)
    }

    static func jsString(_ text: String) -> String {
        let data = try! JSONSerialization.data(withJSONObject: [text])
        return String(String(decoding: data, as: UTF8.self).dropFirst().dropLast())
    }
}
