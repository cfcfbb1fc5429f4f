import Foundation

/// The one JSON dialect of every event body: camelCase keys, sorted keys for stable output, dates as RFC 3339
/// UTC strings with microseconds (see `RFC3339`), UUIDs in lowercase (see `KeyedEncodingContainer+UUID.swift`).
///
/// Decoding accepts any RFC 3339 time (any offset, any fractional digits) and ignores unknown fields, so a
/// producer may add optional fields without breaking consumers.
package enum ContractsJSON {
    /// A fresh encoder configured for contract JSON.
    package static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(RFC3339.format(date))
        }
        return encoder
    }

    /// A fresh decoder configured for contract JSON.
    package static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let string = try container.decode(String.self)
            guard let date = RFC3339.parse(string) else {
                throw DecodingError.dataCorruptedError(
                    in: container,
                    debugDescription: "expected an RFC 3339 time, got '\(string)'"
                )
            }
            return date
        }
        return decoder
    }

    /// Encodes `value` as contract JSON.
    package static func encode<T: Encodable>(_ value: T) throws -> Data {
        try encoder.encode(value)
    }

    /// Decodes contract JSON, wrapping failures in `ContractError` `.invalidData`.
    package static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        do {
            return try decoder.decode(type, from: data)
        } catch let error as DecodingError {
            throw ContractError.invalidData("cannot decode \(T.self): \(describe(error))")
        } catch {
            throw ContractError.invalidData("cannot decode \(T.self): \(error)")
        }
    }

    /// A short description of a decoding error: the failing key path and the reason, never the data.
    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return keys.isEmpty ? "<root>" : keys.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "missing field '\(key.stringValue)' at \(path(context))"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "wrong type at \(path(context)): \(context.debugDescription)"
        case .dataCorrupted(let context):
            return "invalid value at \(path(context)): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}
