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

        var object: [String: Any] = [
            "ts": Self.timestamp(Date()),
            "level": event.level.rawValue,
            "service": service,
            "message": Self.redactingURLPasswords(event.message.description),
            "source": event.source,
        ]
        if label != service { object["logger"] = label }
        if !merged.isEmpty { object["metadata"] = Self.redacted(merged) }
        if let error = event.error { object["error"] = Self.redactingURLPasswords(String(describing: error)) }
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
        date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    /// Serialises a line; falls back to a minimal line if a value cannot be encoded.
    private static func line(_ object: [String: Any]) -> String {
        let options: JSONSerialization.WritingOptions = [.sortedKeys, .withoutEscapingSlashes]
        if let data = try? JSONSerialization.data(withJSONObject: object, options: options) {
            return String(decoding: data, as: UTF8.self)
        }
        return #"{"level":"error","message":"log line could not be encoded"}"#
    }
}

/// Destination of log lines: stdout, or a closure (tests).
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
