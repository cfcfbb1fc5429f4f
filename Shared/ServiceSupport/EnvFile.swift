import Foundation

/// Reads the development env file `.run/env` written by the local stack script.
///
/// Lines are `export KEY=value` or `KEY=value`; values may be single- or double-quoted (double quotes honour
/// `\"`, `\\`, `\n`, `\$`); `#` starts a comment outside quotes; blank lines are skipped. No variable expansion.
package enum EnvFile {
    /// The key-value pairs of `text`.
    package static func parse(_ text: String) -> [String: String] {
        var values: [String: String] = [:]
        for rawLine in text.split(whereSeparator: \.isNewline) {
            var line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if line.hasPrefix("export ") || line.hasPrefix("export\t") {
                line = String(line.dropFirst("export".count)).trimmingCharacters(in: .whitespaces)
            }
            guard let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else { continue }
            values[key] = unquote(String(line[line.index(after: equals)...]).trimmingCharacters(in: .whitespaces))
        }
        return values
    }

    /// The value part of a line with quotes and trailing comments removed.
    private static func unquote(_ value: String) -> String {
        guard let first = value.first else { return "" }
        if first == "'" {
            let rest = value.dropFirst()
            return String(rest.prefix { $0 != "'" })
        }
        if first == "\"" {
            var result = ""
            var escaped = false
            for character in value.dropFirst() {
                if escaped {
                    switch character {
                    case "n": result.append("\n")
                    case "\"", "\\", "$", "`": result.append(character)
                    default: result.append("\\"); result.append(character)
                    }
                    escaped = false
                } else if character == "\\" {
                    escaped = true
                } else if character == "\"" {
                    break
                } else {
                    result.append(character)
                }
            }
            return result
        }
        // Unquoted: a ` #` starts a comment.
        if let comment = value.range(of: " #") {
            return String(value[..<comment.lowerBound]).trimmingCharacters(in: .whitespaces)
        }
        return value
    }

    /// The nearest `relativePath` (default `.run/env`) in `directory` or one of its ancestors.
    package static func find(relativePath: String = ".run/env", from directory: URL) -> URL? {
        var current = directory.standardizedFileURL
        while true {
            let candidate = current.appendingPathComponent(relativePath)
            if FileManager.default.isReadableFile(atPath: candidate.path) { return candidate }
            let parent = current.deletingLastPathComponent()
            if parent.path == current.path { return nil }
            current = parent
        }
    }

    /// `environment` with the values of the nearest `.run/env` added underneath (the environment wins).
    package static func mergedEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment,
        from directory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    ) -> [String: String] {
        guard let url = find(from: directory), let data = FileManager.default.contents(atPath: url.path) else {
            return environment
        }
        return parse(String(decoding: data, as: UTF8.self)).merging(environment) { _, fromEnvironment in fromEnvironment
        }
    }
}

/// Parses short durations such as `8h`, `30m`, `90s`, `1d`, `1h30m` (used by the CLI's `--expires-in`).
package enum DurationText {
    /// The duration, or `nil` when the text is not a sequence of `<digits><d|h|m|s>` (a bare number is seconds).
    package static func parse(_ text: String) -> Duration? {
        let text = text.trimmingCharacters(in: .whitespaces).lowercased()
        guard !text.isEmpty else { return nil }
        if let seconds = Int(text) { return seconds > 0 ? .seconds(seconds) : nil }
        var total = 0
        var digits = ""
        for character in text {
            if character.isASCII, character.isNumber {
                digits.append(character)
                continue
            }
            guard let amount = Int(digits) else { return nil }
            let unit: Int
            switch character {
            case "d": unit = 86_400
            case "h": unit = 3_600
            case "m": unit = 60
            case "s": unit = 1
            default: return nil
            }
            let (product, overflow) = amount.multipliedReportingOverflow(by: unit)
            guard !overflow else { return nil }
            total += product
            digits = ""
        }
        guard digits.isEmpty, total > 0 else { return nil }
        return .seconds(total)
    }
}
