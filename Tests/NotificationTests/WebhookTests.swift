import Contracts
import Crypto
import Database
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import TestSupport
import Testing

@testable import Notification

/// Webhooks end to end: subscription over the API, the durable queue, Standard Webhooks signatures checked by a
/// receiver with its own HMAC code, retries, 410 and the failure window, the delivery log, SSRF checks.
@Suite("Notification: webhooks")
struct WebhookTests {
    typealias F = NotificationFixture

    /// HMAC-SHA256 written out from RFC 2104 over SHA-256, independent of the service's signing code.
    static func hmacSHA256(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var key = key
        if key.count > 64 { key = Array(SHA256.hash(data: key)) }
        key += [UInt8](repeating: 0, count: 64 - key.count)
        let inner = Array(SHA256.hash(data: key.map { $0 ^ 0x36 } + message))
        return Array(SHA256.hash(data: key.map { $0 ^ 0x5c } + inner))
    }

    /// Verifies a request as a receiver would: every `v1,` signature in the header is checked against `secret`;
    /// returns whether one matches.
    static func verify(_ request: TestReceiver.Recorded, secret: String) -> Bool {
        guard let id = request.headers[HTTPField.Name("webhook-id")!],
            let timestamp = request.headers[HTTPField.Name("webhook-timestamp")!],
            let header = request.headers[HTTPField.Name("webhook-signature")!],
            abs((Int(timestamp) ?? 0) - Int(Date().timeIntervalSince1970)) < 300,
            secret.hasPrefix("whsec_"), let key = Data(base64Encoded: String(secret.dropFirst(6)))
        else { return false }
        let expected = Data(
            hmacSHA256(key: Array(key), message: Array("\(id).\(timestamp).".utf8) + Array(request.body))
        ).base64EncodedString()
        return header.split(separator: " ").contains { $0 == "v1,\(expected)" }
    }

    static func subscribe(
        _ client: any TestClientProtocol, url: String, types: [String] = ["points.awarded"], token: String
    ) async throws -> (id: String, secret: String) {
        let body = try JSONSerialization.data(withJSONObject: [
            "url": url, "eventTypes": types, "description": "Dasbor",
        ])
        let response = try await client.execute(
            uri: "/v1/webhooks", method: .post, headers: F.auth(token), body: ByteBuffer(bytes: body))
        #expect(response.status == .created)
        let json = try JSONBody(response)
        return (try #require(json["id"] as? String), try #require(json["secret"] as? String))
    }

    @Test("a receiver sees signed retries after 500s, the same webhook-id each time, then success; the log shows it")
    func retriesThenSuccess() async throws {
        let receiver = TestReceiver { index, _ in index < 2 ? .internalServerError : .noContent }
        try await receiver.run { base in
            try await F.withStack(parts: [.webhooks]) { client, stack in
                let token = try await F.token(nip: F.head, roles: ["dashboard"])
                let (id, secret) = try await Self.subscribe(client, url: base + "/hook", token: token)
                #expect(secret.hasPrefix("whsec_"))
                #expect((Data(base64Encoded: String(secret.dropFirst(6)))?.count ?? 0) >= 24)
                let event = try F.awarded()
                try await F.deliver([event], to: stack.pool)

                #expect(await eventually { receiver.requests(path: "/hook").count >= 3 })
                try await Task.sleep(for: .milliseconds(500))
                let requests = receiver.requests(path: "/hook")
                #expect(requests.count == 3)
                #expect(requests.allSatisfy { Self.verify($0, secret: secret) })
                #expect(!Self.verify(requests[0], secret: StandardWebhooks.newSecret()))
                #expect(Set(requests.map { $0.headers[HTTPField.Name("webhook-id")!] }).count == 1)
                // The retry schedule (200 ms, 400 ms ±10 %) spaced the attempts.
                #expect(requests[1].at.timeIntervalSince(requests[0].at) >= 0.17)
                #expect(requests[2].at.timeIntervalSince(requests[1].at) >= 0.35)
                let cloudEvent = try JSONSerialization.jsonObject(with: requests[0].body) as? [String: Any]
                #expect(cloudEvent?["id"] as? String == event.id)
                #expect(cloudEvent?["type"] as? String == PointsAwarded.eventType)
                #expect((cloudEvent?["data"] as? [String: Any])?["totalInPeriod"] as? Int == 140)

                // The receiver answered 204 before the service recorded it: wait for the log to say so.
                #expect(
                    await eventually {
                        let log = try await client.execute(
                            uri: "/v1/webhooks/\(id)/deliveries", method: .get, headers: F.auth(token))
                        let items = try JSONBody(log)["items"] as? [[String: Any]]
                        return items?.first?["status"] as? String == "delivered"
                    })
                let log = try await client.execute(
                    uri: "/v1/webhooks/\(id)/deliveries", method: .get, headers: F.auth(token))
                #expect(log.status == .ok)
                let items = try #require(try JSONBody(log)["items"] as? [[String: Any]])
                #expect(items.count == 1)
                let attempts = try #require(items.first?["log"] as? [[String: Any]])
                #expect(attempts.compactMap { $0["statusCode"] as? Int } == [500, 500, 204])
            }
        }
    }

