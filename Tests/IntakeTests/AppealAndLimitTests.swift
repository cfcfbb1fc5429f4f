import Contracts
import Database
import Eventing
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ServiceSupport
import Testing

@testable import Intake

/// Appeals (owner only, once, only after an appealable rejection), evidence access, abuse limits, and the ASN's
/// own list with cursor pagination and a status filter, on a real PostgreSQL database.
@Suite("Intake appeals, evidence access, limits and the own list")
struct AppealAndLimitTests {
    typealias F = IntakeFixture

    static func submit(_ client: any TestClientProtocol, token: String, key: String = UUID().uuidString) async throws
        -> TestResponse
    {
        try await client.execute(
            uri: "/v1/submissions", method: .post, headers: F.headers(token: token, idempotencyKey: key), body: F.body()
        )
    }

    static func reject(_ pool: DatabasePool, _ id: String, appealable: Bool? = nil, onAppeal: Bool? = nil) async throws
    {
        let event = SubmissionRejected(
            submissionId: UUID(uuidString: id)!, nip: F.nip, opd: "DLH",
            reasonCode: ReasonCode.outsideGeofence.rawValue,
            reason: ReasonCode.outsideGeofence.indonesianText, decidedAt: Date(), decidedBy: F.verifierNIP,
            fraud: false,
            appealable: appealable, onAppeal: onAppeal)
        let cloudEvent = try CloudEvent(event, from: .verification)
        try await pool.withTransaction { connection in
            _ = try await StatusProjection(logger: F.logger).apply([cloudEvent], in: connection)
        }
    }

    static func appeal(
        _ client: any TestClientProtocol, _ id: String, token: String,
        reason: String = "Foto diambil di kantor, GPS ponsel sempat mati."
    )
        async throws -> TestResponse
    {
        let body = try JSONSerialization.data(withJSONObject: ["reason": reason])
        return try await client.execute(
            uri: "/v1/submissions/\(id)/appeal", method: .post,
            headers: [.authorization: "Bearer \(token)", .contentType: "application/json"],
            body: ByteBuffer(bytes: body))
    }

    @Test(
        "appeal: not the owner 403, not rejected 409, a final rejection 409, once 202 then 409; appeal.filed in the outbox"
    )
    func appealRules() async throws {
        try await F.withApp { client, pool, _ in
            let token = try await F.token()
            let created = try await Self.submit(client, token: token)
            let id = try #require(try JSONBody(created).string("id"))

            let notRejected = try await Self.appeal(client, id, token: token)
            #expect(notRejected.status == .conflict)
            #expect(try JSONBody(notRejected).string("code") == "NOT_APPEALABLE")
            #expect(notRejected.headers[.contentType] == ProblemDetails.mediaType)

            try await Self.reject(pool, id)
            let other = try await Self.appeal(client, id, token: try await F.token(nip: F.otherNIP))
            #expect(other.status == .forbidden)
            let auditor = try await Self.appeal(
                client, id, token: try await F.token(nip: F.otherNIP, roles: ["auditor"]))
            #expect(auditor.status == .forbidden)
            let short = try await Self.appeal(client, id, token: token, reason: "salah")
            #expect(short.status == .unprocessableContent)
            #expect((try JSONBody(short)["errors"] as? [[String: Any]])?.first?["field"] as? String == "reason")
            let malformed = try await client.execute(
                uri: "/v1/submissions/\(id)/appeal", method: .post,
                headers: [.authorization: "Bearer \(token)", .contentType: "application/json"],
                body: ByteBuffer(string: "{\"reason\": "))
            #expect(malformed.status == .badRequest)
            #expect(try await outboxEvents(AppealFiled.self, pool).isEmpty)

            let listed = try await client.execute(
                uri: "/v1/me/submissions", method: .get, headers: [.authorization: "Bearer \(token)"])
            let item = try #require((JSONBody(listed)["items"] as? [[String: Any]])?.first)
            #expect(item["status"] as? String == "rejected" && item["appealable"] as? Bool == true)

            let filed = try await Self.appeal(client, id, token: token)
            #expect(filed.status == .accepted, "\(String(buffer: filed.body))")
            #expect(try JSONBody(filed).string("status") == "appealed")
            let events = try await outboxEvents(AppealFiled.self, pool)
            #expect(events.count == 1)
            #expect(events.first?.submissionId.lowercased == id)
            #expect(events.first?.originalReasonCode == "OUTSIDE_GEOFENCE")
            #expect(events.first?.originalDecidedBy == F.verifierNIP)
            #expect(events.first?.statement == "Foto diambil di kantor, GPS ponsel sempat mati.")

            let second = try await Self.appeal(client, id, token: token)
            #expect(second.status == .conflict)
            #expect(try JSONBody(second).string("code") == "ALREADY_APPEALED")

            // The decision on appeal (a rejection) is final: no second appeal even though it is a rejection.
            try await Self.reject(pool, id, onAppeal: true)
            let final = try await client.execute(
                uri: "/v1/submissions/\(id)", method: .get, headers: [.authorization: "Bearer \(token)"])
            #expect(try JSONBody(final).string("status") == "rejected")
            #expect(try JSONBody(final)["appealable"] as? Bool == false)
            #expect(try await Self.appeal(client, id, token: token).status == .conflict)
            #expect(try await outboxEvents(AppealFiled.self, pool).count == 1)

            // A rejection marked not appealable cannot be appealed.
            let other2 = try #require(try JSONBody(try await Self.submit(client, token: token)).string("id"))
            try await Self.reject(pool, other2, appealable: false)
            let refused = try await Self.appeal(client, other2, token: token)
            #expect(refused.status == .conflict)
            #expect(try JSONBody(refused).string("code") == "NOT_APPEALABLE")
        }
    }

