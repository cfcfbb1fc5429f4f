import AMQP
import Contracts
import Database
import Eventing
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Photo
import ServiceLifecycle
import ServiceSupport
import TestSupport
import Testing

@testable import Intake

/// The whole service on the real broker: `program.published` reaches intake through `intake.programs`, and a
/// photo with known EXIF and GPS leaves as `submission.received` carrying those facts and its perceptual hash.
@Suite("Intake on the broker: program in, photo facts out")
struct PhotoFactsBrokerTests {
    typealias F = IntakeFixture

    /// Deliveries collected by the probe consumer.
    actor Received {
        var bodies: [[UInt8]] = []
        func add(_ batch: [Delivery]) { bodies += batch.map(\.body) }
    }

    @Test("program.published in, submission.received with EXIF facts and dHash out")
    func factsOnTheBroker() async throws {
        let prefix = TestBroker.uniqueName("intake-facts")
        let exchange = "\(prefix).events"
        let probe = QueueSpec(name: "\(prefix).probe", bindings: [SubmissionReceived.eventName])
        let queues = [
            probe.name, probe.deadLetterQueueName, "\(prefix).status", "\(prefix).status.dead",
            "\(prefix).programs", "\(prefix).programs.dead",
        ]
        let admin = try TestBroker.admin()
        // The service's own queues too, so nothing published before its consumers start is unroutable.
        try await admin.declare(
            Topology(
                eventsExchange: exchange,
                queues: [
                    probe, StatusProjection.queueSpec(name: "\(prefix).status"),
                    ProgramBook.queueSpec(name: "\(prefix).programs"),
                ]))
        defer {
            Task {
                try? await admin.deleteQueues(queues)
                try? await admin.deleteExchanges([exchange])
            }
        }
        try await withTestDatabaseURL(service: "intake", migrations: try intakeResources.allMigrations()) { url in
            var configuration = ServiceConfiguration(
                serviceName: "intake", jwt: JWTSettings(hs256Secret: F.secret),
                environment: ["PROGRAM_REFRESH_SECONDS": "0"])
            configuration.databaseURL = url
            configuration.amqpURL = try TestBroker.url()
            configuration.eventsExchange = exchange
            let intake = try IntakeService(
                configuration: configuration, logger: F.logger, evidenceStore: InMemoryEvidenceStore(),
                statusQueueName: "\(prefix).status", programsQueueName: "\(prefix).programs")
            let received = Received()
            let consumer = Consumer(
                configuration: try TestBroker.configuration(name: "\(prefix)-probe"), queue: probe.name,
                topology: Topology(eventsExchange: exchange, queues: [probe]), logger: F.logger
            ) { batch in
                await received.add(batch)
                return batch.map { _ in .ack }
            }
            let services = intake.backbone.services + [consumer]
            let pool = intake.backbone.pool
            try await withThrowingTaskGroup(of: Void.self) { group in
                for service in services { group.addTask { try await service.run() } }
                defer { group.cancelAll() }
                try await intake.backbone.migrate()
                let app = try await intake.app.buildApplication()
                try await app.test(.router) { client in
                    let token = try await F.token()
                    // Scoring's program.published (sent here through intake's own outbox to the same exchange).
                    _ = try await pool.withTransaction { connection in
                        try await Outbox.enqueue(F.program, source: ServiceName.scoring.eventSource, in: connection)
                    }
                    let known = await eventually {
                        let response = try? await client.execute(
                            uri: "/v1/program", method: .get, headers: [.authorization: "Bearer \(token)"])
                        return response?.status == .ok
                    }
                    #expect(known, "program.published reached intake.programs")

                    let unknown = try await client.execute(
                        uri: "/v1/submissions", method: .post, headers: F.headers(token: token),
                        body: F.body(json: F.submissionJSON(activity: "tanam_pohon")))
                    #expect(unknown.status == .unprocessableContent)

                    let photo = PhotoSamples.jpeg(seed: 808, exif: PhotoSamples.phoneExif())
                    let hash = try #require(try PhotoInspector.inspect(photo).perceptualHash?.hex)
                    let created = try await client.execute(
                        uri: "/v1/submissions", method: .post, headers: F.headers(token: token),
                        body: F.body(photos: [photo]))
                    #expect(created.status == .accepted, "\(String(buffer: created.body))")

                    #expect(await eventually { await !received.bodies.isEmpty })
                    let body = try #require(await received.bodies.first)
                    let event = try ContractsJSON.decode(SubmissionReceived.self, from: Data(body))
                    let evidence = try #require(event.evidence.first)
                    #expect(evidence.perceptualHash == hash)
                    #expect(evidence.width == 320 && evidence.height == 240)
                    #expect(evidence.capture?.capturedAt == RFC3339.parse("2026-11-30T01:15:30Z"))
                    #expect(evidence.capture?.capturedAtOffset == "+07:00")
                    #expect(evidence.capture?.latitude.map { abs($0 - -6.9932) < 1e-6 } == true)
                    #expect(evidence.capture?.longitude.map { abs($0 - 110.4203) < 1e-6 } == true)
                    #expect(evidence.capture?.cameraModel == "SM-A145F")
                    #expect(event.programVersion == "3")
                    #expect(await received.bodies.count == 1, "the refused submission published nothing")
                }
            }
        }
    }
}
