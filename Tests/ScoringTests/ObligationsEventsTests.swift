import AMQP
import Contracts
import Database
import Eventing
import Foundation
import Logging
import ServiceLifecycle
import ServiceSupport
import TestSupport
import Testing

@testable import Scoring

/// The close's events on the real broker, published by scoring's own outbox relay.
@Suite("Scoring obligations: events on the broker")
struct ObligationsEventsTests {
    typealias O = ObligationsFixture
    typealias F = ScoringFixture

    @Test(
        "sanction.imposed leaves as one confidential event per sanction, addressed to the ASN (or OPD) concerned only"
    )
    func sanctionEvents() async throws {
        let topology = TestBroker.topology(queues: [
            ("sanctions", [SanctionImposed.routingKey]), ("commitments", [CommitmentEvaluated.routingKey]),
        ])
        let prefix = String(topology.eventsExchange.dropLast(".events".count))
        try await TestBroker.withTopology(topology) {
            let admin = try TestBroker.admin()
            try await admin.declare(topology)
            try await withTestDatabaseURL(service: "scoring", migrations: try scoringResources.allMigrations()) { url in
                var configuration = F.configuration(databaseURL: url)
                configuration.amqpURL = try TestBroker.url()
                configuration.eventsExchange = topology.eventsExchange
                var logger = F.logger
                logger.logLevel = .critical
                let service = try ScoringService(
                    configuration: configuration, logger: logger, programsDirectory: F.programsDirectory,
                    decisionsQueue: "\(prefix).decisions")
                try await service.prepare()
                let pool = service.backbone.pool
                try await O.seed(pool)
                try await O.close(pool)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for part in service.backbone.services { group.addTask { try await part.run() } }
                    defer { group.cancelAll() }
                    let deadline = ContinuousClock.now + .seconds(60)
                    while ContinuousClock.now < deadline {
                        let sanctions = try await admin.messageCount(queue: topology.queues[0].name)
                        let commitments = try await admin.messageCount(queue: topology.queues[1].name)
                        if sanctions >= 4 && commitments >= 3 { break }
                        try await Task.sleep(for: .milliseconds(200))
                    }
                }
                try? await admin.deleteQueues(["\(prefix).decisions", "\(prefix).decisions.dead"])
                let deliveries = try await admin.peek(queue: topology.queues[0].name, limit: 10)
                #expect(deliveries.count == 4)
                var subjects: [String] = []
                for delivery in deliveries {
                    let event = try CloudEventAMQPBinding.decode(
                        headers: delivery.properties.headers, contentType: delivery.properties.contentType,
                        messageId: delivery.properties.messageId, type: delivery.properties.type,
                        timestamp: delivery.properties.timestamp, body: Data(delivery.body))
                    #expect(delivery.routingKey == "sanction.imposed")
                    #expect(event.type == SanctionImposed.eventType)
                    let sanction = try event.decode(SanctionImposed.self)
                    // Each event concerns one ASN (or the OPD): its subject, and nobody else's NIP in the body.
                    #expect(event.subject == (sanction.nip ?? sanction.opd))
                    let others = [O.citra, O.dedi, O.gita, O.ani, O.budi, O.eka, O.fajar].filter { $0 != sanction.nip }
                    let body = String(decoding: delivery.body, as: UTF8.self)
                    #expect(others.allSatisfy { !body.contains($0) })
                    subjects.append(event.subject ?? "")
                }
                #expect(subjects.sorted() == [O.citra, O.dedi, O.gita, "DLH"].sorted())
                // Confidential: notification keeps it off webhooks and the live stream (see its consumer).
                #expect(SanctionImposed.isConfidential)
                #expect(try await admin.messageCount(queue: topology.queues[1].name) == 3)
                await pool.close()
            }
        }
    }
}
