import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import ServiceSupport
import Testing

@Suite("multipart/form-data")
struct MultipartFormTests {
    static let boundary = "----asnBoundary7MA4YWxkTrZu0gW"
    static let jpeg: [UInt8] =
        [0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10] + Array("JFIF\0".utf8)
        + [0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00] + [0xFF, 0xDA, 0x00, 0x02, 0x0D, 0x0A, 0x2D, 0x2D]
        + [0xFF, 0xD9]

    /// Builds a body from parts given as (headers, content).
    static func body(_ parts: [(String, [UInt8])], boundary: String = boundary, close: Bool = true) -> [UInt8] {
        var bytes: [UInt8] = []
        for (headers, content) in parts {
            bytes += Array("--\(boundary)\r\n\(headers)\r\n\r\n".utf8)
            bytes += content
            bytes += Array("\r\n".utf8)
        }
        if close { bytes += Array("--\(boundary)--\r\n".utf8) }
        return bytes
    }

    static let happyBody = body([
        (
            #"Content-Disposition: form-data; name="meta""# + "\r\nContent-Type: application/json",
            Array(#"{"activity":"komposting","quantity":2}"#.utf8)
        ),
        (
            #"Content-Disposition: form-data; name="photo"; filename="foto kerja.jpg""#
                + "\r\nContent-Type: image/jpeg",
            jpeg
        ),
    ])

    @Test("JSON part and binary part (with CRLF and dashes inside) are parsed exactly")
    func happyPath() throws {
        let form = try MultipartForm(
            contentType: "multipart/form-data; boundary=\(Self.boundary)", body: Self.happyBody)
        #expect(form.parts.count == 2)
        let meta = try #require(form.part(named: "meta"))
        #expect(meta.contentType == "application/json")
        #expect(meta.filename == nil)
        #expect(meta.text == #"{"activity":"komposting","quantity":2}"#)
        let photo = try #require(form.part(named: "photo"))
        #expect(photo.filename == "foto kerja.jpg")
        #expect(photo.body == Self.jpeg)
        #expect(photo.headers["content-type"] == "image/jpeg")
        #expect(ImageSniffer.mediaType(of: photo.body) == .jpeg)
    }

    @Test("parsing a ByteBuffer does not copy: each part's content is a slice of the body's storage")
    func slicesWithoutCopy() throws {
        // A reader index past a prefix checks that offsets are taken from the readable bytes.
        var buffer = ByteBuffer(bytes: Array("ignored prefix".utf8) + Self.happyBody)
        buffer.moveReaderIndex(forwardBy: "ignored prefix".utf8.count)
        let form = try MultipartForm(boundary: Self.boundary, body: buffer)
        let photo = try #require(form.part(named: "photo"))
        #expect(photo.body == Self.jpeg)
        #expect(form.part(named: "meta")?.text == #"{"activity":"komposting","quantity":2}"#)
        let bodyStart = buffer.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        let photoStart = photo.content.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        let offset = Self.happyBody.count - Self.jpeg.count - "\r\n--\(Self.boundary)--\r\n".utf8.count
        #expect(photoStart == bodyStart + UInt(offset))
    }

    @Test("CRLF edge cases: empty part, content ending in CRLF, boundary-like text, quoted boundary, preamble")
    func crlfEdges() throws {
        let content = Array("line1\r\n--\(Self.boundary)X not a delimiter\r\n\r\n".utf8)
        let bytes =
            Array("preamble ignored\r\n".utf8)
            + Self.body([
                (#"Content-Disposition: form-data; name="empty""#, []),
                (#"Content-Disposition: form-data; name="tricky""#, content),
                ("Content-Disposition: form-data; name=\"u\"; filename*=UTF-8''foto%20%C3%A9.png", Array("x".utf8)),
            ])
        let form = try MultipartForm(contentType: "multipart/form-data; boundary=\"\(Self.boundary)\"", body: bytes)
        #expect(form.parts.map(\.name) == ["empty", "tricky", "u"])
        #expect(form.parts[0].body.isEmpty)
        #expect(form.parts[1].body == content)
        #expect(form.parts[2].filename == "foto é.png")
    }

    @Test("LF-only line endings are refused")
    func bareLF() {
        let text = "--\(Self.boundary)\nContent-Disposition: form-data; name=\"a\"\n\nx\n--\(Self.boundary)--\n"
        #expect(throws: MultipartError.self) {
            try MultipartForm(boundary: Self.boundary, body: Array(text.utf8))
        }
    }

    @Test("a missing closing boundary is refused")
    func missingClose() {
        let bytes = Self.body([(#"Content-Disposition: form-data; name="a""#, Array("x".utf8))], close: false)
        #expect(throws: MultipartError.missingClosingBoundary) {
            try MultipartForm(boundary: Self.boundary, body: bytes)
        }
        let truncated = Array("--\(Self.boundary)\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nxyz".utf8)
        #expect(throws: MultipartError.missingClosingBoundary) {
            try MultipartForm(boundary: Self.boundary, body: truncated)
        }
    }

    @Test("structural errors: no boundary, no opening, unterminated headers, nameless part, long header")
    func structuralErrors() {
        #expect(throws: MultipartError.missingBoundary) {
            try MultipartForm(contentType: "multipart/form-data", body: Self.happyBody)
        }
        #expect(throws: MultipartError.notMultipart) {
            try MultipartForm(contentType: "application/json", body: Self.happyBody)
        }
        #expect(throws: MultipartError.missingOpeningBoundary) {
            try MultipartForm(boundary: "other", body: Self.happyBody)
        }
        #expect(throws: MultipartError.unterminatedHeaders) {
            try MultipartForm(boundary: Self.boundary, body: Array("--\(Self.boundary)\r\nContent-Type: x".utf8))
        }
        #expect(throws: MultipartError.missingName) {
            try MultipartForm(boundary: Self.boundary, body: Self.body([("Content-Type: text/plain", [])]))
        }
        let long = "Content-Disposition: form-data; name=\"a\"\r\nX-Long: " + String(repeating: "a", count: 9000)
        #expect(throws: MultipartError.headerTooLong(limit: 8192)) {
            try MultipartForm(boundary: Self.boundary, body: Self.body([(long, [])]))
        }
    }

    @Test("more parts than the limit are refused")
    func tooManyParts() {
        let parts = (0..<5).map { ("Content-Disposition: form-data; name=\"p\($0)\"", Array("v".utf8)) }
        #expect(throws: MultipartError.tooManyParts(limit: 4)) {
            try MultipartForm(boundary: Self.boundary, body: Self.body(parts), limits: .init(maxParts: 4))
        }
        #expect(throws: Never.self) {
            try MultipartForm(
                boundary: Self.boundary, body: Self.body(Array(parts.prefix(4))), limits: .init(maxParts: 4))
        }
    }

    @Test("through HTTP: happy path, 400 on malformed body, 413 over the limit, 415 when not multipart")
    func overHTTP() async throws {
        let app = try await Fixture.app()
        let token = try await Fixture.token()
        var multipartHeaders = Fixture.bearer(token)
        multipartHeaders[.contentType] = "multipart/form-data; boundary=\(Self.boundary)"
        let headers = multipartHeaders
        try await app.test(.router) { client in
            try await client.execute(
                uri: "/v1/upload",
                method: .post,
                headers: headers,
                body: ByteBuffer(bytes: Self.happyBody)
            ) { response in
                #expect(response.status == .ok)
                #expect(response.text == "2 foto kerja.jpg \(Self.jpeg.count) image/jpeg")
            }
            try await client.execute(
                uri: "/v1/upload",
                method: .post,
                headers: headers,
                body: ByteBuffer(bytes: Array(Self.happyBody.dropLast(10)))
            ) { response in
                #expect(response.status == .badRequest)
                let problemCode = try response.problem().code
                #expect(problemCode == "MULTIPART_INVALID")
            }
            let big = Self.body([
                (#"Content-Disposition: form-data; name="photo""#, Array(repeating: 0x41, count: 5000))
            ])
            try await client.execute(uri: "/v1/upload", method: .post, headers: headers, body: ByteBuffer(bytes: big)) {
                response in
                #expect(response.status == .contentTooLarge)
                let problem = try response.problem()
                #expect(problem.status == 413)
                #expect(problem.title == "Ukuran permintaan terlalu besar")
            }
            var json = Fixture.bearer(token)
            json[.contentType] = "application/json"
            try await client.execute(uri: "/v1/upload", method: .post, headers: json, body: ByteBuffer(string: "{}")) {
                #expect($0.status == .unsupportedMediaType)
            }
        }
    }
}
