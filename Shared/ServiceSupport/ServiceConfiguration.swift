import Foundation
import Logging

/// Settings every service reads from its environment at start.
///
/// Each key is looked up first with the service's prefix and then without it, so one env file can hold the
/// settings of all four services: for the service `intake`, `INTAKE_DATABASE_URL` wins over `DATABASE_URL`.
///
/// | property | key | default |
/// |---|---|---|
/// | ``httpHost`` | `HTTP_HOST` | `127.0.0.1` |
/// | ``httpPort`` | `HTTP_PORT` | required |
/// | ``databaseURL`` | `DATABASE_URL` | required |
/// | ``amqpURL`` | `AMQP_URL` | required |
/// | ``jwt`` | `JWT_HS256_SECRET`, `JWT_PUBLIC_KEYS_PEM`, `JWT_RS256_PUBLIC_KEY`, `JWT_ES256_PUBLIC_KEY`, `JWT_ISSUER`, `JWT_AUDIENCE` | at least one key |
/// | ``logLevel`` | `LOG_LEVEL` | `info` |
/// | ``eventsExchange`` | `EVENTS_EXCHANGE` | `asnreward.events` |
///
/// Errors name the missing or malformed key and never contain its value; ``description`` hides secrets.
package struct ServiceConfiguration: Sendable, CustomStringConvertible {
    /// Short lowercase name of the service (`intake`, `verification`, …); used in logs and as the key prefix.
    package var serviceName: String
    /// Address the HTTP server binds to.
    package var httpHost: String
    /// Port the HTTP server binds to.
    package var httpPort: Int
    /// libpq connection URL (`postgresql://user:password@host:port/db`); contains a secret.
    package var databaseURL: String
    /// AMQP URL (`amqp://user:password@host:port/vhost`); contains a secret.
    package var amqpURL: String
    /// Keys used to verify bearer tokens.
    package var jwt: JWTSettings
    /// Minimum level written to the log.
    package var logLevel: Logger.Level
    /// Name of the topic exchange every event is published to.
    package var eventsExchange: String

    /// The raw environment, kept for service-specific keys read through ``string(_:)`` and ``int(_:)``.
    private var environment: [String: String]

    /// Creates a configuration directly (tests); services use ``fromEnvironment(serviceName:environment:)``.
    package init(
        serviceName: String,
        httpHost: String = "127.0.0.1",
        httpPort: Int = 8080,
        databaseURL: String = "",
        amqpURL: String = "",
        jwt: JWTSettings,
        logLevel: Logger.Level = .info,
        eventsExchange: String = "asnreward.events",
        environment: [String: String] = [:]
    ) {
        self.serviceName = serviceName
        self.httpHost = httpHost
        self.httpPort = httpPort
        self.databaseURL = databaseURL
        self.amqpURL = amqpURL
        self.jwt = jwt
        self.logLevel = logLevel
        self.eventsExchange = eventsExchange
        self.environment = environment
    }

    /// Reads the configuration of `serviceName` from `environment`.
    ///
    /// - Throws: ``ConfigurationError`` naming the first missing or malformed key.
    package static func fromEnvironment(
        serviceName: String,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> ServiceConfiguration {
        var configuration = ServiceConfiguration(
            serviceName: serviceName,
            jwt: JWTSettings(),
            environment: environment
        )
        configuration.httpHost = configuration.string("HTTP_HOST", default: "127.0.0.1")
        configuration.httpPort = try configuration.int("HTTP_PORT")
        guard (1...65535).contains(configuration.httpPort) else {
            throw ConfigurationError.invalid(key: "HTTP_PORT", reason: "harus 1–65535 (must be 1–65535)")
        }
        configuration.databaseURL = try configuration.string("DATABASE_URL")
        configuration.amqpURL = try configuration.string("AMQP_URL")
        configuration.eventsExchange = configuration.string("EVENTS_EXCHANGE", default: "asnreward.events")
        let level = configuration.string("LOG_LEVEL", default: "info").lowercased()
        guard let logLevel = Logger.Level(rawValue: level) else {
            throw ConfigurationError.invalid(
                key: "LOG_LEVEL",
                reason: "harus salah satu dari trace, debug, info, notice, warning, error, critical"
            )
        }
        configuration.logLevel = logLevel
        configuration.jwt = try JWTSettings.fromConfiguration(configuration)
        return configuration
    }

    /// The keys tried for `key`, most specific first: `INTAKE_HTTP_PORT`, then `HTTP_PORT`.
    private func keys(_ key: String) -> [String] {
        let prefix = serviceName.uppercased().replacingOccurrences(of: "-", with: "_")
        guard !prefix.isEmpty, !key.hasPrefix(prefix + "_") else { return [key] }
        return ["\(prefix)_\(key)", key]
    }

    /// The value of `key` (service-prefixed first), or `nil` when absent or empty.
    package func optionalString(_ key: String) -> String? {
        for candidate in keys(key) {
            if let value = environment[candidate], !value.isEmpty { return value }
        }
        return nil
    }

    /// The value of a required service-specific key.
    /// - Throws: ``ConfigurationError/missing(keys:)`` naming the key.
    package func string(_ key: String) throws -> String {
        guard let value = optionalString(key) else { throw ConfigurationError.missing(keys: keys(key)) }
        return value
    }

    /// The value of `key`, or `defaultValue` when absent.
    package func string(_ key: String, default defaultValue: String) -> String {
        optionalString(key) ?? defaultValue
    }

    /// The integer value of a required key.
    /// - Throws: ``ConfigurationError`` when the key is missing or not an integer.
    package func int(_ key: String) throws -> Int {
        guard let text = optionalString(key) else { throw ConfigurationError.missing(keys: keys(key)) }
        guard let value = Int(text.trimmingCharacters(in: .whitespaces)) else {
            throw ConfigurationError.invalid(key: key, reason: "harus bilangan bulat (must be an integer)")
        }
        return value
    }

    /// The integer value of `key`, or `defaultValue` when absent.
    /// - Throws: ``ConfigurationError/invalid(key:reason:)`` when present but not an integer.
    package func int(_ key: String, default defaultValue: Int) throws -> Int {
        guard optionalString(key) != nil else { return defaultValue }
        return try int(key)
    }

    /// A summary safe to log: URLs have their password replaced by `***`, secrets are not shown.
    package var description: String {
        "ServiceConfiguration(service: \(serviceName), http: \(httpHost):\(httpPort), "
            + "database: \(Self.redactingPassword(databaseURL)), amqp: \(Self.redactingPassword(amqpURL)), "
            + "exchange: \(eventsExchange), logLevel: \(logLevel), jwt: \(jwt))"
    }

    /// Replaces the password part of `scheme://user:password@host` by `***`.
    package static func redactingPassword(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://"),
            let at = url[schemeEnd.upperBound...].lastIndex(of: "@")
        else { return url }
        let userInfo = url[schemeEnd.upperBound..<at]
        guard let colon = userInfo.firstIndex(of: ":") else { return url }
        return String(url[..<colon]) + ":***" + String(url[at...])
    }
}

/// A configuration key is missing or malformed. The message names the key and never its value.
package enum ConfigurationError: Error, Equatable, CustomStringConvertible {
    /// None of `keys` is set (the first is the most specific).
    case missing(keys: [String])
    /// `key` is set but unusable for `reason`.
    case invalid(key: String, reason: String)

    /// Bahasa Indonesia first, English second; no values.
    package var description: String {
        switch self {
        case .missing(let keys):
            let names = keys.joined(separator: " atau ")
            return "Konfigurasi \(names) belum diisi. Missing required setting \(keys.last ?? "")."
        case .invalid(let key, let reason):
            return "Konfigurasi \(key) tidak valid: \(reason). Invalid setting \(key)."
        }
    }
}
