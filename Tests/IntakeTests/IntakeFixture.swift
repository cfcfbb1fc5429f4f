import Contracts
import Database
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import ServiceSupport
import TestSupport

@testable import Intake

/// Shared set-up of the intake tests: tokens, sample photos, multipart bodies, and an app on a fresh database.
enum IntakeFixture {
    static let secret = "intake-test-secret-0123456789abcdef-0123456789"
    static let nip = "198503152010011001"
    static let otherNIP = "199001012015032002"
    static let verifierNIP = "197805202005011003"

    static let logger: Logger = {
        var logger = Logger(label: "intake.tests")
        logger.logLevel = .warning
        return logger
    }()

    static var configuration: ServiceConfiguration {
        ServiceConfiguration(serviceName: "intake", jwt: JWTSettings(hs256Secret: secret))
    }

    static func token(nip: String = IntakeFixture.nip, roles: [String] = ["asn"]) async throws -> String {
        try await TokenIssuer(hs256Secret: secret).token(nip: nip, name: "Siti Rahma", opd: "DLH", roles: roles)
    }

    static func headers(token: String?, idempotencyKey: String? = UUID().uuidString) -> HTTPFields {
        var fields = HTTPFields()
        if let token { fields[.authorization] = "Bearer \(token)" }
        if let idempotencyKey { fields[IntakeHeaders.idempotencyKey] = idempotencyKey }
        fields[.contentType] = "multipart/form-data; boundary=\(Multipart.boundary)"
        return fields
    }

    /// A small real JPEG (64×48, made once by TurboJPEG).
    static let baseJPEG: [UInt8] = PhotoSamples.jpeg(width: 64, height: 48, seed: 20_261_130)

    /// A real JPEG unique by `salt` (a comment segment after SOI), grown by `padding` bytes of comment segments.
    static func jpeg(salt: String = UUID().uuidString, padding: Int = 0) -> [UInt8] {
        var segments: [UInt8] = []
        func comment(_ payload: [UInt8]) {
            segments += [0xFF, 0xFE, UInt8((payload.count + 2) >> 8), UInt8((payload.count + 2) & 0xFF)] + payload
        }
        comment(Array(salt.utf8))
        var remaining = padding
        while remaining > 0 {
            let size = min(remaining, 65_000)
            comment([UInt8](repeating: 0x55, count: size))
            remaining -= size + 4
        }
        return [0xFF, 0xD8] + segments + Array(baseJPEG[2...])
    }

    /// A real PNG (16×16) unique by its random pixels.
    static func png() -> [UInt8] { TestImages.png(seed: UInt64.random(in: 1...UInt64.max)) }

    /// The Peduli Sampah program as scoring publishes it (a subset of activities), claims up to 7 days back.
    static let program = ProgramPublished(
        program: "peduli-sampah", programVersion: "3", name: "Reward ASN Peduli Sampah",
        activities: [
            ActivityDefinition(
                code: "pilah_sampah", name: "Memilah sampah dari sumber", unit: "count", places: ["office", "home"],
                basePoints: 10, maxQuantity: 5, minQuantity: 1),
            ActivityDefinition(
                code: "bank_sampah", name: "Menyetor ke bank sampah", unit: "kg", places: ["home"], basePoints: 5,
                pointsPerKg: 2, maxQuantity: 50, minQuantity: 0.5),
        ],
        publishedAt: Date(timeIntervalSince1970: 1_790_000_000), maxClaimAgeDays: 7)

