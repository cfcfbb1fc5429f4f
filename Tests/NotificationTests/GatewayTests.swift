import Contracts
import Database
import Foundation
import HTTPTypes
import Synchronization
import TestSupport
import Testing

@testable import Notification

/// The WhatsApp/SMS gateway adapter against a gateway server run by the test.
@Suite("Notification: WhatsApp/SMS gateway")
struct GatewayTests {
    typealias F = NotificationFixture

    static func settings(url: String, _ change: (inout NotificationSettings) -> Void = { _ in }) -> NotificationSettings
    {
        F.settings {
            $0.gateway.url = url
            $0.gateway.authHeader = ("Authorization", "Bearer gateway-key")
            change(&$0)
        }
    }

    static func message(_ pool: DatabasePool) async throws -> (status: String, attempts: Int, error: String?)? {
        try await pool.withConnection { connection in
            try await connection.query("SELECT status, attempts, last_error FROM gateway_messages").first.map {
                (try $0.decode("status"), try $0.decode("attempts"), try $0.decode("last_error", as: String?.self))
            }
        }
    }

    @Test("a failing gateway is retried with backoff, then the message is given up and the failure recorded")
    func retriesAndGivesUp() async throws {
        let gateway = TestReceiver { _, _ in .serviceUnavailable }
        try await gateway.run { base in
            try await F.withStack(settings: Self.settings(url: base + "/send"), parts: [.gateway]) { _, stack in
                try await F.deliver([try F.enrolled(F.siti), try F.awarded()], to: stack.pool)
                #expect(await eventually { (try await Self.message(stack.pool))?.status == "failed" })
                let message = try #require(try await Self.message(stack.pool))
                #expect(message.attempts == 3)
                #expect(message.error?.contains("503") == true)
                try await Task.sleep(for: .milliseconds(300))
                let requests = gateway.requests(path: "/send")
                #expect(requests.count == 3)
                #expect(requests.allSatisfy { $0.headers[.authorization] == "Bearer gateway-key" })
                #expect(Set(requests.map { $0.headers[HTTPField.Name("idempotency-key")!] }).count == 1)
                let body = try JSONSerialization.jsonObject(with: requests[0].body) as? [String: Any]
                #expect(body?["to"] as? String == "+6281234567890")
                #expect(body?["channel"] as? String == "whatsapp")
                #expect((body?["text"] as? String)?.hasPrefix("Kegiatan *") == true)
                // Backoff: the second try waited at least half the base pause (full jitter over 50 ms, then 100 ms).
                #expect(requests[1].at.timeIntervalSince(requests[0].at) >= 0.02)
            }
        }
    }

    @Test("a gateway that recovers gets the message once; a 4xx refusal is not retried")
    func recoversAndRefusal() async throws {
        let gateway = TestReceiver { index, path in
            path == "/bad" ? .badRequest : (index == 0 ? .internalServerError : .accepted)
        }
        try await gateway.run { base in
            try await F.withStack(settings: Self.settings(url: base + "/send"), parts: [.gateway]) { _, stack in
                try await F.deliver([try F.enrolled(F.siti), try F.awarded()], to: stack.pool)
                #expect(await eventually { (try await Self.message(stack.pool))?.status == "sent" })
                #expect(try await Self.message(stack.pool)?.attempts == 2)
                try await Task.sleep(for: .milliseconds(300))
                #expect(gateway.requests(path: "/send").count == 2)
            }
            try await F.withStack(settings: Self.settings(url: base + "/bad"), parts: [.gateway]) { _, stack in
                try await F.deliver([try F.enrolled(F.siti), try F.awarded()], to: stack.pool)
                #expect(await eventually { (try await Self.message(stack.pool))?.status == "failed" })
                #expect(try await Self.message(stack.pool)?.attempts == 1)
            }
        }
    }

    @Test("during quiet hours messages wait; after them they are sent")
    func quietHours() async throws {
        let gateway = TestReceiver { _, _ in .ok }
        let clock = Clock()
        // Quiet hours 21:00–06:00 Jakarta; the test's clock starts at 23:00 Jakarta (16:00 UTC).
        clock.set(ISO8601DateFormatter().date(from: "2026-03-02T16:00:00Z")!)
        let settings = Self.settings(url: "") { $0.gateway.quietHours = QuietHours(start: 21 * 60, end: 6 * 60) }
        try await gateway.run { base in
            var settings = settings
            settings.gateway.url = base + "/send"
            try await F.withStack(settings: settings, parts: [.gateway], now: { clock.now }) { _, stack in
                try await F.deliver([try F.enrolled(F.siti), try F.awarded()], to: stack.pool)
                try await Task.sleep(for: .seconds(1))
                #expect(gateway.requests.isEmpty)
                #expect(try await Self.message(stack.pool)?.status == "pending")
                clock.set(ISO8601DateFormatter().date(from: "2026-03-02T23:30:00Z")!)  // 06:30 Jakarta
                #expect(await eventually { (try await Self.message(stack.pool))?.status == "sent" })
            }
        }
        let quiet = QuietHours(start: 21 * 60, end: 6 * 60)
        #expect(quiet.contains(ISO8601DateFormatter().date(from: "2026-03-02T22:59:00Z")!))  // 05:59
        #expect(!quiet.contains(ISO8601DateFormatter().date(from: "2026-03-02T23:00:00Z")!))  // 06:00
        #expect(
            quiet.end(after: ISO8601DateFormatter().date(from: "2026-03-02T16:00:00Z")!)
                == ISO8601DateFormatter().date(from: "2026-03-02T23:00:00Z")!)
    }

    @Test("the token bucket paces sends at the configured rate")
    func rateLimit() {
        var bucket = TokenBucket(ratePerSecond: 5)
        var waits: [Duration] = []
        for _ in 0..<10 { if let wait = bucket.take() { waits.append(wait) } }
        // The first 5 go at once, the rest wait ≈ 0.2 s more each.
        #expect(waits.count == 5)
        #expect(waits.last! >= .milliseconds(900))
    }

    /// A settable clock for the quiet-hours test.
    final class Clock: Sendable {
        private let value = Mutex(Date())
        var now: Date { value.withLock { $0 } }
        func set(_ date: Date) { value.withLock { $0 = date } }
    }
}
