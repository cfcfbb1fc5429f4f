import Contracts
import Database
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ServiceSupport
import Testing

@testable import Intake

/// `POST /v1/submissions` and the read routes, through the router, on a real PostgreSQL database.
@Suite("Submission API")
struct SubmissionAPITests {
    typealias F = IntakeFixture

    @Test("a valid upload is accepted with 202, stored, and its submission.received event is in the outbox")
    func happyPath() async throws {
        try await F.withApp { client, pool, store in
            let token = try await F.token()
            let photo = F.jpeg()
            let png = F.png()
            let response = try await client.execute(
                uri: "/v1/submissions", method: .post, headers: F.headers(token: token),
                body: F.body(photos: [photo, png])
            )
            #expect(response.status == .accepted)
            let json = try JSONBody(response)
            let id = try #require(json.string("id"))
            #expect(response.headers[.location] == "/v1/submissions/\(id)")
            #expect(json.string("status") == "received")
            #expect(json.string("activity") == "pilah_sampah")
            #expect(json.string("place") == "office")
            #expect(json["quantity"] as? Double == 2)
            let evidence = try #require(json["evidence"] as? [[String: Any]])
            #expect(evidence.count == 2)
            #expect(evidence[0]["sha256"] as? String == EvidenceHash.sha256(photo))
            #expect(evidence[0]["mediaType"] as? String == "image/jpeg")
            #expect(evidence[0]["sizeBytes"] as? Int == photo.count)
            #expect(evidence[1]["mediaType"] as? String == "image/png")
            #expect(try await store.load(sha256: EvidenceHash.sha256(photo)) == ByteBuffer(bytes: photo))

            let outbox = try await pool.withConnection { connection in
                try await connection.query(
                    "SELECT type, aggregatetype, aggregateid, payload::text AS payload FROM outbox")
            }
            #expect(outbox.count == 1)
            let row = try #require(outbox.first)
            #expect(try row.decode("type", as: String.self) == "id.asnreward.submission.received.v1")
            #expect(try row.decode("aggregatetype", as: String.self) == "submission")
            #expect(try row.decode("aggregateid", as: String.self) == id)
            let payload = try ContractsJSON.decode(
                SubmissionReceived.self, from: Data(try row.decode("payload", as: String.self).utf8))
            #expect(payload.submissionId.lowercased == id)
            #expect(payload.nip == F.nip)
            #expect(payload.opd == "DLH")
            #expect(payload.name == "Siti Rahma")
            #expect(payload.program == "peduli-sampah")
            #expect(payload.evidence.map(\.sha256) == [EvidenceHash.sha256(photo), EvidenceHash.sha256(png)])
            #expect(payload.evidence.allSatisfy { $0.capture == nil })
        }
    }

    @Test("the same Idempotency-Key and request twice gives one submission and a 200 replay with the same id")
    func idempotentReplay() async throws {
        try await F.withApp { client, pool, _ in
            let token = try await F.token()
            let headers = F.headers(token: token, idempotencyKey: "kunci-\(UUID().uuidString)")
            let json = F.submissionJSON()
            let photo = F.jpeg()
            let first = try await client.execute(
                uri: "/v1/submissions", method: .post, headers: headers, body: F.body(json: json, photos: [photo]))
            // The same fields re-serialised with different whitespace are the same request.
            let respaced = json.replacingOccurrences(of: ",", with: ", ")
            let second = try await client.execute(
                uri: "/v1/submissions", method: .post, headers: headers, body: F.body(json: respaced, photos: [photo]))
            #expect(first.status == .accepted)
            #expect(second.status == .ok)
            #expect(second.headers[IntakeHeaders.idempotentReplayed] == "true")
            #expect(try JSONBody(first).string("id") == JSONBody(second).string("id"))
            #expect(try await count(pool, "submissions") == 1)
            #expect(try await count(pool, "outbox") == 1)
        }
    }

