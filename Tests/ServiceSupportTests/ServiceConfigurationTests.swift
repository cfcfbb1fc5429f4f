import Foundation
import Logging
import ServiceSupport
import Testing

@Suite("ServiceConfiguration")
struct ServiceConfigurationTests {
    static let secret = "s3cr3t-value-that-must-never-be-printed-0123"
    static let complete = [
        "HTTP_PORT": "8081",
        "DATABASE_URL": "postgresql://intake:dbpass@127.0.0.1:5432/intake",
        "AMQP_URL": "amqp://intake:mqpass@127.0.0.1:5672/asnreward",
        "JWT_HS256_SECRET": secret,
    ]

    @Test("reads required keys and defaults")
    func complete() throws {
        let configuration = try ServiceConfiguration.fromEnvironment(serviceName: "intake", environment: Self.complete)
        #expect(configuration.httpHost == "127.0.0.1")
        #expect(configuration.httpPort == 8081)
        #expect(configuration.eventsExchange == "asnreward.events")
        #expect(configuration.logLevel == .info)
        #expect(configuration.jwt.hs256Secret == Self.secret)
        #expect(configuration.jwt.allowQueryTokenForEventStream)
    }

    @Test("service-prefixed keys win, so one env file serves all services")
    func prefixed() throws {
        var environment = Self.complete
        environment["INTAKE_HTTP_PORT"] = "9001"
        environment["INTAKE_DATABASE_URL"] = "postgresql://intake@/intake"
        environment["BATCH_SIZE"] = "250"
        environment["INTAKE_BLOB_DIR"] = "/var/blobs"
        let configuration = try ServiceConfiguration.fromEnvironment(serviceName: "intake", environment: environment)
        #expect(configuration.httpPort == 9001)
        #expect(configuration.databaseURL == "postgresql://intake@/intake")
        #expect(try configuration.int("BATCH_SIZE") == 250)
        #expect(try configuration.int("MISSING_INT", default: 7) == 7)
        #expect(try configuration.string("BLOB_DIR") == "/var/blobs")
        #expect(configuration.string("OTHER", default: "x") == "x")
        #expect(throws: ConfigurationError.self) { try configuration.string("NOT_THERE") }
        #expect(
            throws: ConfigurationError.invalid(key: "BLOB_DIR", reason: "harus bilangan bulat (must be an integer)")
        ) {
            try configuration.int("BLOB_DIR")
        }
    }

    @Test(
        "a missing key is named in the error", arguments: ["HTTP_PORT", "DATABASE_URL", "AMQP_URL", "JWT_HS256_SECRET"])
    func missing(key: String) throws {
        var environment = Self.complete
        environment[key] = nil
        let error = try #require(throws: ConfigurationError.self) {
            try ServiceConfiguration.fromEnvironment(serviceName: "scoring", environment: environment)
        }
        #expect(error.description.contains(key))
        #expect(!error.description.contains(Self.secret))
        #expect(!error.description.contains("dbpass"))
    }

    @Test("errors and description never print secrets")
    func noSecrets() throws {
        var environment = Self.complete
        environment["JWT_HS256_SECRET"] = "short-secret-hunter2"
        let error = try #require(throws: ConfigurationError.self) {
            try ServiceConfiguration.fromEnvironment(serviceName: "intake", environment: environment)
        }
        #expect(error.description.contains("JWT_HS256_SECRET"))
        #expect(!error.description.contains("hunter2"))

        environment = Self.complete
        environment["HTTP_PORT"] = "eighty"
        let portError = try #require(throws: ConfigurationError.self) {
            try ServiceConfiguration.fromEnvironment(serviceName: "intake", environment: environment)
        }
        #expect(portError.description.contains("HTTP_PORT"))
        #expect(!portError.description.contains("eighty"))

        let configuration = try ServiceConfiguration.fromEnvironment(serviceName: "intake", environment: Self.complete)
        let text = "\(configuration)"
        #expect(!text.contains(Self.secret))
        #expect(!text.contains("dbpass"))
        #expect(!text.contains("mqpass"))
        #expect(text.contains("postgresql://intake:***@127.0.0.1:5432/intake"))
    }

    @Test("public keys may replace the HS256 secret; unreadable files are named")
    func publicKeys() throws {
        var environment = Self.complete
        environment["JWT_HS256_SECRET"] = nil
        environment["JWT_ES256_PUBLIC_KEY"] = "/nonexistent/key.pem"
        let error = try #require(throws: ConfigurationError.self) {
            try ServiceConfiguration.fromEnvironment(serviceName: "intake", environment: environment)
        }
        #expect(error.description.contains("JWT_ES256_PUBLIC_KEY"))

        let pem = """
            -----BEGIN PUBLIC KEY-----
            MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE
            -----END PUBLIC KEY-----
            -----BEGIN PUBLIC KEY-----
            AAAA
            -----END PUBLIC KEY-----
            """
        #expect(JWTSettings.splitPEM(pem).count == 2)
        environment["JWT_ES256_PUBLIC_KEY"] = nil
        environment["JWT_PUBLIC_KEYS_PEM"] = pem
        let configuration = try ServiceConfiguration.fromEnvironment(serviceName: "intake", environment: environment)
        #expect(configuration.jwt.publicKeysPEM.count == 2)
        #expect(configuration.jwt.hs256Secret == nil)
    }
}
