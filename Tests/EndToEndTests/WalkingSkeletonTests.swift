import AMQP
import Contracts
import Foundation
import Logging
import Photo
import ServiceSupport
import TestSupport
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// The thinnest complete path through the whole system: four real processes on the real PostgreSQL and RabbitMQ.
@Suite("End to end: the four services", .serialized, .timeLimit(.minutes(5)))
struct WalkingSkeletonTests {
    let siti = (nip: "198503152010012001", name: "Siti Rahma", opd: "DLH")
    let budi = (nip: "199001012015031002", name: "Budi Santoso", opd: "BKPP")

    @Test("A photo becomes points and a notification; the same photo again is rejected as DUPLICATE_EVIDENCE")
    func submissionToPointsAndDuplicateRejection() async throws {
        try await withRunningSystem { system in
            let issuer = TokenIssuer(hs256Secret: system.jwtSecret)
            let sitiToken = try await issuer.token(nip: siti.nip, name: siti.name, opd: siti.opd, roles: ["asn"])
            let budiToken = try await issuer.token(nip: budi.nip, name: budi.name, opd: budi.opd, roles: ["asn"])
            let tap = try await EventTap.start(url: try system.amqpURL)

            // Siti submits a phone photo whose EXIF says when and where it was taken; the same Idempotency-Key
            // twice gives one submission.
            let activityAt = Date().addingTimeInterval(-3600)
            let photo = Self.phonePhoto(takenAt: activityAt.addingTimeInterval(-300))
            let first = try await submit(system, token: sitiToken, key: "siti-1", photo: photo, at: activityAt)
            #expect(first.status == 202, "first submission: \(first.body)")
            let replay = try await submit(system, token: sitiToken, key: "siti-1", photo: photo, at: activityAt)
            #expect(replay.status == 200, "a replay answers 200 with Idempotent-Replayed: \(replay.body)")
            let sitiSubmission = try #require(first.body["id"] as? String)
            #expect(replay.body["id"] as? String == sitiSubmission)

            // It is verified, scored and notified.
            let awarded = try await eventually("Siti's points notification") {
                try await notifications(system, token: sitiToken).first {
                    ($0["eventType"] as? String) == PointsAwarded.eventType
                }
            }
            #expect((awarded["title"] as? String)?.contains("Poin bertambah") == true)
            // The activity's name comes from program.published, which may reach notification after the points
            // (start order); the points themselves are always in the message.
            #expect((awarded["body"] as? String)?.contains("10 poin") == true, "\(awarded)")

            let period = Period.containing(activityAt, kind: .quarter).description
            let (pointsData, pointsResponse) = try await HTTP.send(
                "GET", system.url("scoring", "/v1/asn/\(siti.nip)/points?period=\(period)"), token: sitiToken)
            #expect(pointsResponse.statusCode == 200)
            #expect(HTTP.json(pointsData)["points"] as? Int == 10, "pilah_sampah base points")

            let approved = try await eventually("Siti's submission approved with points in intake") {
                try await mySubmissions(system, token: sitiToken).first {
                    $0["id"] as? String == sitiSubmission && $0["status"] as? String == "approved"
                        && $0["points"] as? Int == 10
                }
            }
            #expect(approved["reasonCode"] == nil || approved["reasonCode"] is NSNull)
            #expect(
                try await mySubmissions(system, token: sitiToken).count == 1,
                "one submission for two identical requests")

            // Budi submits the very same photo: rejected as a duplicate, and told why.
            let second = try await submit(system, token: budiToken, key: "budi-1", photo: photo, at: activityAt)
            #expect(second.status == 202)
            let rejected = try await eventually("Budi's rejection notification") {
                try await notifications(system, token: budiToken).first {
                    ($0["eventType"] as? String) == SubmissionRejected.eventType
                }
            }
            #expect((rejected["body"] as? String)?.contains("DUPLICATE_EVIDENCE") == true)
            let budiStatus = try await eventually("Budi's submission rejected in intake") {
                try await mySubmissions(system, token: budiToken).first { $0["status"] as? String == "rejected" }
            }
            #expect(budiStatus["reasonCode"] as? String == "DUPLICATE_EVIDENCE")
            #expect(
                try await notifications(system, token: budiToken).allSatisfy {
                    ($0["eventType"] as? String) != PointsAwarded.eventType
                })

