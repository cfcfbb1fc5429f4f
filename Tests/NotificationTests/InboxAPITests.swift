import Contracts
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import TestSupport
import Testing

@testable import Notification

/// `GET /v1/me/notifications` and the read routes.
@Suite("Notification: in-app inbox API")
struct InboxAPITests {
    typealias F = NotificationFixture

    @Test("pages newest first with a cursor and the unread count; read and read-all update it")
    func pagination() async throws {
        try await F.withStack { client, stack in
            for points in 1...5 { try await F.deliver([try F.awarded(points: points)], to: stack.pool) }
            try await F.deliver([try F.rejected()], to: stack.pool)  // Budi's, not Siti's
            let token = try await F.token()
            let first = try await client.execute(
                uri: "/v1/me/notifications?limit=2", method: .get, headers: F.auth(token))
            #expect(first.status == .ok)
            let page = try JSONBody(first)
            #expect(page["unread"] as? Int == 5)
            let items = try #require(page["items"] as? [[String: Any]])
            #expect(items.compactMap { $0["title"] as? String } == ["Poin bertambah +5", "Poin bertambah +4"])
            let cursor = try #require(page["nextCursor"] as? String)

            var titles = items.compactMap { $0["title"] as? String }
            var next: String? = cursor
            while let current = next {
                let response = try await client.execute(
                    uri: "/v1/me/notifications?limit=2&cursor=\(current)", method: .get, headers: F.auth(token))
                let json = try JSONBody(response)
                titles += (json["items"] as? [[String: Any]] ?? []).compactMap { $0["title"] as? String }
                next = json["nextCursor"] as? String
            }
            #expect(titles == (1...5).reversed().map { "Poin bertambah +\($0)" })

            let id = try #require(items.first?["id"] as? String)
            let read = try await client.execute(
                uri: "/v1/me/notifications/\(id)/read", method: .post, headers: F.auth(token))
            #expect(read.status == .noContent)
            let after = try JSONBody(
                try await client.execute(uri: "/v1/me/notifications", method: .get, headers: F.auth(token)))
            #expect(after["unread"] as? Int == 4)
            #expect((after["items"] as? [[String: Any]])?.first?["readAt"] is String)

            // Budi cannot mark Siti's notification.
            let budi = try await F.token(nip: F.budi)
            let foreign = try await client.execute(
                uri: "/v1/me/notifications/\(id)/read", method: .post, headers: F.auth(budi))
            #expect(foreign.status == .notFound)
            #expect(foreign.headers[.contentType] == "application/problem+json")

            let all = try await client.execute(
                uri: "/v1/me/notifications/read-all", method: .post, headers: F.auth(token))
            #expect(all.status == .ok)
            #expect(try JSONBody(all)["marked"] as? Int == 4)
            let budiInbox = try JSONBody(
                try await client.execute(uri: "/v1/me/notifications", method: .get, headers: F.auth(budi)))
            #expect(budiInbox["unread"] as? Int == 1)
        }
    }

    @Test("tokens and roles are checked; bad cursors are problems")
    func checks() async throws {
        try await F.withStack { client, _ in
            let none = try await client.execute(uri: "/v1/me/notifications", method: .get)
            #expect(none.status == .unauthorized)
            let dashboard = try await F.token(nip: F.head, roles: ["dashboard"])
            let forbidden = try await client.execute(
                uri: "/v1/me/notifications", method: .get, headers: F.auth(dashboard))
            #expect(forbidden.status == .forbidden)
            let bad = try await client.execute(
                uri: "/v1/me/notifications?cursor=abc", method: .get, headers: F.auth(try await F.token()))
            #expect(bad.status == .badRequest)
            let badId = try await client.execute(
                uri: "/v1/me/notifications/xyz/read", method: .post, headers: F.auth(try await F.token()))
            #expect(badId.status == .badRequest)
            let page = try await client.execute(uri: "/", method: .get)
            #expect(page.status == .ok)
            #expect(String(buffer: page.body).contains("Dasbor Langsung"))
        }
    }
}
