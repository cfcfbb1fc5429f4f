import Foundation
import ServiceSupport

/// Notification's own settings, read from the environment (each key also with the `NOTIFICATION_` prefix).
///
/// | key | default |
/// |---|---|
/// | `TEMPLATES_DIR` | the templates bundled with the executable |
/// | `WEBHOOK_RETRY_SCHEDULE` | `5s,5m,30m,2h,5h,10h` (pauses before each retry; ±10 % jitter) |
/// | `WEBHOOK_TIMEOUT` | `15s` (at most 15 s) |
/// | `WEBHOOK_DISABLE_AFTER` | `5d` of failures without a success |
/// | `WEBHOOK_ALLOW_PRIVATE_TARGETS` | `false`: loopback and private addresses are refused (link-local and cloud metadata always are) |
/// | `GATEWAY_URL` | unset: no WhatsApp/SMS is sent (messages stay queued) |
/// | `GATEWAY_AUTH_HEADER` | unset, e.g. `Authorization: Bearer …` |
/// | `GATEWAY_CHANNEL` | `whatsapp` |
/// | `GATEWAY_MAX_ATTEMPTS` | `5` |
/// | `GATEWAY_BACKOFF` | `2s` (doubling, with jitter) |
/// | `GATEWAY_RATE_PER_SECOND` | `20` |
/// | `GATEWAY_TIMEOUT` | `10s` |
/// | `QUIET_HOURS` | `21:00-06:00` (Asia/Jakarta; `none` to switch off) |
/// | `STREAM_HEARTBEAT` | `15s` |
/// | `STREAM_CLIENT_BUFFER` | `2048` events |
/// | `STREAM_RETAIN_EVENTS` / `STREAM_RETAIN` | `10000` / `24h` (both are kept) |
struct NotificationSettings: Sendable {
    var templatesDirectory: URL?
    var webhookRetrySchedule: [Duration] = [
        .seconds(5), .seconds(300), .seconds(1800), .seconds(7200),
        .seconds(18000), .seconds(36000),
    ]
    var webhookTimeout: Duration = .seconds(15)
    var webhookDisableAfter: Duration = .seconds(5 * 86400)
    var allowPrivateTargets = false
    /// Webhook sends in flight in all; to one endpoint; to one endpoint that is failing (its last attempt did not
    /// succeed: a probe or two until it answers again, so dead endpoints never hold the slots of live ones).
    var webhookConcurrency = 512
    var webhookEndpointConcurrency = 64
    var webhookFailingEndpointConcurrency = 2
    var gateway = GatewaySettings()
    var streamHeartbeat: Duration = .seconds(15)
    var streamClientBuffer = 2048
    var streamRetainEvents = 10_000
    var streamRetain: Duration = .seconds(86400)
    /// How often idle dispatchers look for due work without being woken.
    var pollInterval: Duration = .seconds(1)

    init() {}

    static func from(_ configuration: ServiceConfiguration) throws -> NotificationSettings {
        var settings = NotificationSettings()
        settings.templatesDirectory = configuration.optionalString("TEMPLATES_DIR").map { URL(fileURLWithPath: $0) }
        if let text = configuration.optionalString("WEBHOOK_RETRY_SCHEDULE") {
            settings.webhookRetrySchedule = try text.split(separator: ",").map {
                try duration(String($0), key: "WEBHOOK_RETRY_SCHEDULE")
            }
        }
        func read(_ key: String, _ value: inout Duration) throws {
            if let text = configuration.optionalString(key) { value = try duration(text, key: key) }
        }
        try read("WEBHOOK_TIMEOUT", &settings.webhookTimeout)
        settings.webhookTimeout = min(settings.webhookTimeout, .seconds(15))
        try read("WEBHOOK_DISABLE_AFTER", &settings.webhookDisableAfter)
        settings.allowPrivateTargets = ["1", "true", "yes"].contains(
            configuration.string("WEBHOOK_ALLOW_PRIVATE_TARGETS", default: "false").lowercased())
        settings.gateway.url = configuration.optionalString("GATEWAY_URL")
        if let header = configuration.optionalString("GATEWAY_AUTH_HEADER") {
            let parts = header.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, !parts[0].isEmpty else {
                throw ConfigurationError.invalid(key: "GATEWAY_AUTH_HEADER", reason: "harus 'Nama: nilai'")
            }
            settings.gateway.authHeader = (parts[0], parts[1])
        }
        settings.gateway.channel = configuration.string("GATEWAY_CHANNEL", default: "whatsapp")
        settings.gateway.maxAttempts = try configuration.int("GATEWAY_MAX_ATTEMPTS", default: 5)
        try read("GATEWAY_BACKOFF", &settings.gateway.backoff)
        try read("GATEWAY_TIMEOUT", &settings.gateway.timeout)
        settings.gateway.ratePerSecond = Double(try configuration.int("GATEWAY_RATE_PER_SECOND", default: 20))
        if let text = configuration.optionalString("QUIET_HOURS") {
            settings.gateway.quietHours = try QuietHours(parsing: text)
        }
        try read("STREAM_HEARTBEAT", &settings.streamHeartbeat)
        settings.streamClientBuffer = try configuration.int("STREAM_CLIENT_BUFFER", default: 2048)
        settings.streamRetainEvents = max(10_000, try configuration.int("STREAM_RETAIN_EVENTS", default: 10_000))
        try read("STREAM_RETAIN", &settings.streamRetain)
        settings.streamRetain = max(settings.streamRetain, .seconds(86400))
        return settings
    }