    /// The `submission` JSON part.
    static func submissionJSON(
        activity: String = "pilah_sampah",
        place: String = "office",
        activityAt: String = RFC3339.format(Date().addingTimeInterval(-3600)),
        quantity: Double = 2,
        note: String? = "Memilah sampah organik dan anorganik di pantry"
    ) -> String {
        var object: [String: Any] = [
            "activity": activity, "place": place, "activityAt": activityAt, "quantity": quantity,
        ]
        if let note { object["note"] = note }
        let data = try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    /// A complete upload body: the JSON part and one JPEG per `photos` entry.
    static func body(json: String = submissionJSON(), photos: [[UInt8]] = [jpeg()]) -> ByteBuffer {
        var parts = [Multipart.Part(name: "submission", contentType: "application/json", body: Array(json.utf8))]
        for (index, photo) in photos.enumerated() {
            parts.append(
                .init(name: "evidence", filename: "foto\(index + 1).jpg", contentType: "image/jpeg", body: photo))
        }
        return Multipart.encode(parts)
    }

    /// Runs `body` with an intake app (no broker) on a fresh migrated database.
    static func withApp(
        evidenceStore: InMemoryEvidenceStore = InMemoryEvidenceStore(),
        _ body: @escaping @Sendable (any TestClientProtocol, DatabasePool, InMemoryEvidenceStore) async throws -> Void
    ) async throws {
        try await withIntakeApp(evidenceStore: evidenceStore) { client, pool, store, _ in
            try await body(client, pool, store)
        }
    }

    /// Runs `body` with an intake app (no broker) on a fresh migrated database, with any evidence store and upload
    /// budget; `body` also gets the submission store (its round-trip counter). `testing: .live` runs a real HTTP
    /// server on a free port.
    static func withIntakeApp<Store: EvidenceStore>(
        evidenceStore: Store,
        uploadBudget: UploadMemoryBudget = UploadMemoryBudget(
            limitBytes: SubmissionRules.defaultUploadMemoryBudgetBytes),
        limits: AbuseLimits = AbuseLimits(ratePerWindow: 1000, dailyCap: 1000),
        program: ProgramPublished? = nil,
        programRefresh: Duration = .zero,
        now: @escaping @Sendable () -> Date = { Date() },
        poolSize: Int = 4,
        testing: TestingSetup = .router,
        _ body: @escaping @Sendable (any TestClientProtocol, DatabasePool, Store, SubmissionStore) async throws -> Void
    ) async throws {
        try await withTestDatabase(
            service: "intake", migrations: try intakeResources.allMigrations(), poolSize: poolSize
        ) { pool in
            let submissions = SubmissionStore(pool: pool)
            let programs = ProgramBook(pool: pool, refreshInterval: programRefresh, logger: logger)
            if let program {
                try await pool.withConnection { connection in try await programs.store(program, in: connection) }
            }
            let routes = SubmissionRoutes(
                submissions: submissions,
                evidenceStore: evidenceStore,
                logger: logger,
                uploadBudget: uploadBudget,
                programs: programs,
                limits: limits,
                now: now
            )
            let app = try await intakeApp(configuration: configuration, logger: logger, routes: routes.collection)
                .buildApplication()
            try await app.test(testing) { client in
                try await body(client, pool, evidenceStore, submissions)
            }
        }
    }

    /// A fresh directory for a `DirectoryEvidenceStore`, removed after `body`.
    static func withBlobDirectory<T>(_ body: (URL) async throws -> T) async throws -> T {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("intake-blobs-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        return try await body(root)
    }
}

/// Builds `multipart/form-data` bodies.
enum Multipart {
    static let boundary = "asnreward-test-boundary-7MA4YWxkTrZu0gW"

    struct Part {
        var name: String
        var filename: String? = nil
        var contentType: String? = nil
        var body: [UInt8]
    }

    static func encode(_ parts: [Part]) -> ByteBuffer {
        var bytes: [UInt8] = []
        for part in parts {
            var header = "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(part.name)\""
            if let filename = part.filename { header += "; filename=\"\(filename)\"" }
            header += "\r\n"
            if let contentType = part.contentType { header += "Content-Type: \(contentType)\r\n" }
            header += "\r\n"
            bytes += Array(header.utf8) + part.body + Array("\r\n".utf8)
        }
        bytes += Array("--\(boundary)--\r\n".utf8)
        return ByteBuffer(bytes: bytes)
    }
}

/// A decoded JSON response body.
struct JSONBody {
    let object: [String: Any]

    init(_ response: TestResponse) throws {
        let data = Data(response.body.readableBytesView)
        object = (try JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
    }

    subscript(key: String) -> Any? { object[key] }
    func string(_ key: String) -> String? { object[key] as? String }
}