    @Test(
        "evidence: owner, verifier and auditor get it with Cache-Control private; other ASN 404; scoring-admin 403; no token 401"
    )
    func evidenceAccess() async throws {
        try await F.withApp { client, _, _ in
            let token = try await F.token()
            let photo = F.png()
            let created = try await client.execute(
                uri: "/v1/submissions", method: .post, headers: F.headers(token: token), body: F.body(photos: [photo]))
            #expect(created.status == .accepted)
            let uri = "/v1/evidence/\(EvidenceHash.sha256(photo))"
            for roles in [["asn"], ["verifier"], ["auditor"]] {
                let caller = roles == ["asn"] ? token : try await F.token(nip: F.verifierNIP, roles: roles)
                let response = try await client.execute(
                    uri: uri, method: .get, headers: [.authorization: "Bearer \(caller)"])
                #expect(response.status == .ok, "\(roles)")
                #expect(response.headers[.contentType] == "image/png")
                #expect(response.headers[.cacheControl]?.hasPrefix("private") == true)
                #expect(Array(response.body.readableBytesView) == photo)
            }
            let other = try await client.execute(
                uri: uri, method: .get, headers: [.authorization: "Bearer \(try await F.token(nip: F.otherNIP))"])
            #expect(other.status == .notFound)
            let admin = try await client.execute(
                uri: uri, method: .get,
                headers: [.authorization: "Bearer \(try await F.token(nip: F.otherNIP, roles: ["scoring-admin"]))"])
            #expect(admin.status == .forbidden)
            #expect(try await client.execute(uri: uri, method: .get).status == .unauthorized)
        }
    }

    @Test("the rate limit answers 429 with Retry-After and problem+json, stores nothing; a replay is not limited")
    func rateLimit() async throws {
        try await F.withIntakeApp(
            evidenceStore: InMemoryEvidenceStore(), limits: AbuseLimits(ratePerWindow: 3, window: 60, dailyCap: 100)
        ) { client, pool, store, _ in
            let token = try await F.token()
            for index in 0..<3 {
                #expect(try await Self.submit(client, token: token, key: "k\(index)").status == .accepted)
            }
            let storedPhotos = store.count
            let limited = try await Self.submit(client, token: token, key: "k3")
            #expect(limited.status == .tooManyRequests)
            #expect(limited.headers[.contentType] == ProblemDetails.mediaType)
            let retryAfter = try #require(limited.headers[.retryAfter].flatMap { Int($0) })
            #expect((1...60).contains(retryAfter))
            #expect(try JSONBody(limited).string("code") == "RATE_LIMITED")
            #expect(try await count(pool, "submissions") == 3)
            #expect(try await count(pool, "outbox") == 3)
            #expect(store.count == storedPhotos, "a refused upload stores no photo")
            // Replaying an accepted request is not a new submission.
            let replay = try await client.execute(
                uri: "/v1/submissions", method: .post, headers: F.headers(token: token, idempotencyKey: "k0"),
                body: F.body())
            #expect(replay.status != .tooManyRequests)
            // Another ASN is not limited by this one.
            #expect(try await Self.submit(client, token: try await F.token(nip: F.otherNIP)).status == .accepted)
        }
    }

