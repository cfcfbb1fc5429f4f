import Foundation

// Foundation encodes `UUID` in uppercase; the API says lowercase (as PostgreSQL prints them and as the events carry
// them). Every synthesized `encode(to:)` in this module picks these more specific overloads for its `UUID`
// properties (keep UUIDs as direct properties of response structs, where these apply).
extension KeyedEncodingContainer {
    /// Encodes a UUID as a lowercase string.
    mutating func encode(_ value: UUID, forKey key: Key) throws {
        try encode(value.uuidString.lowercased(), forKey: key)
    }

    /// Encodes an optional UUID as a lowercase string, omitting the key when `nil`.
    mutating func encodeIfPresent(_ value: UUID?, forKey key: Key) throws {
        guard let value else { return }
        try encode(value.uuidString.lowercased(), forKey: key)
    }
}
