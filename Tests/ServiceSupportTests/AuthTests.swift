import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
import NIOCore
import ServiceSupport
import Testing

@Suite("JWT authentication and roles")
struct AuthTests {
    @Test("a valid token yields the identity")
    func validToken() async throws {
        let app = try await Fixture.app()
        let token = try await Fixture.token(roles: ["asn", "verifier"])
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/me", method: .get, headers: Fixture.bearer(token)) { response in
                #expect(response.status == .ok)
                #expect(response.text == "\(Fixture.nip)|DLH|asn,verifier")
            }
        }
    }

    @Test("a missing token is a 401 problem with WWW-Authenticate: Bearer")
    func missingToken() async throws {
        let app = try await Fixture.app()
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/me", method: .get) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
                let problem = try response.problem()
                #expect(problem.status == 401)
                #expect(problem.title == "Token tidak valid")
                #expect(problem.code == "TOKEN_MISSING")
                #expect(problem.instance == "/v1/me")
            }
        }
    }

    @Test(
        "garbage, wrong scheme, wrong signature and alg=none are 401",
        arguments: [
            ("Bearer not-a-jwt", "TOKEN_MALFORMED"),
            ("Bearer a.b.c", "TOKEN_MALFORMED"),
            ("Basic dXNlcjpwYXNz", "TOKEN_MISSING"),
            ("Bearer", "TOKEN_MISSING"),
        ]
    )
    func garbage(header: String, code: String) async throws {
        let app = try await Fixture.app()
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/me", method: .get, headers: [.authorization: header]) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
                let problemCode = try response.problem().code
                #expect(problemCode == code)
            }
        }
    }

    @Test("a token signed with another secret is refused")
    func wrongSignature() async throws {
        let app = try await Fixture.app()
        let forged = try await TokenIssuer(hs256Secret: "another-secret-another-secret-another-secret")
            .token(nip: Fixture.nip, name: "X", opd: "DLH", roles: ["scoring-admin"])
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/me", method: .get, headers: Fixture.bearer(forged)) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate]?.contains(#"error="invalid_token""#) == true)
                let problemCode = try response.problem().code
                #expect(problemCode == "TOKEN_SIGNATURE")
            }
        }
    }

    @Test("alg=none (signature stripped) is refused before any signature check")
    func algNone() async throws {
        let app = try await Fixture.app()
        let genuine = try await Fixture.token(roles: ["scoring-admin"])
        let payload = genuine.split(separator: ".")[1]
        let header = Data(#"{"alg":"none","typ":"JWT"}"#.utf8).base64EncodedString()
            .replacingOccurrences(of: "=", with: "").replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
        for token in ["\(header).\(payload).", "\(header).\(payload).c2ln"] {
            try await app.test(.router) { client in
                try await client.execute(uri: "/v1/me", method: .get, headers: Fixture.bearer(token)) { response in
                    #expect(response.status == .unauthorized)
                    let code = try response.problem().code
                    #expect(code == "TOKEN_ALGORITHM" || code == "TOKEN_MALFORMED")
                }
            }
        }
    }

    @Test("an expired token is a 401 saying so")
    func expired() async throws {
        let app = try await Fixture.app()
        let token = try await Fixture.token(expiresIn: .seconds(-3600))
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/me", method: .get, headers: Fixture.bearer(token)) { response in
                #expect(response.status == .unauthorized)
                let problem = try response.problem()
                #expect(problem.code == "TOKEN_EXPIRED")
                #expect(problem.detail?.contains("kedaluwarsa") == true)
            }
        }
    }

    @Test("a token whose nbf lies beyond the clock skew is a 401; within the skew it is accepted")
    func notYetValid() async throws {
        let app = try await Fixture.app()
        let now = Date()
        func token(notBefore: TimeInterval) async throws -> String {
            try await Fixture.issuer.sign(
                ASNClaims(
                    sub: Fixture.nip, name: "Siti Rahma", opd: "DLH", roles: ["asn"],
                    exp: now.addingTimeInterval(7200), iat: now, nbf: now.addingTimeInterval(notBefore)))
        }
        let future = try await token(notBefore: 3600)
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/me", method: .get, headers: Fixture.bearer(future)) { response in
                #expect(response.status == .unauthorized)
                let problem = try response.problem()
                #expect(problem.code == "TOKEN_NOT_YET_VALID")
                #expect(problem.detail?.contains("belum berlaku") == true)
            }
        }
        let skewed = try await token(notBefore: ASNClaims.expiryLeeway / 2)
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/me", method: .get, headers: Fixture.bearer(skewed)) { response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test("a subject that is not an 18-digit NIP is a 401")
    func malformedNIP() async throws {
        let app = try await Fixture.app()
        for nip in ["12345", "19850315201001100X", "1985031520100110011"] {
            let token = try await Fixture.token(nip: nip)
            try await app.test(.router) { client in
                try await client.execute(uri: "/v1/me", method: .get, headers: Fixture.bearer(token)) { response in
                    #expect(response.status == .unauthorized)
                    let problemCode = try response.problem().code
                    #expect(problemCode == "TOKEN_NIP")
                }
            }
        }
    }

    @Test("a missing role is a 403 problem")
    func wrongRole() async throws {
        let app = try await Fixture.app()
        let token = try await Fixture.token(roles: ["verifier"])
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/submissions", method: .post, headers: Fixture.bearer(token)) {
                response in
                #expect(response.status == .forbidden)
                let problem = try response.problem()
                #expect(problem.title == "Akses ditolak")
                #expect(problem.code == "ROLE_REQUIRED")
            }
            try await client.execute(uri: "/v1/rankings", method: .get, headers: Fixture.bearer(token)) { response in
                #expect(response.status == .forbidden)
            }
        }
    }

    @Test("an ASN reads only their own NIP; an admin reads anyone's")
    func selfOrRoles() async throws {
        let app = try await Fixture.app()
        let asn = try await Fixture.token(roles: ["asn"])
        let admin = try await Fixture.token(nip: Fixture.otherNIP, roles: ["scoring-admin"])
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/asn/\(Fixture.nip)/points", method: .get, headers: Fixture.bearer(asn)) {
                #expect($0.status == .ok)
            }
            try await client.execute(
                uri: "/v1/asn/\(Fixture.otherNIP)/points",
                method: .get,
                headers: Fixture.bearer(asn)
            ) { response in
                #expect(response.status == .forbidden)
                let problemCode = try response.problem().code
                #expect(problemCode == "NOT_OWNER")
            }
            try await client.execute(
                uri: "/v1/asn/\(Fixture.nip)/points",
                method: .get,
                headers: Fixture.bearer(admin)
            ) { #expect($0.status == .ok) }
        }
    }

    @Test("an auditor reads everywhere but never writes")
    func auditorReadOnly() async throws {
        let app = try await Fixture.app()
        let auditor = try await Fixture.token(nip: Fixture.otherNIP, roles: ["auditor"])
        try await app.test(.router) { client in
            try await client.execute(uri: "/v1/rankings", method: .get, headers: Fixture.bearer(auditor)) {
                #expect($0.status == .ok)
            }
            try await client.execute(
                uri: "/v1/asn/\(Fixture.nip)/points",
                method: .get,
                headers: Fixture.bearer(auditor)
            ) { #expect($0.status == .ok) }
            try await client.execute(uri: "/v1/submissions", method: .post, headers: Fixture.bearer(auditor)) {
                response in
                #expect(response.status == .forbidden)
                let problemCode = try response.problem().code
                #expect(problemCode == "READ_ONLY_ROLE")
            }
        }
    }

    @Test("public routes need no token, /v1 does")
    func publicRoutes() async throws {
        let app = try await Fixture.app()
        try await app.test(.router) { client in
            for path in ["/health/live", "/metrics", "/openapi.yaml"] {
                try await client.execute(uri: path, method: .get) { #expect($0.status == .ok, "\(path)") }
            }
            try await client.execute(uri: "/v1", method: .get) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/v1x", method: .get) { #expect($0.status == .notFound) }
        }
    }

    @Test("?access_token= is accepted only for event-stream GETs")
    func queryToken() async throws {
        let app = try await Fixture.app()
        let token = try await Fixture.token()
        try await app.test(.router) { client in
            try await client.execute(
                uri: "/v1/stream?access_token=\(token)",
                method: .get,
                headers: [.accept: "text/event-stream"]
            ) { response in
                #expect(response.status == .ok)
                #expect(response.text == Fixture.nip)
            }
            try await client.execute(uri: "/v1/stream?access_token=\(token)", method: .get) {
                #expect($0.status == .unauthorized)
            }
        }
        let strict = try await Fixture.app(
            jwt: JWTSettings(hs256Secret: Fixture.secret, allowQueryTokenForEventStream: false)
        )
        try await strict.test(.router) { client in
            try await client.execute(
                uri: "/v1/stream?access_token=\(token)",
                method: .get,
                headers: [.accept: "text/event-stream"]
            ) { #expect($0.status == .unauthorized) }
        }
    }

    @Test("ES256 and RS256 public keys verify tokens of the matching algorithm only")
    func publicKeys() async throws {
        let ecKey = ES256PrivateKey()
        let settings = JWTSettings(es256PublicKeysPEM: [ecKey.publicKey.pemRepresentation])
        let authenticator = try await JWTAuthenticator(settings: settings)
        #expect(authenticator.algorithms == ["ES256"])

        let signer = JWTKeyCollection()
        await signer.add(ecdsa: ecKey)
        let claims = ASNClaims(
            sub: Fixture.nip, name: "A", opd: "BKPP", roles: ["scoring-admin"],
            exp: Date().addingTimeInterval(600), iat: Date()
        )
        let token = try await signer.sign(claims)
        let identity = try await authenticator.authenticate(token)
        #expect(identity.nip == Fixture.nip)
        #expect(identity.has("scoring-admin"))

        // An HS256 token is refused when only ES256 is configured.
        let hs = try await Fixture.token()
        await #expect(throws: AuthenticationFailure.unsupportedAlgorithm) { try await authenticator.authenticate(hs) }

        // Another EC key's signature is refused.
        let otherSigner = JWTKeyCollection()
        await otherSigner.add(ecdsa: ES256PrivateKey())
        let forged = try await otherSigner.sign(claims)
        await #expect(throws: AuthenticationFailure.invalidSignature) { try await authenticator.authenticate(forged) }
    }

    @Test("issuer and audience are enforced when configured")
    func issuerAudience() async throws {
        let authenticator = try await JWTAuthenticator(
            settings: JWTSettings(
                hs256Secret: Fixture.secret, issuer: "https://sso.semarangkota.go.id", audience: "asnreward")
        )
        let good = try await TokenIssuer(
            hs256Secret: Fixture.secret,
            issuer: "https://sso.semarangkota.go.id",
            audience: "asnreward"
        ).token(nip: Fixture.nip, name: "A", opd: "DLH", roles: ["asn"])
        #expect(try await authenticator.authenticate(good).nip == Fixture.nip)
        let bare = try await Fixture.token()
        await #expect(throws: AuthenticationFailure.wrongIssuerOrAudience) {
            try await authenticator.authenticate(bare)
        }
    }
}