    @Test("the delivery log pages newest first with a cursor; a bad cursor is a 400")
    func deliveryLogPages() async throws {
        let receiver = TestReceiver { _, _ in .noContent }
        try await receiver.run { base in
            try await F.withStack(parts: [.webhooks]) { client, stack in
                let token = try await F.token(nip: F.head, roles: ["dashboard"])
                let (id, _) = try await Self.subscribe(client, url: base + "/log", token: token)
                // Two batches, the second some milliseconds later: ids are ordered by the millisecond they were
                // made in (within one, at random).
                let older = try (0..<3).map { _ in try F.awarded() }
                let newer = try (0..<2).map { _ in try F.awarded() }
                try await F.deliver(older, to: stack.pool)
                try await Task.sleep(for: .milliseconds(20))
                try await F.deliver(newer, to: stack.pool)
                #expect(await eventually { receiver.requests(path: "/log").count >= 5 })

                var seen: [String] = []
                var pages: [Int] = []
                var cursor: String?
                repeat {
                    let query = "limit=2" + (cursor.map { "&cursor=\($0)" } ?? "")
                    let page = try JSONBody(
                        try await client.execute(
                            uri: "/v1/webhooks/\(id)/deliveries?\(query)", method: .get, headers: F.auth(token)))
                    let items = try #require(page["items"] as? [[String: Any]])
                    pages.append(items.count)
                    seen += items.compactMap { $0["eventId"] as? String }
                    cursor = page["nextCursor"] as? String
                    #expect(cursor == nil || cursor == items.last?["id"] as? String)
                } while cursor != nil && pages.count < 10
                #expect(pages == [2, 2, 1])
                #expect(seen.count == 5)
                #expect(Set(seen.prefix(2)) == Set(newer.map(\.id)))
                #expect(Set(seen.suffix(3)) == Set(older.map(\.id)))

                let bad = try await client.execute(
                    uri: "/v1/webhooks/\(id)/deliveries?cursor=kemarin", method: .get, headers: F.auth(token))
                #expect(bad.status == .badRequest)
                #expect(try JSONBody(bad)["code"] as? String == "INVALID_CURSOR")
            }
        }
    }

