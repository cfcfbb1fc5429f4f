import Contracts
import Crypto
import Database
import Eventing
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import ServiceSupport
import Synchronization
import TestSupport

@testable import Verification

/// Shared set-up of the verification tests: roster, program, photos with and without EXIF, tokens, and the app.
enum VF {
    static let secret = "verification-test-secret-0123456789abcdef-01234"
    /// An ASN of the health office.
    static let siti = "198503152010012001"
    /// An ASN of the education office.
    static let budi = "199001012015031002"
    /// DLH verifiers.
    static let ani = "197805202005011003"
    static let dedi = "198112122006041004"
    /// A verifier who works at the health office (same OPD as Siti).
    static let rina = "198001012005012005"

    /// Balai Kota Semarang and a house in Tembalang.
    static let office = GeoPoint(latitude: -6.9826, longitude: 110.4091)
    static let home = GeoPoint(latitude: -7.0510, longitude: 110.4381)
    /// 2026-02-10 09:00 in Jakarta.
    static let activityAt = Date(timeIntervalSince1970: 1_770_688_800)

    static let logger: Logger = {
        var logger = Logger(label: "verification-tests")
        logger.logLevel = .warning
        return logger
    }()

    static let source = ServiceName.verification.eventSource
    /// One checker per test database: its near-duplicate index mirrors that database's table.
    static let checkers = Mutex<[ObjectIdentifier: (DatabasePool, EvidenceChecker)]>([:])
    static func checker(_ pool: DatabasePool) -> EvidenceChecker {
        checkers.withLock { checkers in
            if let known = checkers[ObjectIdentifier(pool)] { return known.1 }
            let checker = EvidenceChecker(source: source, logger: logger)
            checkers[ObjectIdentifier(pool)] = (pool, checker)
            return checker
        }
    }
    static let reference = ReferenceData(logger: logger)

    static var configuration: ServiceConfiguration {
        ServiceConfiguration(serviceName: "verification", jwt: JWTSettings(hs256Secret: secret))
    }

    // MARK: Reference data

    static func program(
        sampleRate: Double = 0, fourEyes: Int = 50, window: Double = 48, geofence: Double = 500,
        nearDistance: Int? = nil
    ) -> ProgramPublished {
        ProgramPublished(
            program: "peduli-sampah", programVersion: "1", name: "Reward ASN Peduli Sampah",
            activities: [
                ActivityDefinition(
                    code: "pilah_sampah", name: "Memilah sampah", unit: "count", places: ["office", "home"],
                    basePoints: 10, dailyCap: 2, weeklyCap: 10, maxQuantity: 5),
                ActivityDefinition(
                    code: "bank_sampah", name: "Bank sampah", unit: "kg", places: ["office", "home"], basePoints: 5,
                    pointsPerKg: 2, dailyCap: 1, weeklyCap: 3, maxQuantity: 50, minQuantity: 0.5),
            ],
            publishedAt: Date(timeIntervalSince1970: 1_767_225_600), placeFactors: ["office": 1, "home": 1],
            verification: VerificationPolicy(
                captureWindowHours: window, geofenceMeters: geofence, auditSampleRate: sampleRate,
                fourEyesMinPoints: fourEyes, nearDuplicateDistance: nearDistance))
    }

    static func enrolled(_ nip: String, opd: String, name: String = "ASN") -> ASNEnrolled {
        ASNEnrolled(
            nip: nip, name: name, opd: opd, enrolledAt: Date(timeIntervalSince1970: 1_767_225_600),
            locations: [
                RegisteredLocation(place: "office", latitude: office.latitude, longitude: office.longitude),
                RegisteredLocation(
                    place: "home", latitude: home.latitude, longitude: home.longitude, radiusMeters: 300),
            ])
    }

    static func inbound<E: EventPayload>(_ payload: E, from service: ServiceName = .scoring, id: UUID = UUID())
        throws -> InboundEvent
    {
        InboundEvent(
            event: try CloudEvent(payload, id: id, from: service), routingKey: E.eventName, redelivered: false,
            deliveryCount: 0)
    }

    /// The usual reference data: the program, Siti (DINKES) and Budi (DISDIK).
    static func seed(_ pool: DatabasePool, program: ProgramPublished = program()) async throws {
        let events = [
            try inbound(program), try inbound(enrolled(siti, opd: "DINKES", name: "Siti Rahma")),
            try inbound(enrolled(budi, opd: "DISDIK", name: "Budi Santoso")),
        ]
        try await pool.withTransaction { try await reference.handle(events, in: $0) }
    }

    // MARK: Photos and submissions

    /// A photo: its bytes and the facts intake would carry for it.
    struct Photo {
        var bytes: [UInt8]
        var ref: EvidenceRef
    }

    static func sha256(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }

    /// A JPEG with EXIF (capture time and, by default, GPS at the office), or without any when `exif` is `nil`.
    static func photo(
        seed: UInt64 = UInt64.random(in: 1...UInt64.max), exif: VerificationPhotos.Exif?, phash: String? = nil
    ) -> Photo {
        let bytes = VerificationPhotos.jpeg(seed: seed, exif: exif)
        let capture = exif.map {
            CaptureMetadata(
                capturedAt: $0.capturedAt, latitude: $0.latitude, longitude: $0.longitude, cameraMake: $0.make,
                cameraModel: $0.model, capturedAtOffset: $0.offset)
        }
        let hash = phash ?? String(format: "%016llx", UInt64.random(in: 0...UInt64.max))
        return Photo(
            bytes: bytes,
            ref: EvidenceRef(
                sha256: sha256(bytes), mediaType: "image/jpeg", sizeBytes: bytes.count, capture: capture,
                perceptualHash: hash, url: "/v1/evidence/\(sha256(bytes))", width: 16, height: 16))
    }