    @Test("the daily cap answers 429 DAILY_CAP_REACHED with Retry-After until Jakarta midnight")
    func dailyCap() async throws {
        try await F.withIntakeApp(
            evidenceStore: InMemoryEvidenceStore(), limits: AbuseLimits(ratePerWindow: 100, window: 60, dailyCap: 2)
        ) { client, pool, _, _ in
            let token = try await F.token()
            #expect(try await Self.submit(client, token: token).status == .accepted)
            #expect(try await Self.submit(client, token: token).status == .accepted)
            let capped = try await Self.submit(client, token: token)
            #expect(capped.status == .tooManyRequests)
            #expect(try JSONBody(capped).string("code") == "DAILY_CAP_REACHED")
            let retryAfter = try #require(capped.headers[.retryAfter].flatMap { Int($0) })
            let midnight = AbuseLimits.jakartaDayStart(Date()).addingTimeInterval(86_400)
            #expect(abs(Double(retryAfter) - midnight.timeIntervalSinceNow) < 30)
            #expect(try await count(pool, "submissions") == 2)
        }
    }

    @Test("own list: cursor pages with a next link, a status filter, the quarter's points")
    func pagination() async throws {
        try await F.withApp { client, pool, _ in
            let token = try await F.token()
            var ids: [String] = []
            for _ in 0..<5 {
                ids.append(try #require(try JSONBody(try await Self.submit(client, token: token)).string("id")))
            }
            _ = try await Self.submit(client, token: try await F.token(nip: F.otherNIP))
            try await Self.reject(pool, ids[1])
            let awarded = PointsAwarded(
                entryId: UUID(), submissionId: UUID(uuidString: ids[3])!, nip: F.nip, opd: "DLH",
                program: "peduli-sampah", activity: "pilah_sampah", points: 10, ruleVersion: "peduli-sampah@1",
                period: Period.containing(Date(), kind: .quarter).description, awardedAt: Date(), totalInPeriod: 10)
            let event = try CloudEvent(awarded, from: .scoring)
            try await pool.withTransaction { connection in
                _ = try await StatusProjection(logger: F.logger).apply([event], in: connection)
            }

            var seen: [String] = []
            var uri: String? = "/v1/me/submissions?limit=2"
            var pages = 0
            var quarterPoints: Int?
            while let next = uri {
                let page = try await client.execute(
                    uri: next, method: .get, headers: [.authorization: "Bearer \(token)"])
                #expect(page.status == .ok)
                let json = try JSONBody(page)
                seen += (json["items"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
                uri = json.string("next")
                if let link = uri { #expect(page.headers[HTTPField.Name("Link")!] == "<\(link)>; rel=\"next\"") }
                quarterPoints = (json["quarter"] as? [String: Any])?["points"] as? Int
                pages += 1
            }
            #expect(pages == 3)
            #expect(seen == ids.reversed(), "newest first, each once, only mine")
            #expect(quarterPoints == 10)

            let rejected = try await client.execute(
                uri: "/v1/me/submissions?status=rejected", method: .get, headers: [.authorization: "Bearer \(token)"])
            #expect(
                (try JSONBody(rejected)["items"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [ids[1]])
            let several = try await client.execute(
                uri: "/v1/me/submissions?status=approved,received", method: .get,
                headers: [.authorization: "Bearer \(token)"])
            #expect((try JSONBody(several)["items"] as? [[String: Any]])?.count == 4)

            for bad in ["status=lost", "cursor=bukan-cursor", "limit=0"] {
                let response = try await client.execute(
                    uri: "/v1/me/submissions?\(bad)", method: .get, headers: [.authorization: "Bearer \(token)"])
                #expect(response.status == .badRequest, "\(bad)")
                #expect(response.headers[.contentType] == ProblemDetails.mediaType)
            }
        }
    }
}
