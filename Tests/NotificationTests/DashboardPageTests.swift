import Contracts
import Foundation
import HummingbirdTesting
import TestSupport
import Testing

@testable import Notification

/// The live dashboard page at `/` in a real headless Chromium, receiving live events over the stream.
@Suite("Notification: dashboard page")
struct DashboardPageTests {
    typealias F = NotificationFixture

    @Test("the page connects with a dashboard token and shows a live event, the city ranking and the hourly count")
    func liveEvent() async throws {
        try await F.withStack(parts: [.pump], testing: .live) { client, stack in
            let port = try #require(client.port)
            let browser = try await HeadlessChromium.launch(width: 412, height: 915)
            do {
                try await browser.open("http://127.0.0.1:\(port)/")
                #expect(try await browser.text("h1") == "Dasbor Langsung ASN Reward")
                try await browser.type("#token", try await F.token(nip: F.head, roles: ["dashboard"]))
                try await browser.click("#connect")
                try await browser.waitUntil("document.body.dataset.connected === '1'", timeout: .seconds(30))
                #expect(await eventually { stack.hub.clientCount == 1 && stack.pump.publishedSeq != nil })

                let ranking = try CloudEvent(
                    RankingPublished(
                        period: "2026-Q1", scope: "city", program: "peduli-sampah", publishedAt: Date(),
                        entries: [
                            RankingEntry(rank: 1, nip: F.siti, name: "Siti Rahma", opd: "DLH", points: 1250),
                            RankingEntry(rank: 2, nip: F.budi, name: "Budi Santoso", opd: "BKPP", points: 980),
                        ], totalRanked: 2), from: .scoring)
                try await F.deliver([try F.awarded(points: 10, total: 1250), ranking], to: stack.pool)
                try await browser.waitUntil(
                    "document.querySelectorAll('#feed li[data-type]').length === 2", timeout: .seconds(30))
                let feed = try await browser.text("#feed")
                #expect(feed.contains("Siti Rahma (DLH) mendapat +10 poin — total 2026-Q1: 1.250"))
                #expect(feed.contains("Peringkat kota 2026-Q1 diterbitkan"))
                let table = try await browser.text("#ranking")
                #expect(table.contains("Budi Santoso"))
                #expect(table.contains("1.250"))
                #expect(try await browser.evaluate("return document.querySelectorAll('#hours div').length") == "1")
                try await browser.documentationScreenshot("notification-dashboard")
                #expect(try await browser.consoleErrors() == [])
            } catch {
                await browser.quit()
                throw error
            }
            await browser.quit()
        }
    }
}
