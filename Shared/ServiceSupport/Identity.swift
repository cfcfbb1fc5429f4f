import Contracts

/// Who is calling: the verified claims of the request's bearer token.
package struct Identity: Sendable, Equatable {
    /// The caller's NIP (18 digits), from `sub`.
    package var nip: String
    /// Display name.
    package var name: String
    /// Agency (OPD) code.
    package var opd: String
    /// Roles granted by the identity provider (see ``Roles``).
    package var roles: Set<String>

    /// Creates an identity.
    package init(nip: String, name: String, opd: String, roles: Set<String>) {
        self.nip = nip
        self.name = name
        self.opd = opd
        self.roles = roles
    }

    /// Whether the caller holds `role`.
    package func has(_ role: String) -> Bool { roles.contains(role) }

    /// Whether the caller holds `role`.
    package func has(_ role: Role) -> Bool { roles.contains(role.rawValue) }

    /// Whether the caller holds at least one of `roles`.
    package func hasAny(of roles: some Sequence<String>) -> Bool { roles.contains { self.roles.contains($0) } }
}

/// The role names of DESIGN §4 as strings (mirrors `Contracts.Role`), to avoid typos in `require(roles:)`.
package enum Roles {
    /// A civil servant submitting their own work.
    package static let asn = "asn"
    /// DLH reviewer.
    package static let verifier = "verifier"
    /// BKPP administrator of programs, periods and awards.
    package static let scoringAdmin = "scoring-admin"
    /// Inspektorat: may read everything, may change nothing.
    package static let auditor = "auditor"
    /// The head of an OPD: their own OPD's sanctions and exports (scoped by the `opd` claim).
    package static let opdHead = "opd-head"
    /// Dashboards: rankings and the live stream.
    package static let dashboard = "dashboard"
    /// Operators of the system (CLI, campaigns, dead letters).
    package static let `operator` = "operator"
    /// Every known role.
    package static let all: Set<String> = Set(Role.allCases.map(\.rawValue))
}

/// A loose NIP shape check shared by the token verifier and the CLI: exactly 18 ASCII digits.
///
/// Both PNS (birth date, start of service, sex, serial) and PPPK NIPs are 18 digits; the detailed check lives in
/// `Contracts`. This one only keeps garbage out of identities.
package enum NIPFormat {
    /// Whether `nip` is 18 ASCII digits.
    package static func isValid(_ nip: String) -> Bool {
        nip.utf8.count == 18 && nip.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }
}
