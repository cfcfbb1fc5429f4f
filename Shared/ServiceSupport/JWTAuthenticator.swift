import Foundation
import JWTKit

/// Verifies bearer tokens and turns them into an ``Identity``.
///
/// Keys are grouped by algorithm (HS256, RS256, ES256); the token's header `alg` picks the group, so a token can
/// only be checked with a key of the algorithm it claims and `alg: none` or an unconfigured algorithm is rejected
/// before any signature check. Within a group every key is tried (key rotation). After the signature: `exp` and
/// `nbf` (with ``ASNClaims/expiryLeeway``), `iss` / `aud` when configured, and the NIP shape of `sub`.
package struct JWTAuthenticator: Sendable {
    /// Verification keys per `alg` header value.
    private let keysByAlgorithm: [String: JWTKeyCollection]
    /// Required issuer, if any.
    private let issuer: String?
    /// Required audience member, if any.
    private let audience: String?

    /// Builds the key collections from `settings`.
    /// - Throws: ``ConfigurationError`` naming the key whose PEM cannot be parsed, or when no key is configured.
    package init(settings: JWTSettings) async throws {
        var groups: [String: [AnyKey]] = [:]
        if let secret = settings.hs256Secret {
            groups["HS256", default: []].append(.hmac(HMACKey(from: secret)))
        }
        for pem in settings.rs256PublicKeysPEM {
            guard let key = try? Insecure.RSA.PublicKey(pem: pem) else {
                throw ConfigurationError.invalid(key: "JWT_RS256_PUBLIC_KEY", reason: "bukan kunci publik RSA PEM")
            }
            groups["RS256", default: []].append(.rsa(key))
        }
        for pem in settings.es256PublicKeysPEM {
            guard let key = try? ES256PublicKey(pem: pem) else {
                throw ConfigurationError.invalid(key: "JWT_ES256_PUBLIC_KEY", reason: "bukan kunci publik P-256 PEM")
            }
            groups["ES256", default: []].append(.ecdsa(key))
        }
        for pem in settings.publicKeysPEM {
            if let key = try? Insecure.RSA.PublicKey(pem: pem) {
                groups["RS256", default: []].append(.rsa(key))
            } else if let key = try? ES256PublicKey(pem: pem) {
                groups["ES256", default: []].append(.ecdsa(key))
            } else {
                throw ConfigurationError.invalid(
                    key: "JWT_PUBLIC_KEYS_PEM",
                    reason: "berisi kunci yang bukan RSA atau P-256 (a key is neither RSA nor P-256)"
                )
            }
        }
        guard !groups.isEmpty else { throw ConfigurationError.missing(keys: ["JWT_HS256_SECRET"]) }

        var collections: [String: JWTKeyCollection] = [:]
        for (algorithm, keys) in groups {
            let collection = JWTKeyCollection()
            for (index, key) in keys.enumerated() {
                let kid = JWKIdentifier(string: "\(algorithm.lowercased())-\(index)")
                switch key {
                case .hmac(let key): await collection.add(hmac: key, digestAlgorithm: .sha256, kid: kid)
                case .rsa(let key): await collection.add(rsa: key, digestAlgorithm: .sha256, kid: kid)
                case .ecdsa(let key): await collection.add(ecdsa: key, kid: kid)
                }
            }
            collections[algorithm] = collection
        }
        self.keysByAlgorithm = collections
        self.issuer = settings.issuer
        self.audience = settings.audience
    }

    /// Convenience for tests and development: HS256 only.
    package init(hs256Secret: String) async throws {
        try await self.init(settings: JWTSettings(hs256Secret: hs256Secret))
    }

    /// The algorithms this authenticator accepts, e.g. `["HS256"]`.
    package var algorithms: Set<String> { Set(keysByAlgorithm.keys) }

    /// Verifies `token` and returns the caller's identity.
    /// - Throws: ``AuthenticationFailure`` (shown as 401 problem+json).
    package func authenticate(_ token: String) async throws(AuthenticationFailure) -> Identity {
        guard let algorithm = Self.headerAlgorithm(of: token) else { throw .malformed }
        guard let keys = keysByAlgorithm[algorithm] else { throw .unsupportedAlgorithm }
        let claims: ASNClaims
        do {
            claims = try await keys.verify(token, as: ASNClaims.self, iteratingKeys: true)
        } catch let error as JWTError where error.failedClaim is ExpirationClaim {
            throw .expired
        } catch let error as JWTError where error.failedClaim is NotBeforeClaim {
            throw .notYetValid
        } catch let error as JWTError where error.errorType == .signatureVerificationFailed {
            throw .invalidSignature
        } catch {
            throw .malformed
        }
        if let issuer, claims.iss?.value != issuer { throw .wrongIssuerOrAudience }
        if let audience, !(claims.aud?.value.contains(audience) ?? false) { throw .wrongIssuerOrAudience }
        guard NIPFormat.isValid(claims.sub.value) else { throw .malformedNIP }
        return claims.identity
    }

    /// The `alg` of a compact JWS header, or `nil` when the token is not `header.payload.signature`.
    private static func headerAlgorithm(of token: String) -> String? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[2].isEmpty, let data = base64URLDecode(parts[0]) else { return nil }
        struct Header: Decodable { var alg: String }
        return try? JSONDecoder().decode(Header.self, from: data).alg
    }

    /// Decodes unpadded base64url.
    private static func base64URLDecode(_ text: Substring) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64.append("=") }
        return Data(base64Encoded: base64)
    }

    /// A parsed verification key before it joins a collection.
    private enum AnyKey {
        case hmac(HMACKey)
        case rsa(Insecure.RSA.PublicKey)
        case ecdsa(ES256PublicKey)
    }
}