            // Every message on asnreward.events carries the CloudEvents binary-mode headers and AMQP properties.
            let seen = await tap.stop()
            let types = Set(seen.compactMap { $0.properties.type })
            for type in [
                SubmissionReceived.eventType, SubmissionVerified.eventType, SubmissionRejected.eventType,
                PointsAwarded.eventType,
            ] {
                #expect(types.contains(type), "saw \(type)")
            }
            for delivery in seen {
                let headers = delivery.properties.headers
                #expect(headers["ce-specversion"] == "1.0")
                #expect(headers["ce-id"] == delivery.properties.messageId)
                #expect(headers["ce-type"] == delivery.properties.type)
                #expect(headers["ce-source"]?.hasPrefix("/asnreward/") == true)
                #expect(headers["ce-subject"]?.isEmpty == false)
                #expect(headers["ce-time"].flatMap(RFC3339.parse) != nil)
                #expect(delivery.properties.contentType == "application/json")
                #expect(delivery.properties.persistent)
                #expect(delivery.properties.appId != nil && delivery.properties.timestamp != nil)
                #expect(delivery.routingKey == EventCatalog.parse(type: headers["ce-type"] ?? "")?.name)
            }
        }
    }

    @Test("Requests without a token or with the wrong role are refused with problem+json")
    func refusals() async throws {
        try await withRunningSystem { system in
            let issuer = TokenIssuer(hs256Secret: system.jwtSecret)
            let verifier = try await issuer.token(nip: budi.nip, name: budi.name, opd: "DLH", roles: ["verifier"])
            let asn = try await issuer.token(nip: siti.nip, name: siti.name, opd: siti.opd, roles: ["asn"])
            // Signed with the right secret and every role, but not valid for another hour (RFC 7519 §4.1.5).
            let now = Date()
            let notYetValid = try await issuer.sign(
                ASNClaims(
                    sub: siti.nip, name: siti.name, opd: siti.opd,
                    roles: ["asn", "verifier", "scoring-admin", "auditor", "dashboard", "operator"],
                    exp: now.addingTimeInterval(7200), iat: now, nbf: now.addingTimeInterval(3600)))

            let cases: [(String, String, URL, String?, Int)] = [
                ("nbf in the future on intake", "GET", system.url("intake", "/v1/me/submissions"), notYetValid, 401),
                (
                    "nbf in the future on verification", "GET", system.url("verification", "/v1/decisions/\(UUID())"),
                    notYetValid, 401
                ),
                ("nbf in the future on scoring", "GET", system.url("scoring", "/v1/programs"), notYetValid, 401),
                (
                    "nbf in the future on notification", "GET", system.url("notification", "/v1/me/notifications"),
                    notYetValid, 401
                ),
                ("no token", "GET", system.url("intake", "/v1/me/submissions"), nil, 401),
                ("garbage token", "GET", system.url("notification", "/v1/me/notifications"), "not-a-jwt", 401),
                ("verifier submitting", "POST", system.url("intake", "/v1/submissions"), verifier, 403),
                ("asn reading another's points", "GET", system.url("scoring", "/v1/asn/\(budi.nip)/points"), asn, 403),
                ("asn reading decisions", "GET", system.url("verification", "/v1/decisions/\(UUID())"), asn, 403),
            ]
            for (name, method, url, token, status) in cases {
                let (data, response) = try await HTTP.send(method, url, token: token)
                #expect(response.statusCode == status, "\(name)")
                #expect(
                    response.value(forHTTPHeaderField: "Content-Type")?.hasPrefix("application/problem+json") == true,
                    "\(name)")
                #expect(HTTP.json(data)["status"] as? Int == status, "\(name)")
                #expect(HTTP.json(data)["title"] is String, "\(name)")
            }
        }
    }

    // MARK: helpers

    struct Reply {
        var status: Int
        var body: [String: Any]
    }

    func submit(_ system: RunningSystem, token: String, key: String, photo: [UInt8], at date: Date) async throws
        -> Reply
    {
        var form = MultipartBody()
        form.addJSON(
            name: "submission",
            """
            {"activity":"pilah_sampah","place":"office","activityAt":"\(RFC3339.format(date))","quantity":1,
             "note":"Memilah sampah organik dan anorganik di pantry"}
            """
        )
        form.add(name: "evidence", filename: "foto.jpg", contentType: "image/jpeg", data: photo)
        let (data, response) = try await HTTP.send(
            "POST", system.url("intake", "/v1/submissions"), token: token,
            headers: ["Content-Type": form.contentType, "Idempotency-Key": key], body: form.data)
        return Reply(status: response.statusCode, body: HTTP.json(data))
    }

    /// A 320×240 JPEG of random blocks (its own perceptual hash) with a phone's EXIF: capture time in Asia/Jakarta
    /// with its offset, GPS at DLH's office in Semarang, make and model.
    static func phonePhoto(takenAt: Date) -> [UInt8] {
        let (width, height) = (320, 240)
        var rgb = [UInt8](repeating: 0, count: width * height * 3)
        var state = UInt64.random(in: 1...UInt64.max)
        for block in 0..<(width / 40) * (height / 40) {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let shade = UInt8(truncatingIfNeeded: state >> 56)
            let (bx, by) = (block % (width / 40) * 40, block / (width / 40) * 40)
            for y in by..<by + 40 {
                for x in bx..<bx + 40 { rgb[(y * width + x) * 3 + (x + y) % 3] = shade }
            }
        }
        var exif = ExifBuilder()
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "Asia/Jakarta")
        formatter.dateFormat = "yyyy:MM:dd HH:mm:ss"
        exif.make = "samsung"
        exif.model = "SM-A145F"
        exif.dateTimeOriginal = formatter.string(from: takenAt)
        exif.offsetTimeOriginal = "+07:00"
        exif.latitude = -6.9857
        exif.longitude = 110.4096
        let jpeg = JPEGCodec.encode(rgb: rgb, width: width, height: height, quality: 85)!
        return ExifBuilder.splice(exif.app1(), into: jpeg)
    }

    func notifications(_ system: RunningSystem, token: String) async throws -> [[String: Any]] {
        let (data, _) = try await HTTP.send("GET", system.url("notification", "/v1/me/notifications"), token: token)
        return HTTP.json(data)["items"] as? [[String: Any]] ?? []
    }

    func mySubmissions(_ system: RunningSystem, token: String) async throws -> [[String: Any]] {
        let (data, _) = try await HTTP.send("GET", system.url("intake", "/v1/me/submissions"), token: token)
        return HTTP.json(data)["items"] as? [[String: Any]] ?? []
    }

    func withRunningSystem(_ body: (RunningSystem) async throws -> Void) async throws {
        let system = try await RunningSystem.start()
        do {
            try await body(system)
        } catch {
            let logs = RunningSystem.services.map { "== \($0)\n\(system.tail($0))" }.joined(separator: "\n")
            Issue.record("service logs:\n\(logs)")
            await system.stop()
            throw error
        }
        await system.stop()
    }
}

