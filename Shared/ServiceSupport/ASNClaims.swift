import Foundation
import JWTKit

/// The claims of an ASN Reward access token (DESIGN §4 Identity).
///
/// `sub` is the NIP, `opd` the agency code and `roles` the granted roles. `verify(using:)` checks only expiry;
/// issuer, audience and the NIP shape are checked by ``JWTAuthenticator``.
package struct ASNClaims: JWTPayload, Equatable {
    /// Subject: the NIP (18 digits).
    package var sub: SubjectClaim
    /// Display name.
    package var name: String
    /// Agency (OPD) code.
    package var opd: String
    /// Granted roles (see ``Roles``).
    package var roles: [String]
    /// Expiry.
    package var exp: ExpirationClaim
    /// Issue time.
    package var iat: IssuedAtClaim
    /// Not before: the token is refused until this time (RFC 7519 §4.1.5), with ``expiryLeeway`` for clock skew.
    package var nbf: NotBeforeClaim?
    /// Issuer, if the identity provider sets one.
    package var iss: IssuerClaim?
    /// Audience, if the identity provider sets one.
    package var aud: AudienceClaim?

    /// Creates claims.
    package init(
        sub: String,
        name: String,
        opd: String,
        roles: [String],
        exp: Date,
        iat: Date,
        iss: String? = nil,
        aud: String? = nil,
        nbf: Date? = nil
    ) {
        self.sub = SubjectClaim(value: sub)
        self.name = name
        self.opd = opd
        self.roles = roles
        self.exp = ExpirationClaim(value: exp)
        self.iat = IssuedAtClaim(value: iat)
        self.nbf = nbf.map { NotBeforeClaim(value: $0) }
        self.iss = iss.map { IssuerClaim(value: $0) }
        self.aud = aud.map { AudienceClaim(value: [$0]) }
    }

    /// Clock skew tolerated between the identity provider and this service.
    package static let expiryLeeway: TimeInterval = 30

    /// Rejects expired tokens and tokens not valid yet (`nbf` in the future), both with ``expiryLeeway``.
    package func verify(using algorithm: some JWTAlgorithm) async throws {
        let now = Date()
        try exp.verifyNotExpired(currentDate: now.addingTimeInterval(-Self.expiryLeeway))
        try nbf?.verifyNotBefore(currentDate: now.addingTimeInterval(Self.expiryLeeway))
    }

    /// The identity these claims describe.
    package var identity: Identity {
        Identity(nip: sub.value, name: name, opd: opd, roles: Set(roles))
    }
}
