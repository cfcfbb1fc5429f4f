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
        aud: String? = nil
    ) {
        self.sub = SubjectClaim(value: sub)
        self.name = name
        self.opd = opd
        self.roles = roles
        self.exp = ExpirationClaim(value: exp)
        self.iat = IssuedAtClaim(value: iat)
        self.iss = iss.map { IssuerClaim(value: $0) }
        self.aud = aud.map { AudienceClaim(value: [$0]) }
    }

    /// Clock skew tolerated between the identity provider and this service.
    package static let expiryLeeway: TimeInterval = 30

    /// Rejects expired tokens (with ``expiryLeeway``).
    package func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired(currentDate: Date().addingTimeInterval(-Self.expiryLeeway))
    }

    /// The identity these claims describe.
    package var identity: Identity {
        Identity(nip: sub.value, name: name, opd: opd, roles: Set(roles))
    }
}
