import Foundation
import Logging
import ServiceSupport
import Testing

@Suite("JSON logging")
struct JSONLogHandlerTests {
    func logger(_ capture: LogCapture) -> Logger {
        Logger(label: "intake.http") { label in
            JSONLogHandler(label: label, service: "intake", logLevel: .info, output: capture.output)
        }
    }

    func object(_ line: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    @Test("one JSON object per line with ts, level, service, message, metadata, source")
    func shape() throws {
        let capture = LogCapture()
        var logger = logger(capture)
        logger[metadataKey: "request.id"] = "abc"
        logger.info("Pengajuan diterima", metadata: ["submission.id": "s-1", "count": .stringConvertible(3)])
        logger.debug("not written at info")
        #expect(capture.lines.count == 1)
        let line = try #require(capture.lines.first)
        #expect(!line.contains("\n"))
        let json = try object(line)
        #expect(json["level"] as? String == "info")
        #expect(json["service"] as? String == "intake")
        #expect(json["message"] as? String == "Pengajuan diterima")
        #expect(json["source"] as? String == "ServiceSupportTests")
        #expect(json["logger"] as? String == "intake.http")
        let metadata = try #require(json["metadata"] as? [String: Any])
        #expect(metadata["request.id"] as? String == "abc")
        #expect(metadata["submission.id"] as? String == "s-1")
        #expect(metadata["count"] as? String == "3")
        let ts = try #require(json["ts"] as? String)
        #expect(try Date(ts, strategy: .iso8601.year().month().day().time(includingFractionalSeconds: true)) <= Date())
        #expect(ts.hasSuffix("Z"))
    }

    @Test("secret-looking keys are redacted at any depth; URL passwords are masked")
    func redaction() throws {
        let capture = LogCapture()
        let logger = logger(capture)
        logger.warning(
            "login postgresql://intake:pgpass@db:5432/intake",
            metadata: [
                "password": "hunter2",
                "Authorization": "Bearer eyJhbGciOi",
                "jwt.token": "eyJ",
                "client_secret": "xyz",
                "nested": ["api_key": "k-123", "ok": "visible"],
                "url": "amqp://user:mqpass@broker/vhost",
            ]
        )
        let line = try #require(capture.lines.first)
        for secret in ["hunter2", "eyJ", "xyz", "k-123", "pgpass", "mqpass"] {
            #expect(!line.contains(secret), "\(secret)")
        }
        let json = try object(line)
        let metadata = try #require(json["metadata"] as? [String: Any])
        #expect(metadata["password"] as? String == "[REDACTED]")
        #expect(metadata["Authorization"] as? String == "[REDACTED]")
        #expect((metadata["nested"] as? [String: Any])?["ok"] as? String == "visible")
        #expect(metadata["url"] as? String == "amqp://user:***@broker/vhost")
        #expect(json["message"] as? String == "login postgresql://intake:***@db:5432/intake")
    }

    @Test("quotes, backslashes, control characters and non-ASCII survive; nested metadata keeps its shape")
    func escaping() throws {
        let capture = LogCapture()
        let logger = logger(capture)
        let tricky = "kata \"kutip\" \\ garis\nbaru\ttab \u{1} é 😀 /v1/submissions"
        logger.error(
            "\(tricky)",
            metadata: ["value": "\(tricky)", "list": ["a", "b\"c"], "nested": ["inner": ["deep": "x"]]])
        let line = try #require(capture.lines.first)
        #expect(!line.contains("\n"))
        #expect(line.contains("/v1/submissions"), "slashes are not escaped")
        let json = try object(line)
        #expect(json["message"] as? String == tricky)
        let metadata = try #require(json["metadata"] as? [String: Any])
        #expect(metadata["value"] as? String == tricky)
        #expect(metadata["list"] as? [String] == ["a", "b\"c"])
        #expect(((metadata["nested"] as? [String: Any])?["inner"] as? [String: Any])?["deep"] as? String == "x")
        // Keys are sorted, as before.
        let keys = ["\"level\"", "\"logger\"", "\"message\"", "\"metadata\"", "\"service\"", "\"source\"", "\"ts\""]
        let positions = keys.compactMap { line.range(of: $0)?.lowerBound }
        #expect(positions.count == keys.count && positions == positions.sorted())
    }
}
