import Foundation
import JWTKit

/// Mints HS256 access tokens for development and tests (`asnreward token`, unit tests).
///
/// Production tokens come from the city's identity provider; this issuer exists so that a developer and the test
/// suite can act as any ASN, verifier or admin. It does not validate the NIP: the CLI does, and tests need to mint
/// malformed tokens on purpose.
package struct TokenIssuer: Sendable {
    /// The shared secret; never logged.
    private let hs256Secret: String
    /// `iss` written into tokens, if any.
    private let issuer: String?
    /// `aud` written into tokens, if any.
    private let audience: String?

    /// Creates an issuer signing with `hs256Secret`; `issuer`/`audience` are written when given.
    package init(hs256Secret: String, issuer: String? = nil, audience: String? = nil) {
        self.hs256Secret = hs256Secret
        self.issuer = issuer
        self.audience = audience
    }

    /// A signed token for `nip` valid for `expiresIn` from now (negative: already expired, for tests).
    package func token(
        nip: String,
        name: String,
        opd: String,
        roles: [String],
        expiresIn: Duration = .seconds(8 * 3600)
    ) async throws -> String {
        // Whole seconds: NumericDate values other issuers and clients expect.
        let now = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
        let seconds = Double(expiresIn.components.seconds) + Double(expiresIn.components.attoseconds) / 1e18
        let claims = ASNClaims(
            sub: nip,
            name: name,
            opd: opd,
            roles: roles,
            exp: now.addingTimeInterval(seconds.rounded(.down)),
            iat: now,
            iss: issuer,
            aud: audience
        )
        return try await sign(claims)
    }

    /// Signs arbitrary claims (tests that need unusual tokens).
    package func sign(_ claims: some JWTPayload) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: hs256Secret), digestAlgorithm: .sha256)
        return try await keys.sign(claims)
    }
}