    @Test("410 disables the endpoint, with the reason shown; later events are not queued for it")
    func goneDisables() async throws {
        let receiver = TestReceiver { _, _ in .gone }
        try await receiver.run { base in
            try await F.withStack(parts: [.webhooks]) { client, stack in
                let token = try await F.token(nip: F.head, roles: ["operator"])
                let (id, _) = try await Self.subscribe(client, url: base + "/gone", token: token)
                try await F.deliver([try F.awarded()], to: stack.pool)
                #expect(
                    await eventually {
                        let list = try await client.execute(uri: "/v1/webhooks", method: .get, headers: F.auth(token))
                        let items = try JSONBody(list)["items"] as? [[String: Any]]
                        return items?.first { $0["id"] as? String == id }?["enabled"] as? Bool == false
                    })
                let list = try await client.execute(uri: "/v1/webhooks", method: .get, headers: F.auth(token))
                let endpoint = try #require((try JSONBody(list)["items"] as? [[String: Any]])?.first)
                #expect((endpoint["disabledReason"] as? String)?.contains("410") == true)
                #expect(endpoint["secret"] == nil)
                try await F.deliver([try F.awarded()], to: stack.pool)
                try await Task.sleep(for: .milliseconds(500))
                #expect(receiver.requests(path: "/gone").count == 1)
                #expect(try await F.count(stack.pool, "SELECT count(*) FROM webhook_deliveries") == 1)
            }
        }
    }

    @Test("an endpoint that keeps failing past the failure window is disabled; the schedule's end fails a delivery")
    func failureWindowDisables() async throws {
        let receiver = TestReceiver { _, _ in .serviceUnavailable }
        let settings = F.settings {
            $0.webhookRetrySchedule = [.milliseconds(300), .milliseconds(300), .milliseconds(300)]
            $0.webhookDisableAfter = .milliseconds(500)
        }
        try await receiver.run { base in
            try await F.withStack(settings: settings, parts: [.webhooks]) { client, stack in
                let token = try await F.token(nip: F.head, roles: ["dashboard"])
                _ = try await Self.subscribe(client, url: base + "/down", token: token)
                try await F.deliver([try F.awarded()], to: stack.pool)
                #expect(
                    await eventually {
                        try await F.count(stack.pool, "SELECT count(*) FROM webhook_endpoints WHERE NOT enabled") == 1
                    })
                let reason = try await stack.pool.withConnection { connection in
                    try await connection.query("SELECT disabled_reason FROM webhook_endpoints").first?.decode(
                        "disabled_reason", as: String.self)
                }
                #expect(reason?.contains("Gagal terus-menerus") == true)
                #expect(receiver.requests(path: "/down").count >= 2)
            }
        }
    }

    @Test("a rotated secret signs beside the old one until the old one expires")
    func rotation() async throws {
        let receiver = TestReceiver { _, _ in .ok }
        try await receiver.run { base in
            try await F.withStack(parts: [.webhooks]) { client, stack in
                let token = try await F.token(nip: F.head, roles: ["dashboard"])
                let (id, old) = try await Self.subscribe(client, url: base + "/rotate", token: token)
                let rotated = try await client.execute(
                    uri: "/v1/webhooks/\(id)/secret", method: .post, headers: F.auth(token))
                #expect(rotated.status == .ok)
                let new = try #require(try JSONBody(rotated)["secret"] as? String)
                #expect(new != old)
                try await F.deliver([try F.awarded()], to: stack.pool)
                #expect(await eventually { receiver.requests(path: "/rotate").count == 1 })
                let request = try #require(receiver.requests(path: "/rotate").first)
                #expect(request.headers[HTTPField.Name("webhook-signature")!]?.split(separator: " ").count == 2)
                #expect(Self.verify(request, secret: old))
                #expect(Self.verify(request, secret: new))
            }
        }
    }

    @Test("subscriptions are checked: roles, event types, and addresses (SSRF)")
    func subscriptionChecks() async throws {
        try await F.withStack(settings: F.settings { $0.allowPrivateTargets = false }) { client, _ in
            let dashboard = try await F.token(nip: F.head, roles: ["dashboard"])
            func post(_ object: [String: Any], token: String) async throws -> TestResponse {
                try await client.execute(
                    uri: "/v1/webhooks", method: .post, headers: F.auth(token),
                    body: ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: object)))
            }
            let asn = try await post(
                ["url": "https://example.org/h", "eventTypes": ["points.awarded"]], token: try await F.token())
            #expect(asn.status == .forbidden)
            #expect(asn.headers[.contentType] == "application/problem+json")
            let none = try await client.execute(uri: "/v1/webhooks", method: .get)
            #expect(none.status == .unauthorized)
            for url in [
                "http://127.0.0.1:8080/h", "http://169.254.169.254/latest/meta-data", "http://[::1]/h",
                "http://10.1.2.3/h", "ftp://example.org/h", "http://localhost/h",
            ] {
                let refused = try await post(["url": url, "eventTypes": ["points.awarded"]], token: dashboard)
                #expect(refused.status == .unprocessableContent, "\(url)")
            }
            // Confidential events never leave for webhooks.
            let secret = try await post(
                ["url": "http://127.0.0.1/h", "eventTypes": ["penalty.applied"]], token: dashboard)
            #expect(secret.status == .unprocessableContent)
        }
        // Link-local / metadata stays refused even where an operator allows private targets.
        let policy = WebhookTargetPolicy(allowPrivate: true)
        await #expect(throws: WebhookTargetPolicy.Refusal.self) { try await policy.check("http://169.254.169.254/") }
        _ = try await policy.check("http://127.0.0.1:9/")
        #expect(WebhookTargetPolicy.classify("fe80::1") == .forbidden)
        #expect(WebhookTargetPolicy.classify("::ffff:127.0.0.1") == .privateOrLoopback)
        #expect(WebhookTargetPolicy.classify("172.20.0.1") == .privateOrLoopback)
        #expect(WebhookTargetPolicy.classify("93.184.216.34") == .public)
    }

    @Test("two dead endpoints hold up no live one; once failing, each gets a probe or two at a time")
    func deadEndpointsHoldUpNoOther() async throws {
        let receiver = TestReceiver { _, _ in .noContent }
        // Two endpoints that take connections but never answer: each request waits for the 20 s timeout.
        let silent = try (0..<2).map { _ in try silentLoopbackListener() }
        defer { for listener in silent { close(listener.fd) } }
        let settings = {
            var settings = F.settings()
            settings.webhookTimeout = .seconds(20)
            return settings
        }()
        try await receiver.run { base in
            try await F.withStack(settings: settings, parts: [.webhooks]) { client, stack in
                let token = try await F.token(nip: F.head, roles: ["operator"])
                var dead: [String] = []
                for listener in silent {
                    let url = "http://127.0.0.1:\(listener.port)/mati"
                    dead.append(try await Self.subscribe(client, url: url, token: token).id)
                }
                let live = try await Self.subscribe(client, url: base + "/hidup", token: token).id
                try await F.deliver(try (0..<150).map { _ in try F.awarded() }, to: stack.pool)
                #expect(await eventually(timeout: .seconds(60)) { receiver.requests(path: "/hidup").count == 150 })
                let deadList = "'{\(dead.joined(separator: ","))}'::uuid[]"
                #expect(
                    await eventually(timeout: .seconds(60)) {
                        try await F.count(
                            stack.pool, "SELECT count(*) FROM webhook_attempts WHERE endpoint_id = ANY (\(deadList))")
                            > 0
                    })
                // The live endpoint had its own share of slots from the start: at least that many deliveries (64)
                // were done before the dead endpoints' first attempts timed out. (With every slot taken by the dead
                // ones, it got about a third of the first claim.)
                let liveFirst = try await F.count(
                    stack.pool,
                    """
                    SELECT count(*) FROM webhook_attempts
                    WHERE endpoint_id = '\(live)' AND attempted_at <= (SELECT min(attempted_at) FROM webhook_attempts
                                                                      WHERE endpoint_id = ANY (\(deadList)))
                    """)
                #expect(liveFirst >= 64)

                // After their first failures the dead endpoints are failing: at most 2 sends each at a time.
                let sendingToDead = """
                    SELECT coalesce(max(n), 0) FROM (
                        SELECT count(*) AS n FROM webhook_deliveries
                        WHERE status = 'sending' AND endpoint_id = ANY (\(deadList)) GROUP BY endpoint_id) AS s
                    """
                #expect(
                    await eventually(timeout: .seconds(60)) {
                        let failing = try await F.count(
                            stack.pool, "SELECT count(*) FROM webhook_endpoints WHERE failing_since IS NOT NULL")
                        let sending = try await F.count(stack.pool, sendingToDead)
                        return failing == 2 && sending <= 2
                    })
                for _ in 0..<5 {
                    let sending = try await F.count(stack.pool, sendingToDead)
                    #expect(sending <= 2)
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
        }
    }

    @Test("a delete stops deliveries; a dashboard does not see another's endpoints")
    func deleteAndOwnership() async throws {
        try await F.withStack { client, stack in
            let mine = try await F.token(nip: F.head, roles: ["dashboard"])
            let theirs = try await F.token(nip: F.budi, roles: ["dashboard"])
            let (id, _) = try await Self.subscribe(client, url: "http://127.0.0.1:9/h", token: mine)
            let other = try await client.execute(uri: "/v1/webhooks", method: .get, headers: F.auth(theirs))
            #expect((try JSONBody(other)["items"] as? [Any])?.isEmpty == true)
            let forbidden = try await client.execute(
                uri: "/v1/webhooks/\(id)", method: .delete, headers: F.auth(theirs))
            #expect(forbidden.status == .notFound)
            let deleted = try await client.execute(uri: "/v1/webhooks/\(id)", method: .delete, headers: F.auth(mine))
            #expect(deleted.status == .noContent)
            try await F.deliver([try F.awarded()], to: stack.pool)
            #expect(try await F.count(stack.pool, "SELECT count(*) FROM webhook_deliveries") == 0)
        }
    }
}
