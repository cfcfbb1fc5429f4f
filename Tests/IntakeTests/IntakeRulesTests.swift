import Contracts
import Database
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Photo
import ServiceSupport
import Testing

@testable import Intake

/// Bad input of every kind gets the right 4xx problem+json, and nothing is stored or published; the published
/// program decides activities, places, quantities and how far back a claim may go.
@Suite("Intake rules: refusals and the program")
struct IntakeRulesTests {
    typealias F = IntakeFixture

    /// Nothing stored: no submission, no evidence row, no outbox row, no photo in the store.
    static func expectNothingStored(_ pool: DatabasePool, _ store: InMemoryEvidenceStore, _ label: String) async throws
    {
        #expect(try await count(pool, "submissions") == 0, "\(label): submissions")
        #expect(try await count(pool, "submission_evidence") == 0, "\(label): evidence rows")
        #expect(try await count(pool, "outbox") == 0, "\(label): outbox")
        #expect(store.count == 0, "\(label): stored photos")
    }

    struct BadUpload: Sendable, CustomStringConvertible {
        var description: String
        var status: HTTPResponse.Status
        var code: String?
        var field: String?
        var body: @Sendable () -> ByteBuffer
        var token: @Sendable () async throws -> String? = { try await IntakeFixture.token() }
        var contentType: String = "multipart/form-data; boundary=\(Multipart.boundary)"
    }

    static let badUploads: [BadUpload] = [
        BadUpload(
            description: "no token", status: .unauthorized, code: "TOKEN_MISSING", body: { F.body() }, token: { nil }),
        BadUpload(
            description: "wrong role (verifier)", status: .forbidden, code: "ROLE_REQUIRED", body: { F.body() },
            token: { try await F.token(nip: F.verifierNIP, roles: ["verifier"]) }),
        BadUpload(
            description: "unknown activity", status: .unprocessableContent, code: "VALIDATION_FAILED",
            field: "activity",
            body: { F.body(json: F.submissionJSON(activity: "tanam_pohon")) }),
        BadUpload(
            description: "a place the activity does not allow", status: .unprocessableContent,
            code: "VALIDATION_FAILED", field: "place",
            body: { F.body(json: F.submissionJSON(activity: "bank_sampah", place: "office", quantity: 2)) }),
        BadUpload(
            description: "quantity above the activity's maximum", status: .unprocessableContent,
            code: "VALIDATION_FAILED", field: "quantity", body: { F.body(json: F.submissionJSON(quantity: 6)) }),
        BadUpload(
            description: "quantity below the activity's minimum", status: .unprocessableContent,
            code: "VALIDATION_FAILED", field: "quantity",
            body: { F.body(json: F.submissionJSON(activity: "bank_sampah", place: "home", quantity: 0.25)) }),
        BadUpload(
            description: "an activity from 2020", status: .unprocessableContent, code: "VALIDATION_FAILED",
            field: "activityAt", body: { F.body(json: F.submissionJSON(activityAt: "2020-01-15T08:00:00+07:00")) }),
        BadUpload(
            description: "an activity 8 days ago", status: .unprocessableContent, code: "VALIDATION_FAILED",
            field: "activityAt",
            body: { F.body(json: F.submissionJSON(activityAt: RFC3339.format(Date().addingTimeInterval(-8 * 86_400)))) }
        ),
        BadUpload(
            description: "a 6 MB file", status: .contentTooLarge, code: "CONTENT_TOO_LARGE", field: "evidence[0]",
            body: { F.body(photos: [F.jpeg(padding: 6 * 1024 * 1024)]) }),
        BadUpload(
            description: "a PDF renamed .jpg", status: .unsupportedMediaType, code: "UNSUPPORTED_MEDIA_TYPE",
            field: "evidence[0]",
            body: {
                F.body(photos: [Array("%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer\n%%EOF\n".utf8)])
            }),
        BadUpload(
            description: "a truncated JPEG", status: .unprocessableContent, code: "IMAGE_TRUNCATED",
            field: "evidence[0]",
            body: {
                let photo = PhotoSamples.jpeg(seed: 77)
                return F.body(photos: [Array(photo.prefix(photo.count / 2))])
            }),
        BadUpload(
            description: "a JPEG claiming 60,000 × 60,000 pixels", status: .unprocessableContent,
            code: "IMAGE_TOO_MANY_PIXELS", field: "evidence[0]",
            body: { F.body(photos: [PhotoSamples.claimingSize(width: 60_000, height: 60_000)]) }),
        BadUpload(
            description: "EXIF with a looping IFD", status: .unprocessableContent, code: "EXIF_MALFORMED",
            field: "evidence[0]",
            body: {
                var exif = PhotoSamples.phoneExif()
                exif.ifd0Next = 8
                return F.body(photos: [PhotoSamples.jpeg(seed: 78, exif: exif)])
            }),
        BadUpload(
            description: "malformed multipart", status: .badRequest, code: nil,
            body: {
                ByteBuffer(
                    string: "--\(Multipart.boundary)\r\nContent-Disposition: form-data; name=\"submission\"\r\n\r\n{}")
            }),
        BadUpload(
            description: "malformed JSON", status: .badRequest, code: nil,
            body: { F.body(json: "{\"activity\": \"pilah_sampah\", \"quantity\": ") }),
    ]