    @Test("the same Idempotency-Key with a different request is refused with 422")
    func keyReuseWithDifferentBody() async throws {
        try await F.withApp { client, pool, _ in
            let token = try await F.token()
            let headers = F.headers(token: token, idempotencyKey: "kunci-sama")
            let first = try await client.execute(
                uri: "/v1/submissions", method: .post, headers: headers,
                body: F.body(json: F.submissionJSON(quantity: 2)))
            let second = try await client.execute(
                uri: "/v1/submissions", method: .post, headers: headers,
                body: F.body(json: F.submissionJSON(quantity: 3)))
            #expect(first.status == .accepted)
            #expect(second.status == .unprocessableContent)
            #expect(second.headers[.contentType] == ProblemDetails.mediaType)
            #expect(try JSONBody(second).string("code") == "IDEMPOTENCY_KEY_REUSED")
            #expect(try await count(pool, "submissions") == 1)
        }
    }

    @Test("five concurrent requests with one Idempotency-Key store exactly one submission")
    func concurrentDuplicates() async throws {
        try await F.withApp { client, pool, _ in
            let token = try await F.token()
            let headers = F.headers(token: token, idempotencyKey: "serentak-\(UUID().uuidString)")
            let body = F.body()
            let results = try await withThrowingTaskGroup(of: (HTTPResponse.Status, String?).self) { group in
                for _ in 0..<5 {
                    group.addTask {
                        let response = try await client.execute(
                            uri: "/v1/submissions", method: .post, headers: headers, body: body)
                        return (response.status, try JSONBody(response).string("id"))
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.filter { $0.0 == .accepted }.count == 1)
            #expect(results.filter { $0.0 == .ok }.count == 4)
            #expect(Set(results.compactMap(\.1)).count == 1)
            #expect(try await count(pool, "submissions") == 1)
            #expect(try await count(pool, "submission_evidence") == 1)
            #expect(try await count(pool, "outbox") == 1)
        }
    }

    @Test("a text file named .jpg and sent as image/jpeg is refused with 415")
    func fakeJPEG() async throws {
        try await F.withApp { client, pool, store in
            let token = try await F.token()
            let fake = Array("ini bukan foto, hanya teks biasa".utf8)
            let response = try await client.execute(
                uri: "/v1/submissions", method: .post, headers: F.headers(token: token), body: F.body(photos: [fake]))
            #expect(response.status == .unsupportedMediaType)
            #expect(response.headers[.contentType] == ProblemDetails.mediaType)
            #expect(try JSONBody(response).string("code") == "UNSUPPORTED_MEDIA_TYPE")
            #expect(try await count(pool, "submissions") == 0)
            #expect(store.count == 0)
        }
    }

    @Test("a photo over 5 MB is refused with 413")
    func oversizePhoto() async throws {
        try await F.withApp { client, pool, _ in
            let token = try await F.token()
            let big = F.jpeg(padding: SubmissionRules.maxEvidenceBytes)
            let response = try await client.execute(
                uri: "/v1/submissions", method: .post, headers: F.headers(token: token), body: F.body(photos: [big]))
            #expect(response.status == .contentTooLarge)
            #expect(response.headers[.contentType] == ProblemDetails.mediaType)
            #expect(try await count(pool, "submissions") == 0)
        }
    }

    @Test("a body over the 16 MB bound is refused with 413 before it is parsed")
    func oversizeBody() async throws {
        try await F.withApp { client, _, _ in
            let token = try await F.token()
            let photos = (0..<4).map { _ in F.jpeg(padding: 4 * 1024 * 1024 + 512 * 1024) }
            let response = try await client.execute(
                uri: "/v1/submissions", method: .post, headers: F.headers(token: token), body: F.body(photos: photos))
            #expect(response.status == .contentTooLarge)
            #expect(response.headers[.contentType] == ProblemDetails.mediaType)
        }
    }

    @Test("no token is 401, a verifier posting is 403, an auditor posting is 403; all problem+json")
    func authentication() async throws {
        try await F.withApp { client, pool, _ in
            let missing = try await client.execute(
                uri: "/v1/submissions", method: .post, headers: F.headers(token: nil), body: F.body())
            #expect(missing.status == .unauthorized)
            #expect(missing.headers[.contentType] == ProblemDetails.mediaType)

            let verifier = try await F.token(nip: F.verifierNIP, roles: ["verifier"])
            let forbidden = try await client.execute(
                uri: "/v1/submissions", method: .post, headers: F.headers(token: verifier), body: F.body())
            #expect(forbidden.status == .forbidden)
            #expect(forbidden.headers[.contentType] == ProblemDetails.mediaType)

            let auditor = try await F.token(nip: F.verifierNIP, roles: ["auditor"])
            let readOnly = try await client.execute(
                uri: "/v1/submissions", method: .post, headers: F.headers(token: auditor), body: F.body())
            #expect(readOnly.status == .forbidden)
            #expect(try JSONBody(readOnly).string("code") == "READ_ONLY_ROLE")
            #expect(try await count(pool, "submissions") == 0)
        }
    }

    @Test("a missing Idempotency-Key is 400")
    func missingIdempotencyKey() async throws {
        try await F.withApp { client, _, _ in
            let token = try await F.token()
            let response = try await client.execute(
                uri: "/v1/submissions", method: .post, headers: F.headers(token: token, idempotencyKey: nil),
                body: F.body())
            #expect(response.status == .badRequest)
            #expect(try JSONBody(response).string("code") == "IDEMPOTENCY_KEY_MISSING")
        }
    }

    @Test("a malformed submission JSON part is 400 problem+json")
    func malformedJSON() async throws {
        try await F.withApp { client, _, _ in
            let token = try await F.token()
            let response = try await client.execute(
                uri: "/v1/submissions", method: .post, headers: F.headers(token: token),
                body: F.body(json: "{\"activity\": \"pilah_sampah\", "))
            #expect(response.status == .badRequest)
            #expect(response.headers[.contentType] == ProblemDetails.mediaType)
        }
    }

    @Test("invalid fields are 422 with one Indonesian error per field")
    func fieldErrors() async throws {
        try await F.withApp { client, pool, _ in
            let token = try await F.token()
            let json = F.submissionJSON(activity: "Pilah Sampah!", place: "pasar", activityAt: "kemarin", quantity: 0)
            let response = try await client.execute(
                uri: "/v1/submissions", method: .post, headers: F.headers(token: token), body: F.body(json: json))
            #expect(response.status == .unprocessableContent)
            let errors = try #require(JSONBody(response)["errors"] as? [[String: Any]])
            #expect(
                Set(errors.compactMap { $0["field"] as? String }) == ["activity", "place", "activityAt", "quantity"])
            #expect(errors.allSatisfy { ($0["message"] as? String)?.isEmpty == false })
            #expect(try await count(pool, "submissions") == 0)
        }
    }

    @Test("an activity more than 5 minutes in the future is 422 FUTURE_DATE; no photos is 422; four photos is 422")
    func futureDateAndPhotoCount() async throws {
        try await F.withApp { client, _, _ in
            let token = try await F.token()
            let future = F.submissionJSON(activityAt: RFC3339.format(Date().addingTimeInterval(3600)))
            let response = try await client.execute(
                uri: "/v1/submissions", method: .post, headers: F.headers(token: token), body: F.body(json: future))
            #expect(response.status == .unprocessableContent)
            #expect(try JSONBody(response).string("code") == "FUTURE_DATE")

            let none = try await client.execute(
                uri: "/v1/submissions", method: .post, headers: F.headers(token: token), body: F.body(photos: []))
            #expect(none.status == .unprocessableContent)

            let four = try await client.execute(
                uri: "/v1/submissions", method: .post, headers: F.headers(token: token),
                body: F.body(photos: (0..<4).map { _ in F.jpeg() }))
            #expect(four.status == .unprocessableContent)
        }
    }

    @Test("an ASN lists only their own submissions, newest first, and cannot read another ASN's submission")
    func ownership() async throws {
        try await F.withApp { client, _, _ in
            let mine = try await F.token()
            let theirs = try await F.token(nip: F.otherNIP)
            var ids: [String] = []
            for activity in ["pilah_sampah", "komposting"] {
                let response = try await client.execute(
                    uri: "/v1/submissions", method: .post, headers: F.headers(token: mine),
                    body: F.body(json: F.submissionJSON(activity: activity)))
                #expect(response.status == .accepted)
                ids.append(try #require(try JSONBody(response).string("id")))
            }
            let other = try await client.execute(
                uri: "/v1/submissions", method: .post, headers: F.headers(token: theirs), body: F.body())
            let otherID = try #require(try JSONBody(other).string("id"))

            let list = try await client.execute(
                uri: "/v1/me/submissions", method: .get, headers: [.authorization: "Bearer \(mine)"])
            #expect(list.status == .ok)
            let items = try #require(JSONBody(list)["items"] as? [[String: Any]])
            #expect(items.compactMap { $0["id"] as? String } == ids.reversed())
            #expect(items.allSatisfy { $0["status"] as? String == "received" })

            let own = try await client.execute(
                uri: "/v1/submissions/\(ids[0])", method: .get, headers: [.authorization: "Bearer \(mine)"])
            #expect(own.status == .ok)
            let foreign = try await client.execute(
                uri: "/v1/submissions/\(otherID)", method: .get, headers: [.authorization: "Bearer \(mine)"])
            #expect(foreign.status == .forbidden)
            #expect(foreign.headers[.contentType] == ProblemDetails.mediaType)

            let verifier = try await F.token(nip: F.verifierNIP, roles: ["verifier"])
            let staff = try await client.execute(
                uri: "/v1/submissions/\(otherID)", method: .get, headers: [.authorization: "Bearer \(verifier)"])
            #expect(staff.status == .ok)

            let unknown = try await client.execute(
                uri: "/v1/submissions/\(UUID().uuidString.lowercased())", method: .get,
                headers: [.authorization: "Bearer \(mine)"])
            #expect(unknown.status == .notFound)
            #expect(unknown.headers[.contentType] == ProblemDetails.mediaType)
        }
    }

    @Test("evidence photos are served to their owner and to verifiers, not to other ASN")
    func evidenceAccess() async throws {
        try await F.withApp { client, _, _ in
            let mine = try await F.token()
            let photo = F.jpeg()
            let created = try await client.execute(
                uri: "/v1/submissions", method: .post, headers: F.headers(token: mine), body: F.body(photos: [photo]))
            #expect(created.status == .accepted)
            let sha = EvidenceHash.sha256(photo)

            let own = try await client.execute(
                uri: "/v1/evidence/\(sha)", method: .get, headers: [.authorization: "Bearer \(mine)"])
            #expect(own.status == .ok)
            #expect(own.headers[.contentType] == "image/jpeg")
            #expect(Array(own.body.readableBytesView) == photo)

            let verifier = try await F.token(nip: F.verifierNIP, roles: ["verifier"])
            let staff = try await client.execute(
                uri: "/v1/evidence/\(sha)", method: .get, headers: [.authorization: "Bearer \(verifier)"])
            #expect(staff.status == .ok)

            let other = try await F.token(nip: F.otherNIP)
            let foreign = try await client.execute(
                uri: "/v1/evidence/\(sha)", method: .get, headers: [.authorization: "Bearer \(other)"])
            #expect(foreign.status == .notFound)
        }
    }

    @Test("the OpenAPI document and the upload page are served")
    func documents() async throws {
        try await F.withApp { client, _, _ in
            let openAPI = try await client.execute(uri: "/openapi.yaml", method: .get)
            #expect(openAPI.status == .ok)
            #expect(String(buffer: openAPI.body).contains("/v1/submissions"))
            let page = try await client.execute(uri: "/", method: .get)
            #expect(page.status == .ok)
            #expect(String(buffer: page.body).contains("capture=\"environment\""))
        }
    }
}

/// Rows in `table` (a fixed name from the test itself).
func count(_ pool: DatabasePool, _ table: String) async throws -> Int {
    try await pool.withConnection { connection in
        try await connection.query("SELECT count(*) AS n FROM \(unsafeSQL: table)").first?.decode("n", as: Int.self)
            ?? 0
    }
}
