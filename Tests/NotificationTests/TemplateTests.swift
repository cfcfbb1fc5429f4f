import Contracts
import Foundation
import TestSupport
import Testing

@testable import Notification

/// Templates as files, checked at start, and Indonesian dates and numbers.
@Suite("Notification: templates and Indonesian formatting")
struct TemplateTests {
    @Test("numbers and dates are written the Indonesian way, in Jakarta time")
    func indonesianFormat() {
        #expect(IndonesianFormat.integer(1250) == "1.250")
        #expect(IndonesianFormat.integer(1_000_000) == "1.000.000")
        #expect(IndonesianFormat.integer(-10) == "-10")
        #expect(IndonesianFormat.integer(999) == "999")
        #expect(IndonesianFormat.decimal(2.5) == "2,5")
        #expect(IndonesianFormat.decimal(1250.75) == "1.250,75")
        #expect(IndonesianFormat.decimal(80) == "80")
        #expect(IndonesianFormat.rupiah(1_000_000) == "Rp 1.000.000")
        #expect(IndonesianFormat.signedPoints(10) == "+10")
        // 11 Jan 2026 18:30 UTC is 12 Jan 01:30 in Jakarta (UTC+7).
        let date = ISO8601DateFormatter().date(from: "2026-01-11T18:30:00Z")!
        #expect(IndonesianFormat.dayMonth(date) == "12 Jan")
        #expect(IndonesianFormat.date(ISO8601DateFormatter().date(from: "2026-08-17T03:00:00Z")!) == "17 Agu 2026")
        #expect(IndonesianFormat.dateTime(date) == "12 Jan 2026 1.30")
    }