    /// EXIF as a phone at `place` writes it, `minutes` after the activity time.
    static func exif(at place: GeoPoint = office, minutes: Double = 5) -> VerificationPhotos.Exif {
        VerificationPhotos.Exif(
            capturedAt: activityAt.addingTimeInterval(minutes * 60), latitude: place.latitude,
            longitude: place.longitude)
    }

    static func received(
        nip: String = siti, opd: String = "DINKES", photos: [Photo]? = nil, activity: String = "pilah_sampah",
        place: String = "office", quantity: Double = 1, activityAt: Date = activityAt, submittedAt: Date? = nil,
        device: GeoPoint? = nil, id: UUID = UUID()
    ) -> SubmissionReceived {
        SubmissionReceived(
            submissionId: id, nip: nip, name: "Siti Rahma", opd: opd, program: "peduli-sampah", activity: activity,
            place: place, activityAt: activityAt, submittedAt: submittedAt ?? activityAt.addingTimeInterval(1800),
            quantity: quantity, unit: activity == "bank_sampah" ? "kg" : "count", note: "Memilah sampah di pantry",
            evidence: (photos ?? [photo(exif: exif())]).map(\.ref), deviceLocation: device, programVersion: "1")
    }

    static func check(_ submissions: [SubmissionReceived], pool: DatabasePool) async throws {
        let events = try submissions.map { try inbound($0, from: .intake) }
        let checker = checker(pool)
        try await pool.withTransaction { try await checker.handle(events, in: $0) }
    }

    // MARK: Reading results

    struct DecisionRow {
        var outcome: String
        var reasonCode: String?
        var reasonCodes: [String]
        var fraud: Bool
        var appealable: Bool
        var sampled: Bool
    }

    static func decision(_ id: UUID, pool: DatabasePool) async throws -> DecisionRow? {
        try await pool.withConnection { connection in
            try await connection.query(
                """
                SELECT outcome, reason_code, reason_codes, fraud, appealable, sampled_for_audit FROM decisions
                WHERE submission_id = \(id)
                """
            ).first.map {
                DecisionRow(
                    outcome: try $0.decode("outcome"), reasonCode: try $0.decode("reason_code", as: String?.self),
                    reasonCodes: try $0.decode("reason_codes"), fraud: try $0.decode("fraud"),
                    appealable: try $0.decode("appealable"), sampled: try $0.decode("sampled_for_audit"))
            }
        }
    }

    /// The check results recorded in the audit trail for a submission.
    static func checks(_ id: UUID, pool: DatabasePool) async throws -> [String: CheckResult] {
        struct Checks: Decodable { var checks: [CheckResult] }
        let rows = try await pool.withConnection { connection in
            try await connection.query(
                "SELECT details::text AS d FROM audit_trail WHERE submission_id = \(id) AND kind = 'checks'")
        }
        var result: [String: CheckResult] = [:]
        for row in rows {
            for check in try ContractsJSON.decode(Checks.self, from: Data(try row.decode("d", as: String.self).utf8))
                .checks
            {
                // NO_CAPTURE_METADATA may be recorded twice (time and GPS): keep a flag over a pass.
                if result[check.code]?.result == "flag" { continue }
                result[check.code] = check
            }
        }
        return result
    }

    /// The outbox's events of `type`, in order, decoded.
    static func events<E: EventPayload>(_ type: E.Type, pool: DatabasePool) async throws -> [E] {
        try await pool.withConnection { connection in
            try await connection.query(
                "SELECT payload::text AS p FROM outbox WHERE type = \(E.eventType) ORDER BY seq"
            ).map { try ContractsJSON.decode(E.self, from: Data(try $0.decode("p", as: String.self).utf8)) }
        }
    }

    static func withDatabase(_ body: (DatabasePool) async throws -> Void) async throws {
        try await withTestDatabase(service: "verification", migrations: verificationResources.allMigrations()) {
            try await body($0)
        }
    }

    // MARK: HTTP

    static func token(_ nip: String, opd: String = "DLH", roles: [String] = ["verifier"]) async throws -> String {
        try await TokenIssuer(hs256Secret: secret).token(
            nip: nip, name: "Petugas \(nip.suffix(3))", opd: opd, roles: roles)
    }

    static func headers(_ token: String) -> HTTPFields {
        var fields = HTTPFields()
        fields[.authorization] = "Bearer \(token)"
        fields[.contentType] = "application/json"
        return fields
    }

    static func queue(_ pool: DatabasePool, lease: Duration = .seconds(600)) -> ReviewQueue {
        ReviewQueue(pool: pool, lease: lease, source: source, logger: logger)
    }

    /// Runs `body` with the verification app (routes on `pool`, no broker).
    static func withApp(
        _ pool: DatabasePool, lease: Duration = .seconds(600), intakeURL: URL? = nil,
        testing: TestingSetup = .router, _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void
    ) async throws {
        let app = try await verificationApp(
            configuration: configuration, logger: logger, pool: pool, queue: queue(pool, lease: lease),
            intakeURL: intakeURL
        ).buildApplication()
        try await app.test(testing) { client in try await body(client) }
    }

    static func json(_ response: TestResponse) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any] ?? [:]
    }
}

/// Polls `condition` every 100 ms until it holds or `timeout` passes.
func eventually(timeout: Duration = .seconds(30), _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(100))
    }
    return await condition()
}
