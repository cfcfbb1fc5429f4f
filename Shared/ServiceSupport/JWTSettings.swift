import Foundation

/// Which keys verify bearer tokens, and which claims must match.
///
/// Development uses one HS256 secret (`JWT_HS256_SECRET`, at least 32 bytes as RFC 7518 §3.2 requires);
/// production configures the identity provider's public keys instead (or as well):
/// - `JWT_RS256_PUBLIC_KEY`, `JWT_ES256_PUBLIC_KEY`: a PEM public key, inline or as a file path;
/// - `JWT_PUBLIC_KEYS_PEM`: a file (or inline text) with one or more PEM public keys, RSA or P-256, told apart
///   when parsed — for key rotation.
/// `JWT_ISSUER` / `JWT_AUDIENCE`, when set, must match the token's `iss` / `aud`.
/// `JWT_QUERY_TOKEN_FOR_SSE` (default `true`) lets `GET` requests that accept `text/event-stream` carry the token
/// as `?access_token=` because browsers' `EventSource` cannot send headers.
package struct JWTSettings: Sendable, CustomStringConvertible {
    /// Shared HS256 secret (development); never logged.
    package var hs256Secret: String?
    /// PEM texts of RSA public keys accepted for RS256.
    package var rs256PublicKeysPEM: [String]
    /// PEM texts of P-256 public keys accepted for ES256.
    package var es256PublicKeysPEM: [String]
    /// PEM texts of public keys of either kind (from `JWT_PUBLIC_KEYS_PEM`), classified when loaded.
    package var publicKeysPEM: [String]
    /// Required `iss`, if any.
    package var issuer: String?
    /// Required member of `aud`, if any.
    package var audience: String?
    /// Accept `?access_token=` on `GET` requests for `text/event-stream` only.
    package var allowQueryTokenForEventStream: Bool

    /// Creates settings; at least one key must be given before use.
    package init(
        hs256Secret: String? = nil,
        rs256PublicKeysPEM: [String] = [],
        es256PublicKeysPEM: [String] = [],
        publicKeysPEM: [String] = [],
        issuer: String? = nil,
        audience: String? = nil,
        allowQueryTokenForEventStream: Bool = true
    ) {
        self.hs256Secret = hs256Secret
        self.rs256PublicKeysPEM = rs256PublicKeysPEM
        self.es256PublicKeysPEM = es256PublicKeysPEM
        self.publicKeysPEM = publicKeysPEM
        self.issuer = issuer
        self.audience = audience
        self.allowQueryTokenForEventStream = allowQueryTokenForEventStream
    }

    /// Minimum HS256 secret length in bytes (the SHA-256 output size).
    package static let minimumSecretLength = 32

    /// Reads the JWT keys of `configuration`'s environment.
    /// - Throws: ``ConfigurationError`` naming the key when no key is configured, a file cannot be read or the
    ///   secret is too short.
    static func fromConfiguration(_ configuration: ServiceConfiguration) throws -> JWTSettings {
        var settings = JWTSettings()
        if let secret = configuration.optionalString("JWT_HS256_SECRET") {
            guard secret.utf8.count >= minimumSecretLength else {
                throw ConfigurationError.invalid(
                    key: "JWT_HS256_SECRET",
                    reason: "minimal \(minimumSecretLength) byte (at least \(minimumSecretLength) bytes)"
                )
            }
            settings.hs256Secret = secret
        }
        settings.rs256PublicKeysPEM = try pemBlocks(configuration, key: "JWT_RS256_PUBLIC_KEY")
        settings.es256PublicKeysPEM = try pemBlocks(configuration, key: "JWT_ES256_PUBLIC_KEY")
        settings.publicKeysPEM = try pemBlocks(configuration, key: "JWT_PUBLIC_KEYS_PEM")
        settings.issuer = configuration.optionalString("JWT_ISSUER")
        settings.audience = configuration.optionalString("JWT_AUDIENCE")
        switch configuration.optionalString("JWT_QUERY_TOKEN_FOR_SSE")?.lowercased() {
        case nil, "true", "1", "yes": settings.allowQueryTokenForEventStream = true
        case "false", "0", "no": settings.allowQueryTokenForEventStream = false
        default:
            throw ConfigurationError.invalid(key: "JWT_QUERY_TOKEN_FOR_SSE", reason: "harus true atau false")
        }
        guard settings.hasAnyKey else { throw ConfigurationError.missing(keys: ["JWT_HS256_SECRET"]) }
        return settings
    }

    /// Whether at least one verification key is configured.
    package var hasAnyKey: Bool {
        hs256Secret != nil || !rs256PublicKeysPEM.isEmpty || !es256PublicKeysPEM.isEmpty || !publicKeysPEM.isEmpty
    }

    /// The PEM blocks of `key`: inline when the value starts with `-----BEGIN`, otherwise read from that file.
    private static func pemBlocks(_ configuration: ServiceConfiguration, key: String) throws -> [String] {
        guard let value = configuration.optionalString(key) else { return [] }
        let text: String
        if value.hasPrefix("-----BEGIN") {
            text = value
        } else {
            guard let data = FileManager.default.contents(atPath: value) else {
                throw ConfigurationError.invalid(key: key, reason: "berkas tidak dapat dibaca (file not readable)")
            }
            text = String(decoding: data, as: UTF8.self)
        }
        let blocks = splitPEM(text)
        guard !blocks.isEmpty else {
            throw ConfigurationError.invalid(key: key, reason: "tidak berisi kunci PEM (no PEM key found)")
        }
        return blocks
    }

    /// Splits text holding several `-----BEGIN …----- … -----END …-----` blocks into one string per block.
    package static func splitPEM(_ text: String) -> [String] {
        var blocks: [String] = []
        var current: [Substring]?
        for line in text.split(whereSeparator: \.isNewline) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("-----BEGIN") {
                current = [Substring(trimmed)]
            } else if trimmed.hasPrefix("-----END"), var block = current {
                block.append(Substring(trimmed))
                blocks.append(block.joined(separator: "\n") + "\n")
                current = nil
            } else if current != nil, !trimmed.isEmpty {
                current?.append(Substring(trimmed))
            }
        }
        return blocks
    }

    /// Lists which kinds of keys are configured, without any key material.
    package var description: String {
        var parts: [String] = []
        if hs256Secret != nil { parts.append("HS256") }
        if !rs256PublicKeysPEM.isEmpty { parts.append("RS256×\(rs256PublicKeysPEM.count)") }
        if !es256PublicKeysPEM.isEmpty { parts.append("ES256×\(es256PublicKeysPEM.count)") }
        if !publicKeysPEM.isEmpty { parts.append("PEM×\(publicKeysPEM.count)") }
        return "JWTSettings(\(parts.joined(separator: ", ")))"
    }
}
