import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import ServiceSupport
import Testing

@Suite("problem+json errors")
struct ProblemTests {
    @Test("a thrown ProblemDetails keeps its fields and content type")
    func thrownProblem() async throws {
        let app = try await Fixture.app()
        let token = try await Fixture.token()
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/conflict", method: .get, headers: Fixture.bearer(token)) { response in
                #expect(response.status == .conflict)
                #expect(response.headers[.contentLanguage] == "id")
                let problem = try response.problem()
                #expect(problem.status == 409)
                #expect(problem.code == "DUPLICATE_SUBMISSION")
                #expect(problem.type == "urn:asnreward:problem:duplicate-submission")
                #expect(problem.detail == "Pengajuan sudah ada.")
                #expect(problem.instance == "/v1/conflict")
            }
        }
    }

    @Test("a 500 never leaks the thrown error's text, but logs it")
    func internalErrorHidden() async throws {
        let capture = LogCapture()
        let app = try await Fixture.app(logOutput: capture.output)
        let token = try await Fixture.token()
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/boom", method: .get, headers: Fixture.bearer(token)) { response in
                #expect(response.status == .internalServerError)
                let problem = try response.problem()
                #expect(problem.code == "INTERNAL_ERROR")
                #expect(problem.title == "Terjadi kesalahan pada server")
                #expect(!response.text.contains("hunter2"))
                #expect(!response.text.contains("postgresql"))
            }
        }
        let logged = capture.lines.filter { $0.contains("connection to postgresql://intake") }
        #expect(logged.count == 1)
        #expect(logged.allSatisfy { !$0.contains("hunter2") })  // even the log masks the URL password
    }

    @Test("a method the path does not offer is 405 problem+json with Allow, captures and all")
    func methodNotAllowed() async throws {
        let app = try await Fixture.app()
        let token = try await Fixture.token()
        try await app.test(.router) { client in
            try await client.execute(
                uri: "/v1/asn/\(Fixture.nip)/points", method: .delete, headers: Fixture.bearer(token)
            ) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "GET, HEAD")
                let problem = try response.problem()
                #expect(problem.status == 405)
            }
            try await client.execute(uri: "/v1/submissions", method: .put, headers: Fixture.bearer(token)) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "POST")
            }
            // A path no route matches stays 404, whatever the method.
            try await client.execute(
                uri: "/v1/asn/\(Fixture.nip)/nothing", method: .delete, headers: Fixture.bearer(token)
            ) { response in
                #expect(response.status == .notFound)
            }
        }
    }

    @Test("unknown paths are 404 problem+json")
    func notFound() async throws {
        let app = try await Fixture.app()
        try await app.test(.router) { client in
            try await client.execute(uri: "/nothing-here", method: .get) { response in
                #expect(response.status == .notFound)
                let problem = try response.problem()
                #expect(problem.status == 404)
                #expect(problem.title == "Tidak ditemukan")
            }
        }
    }

    @Test("invalid JSON bodies are 400 problems naming the field")
    func decodingErrors() async throws {
        let app = try await Fixture.app()
        let token = try await Fixture.token()
        let cases: [(String, String)] = [
            (#"{"activity":"komposting"}"#, "quantity"),
            (#"{"activity":"komposting","quantity":"lots"}"#, "quantity"),
            ("not json", "JSON"),
        ]
        try await app.test(.router) { client in
            for path in ["/v1/json", "/v1/raw-decode"] {
                for (body, mention) in cases {
                    try await client.execute(
                        uri: path,
                        method: .post,
                        headers: Fixture.bearer(token) + [.contentType: "application/json"],
                        body: ByteBuffer(string: body)
                    ) { response in
                        #expect(response.status == .badRequest, "\(path) \(body)")
                        let problem = try response.problem()
                        #expect(problem.title == "Permintaan tidak valid")
                        #expect(problem.detail?.contains(mention) == true, "\(problem.detail ?? "")")
                    }
                }
            }
        }
    }

    @Test("problem JSON has the RFC 9457 members and extensions")
    func encoding() throws {
        var problem = ProblemDetails.unprocessable(
            "Data pengajuan tidak lengkap.",
            errors: [.init(field: "/quantity", message: "wajib diisi")]
        )
        problem.extensions["limit"] = .int(3)
        let object = try #require(
            try JSONSerialization.jsonObject(with: problem.jsonData()) as? [String: Any]
        )
        #expect(object["status"] as? Int == 422)
        #expect(object["type"] as? String == "urn:asnreward:problem:validation-failed")
        #expect(object["title"] as? String == "Data tidak dapat diproses")
        #expect(object["limit"] as? Int == 3)
        let errors = try #require(object["errors"] as? [[String: Any]])
        #expect(errors.first?["field"] as? String == "/quantity")
        #expect(ProblemDetails.notFound().type == "about:blank")
    }
}

extension HTTPFields {
    static func + (lhs: HTTPFields, rhs: HTTPFields) -> HTTPFields {
        var result = lhs
        result.append(contentsOf: rhs)
        return result
    }
}
