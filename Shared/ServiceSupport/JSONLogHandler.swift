import Foundation
import Logging

/// A swift-log handler writing one JSON object per line:
/// `{"ts":"2025-01-31T08:00:00.123Z","level":"info","service":"intake","message":"…","metadata":{…},"source":"Intake"}`.
///
/// Metadata values under secret-looking keys (``redactedKeyFragments``: password, secret, token, authorization,
/// cookie, …) are replaced by `"[REDACTED]"`, at any depth; URLs with a password have it masked.
package struct JSONLogHandler: LogHandler {
    /// The `service` field of every line.
    private let service: String
    /// The logger label, written as `logger` when it differs from the service.
    private let label: String
    /// Where lines go.
    private let output: LogOutput
    /// Metadata attached to the logger.
    package var metadata: Logger.Metadata = [:]
    /// Minimum level written.
    package var logLevel: Logger.Level
    /// Task-local metadata (e.g. tracing), merged under the logger's own.
    package var metadataProvider: Logger.MetadataProvider?

    /// Creates a handler for `label` in `service`, writing to `output` (stdout by default).
    package init(
        label: String,
        service: String,
        logLevel: Logger.Level = .info,
        output: LogOutput = .standardOutput,
        metadataProvider: Logger.MetadataProvider? = nil
    ) {
        self.label = label
        self.service = service
        self.logLevel = logLevel
        self.output = output
        self.metadataProvider = metadataProvider
    }

    /// Reads or writes one metadata entry.
    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes `event` as one line.
    package func log(event: LogEvent) {
        var merged = metadataProvider?.get() ?? [:]
        merged.merge(metadata) { _, new in new }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }

        var object: [String: LogJSON] = [
            "ts": .string(Self.timestamp(Date())),
            "level": .string(event.level.rawValue),
            "service": .string(service),
            "message": .string(Self.redactingURLPasswords(event.message.description)),
            "source": .string(event.source),
        ]
        if label != service { object["logger"] = .string(label) }
        if !merged.isEmpty { object["metadata"] = Self.redactedJSON(merged) }
        if let error = event.error { object["error"] = .string(Self.redactingURLPasswords(String(describing: error))) }
        output.write(Self.line(object))
    }

    /// Lowercased fragments that mark a metadata key as secret.
    package static let redactedKeyFragments = [
        "password", "passwd", "secret", "token", "authorization", "cookie", "api_key", "apikey", "private",
        "credential",
    ]

    /// The replacement for secret values.
    package static let redactedValue = "[REDACTED]"

    /// Whether a metadata key names a secret.
    package static func isSecretKey(_ key: String) -> Bool {
        let lowered = key.lowercased()
        return redactedKeyFragments.contains { lowered.contains($0) }
    }

    /// Metadata as JSON-ready values with secrets replaced.
    package static func redacted(_ metadata: Logger.Metadata) -> [String: Any] {
        var result: [String: Any] = [:]
        for (key, value) in metadata {
            result[key] = isSecretKey(key) ? redactedValue : jsonValue(value)
        }
        return result
    }

    /// One metadata value as a JSON-ready value.
    /// ``redacted(_:)`` as a value of the line writer.
    static func redactedJSON(_ metadata: Logger.Metadata) -> LogJSON {
        var result: [String: LogJSON] = [:]
        for (key, value) in metadata {
            result[key] = isSecretKey(key) ? .string(redactedValue) : logJSON(value)
        }
        return .object(result)
    }

    private static func logJSON(_ value: Logger.Metadata.Value) -> LogJSON {
        switch value {
        case .string(let text): return .string(redactingURLPasswords(text))
        case .stringConvertible(let convertible): return .string(redactingURLPasswords(convertible.description))
        case .dictionary(let dictionary): return redactedJSON(dictionary)
        case .array(let array): return .array(array.map(logJSON))
        }
    }

    private static func jsonValue(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let text): return redactingURLPasswords(text)
        case .stringConvertible(let convertible): return redactingURLPasswords(convertible.description)
        case .dictionary(let dictionary): return redacted(dictionary)
        case .array(let array): return array.map(jsonValue)
        }
    }

    /// Masks `user:password@` in any URL inside `text`.
    package static func redactingURLPasswords(_ text: String) -> String {
        guard text.contains("://"), text.contains("@") else { return text }
        var result = ""
        var rest = Substring(text)
        while let scheme = rest.range(of: "://") {
            result += rest[..<scheme.upperBound]
            rest = rest[scheme.upperBound...]
            let authorityEnd =
                rest.firstIndex(where: { $0 == "/" || $0 == " " || $0 == "\"" || $0 == "\n" }) ?? rest.endIndex
            let authority = rest[..<authorityEnd]
            if let at = authority.lastIndex(of: "@"), let colon = authority[..<at].firstIndex(of: ":") {
                result += authority[..<colon] + ":***" + authority[at...]
            } else {
                result += authority
            }
            rest = rest[authorityEnd...]
        }
        return result + rest
    }

    /// RFC 3339 UTC time with milliseconds.
    package static func timestamp(_ date: Date) -> String {
        // By hand (UTC, milliseconds): Foundation's ISO 8601 formatting was a visible share of each log line.
        let interval = date.timeIntervalSince1970
        var seconds = time_t(interval.rounded(.down))
        let millis = min(999, max(0, Int((interval - Double(seconds)) * 1000)))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        var text = ""
        text.reserveCapacity(24)
        func append(_ value: Int, width: Int) {
            let digits = String(value)
            if digits.utf8.count < width { text += String(repeating: "0", count: width - digits.utf8.count) }
            text += digits
        }
        append(Int(parts.tm_year) + 1900, width: 4)
        text += "-"
        append(Int(parts.tm_mon) + 1, width: 2)
        text += "-"
        append(Int(parts.tm_mday), width: 2)
        text += "T"
        append(Int(parts.tm_hour), width: 2)
        text += ":"
        append(Int(parts.tm_min), width: 2)
        text += ":"
        append(Int(parts.tm_sec), width: 2)
        text += "."
        append(millis, width: 3)
        text += "Z"
        return text
    }

    /// One line of JSON: keys sorted, slashes not escaped (what `JSONSerialization` with `.sortedKeys` and
    /// `.withoutEscapingSlashes` wrote, without its cost).
    private static func line(_ object: [String: LogJSON]) -> String {
        var text = ""
        text.reserveCapacity(256)
        LogJSON.object(object).write(to: &text)
        return text
    }
}

