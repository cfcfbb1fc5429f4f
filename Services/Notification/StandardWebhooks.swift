import Crypto
import Foundation

/// Signing as the Standard Webhooks specification says: headers `webhook-id`, `webhook-timestamp` (Unix seconds)
/// and `webhook-signature`, a space-separated list of `v1,<base64 HMAC-SHA256>` over `<id>.<timestamp>.<body>`,
/// one per valid secret (several while a secret is rotated). A secret is `whsec_` + base64 of ≥ 24 random bytes,
/// and the HMAC key is the base64-decoded bytes.
enum StandardWebhooks {
    static let secretPrefix = "whsec_"

    /// A new secret of 32 random bytes.
    static func newSecret() -> String {
        let key = SymmetricKey(size: .bits256)
        return secretPrefix + key.withUnsafeBytes { Data($0).base64EncodedString() }
    }

    /// The key bytes of a `whsec_` secret, or `nil` when it is malformed or shorter than 24 bytes.
    static func keyBytes(_ secret: String) -> Data? {
        guard secret.hasPrefix(secretPrefix),
            let bytes = Data(base64Encoded: String(secret.dropFirst(secretPrefix.count))), bytes.count >= 24
        else { return nil }
        return bytes
    }

    /// `v1,<base64>` for one secret.
    static func signature(id: String, timestamp: Int, body: some DataProtocol, secret: String) -> String? {
        guard let key = keyBytes(secret) else { return nil }
        var hmac = HMAC<SHA256>(key: SymmetricKey(data: key))
        hmac.update(data: Data("\(id).\(timestamp).".utf8))
        hmac.update(data: body)
        return "v1," + Data(hmac.finalize()).base64EncodedString()
    }

    /// The `webhook-signature` header value for all `secrets`.
    static func signatureHeader(id: String, timestamp: Int, body: some DataProtocol, secrets: [String]) -> String {
        secrets.compactMap { signature(id: id, timestamp: timestamp, body: body, secret: $0) }.joined(separator: " ")
    }
}
