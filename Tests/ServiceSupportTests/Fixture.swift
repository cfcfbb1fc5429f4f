import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Prometheus
import ServiceSupport
import Testing

/// Shared set-up for the ServiceSupport unit tests: an app with the shared middleware and a few probe routes.
enum Fixture {
    static let secret = "unit-test-secret-0123456789abcdef-0123456789"
    static let nip = "198503152010011001"
    static let otherNIP = "199001012015032002"

    static var issuer: TokenIssuer { TokenIssuer(hs256Secret: secret) }

    static func configuration(jwt: JWTSettings = JWTSettings(hs256Secret: secret)) -> ServiceConfiguration {
        ServiceConfiguration(serviceName: "test", jwt: jwt)
    }

    static func token(
        nip: String = Fixture.nip,
        roles: [String] = ["asn"],
        expiresIn: Duration = .seconds(600)
    ) async throws -> String {
        try await issuer.token(nip: nip, name: "Siti Rahma", opd: "DLH", roles: roles, expiresIn: expiresIn)
    }

    static func bearer(_ token: String) -> HTTPFields {
        [.authorization: "Bearer \(token)"]
    }

    /// Probe routes exercising identity, roles and errors.
    static func routes() -> RouteCollection<AuthenticatedRequestContext> {
        let routes = RouteCollection(context: AuthenticatedRequestContext.self)
        routes.get("/v1/me") { _, context in
            let identity = try context.requireIdentity()
            return "\(identity.nip)|\(identity.opd)|\(identity.roles.sorted().joined(separator: ","))"
        }
        routes.post("/v1/submissions") { _, context in
            try context.require(roles: ["asn"])
            return Response(status: .created)
        }
        routes.get("/v1/rankings") { _, context in
            try context.require(roles: ["dashboard", "scoring-admin"])
            return "rankings"
        }
        routes.get("/v1/asn/:nip/points") { _, context in
            let nip = try context.parameters.require("nip")
            try context.requireSelfOrRoles(nip: nip, roles: ["scoring-admin"])
            return "points of \(nip)"
        }
        routes.get("/v1/boom") { _, _ -> String in
            throw InternalFailure(text: "connection to postgresql://intake:hunter2@db failed")
        }
        routes.get("/v1/conflict") { _, _ -> String in
            throw ProblemDetails.conflict("Pengajuan sudah ada.", code: "DUPLICATE_SUBMISSION")
        }
        routes.post("/v1/json") { request, context in
            let body = try await request.decode(as: Payload.self, context: context)
            return "ok \(body.quantity)"
        }
        routes.post("/v1/raw-decode") { request, _ -> String in
            var request = request
            let buffer = try await request.collectBody(maxBytes: 1024)
            let body = try JSONDecoder().decode(Payload.self, from: Data(buffer.readableBytesView))
            return "ok \(body.quantity)"
        }
        routes.post("/v1/upload") { request, _ in
            let form = try await MultipartForm.parse(request, maxBytes: 4096, limits: .init(maxParts: 4))
            let meta = try form.decodeJSON(Payload.self, part: "meta")
            let photo = try #require(form.part(named: "photo"))
            let type = ImageSniffer.mediaType(of: photo.body)?.rawValue ?? "none"
            return "\(meta.quantity) \(photo.filename ?? "-") \(photo.body.count) \(type)"
        }
        routes.get("/v1/stream") { _, context in
            try context.requireIdentity().nip
        }
        return routes
    }

    struct Payload: Codable {
        var activity: String
        var quantity: Int
    }

    struct InternalFailure: Error, CustomStringConvertible {
        var text: String
        var description: String { text }
    }

    static func app(
        readinessChecks: [String: @Sendable () async -> Bool] = [:],
        registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        publicDirectory: URL? = nil,
        jwt: JWTSettings = JWTSettings(hs256Secret: secret),
        logOutput: LogOutput = LogOutput { _ in }
    ) async throws -> some ApplicationProtocol {
        var logger = Logger(label: "test") { label in
            JSONLogHandler(label: label, service: "test", logLevel: .debug, output: logOutput)
        }
        logger.logLevel = .debug
        return try await ServiceApp(
            configuration: configuration(jwt: jwt),
            logger: logger,
            routes: routes(),
            readinessChecks: readinessChecks,
            openAPIDocument: "openapi: 3.1.0\ninfo:\n  title: test\n",
            publicDirectory: publicDirectory,
            metricsRegistry: registry
        ).buildApplication()
    }
}

/// The problem+json body as tests see it.
struct ProblemBody: Decodable {
    var type: String
    var title: String
    var status: Int
    var detail: String?
    var instance: String?
    var code: String?
    var errors: [ProblemDetails.FieldError]?
}

extension TestResponse {
    /// The body as text.
    var text: String { String(buffer: body) }

    /// Decodes a problem body after checking the content type.
    func problem(sourceLocation: SourceLocation = #_sourceLocation) throws -> ProblemBody {
        #expect(headers[.contentType] == "application/problem+json", sourceLocation: sourceLocation)
        return try JSONDecoder().decode(ProblemBody.self, from: Data(body.readableBytesView))
    }
}

/// Collects log lines written by a handler.
final class LogCapture: @unchecked Sendable {
    // Safe: `storage` is only touched while holding `lock`.
    private let lock = NSLock()
    private var storage: [String] = []

    var lines: [String] {
        lock.lock()
        defer { lock.unlock() }
        return storage
    }

    var output: LogOutput {
        LogOutput { line in
            self.lock.lock()
            self.storage.append(line)
            self.lock.unlock()
        }
    }
}
