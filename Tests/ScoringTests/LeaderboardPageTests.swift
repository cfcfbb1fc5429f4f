import Contracts
import Foundation
import HummingbirdTesting
import ServiceSupport
import TestSupport
import Testing

@testable import Scoring

/// The public leaderboard page at `/` in a real headless Chromium, reading the periods and rankings API.
@Suite("Scoring: leaderboard page")
struct LeaderboardPageTests {
    typealias F = ScoringFixture
    typealias P = PeriodsFixture

    @Test("the page signs in from the link, shows the city ranking with ties and privacy, then one OPD")
    func leaderboard() async throws {
        try await P.withApp(testing: .live) { client, pool in
            let port = try #require(client.port)
            let people = (1...5).map { P.nip($0) }
            try await P.enroll(
                [
                    (people[0], "Ani Lestari", "DLH"), (people[1], "Budi Santoso", "BKPP"),
                    (people[2], "Citra Dewi", "DLH"), (people[3], "Dedi Kurniawan", "DLH"),
                    (people[4], "Eko Prasetyo", "DLH"),
                ], pool: pool)
            try await P.earn(people[0], 3, from: F.jakarta(2025, 11, 3), pool: pool)
            try await P.earn(people[1], 2, from: F.jakarta(2025, 11, 3), opd: "BKPP", pool: pool)
            try await P.earn(people[2], 2, from: F.jakarta(2025, 11, 3), pool: pool)
            try await P.earn(people[3], 1, from: F.jakarta(2025, 11, 3), pool: pool)
            try await P.earn(people[4], 1, from: F.jakarta(2025, 11, 3), pool: pool)
            _ = try await P.close("2025-Q4", client)
            // The viewer ranks 4th, below the names limit (2): their own row still shows their name, Eko's initials.
            let token = try await TokenIssuer(hs256Secret: F.secret).token(
                nip: people[3], name: "Dedi Kurniawan", opd: "DLH", roles: ["asn"], expiresIn: .seconds(600))

            let browser = try await HeadlessChromium.launch(width: 412, height: 915)
            do {
                try await browser.open("http://127.0.0.1:\(port)/?period=2025-Q4#token=\(token)")
                #expect(try await browser.text("h1") == "Papan Peringkat ASN Peduli Sampah")
                try await browser.waitUntil(
                    "(document.body.dataset.loaded || '').startsWith('2025-Q4|city|5')",
                    timeout: .seconds(30))
                // The token left the address bar.
                #expect(try await browser.evaluate("return location.hash") == "\"\"")
                #expect(
                    try await browser.evaluate(
                        "return [...document.querySelectorAll('#ranking tr')].map(r => r.cells[0].textContent)")
                        == #"["1","2","2","4","4"]"#)
                let table = try await browser.text("#ranking")
                #expect(table.contains("Ani Lestari"))
                #expect(table.contains("Budi Santoso"))
                #expect(table.contains("Citra Dewi"))
                #expect(table.contains("E. P."))
                #expect(!table.contains("Eko Prasetyo"))
                #expect(table.contains("Dedi Kurniawan"))
                #expect(
                    try await browser.evaluate("return document.querySelector('tr.me').cells[1].textContent")
                        == "\"Dedi Kurniawan\"")
                #expect(try await browser.text("#state").contains("final"))
                #expect(try await browser.text("#awards").contains("Uang pembinaan Rp 1.000.000"))
                #expect(try await browser.text("#privacy").contains("peringkat 1–2"))

                try await browser.select("#scope", value: "opd:DLH")
                try await browser.waitUntil(
                    "(document.body.dataset.loaded || '').startsWith('2025-Q4|opd:DLH|4')",
                    timeout: .seconds(30))
                #expect(
                    try await browser.evaluate(
                        "return [...document.querySelectorAll('#ranking tr')].map(r => r.cells[0].textContent)")
                        == #"["1","2","3","3"]"#)
                #expect(!(try await browser.text("#ranking")).contains("Budi"))
                #expect(try await browser.text("#title").contains("OPD DLH"))
                try await browser.documentationScreenshot("scoring-leaderboard")
                #expect(try await browser.consoleErrors() == [])
            } catch {
                await browser.quit()
                throw error
            }
            await browser.quit()
        }
    }
}