    /// `250ms`, `5s`, `5m`, `2h`, `5d`.
    static func duration(_ text: String, key: String) throws -> Duration {
        let trimmed = text.trimmingCharacters(in: .whitespaces).lowercased()
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        for (suffix, seconds) in units where trimmed.hasSuffix(suffix) {
            if suffix == "s", trimmed.hasSuffix("ms") { continue }
            if let number = Double(trimmed.dropLast(suffix.count)), number >= 0 {
                return .milliseconds(Int64((number * seconds * 1000).rounded()))
            }
        }
        throw ConfigurationError.invalid(key: key, reason: "durasi seperti 5s, 5m, 2h, 5d (a duration like 5s)")
    }
}

/// The WhatsApp/SMS gateway's settings.
struct GatewaySettings: Sendable {
    var url: String?
    var authHeader: (name: String, value: String)?
    var channel = "whatsapp"
    var maxAttempts = 5
    var backoff: Duration = .seconds(2)
    var timeout: Duration = .seconds(10)
    var ratePerSecond: Double = 20
    var quietHours: QuietHours? = QuietHours(start: 21 * 60, end: 6 * 60)
}

/// Hours (Asia/Jakarta) in which no WhatsApp/SMS is sent; what falls due then waits for their end.
struct QuietHours: Sendable, Equatable {
    /// Minutes after midnight.
    var start: Int
    var end: Int

    init(start: Int, end: Int) {
        self.start = start
        self.end = end
    }

    /// `21:00-06:00`; `none` → `nil` is handled by the caller through `QuietHours?`.
    init?(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.lowercased() == "none" || trimmed.isEmpty { return nil }
        let parts = trimmed.split(separator: "-")
        func minutes(_ part: Substring) -> Int? {
            let hm = part.split(separator: ":")
            guard hm.count == 2, let h = Int(hm[0]), let m = Int(hm[1]), (0..<24).contains(h), (0..<60).contains(m)
            else { return nil }
            return h * 60 + m
        }
        guard parts.count == 2, let start = minutes(parts[0]), let end = minutes(parts[1]) else {
            throw ConfigurationError.invalid(key: "QUIET_HOURS", reason: "harus seperti 21:00-06:00 atau none")
        }
        self.init(start: start, end: end)
    }

    /// Whether `date` falls in the quiet hours.
    func contains(_ date: Date) -> Bool {
        let parts = IndonesianFormat.calendar.dateComponents([.hour, .minute], from: date)
        let minute = (parts.hour ?? 0) * 60 + (parts.minute ?? 0)
        if start == end { return false }
        return start < end ? (minute >= start && minute < end) : (minute >= start || minute < end)
    }

    /// The end of the quiet period containing `date` (the next time messages may go out).
    func end(after date: Date) -> Date {
        var moment = IndonesianFormat.calendar.date(bySettingHour: end / 60, minute: end % 60, second: 0, of: date)!
        if moment <= date { moment = IndonesianFormat.calendar.date(byAdding: .day, value: 1, to: moment)! }
        return moment
    }
}