    @Test("bad input is refused with the right problem+json, and nothing is stored or published", arguments: badUploads)
    func refused(_ bad: BadUpload) async throws {
        try await F.withIntakeApp(evidenceStore: InMemoryEvidenceStore(), program: F.program) {
            client, pool, store, _ in
            var headers = F.headers(token: try await bad.token())
            headers[.contentType] = bad.contentType
            let response = try await client.execute(
                uri: "/v1/submissions", method: .post, headers: headers, body: bad.body())
            #expect(response.status == bad.status, "\(bad): \(String(buffer: response.body))")
            #expect(response.headers[.contentType] == ProblemDetails.mediaType)
            let json = try JSONBody(response)
            #expect(json["status"] as? Int == Int(bad.status.code))
            #expect((json.string("detail") ?? json.string("title"))?.isEmpty == false)
            if let code = bad.code { #expect(json.string("code") == code, "\(bad)") }
            if let field = bad.field {
                let errors = json["errors"] as? [[String: Any]] ?? []
                #expect(errors.contains { $0["field"] as? String == field }, "\(bad): \(errors)")
            }
            try await Self.expectNothingStored(pool, store, bad.description)
        }
    }

    @Test(
        "with the program: a known activity at an allowed place within the bounds is accepted, with its version and unit"
    )
    func acceptedByProgram() async throws {
        try await F.withIntakeApp(evidenceStore: InMemoryEvidenceStore(), program: F.program) { client, pool, _, _ in
            let json = F.submissionJSON(
                activity: "bank_sampah", place: "home",
                activityAt: RFC3339.format(Date().addingTimeInterval(-6 * 86_400)),
                quantity: 2.5)
            let response = try await client.execute(
                uri: "/v1/submissions", method: .post, headers: F.headers(token: try await F.token()),
                body: F.body(json: json))
            #expect(response.status == .accepted, "\(String(buffer: response.body))")
            let payload = try #require(try await outboxEvents(SubmissionReceived.self, pool).first)
            #expect(payload.programVersion == "3")
            #expect(payload.unit == "kg")

            // The program page data the upload page reads.
            let program = try await client.execute(
                uri: "/v1/program", method: .get, headers: [.authorization: "Bearer \(try await F.token())"])
            #expect(program.status == .ok)
            let activities = try #require(JSONBody(program)["activities"] as? [[String: Any]])
            #expect(activities.compactMap { $0["code"] as? String } == ["pilah_sampah", "bank_sampah"])
            #expect(activities[1]["places"] as? [String] == ["home"])
        }
    }

    @Test("a newer program version replaces the older; an older one arriving late changes nothing")
    func programVersions() async throws {
        try await F.withIntakeApp(evidenceStore: InMemoryEvidenceStore(), program: F.program) { client, pool, _, _ in
            let book = ProgramBook(pool: pool, refreshInterval: .zero, logger: F.logger)
            var newer = F.program
            newer.programVersion = "4"
            newer.publishedAt = F.program.publishedAt.addingTimeInterval(60)
            newer.activities.append(
                ActivityDefinition(
                    code: "komposting", name: "Membuat kompos", unit: "count", places: ["home"], basePoints: 15))
            var older = F.program
            older.programVersion = "2"
            older.publishedAt = F.program.publishedAt.addingTimeInterval(-60)
            let stored = try await pool.withConnection { connection in
                (try await book.store(newer, in: connection), try await book.store(older, in: connection))
            }
            #expect(stored == (true, false))
            #expect(try await book.current()?.programVersion == "4")
            let response = try await client.execute(
                uri: "/v1/submissions", method: .post, headers: F.headers(token: try await F.token()),
                body: F.body(json: F.submissionJSON(activity: "komposting", place: "home", quantity: 1)))
            #expect(response.status == .accepted, "\(String(buffer: response.body))")
        }
    }

    @Test("the EXIF facts, size and perceptual hash of an uploaded photo are in submission.received and the API")
    func factsInEvent() async throws {
        try await F.withIntakeApp(evidenceStore: InMemoryEvidenceStore(), program: F.program) { client, pool, _, _ in
            let photo = PhotoSamples.jpeg(seed: 501, exif: PhotoSamples.phoneExif(bigEndian: true))
            let expectedHash = try #require(try PhotoInspector.inspect(photo).perceptualHash?.hex)
            var body = F.submissionJSON()
            body.removeLast()
            body += ",\"deviceLocation\":{\"latitude\":-6.99,\"longitude\":110.42,\"accuracy\":15}}"
            let response = try await client.execute(
                uri: "/v1/submissions", method: .post, headers: F.headers(token: try await F.token()),
                body: F.body(json: body, photos: [photo, F.png()]))
            #expect(response.status == .accepted, "\(String(buffer: response.body))")
            let event = try #require(try await outboxEvents(SubmissionReceived.self, pool).first)
            let evidence = event.evidence[0]
            #expect(evidence.perceptualHash == expectedHash)
            #expect(evidence.width == 320 && evidence.height == 240)
            let capture = try #require(evidence.capture)
            #expect(capture.capturedAt == RFC3339.parse("2026-11-30T01:15:30Z"))
            #expect(capture.capturedAtOffset == "+07:00")
            #expect(capture.cameraMake == "samsung" && capture.cameraModel == "SM-A145F")
            #expect(capture.software == "A145FXXU3CWK1")
            #expect(abs((capture.latitude ?? 0) - -6.9932) < 1e-6 && abs((capture.longitude ?? 0) - 110.4203) < 1e-6)
            #expect(capture.altitude == 12.5)
            #expect(capture.gpsTimestamp == RFC3339.parse("2026-11-30T01:15:28Z"))
            #expect(event.deviceLocation?.latitude == -6.99, "the client's GPS travels apart from the photo's")
            #expect(event.evidence[1].width == 16 && event.evidence[1].perceptualHash?.count == 16)
            #expect(event.evidence[1].capture == nil)

            // The stored facts come back in GET /v1/submissions/{id}.
            let id = try #require(try JSONBody(response).string("id"))
            let shown = try await client.execute(
                uri: "/v1/submissions/\(id)", method: .get, headers: [.authorization: "Bearer \(try await F.token())"])
            let shownEvidence = try #require(JSONBody(shown)["evidence"] as? [[String: Any]])
            #expect(shownEvidence[0]["perceptualHash"] as? String == expectedHash)
            #expect((shownEvidence[0]["capture"] as? [String: Any])?["cameraModel"] as? String == "SM-A145F")
        }
    }
}

/// The payloads of `E` in the outbox, oldest first.
func outboxEvents<E: EventPayload>(_ type: E.Type, _ pool: DatabasePool) async throws -> [E] {
    try await pool.withConnection { connection in
        try await connection.query(
            "SELECT payload::text AS payload FROM outbox WHERE type = \(E.eventType) ORDER BY seq"
        ).map { try ContractsJSON.decode(E.self, from: Data(try $0.decode("payload", as: String.self).utf8)) }
    }
}
