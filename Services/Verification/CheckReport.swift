import Foundation
import ServiceSupport

/// A JSON value in a check's evidence (values compared, distances, matching submissions).
enum Fact: Codable, Sendable, Equatable {
    case string(String)
    case number(Double)
    case bool(Bool)
    case array([Fact])
    case object([String: Fact])
    case null

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .number(let value): try container.encode(value.isFinite ? value : 0)
        case .bool(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        case .null: try container.encodeNil()
        }
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([Fact].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: Fact].self))
        }
    }

    static func date(_ date: Date?) -> Fact {
        guard let date else { return .null }
        return .string(ISO8601DateFormatter.verification.string(from: date))
    }

    static func optional(_ value: Double?) -> Fact { value.map { .number($0) } ?? .null }
    static func optional(_ value: String?) -> Fact { value.map { .string($0) } ?? .null }
}

extension Fact {
    /// The value as JSON text: what `ContractsJSON.encode` writes (keys sorted, a non-finite number as 0), written
    /// directly. The audit trail stores three such documents per decided submission, all while the batch holds the
    /// near-duplicate lock, and Foundation's encoder spent about a fifth of the consumer's CPU on them.
    var jsonText: String {
        var out = ""
        write(into: &out)
        return out
    }

    private func write(into out: inout String) {
        switch self {
        case .string(let value): JSONText.appendString(value, to: &out)
        case .number(let value):
            let finite = value.isFinite ? value : 0
            if finite == finite.rounded(), abs(finite) < 9_007_199_254_740_992 {
                out += String(Int64(finite))
            } else {
                out += finite.description
            }
        case .bool(let value): out += value ? "true" : "false"
        case .null: out += "null"
        case .array(let values):
            out += "["
            for (index, value) in values.enumerated() {
                if index > 0 { out += "," }
                value.write(into: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (index, key) in members.keys.sorted().enumerated() {
                if index > 0 { out += "," }
                JSONText.appendString(key, to: &out)
                out += ":"
                members[key]!.write(into: &out)
            }
            out += "}"
        }
    }
}

extension CheckResult {
    /// The result as the JSON object it is stored as.
    var fact: Fact { .object(["code": .string(code), "result": .string(result), "evidence": .object(evidence)]) }
}

extension ISO8601DateFormatter {
    /// RFC 3339 with fractional seconds, UTC.
    nonisolated(unsafe) static let verification: ISO8601DateFormatter = {
        // Immutable after creation; `string(from:)` is thread-safe on a formatter that is not mutated.
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter
    }()
}

/// The result of one automatic check on one submission.
struct CheckResult: Codable, Sendable, Equatable {
    /// The check's reason code (`DUPLICATE_EVIDENCE`, …).
    var code: String
    /// `pass`, `flag` (found: the code applies) or `skipped` (nothing to check against, said in `evidence`).
    var result: String
    /// What was compared.
    var evidence: [String: Fact]

    static func pass(_ code: String, _ evidence: [String: Fact] = [:]) -> CheckResult {
        CheckResult(code: code, result: "pass", evidence: evidence)
    }
    static func flag(_ code: String, _ evidence: [String: Fact]) -> CheckResult {
        CheckResult(code: code, result: "flag", evidence: evidence)
    }
    static func skipped(_ code: String, _ why: String) -> CheckResult {
        CheckResult(code: code, result: "skipped", evidence: ["reason": .string(why)])
    }
}