/// Polls `probe` until it returns a value (30 s at most).
func eventually<T>(_ what: String, timeout: Duration = .seconds(30), _ probe: () async throws -> T?) async throws -> T {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if let value = try await probe() { return value }
        try await Task.sleep(for: .milliseconds(200))
    }
    throw DevEnvironmentError(message: "timed out waiting for \(what)")
}

/// A queue of the test's own bound to every routing key on `asnreward.events`: what a dashboard would see.
final class EventTap: Sendable {
    private let consumer: Consumer
    private let task: Task<Void, any Error>
    private let seen: Collected

    actor Collected {
        var deliveries: [Delivery] = []
        func add(_ batch: [Delivery]) { deliveries += batch }
    }

    private init(consumer: Consumer, task: Task<Void, any Error>, seen: Collected) {
        self.consumer = consumer
        self.task = task
        self.seen = seen
    }

    static func start(url: String) async throws -> EventTap {
        let seen = Collected()
        let queue = "tap.\(UUID().uuidString.prefix(8).lowercased())"
        let consumer = Consumer(
            configuration: try AMQPConfiguration(url: url, connectionName: "e2e-tap"),
            queue: queue,
            topology: Topology(queues: [QueueSpec(name: queue, bindings: ["#"])]),
            logger: Logger(label: "e2e-tap"),
            handler: { batch in
                await seen.add(batch)
                return batch.map { _ in .ack }
            }
        )
        let task = Task { try await consumer.run() }
        _ = try await eventually("the tap queue to be consuming", timeout: .seconds(20)) {
            consumer.isConnected() ? true : nil
        }
        return EventTap(consumer: consumer, task: task, seen: seen)
    }

    /// Stops consuming (after a moment for the last messages) and returns what arrived.
    func stop() async -> [Delivery] {
        try? await Task.sleep(for: .seconds(1))
        consumer.shutdown()
        _ = await task.result
        return await seen.deliveries
    }
}
