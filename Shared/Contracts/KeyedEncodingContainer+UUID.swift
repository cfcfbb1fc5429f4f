import Foundation

// Foundation encodes `UUID` in uppercase. The contract says lowercase (as PostgreSQL prints them), so every
// synthesized `encode(to:)` in this package — events and HTTP bodies of every service that imports Contracts —
// picks these more specific overloads for its `UUID` properties. Keep UUIDs as direct properties of encoded
// structs (not inside arrays or dictionaries), where these apply.
extension KeyedEncodingContainer {
    /// Encodes a UUID as a lowercase string.
    package mutating func encode(_ value: UUID, forKey key: Key) throws {
        try encode(value.uuidString.lowercased(), forKey: key)
    }

    /// Encodes an optional UUID as a lowercase string, omitting the key when `nil`.
    package mutating func encodeIfPresent(_ value: UUID?, forKey key: Key) throws {
        guard let value else { return }
        try encode(value.uuidString.lowercased(), forKey: key)
    }
}

extension UUID {
    /// The lowercase string form used in events, headers and subjects.
    package var lowercased: String { uuidString.lowercased() }
}
