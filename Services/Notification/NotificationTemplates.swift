import Foundation
import Mustache
import NIOPosix

/// The message templates: Mustache files, one pair per kind of notification, `<kind>.id.mustache` (Bahasa
/// Indonesia) and `<kind>.en.mustache` (English). The first line of a file is the title, the rest the body.
///
/// They are read from a directory at start (`NOTIFICATION_TEMPLATES_DIR`, by default the copy bundled with the
/// executable), so an operator edits the text without a rebuild and restarts the service. Every file is parsed
/// and checked at start: a syntax error, a missing file, an empty title or a variable the kind does not have
/// stops the service with a message naming the file and line — never a broken message at send time.
struct NotificationTemplates: Sendable {
    /// The kinds of notification and, for each, the variables its templates may use (with sample values used to
    /// check that every template renders).
    static let kinds: [String: [String: any Sendable]] = {
        let common: [String: any Sendable] = [
            "activity": "Memilah sampah", "date": "12 Jan", "dateEn": "12 Jan", "reason": "Foto tidak jelas",
            "reasonEn": "Unclear photo", "code": "REVIEWER_REJECTED", "period": "2026-Q1",
            "periodName": "triwulan 2026-Q1", "periodNameEn": "quarter 2026-Q1", "points": "+10", "total": "140",
            "name": "Siti Rahma", "opd": "DLH",
        ]
        func kind(_ extra: [String: any Sendable] = [:]) -> [String: any Sendable] {
            common.merging(extra) { $1 }
        }
        return [
            "submission.verified": kind(["note": "Bagus", "place": "kantor"]),
            "appeal.accepted": kind(),
            "submission.rejected": kind(["appealable": true]),
            "appeal.rejected": kind(),
            "submission.revoked": kind(),
            "review.assigned": kind(["appeal": true]),
            "points.awarded": kind(),
            "points.reversed": kind(),
            "penalty.applied": kind(["bannedUntil": "1 Feb 2026", "bannedUntilEn": "1 Feb 2026"]),
            "award.granted": kind(["rank": "1", "prize": "Uang pembinaan Rp 1.000.000", "stage": "quarter"]),
            "sanction.imposed": kind(["tpp": "-5"]),
            "sanction.opd": kind(),
            "commitment.evaluated": kind([
                "met": false, "metric": "tingkat partisipasi", "metricEn": "participation rate", "actual": "62,5",
                "target": "80", "inactive": "12",
            ]),
        ]
    }()

    /// One parsed file.
    struct Parsed: Sendable {
        var title: MustacheTemplate
        var body: MustacheTemplate
    }

    /// A rendered text in one language.
    struct Text: Equatable, Sendable {
        var title: String
        var body: String
    }

    /// `kind` → (Indonesian, English).
    private let templates: [String: (id: Parsed, en: Parsed)]

    /// The bundled templates directory.
    static var bundledDirectory: URL? { Bundle.module.url(forResource: "Templates", withExtension: nil) }

    /// Reads, parses and checks every template under `directory` (file reads on NIO's thread pool).
    ///
    /// - Throws: ``TemplateError`` naming the first bad file (and line).
    static func load(directory: URL) async throws -> NotificationTemplates {
        let files = try await NIOThreadPool.singleton.runIfActive { () throws -> [String: String] in
            var texts: [String: String] = [:]
            for kind in kinds.keys {
                for language in ["id", "en"] {
                    let name = "\(kind).\(language).mustache"
                    let url = directory.appendingPathComponent(name)
                    guard let data = FileManager.default.contents(atPath: url.path) else {
                        throw TemplateError(file: url.path, line: nil, problem: "berkas tidak ada (file is missing)")
                    }
                    guard let text = String(data: data, encoding: .utf8) else {
                        throw TemplateError(file: url.path, line: nil, problem: "bukan UTF-8 (not UTF-8)")
                    }
                    texts[name] = text
                }
            }
            return texts
        }
        return try NotificationTemplates(files: files, directory: directory.path)
    }

    /// Parses and checks templates given as `file name → text` (`directory` only names them in errors).
    init(files: [String: String], directory: String) throws {
        var templates: [String: (id: Parsed, en: Parsed)] = [:]
        for (kind, sample) in Self.kinds.sorted(by: { $0.key < $1.key }) {
            var pair: [Parsed] = []
            for language in ["id", "en"] {
                let name = "\(kind).\(language).mustache"
                let path = (directory as NSString).appendingPathComponent(name)
                guard let text = files[name] else {
                    throw TemplateError(file: path, line: nil, problem: "berkas tidak ada (file is missing)")
                }
                pair.append(try Self.parse(text, path: path, allowed: Set(sample.keys), sample: sample))
            }
            templates[kind] = (pair[0], pair[1])
        }
        self.templates = templates
    }