/// A value of a log line.
package enum LogJSON: Sendable {
    case string(String)
    case object([String: LogJSON])
    case array([LogJSON])

    /// Appends the value as JSON (RFC 8259: `"`, `\` and control characters escaped, keys sorted).
    func write(to text: inout String) {
        switch self {
        case .string(let value):
            JSONText.appendString(value, to: &text)
        case .object(let members):
            text += "{"
            var first = true
            for key in members.keys.sorted() {
                if !first { text += "," }
                first = false
                JSONText.appendString(key, to: &text)
                text += ":"
                members[key]!.write(to: &text)
            }
            text += "}"
        case .array(let items):
            text += "["
            for (index, item) in items.enumerated() {
                if index > 0 { text += "," }
                item.write(to: &text)
            }
            text += "]"
        }
    }
}

/// JSON text written by hand where Foundation's encoder costs too much (log lines, audit documents).
package enum JSONText {
    /// Appends `value` as a JSON string: quoted, with `"`, `\\` and control characters escaped.
    package static func appendString(_ value: String, to text: inout String) {
        text += "\""
        let needsEscaping = value.utf8.contains { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }
        guard needsEscaping else {
            text += value
            text += "\""
            return
        }
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: text.unicodeScalars.append(scalar)
            }
        }
        text += "\""
    }
}

package struct LogOutput: Sendable {
    /// Writes one line (without the trailing newline).
    package let write: @Sendable (String) -> Void

    /// Creates an output from a closure.
    package init(write: @escaping @Sendable (String) -> Void) {
        self.write = write
    }

    /// Standard output, one write per line so lines from concurrent tasks never interleave.
    package static let standardOutput = LogOutput { line in
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }
}
