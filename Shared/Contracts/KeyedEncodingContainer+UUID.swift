import Foundation

// Foundation encodes `UUID` in uppercase. The contract says lowercase (as PostgreSQL prints them), so every
// synthesized `encode(to:)` in this module picks these more specific overloads for its `UUID` properties.
// Keep UUIDs as direct properties of payload structs (not inside arrays or dictionaries), where these apply.
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

extension UUID {
    /// The lowercase string form used in events, headers and subjects.
    package var lowercased: String { uuidString.lowercased() }
}