    @Test("the bundled templates load and render both languages")
    func bundledTemplatesRender() async throws {
        let templates = try await NotificationTemplates.load(
            directory: try #require(NotificationTemplates.bundledDirectory))
        let (id, en) = templates.render(
            "points.awarded",
            [
                "activity": "Memilah sampah", "date": "12 Jan", "dateEn": "12 Jan", "points": "+10", "total": "140",
                "periodName": "triwulan 2026-Q1", "periodNameEn": "quarter 2026-Q1",
            ])
        #expect(id.title == "Poin bertambah +10")
        #expect(
            id.body == "Kegiatan *Memilah sampah* Anda pada 12 Jan disetujui: +10 poin (total triwulan 2026-Q1: 140).")
        #expect(
            en.body
                == "Your activity *Memilah sampah* on 12 Jan was approved: +10 points (total for quarter 2026-Q1: 140)."
        )
        // Plain text, not HTML: nothing is escaped.
        let (quoted, _) = templates.render("points.awarded", ["activity": "Kompos & \"daur ulang\"", "points": "+1"])
        #expect(quoted.body.contains("*Kompos & \"daur ulang\"*"))
    }

    @Test("rendered text loses leading and trailing white space as Foundation's trimming would, nothing inside")
    func trimming() {
        let samples = [
            "  Poin bertambah +10 \n", "", " \t\r\n ", "tanpa spasi", "\u{00A0}Kegiatan\u{2003}", "a  b\n\nc",
            "\u{3000}\u{85}x y\u{2028}", "Kompos & \"daur ulang\" ", "é ",
        ]
        for sample in samples {
            #expect(
                NotificationTemplates.trimmed(sample) == sample.trimmingCharacters(in: .whitespacesAndNewlines),
                "\(sample.debugDescription)")
        }
        #expect(NotificationTemplates.trimmed("  a  b  ") == "a  b")
    }

    @Test("a webhook or stream body embeds data that is JSON as JSON and anything else as a string")
    func structuredBody() throws {
        func event(_ data: String) -> CloudEvent {
            CloudEvent(
                id: "e1", source: "/asnreward/scoring", type: "asnreward.scoring.points.awarded.v1", subject: nil,
                time: Date(timeIntervalSince1970: 0), dataSchema: nil, data: Data(data.utf8))
        }
        #expect(CloudEventJSON.structured(event(#"{"a":1}"#)).hasSuffix(#","data":{"a":1}}"#))
        // Not JSON (a forged key would otherwise be injected): a string, unless the caller decoded it as JSON.
        let forged = #"{"a":1}, "id": "forged"}"#
        let body = CloudEventJSON.structured(event(forged))
        #expect(body.hasSuffix(#","data":"{\"a\":1}, \"id\": \"forged\"}"}"#))
        #expect(try JSONSerialization.jsonObject(with: Data(body.utf8)) is [String: Any])
        #expect(CloudEventJSON.structured(event(#"{"a":1}"#), dataIsJSON: true).hasSuffix(#","data":{"a":1}}"#))
    }

    /// Copies the bundled templates to a fresh directory and replaces one file.
    static func brokenCopy(_ name: String, _ text: String) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("templates-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: NotificationTemplates.bundledDirectory!, to: directory)
        try Data(text.utf8).write(to: directory.appendingPathComponent(name))
        return directory
    }

    @Test("a syntax error is reported with the file and line")
    func syntaxError() async throws {
        let directory = try Self.brokenCopy(
            "award.granted.id.mustache", "Selamat!\nAnda peringkat {{rank}}\ndan meraih {{#prize}}hadiah{{/rank}}.")
        defer { try? FileManager.default.removeItem(at: directory) }
        let error = await #expect(throws: TemplateError.self) {
            try await NotificationTemplates.load(directory: directory)
        }
        #expect(error?.file.hasSuffix("award.granted.id.mustache") == true)
        #expect(error?.line == 3)
        #expect(error?.description.contains("award.granted.id.mustache:3") == true)
    }

    @Test("an unknown variable, an empty title and a missing file are refused")
    func otherMistakes() async throws {
        let unknown = try Self.brokenCopy("points.awarded.en.mustache", "Points\n\nYou got {{poin}} points.")
        defer { try? FileManager.default.removeItem(at: unknown) }
        let error = await #expect(throws: TemplateError.self) {
            try await NotificationTemplates.load(directory: unknown)
        }
        #expect(error?.line == 3)
        #expect(error?.description.contains("poin") == true)

        let empty = try Self.brokenCopy("sanction.opd.id.mustache", "\nOPD {{opd}} disanksi.")
        defer { try? FileManager.default.removeItem(at: empty) }
        let emptyError = await #expect(throws: TemplateError.self) {
            try await NotificationTemplates.load(directory: empty)
        }
        #expect(emptyError?.line == 1)

        let missing = try Self.brokenCopy("x.mustache", "")
        try FileManager.default.removeItem(at: missing.appendingPathComponent("review.assigned.en.mustache"))
        defer { try? FileManager.default.removeItem(at: missing) }
        let missingError = await #expect(throws: TemplateError.self) {
            try await NotificationTemplates.load(directory: missing)
        }
        #expect(missingError?.file.hasSuffix("review.assigned.en.mustache") == true)
    }

    @Test("the service executable refuses to start on a broken template, naming the file and line")
    func executableRefusesToStart() async throws {
        let directory = try Self.brokenCopy(
            "points.awarded.id.mustache", "Poin {{points}}\nKegiatan {{#activity}}*{{activity}}* pada {{date}}")
        defer { try? FileManager.default.removeItem(at: directory) }
        let executable = DevEnvironment.repositoryRoot.appendingPathComponent(".build/debug/notification").path
        try #require(FileManager.default.isExecutableFile(atPath: executable), "build the notification executable")
        // Nothing is reachable at these URLs: the service must stop before it tries.
        let output = try await DevEnvironment.shellOffPool(
            """
            NOTIFICATION_TEMPLATES_DIR='\(directory.path)' HTTP_PORT=1 DATABASE_URL=postgres://x@127.0.0.1:1/x \
            AMQP_URL=amqp://x:x@127.0.0.1:1/ JWT_HS256_SECRET=0123456789abcdef0123456789abcdef \
            timeout 60 '\(executable)' 2>&1; echo "exit=$?"
            """)
        #expect(output.contains("exit=1"))
        #expect(output.contains("points.awarded.id.mustache:2"))
    }
}