/// Why a bearer token was refused; every case is a 401 with `WWW-Authenticate: Bearer`.
package enum AuthenticationFailure: Error, Equatable, ProblemConvertible {
    /// No `Authorization: Bearer` header.
    case missing
    /// Not a JWT, or claims missing or mistyped.
    case malformed
    /// `alg` is `none` or not configured here.
    case unsupportedAlgorithm
    /// Signature does not match any configured key.
    case invalidSignature
    /// `exp` is in the past.
    case expired
    /// `nbf` is in the future (beyond the allowed clock skew).
    case notYetValid
    /// `iss` or `aud` does not match the configuration.
    case wrongIssuerOrAudience
    /// `sub` is not an 18-digit NIP.
    case malformedNIP

    /// The 401 shown to the client; the text says what to do, never which key was tried.
    package var problem: ProblemDetails {
        switch self {
        case .missing:
            return .unauthorized(
                "Token tidak ditemukan. Kirim header Authorization: Bearer <token>. Missing bearer token.",
                code: "TOKEN_MISSING"
            )
        case .malformed:
            return .unauthorized(
                "Token tidak dapat dibaca. Malformed token.",
                code: "TOKEN_MALFORMED",
                tokenPresent: true
            )
        case .unsupportedAlgorithm:
            return .unauthorized(
                "Algoritma tanda tangan token tidak diterima. Unsupported token algorithm.",
                code: "TOKEN_ALGORITHM",
                tokenPresent: true
            )
        case .invalidSignature:
            return .unauthorized(
                "Tanda tangan token tidak sah. Invalid token signature.",
                code: "TOKEN_SIGNATURE",
                tokenPresent: true
            )
        case .expired:
            return .unauthorized(
                "Token sudah kedaluwarsa, silakan masuk kembali. Token expired.",
                code: "TOKEN_EXPIRED",
                tokenPresent: true
            )
        case .notYetValid:
            return .unauthorized(
                "Token belum berlaku; periksa jam perangkat atau coba lagi nanti. Token not valid yet (nbf).",
                code: "TOKEN_NOT_YET_VALID",
                tokenPresent: true
            )
        case .wrongIssuerOrAudience:
            return .unauthorized(
                "Token tidak diterbitkan untuk layanan ini. Wrong issuer or audience.",
                code: "TOKEN_AUDIENCE",
                tokenPresent: true
            )
        case .malformedNIP:
            return .unauthorized(
                "NIP pada token tidak valid (harus 18 digit). Token subject is not a valid NIP.",
                code: "TOKEN_NIP",
                tokenPresent: true
            )
        }
    }
}