    /// Renders `kind` with `values` in both languages.
    func render(_ kind: String, _ values: [String: Any]) -> (id: Text, en: Text) {
        guard let pair = templates[kind] else {
            return (Text(title: kind, body: ""), Text(title: kind, body: ""))
        }
        func text(_ parsed: Parsed) -> Text {
            Text(title: Self.trimmed(parsed.title.render(values)), body: Self.trimmed(parsed.body.render(values)))
        }
        return (text(pair.id), text(pair.en))
    }

    /// `text` without leading and trailing white space (Unicode `White_Space`, line breaks included). What
    /// `trimmingCharacters(in: .whitespacesAndNewlines)` does, without Foundation's `CharacterSet` (a measurable
    /// share of the consumer's CPU when it ran twice per notification).
    static func trimmed(_ text: String) -> String {
        let scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        if first == scalars.startIndex, scalars.index(after: last) == scalars.endIndex { return text }
        return String(scalars[first...last])
    }

    /// Plain text, not HTML: the pragma switches Mustache's escaping off (placed on line 1 without a newline, so
    /// line numbers in errors stay those of the file).
    private static let textPragma = "{{% CONTENT_TYPE: TEXT}}"

    private static func parse(_ text: String, path: String, allowed: Set<String>, sample: [String: any Sendable])
        throws -> Parsed
    {
        let lines = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
        let titleText = String(lines.first ?? "")
        let bodyText = lines.count > 1 ? String(lines[1]) : ""
        guard !titleText.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw TemplateError(file: path, line: 1, problem: "baris pertama (judul) kosong (the title line is empty)")
        }
        guard !bodyText.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw TemplateError(file: path, line: 2, problem: "isi pesan kosong (the body is empty)")
        }
        try checkTags(titleText, path: path, firstLine: 1, allowed: allowed)
        try checkTags(bodyText, path: path, firstLine: 2, allowed: allowed)
        let title = try compile(titleText, path: path, firstLine: 1)
        let body = try compile(bodyText, path: path, firstLine: 2)
        let rendered = title.render(sample) + body.render(sample)
        guard !rendered.contains("{{") else {
            throw TemplateError(file: path, line: nil, problem: "tag tidak lengkap (an unfinished tag)")
        }
        return Parsed(title: title, body: body)
    }

    private static func compile(_ text: String, path: String, firstLine: Int) throws -> MustacheTemplate {
        do {
            return try MustacheTemplate(string: textPragma + text)
        } catch let error as MustacheTemplate.ParserError {
            throw TemplateError(
                file: path, line: firstLine + error.context.lineNumber - 1,
                problem: "sintaks Mustache salah: \(error.error) di \"\(error.context.line)\" (Mustache syntax error)")
        }
    }

    /// Every `{{name}}`, `{{#name}}`, `{{^name}}`, `{{/name}}`, `{{{name}}}` and `{{&name}}` must name a variable
    /// of the kind; comments (`{{! … }}`) are allowed; partials and delimiter changes are not.
    private static func checkTags(_ text: String, path: String, firstLine: Int, allowed: Set<String>) throws {
        var line = firstLine
        var index = text.startIndex
        while index < text.endIndex {
            if text[index] == "\n" {
                line += 1
                index = text.index(after: index)
                continue
            }
            guard text[index...].hasPrefix("{{") else {
                index = text.index(after: index)
                continue
            }
            let start = text.index(index, offsetBy: 2)
            guard let close = text[start...].range(of: "}}") else {
                throw TemplateError(file: path, line: line, problem: "tag '{{' tidak ditutup (an unclosed tag)")
            }
            var tag = text[start..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            index = close.upperBound
            if index < text.endIndex, text[index] == "}" { index = text.index(after: index) }
            guard let sigil = tag.first else {
                throw TemplateError(file: path, line: line, problem: "tag kosong (an empty tag)")
            }
            switch sigil {
            case "!": continue
            case ">", "=", "<", "$", "%":
                throw TemplateError(
                    file: path, line: line, problem: "tag '\(sigil)' tidak didukung (partials are not supported)")
            case "#", "^", "/", "{", "&":
                tag.removeFirst()
                tag = tag.trimmingCharacters(in: .whitespaces)
            default: break
            }
            let name = String(tag.split(separator: ".").first ?? "")
            guard allowed.contains(name) else {
                throw TemplateError(
                    file: path, line: line,
                    problem:
                        "variabel '\(tag)' tidak dikenal (unknown variable; known: \(allowed.sorted().joined(separator: ", ")))"
                )
            }
        }
    }
}

/// A template that cannot be used; the service refuses to start.
struct TemplateError: Error, CustomStringConvertible {
    var file: String
    var line: Int?
    var problem: String

    var description: String {
        let place = line.map { "\(file):\($0)" } ?? file
        return "Templat pemberitahuan rusak (broken notification template) \(place): \(problem)"
    }
}
