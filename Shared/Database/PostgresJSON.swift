import Foundation

/// A `Codable` value stored as `jsonb` (and read from `json` or `jsonb`).
///
/// Dates are written as ISO 8601 with fractional seconds; keys are sorted so equal values give equal documents.
package struct PostgresJSON<Value: Codable & Sendable>: PostgresEncodable, PostgresDecodable, Sendable {
    /// The wrapped value.
    package var value: Value

    /// Wraps a value.
    package init(_ value: Value) { self.value = value }

    package static var postgresType: PostgresType { .jsonb }

    /// `jsonb` binary format: version byte 1, then the JSON text.
    package func encode(into buffer: inout [UInt8]) throws {
        do {
            let data = try Self.encoder().encode(value)
            buffer.append(1)
            buffer.append(contentsOf: data)
        } catch {
            throw DatabaseError(.decoding, message: "cannot encode \(Value.self) as JSON")
        }
    }

    package static func decode(from bytes: ArraySlice<UInt8>, type: PostgresType) throws -> PostgresJSON<Value> {
        let json: ArraySlice<UInt8>
        switch type {
        case .jsonb:
            guard bytes.first == 1 else { throw decodingError(Self.self, type) }
            json = bytes.dropFirst()
        case .json, .text:
            json = bytes
        default:
            throw decodingError(Self.self, type)
        }
        do {
            return PostgresJSON(try decoder().decode(Value.self, from: Data(json)))
        } catch {
            throw DatabaseError(.decoding, message: "cannot decode JSON as \(Value.self)")
        }
    }

    /// The encoder used for every value.
    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
        }
        return encoder
    }

    /// The decoder used for every value; accepts ISO 8601 with or without fractional seconds.
    static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            if let date = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) {
                return date
            }
            if let date = try? Date(text, strategy: .iso8601) { return date }
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an ISO 8601 date")
        }
        return decoder
    }
}

extension PostgresJSON: Equatable where Value: Equatable {}
