import Foundation
import HTTPTypes
import ServiceSupport

/// Per-NIP limits on new submissions (a replay of a stored `Idempotency-Key` is never limited):
/// `SUBMISSION_RATE_LIMIT` submissions per `SUBMISSION_RATE_WINDOW_SECONDS` (default 10 a minute) and
/// `SUBMISSION_DAILY_CAP` per Asia/Jakarta day (default 20).
///
/// Counted from the `submissions` table, so every intake process behind a load balancer applies the same limit.
/// Concurrent requests of one NIP that pass the check together can exceed it by the requests in flight.
package struct AbuseLimits: Sendable, Equatable {
    /// Submissions per window.
    package var ratePerWindow: Int
    /// The window of the rate limit.
    package var window: TimeInterval
    /// Submissions per day.
    package var dailyCap: Int

    /// Creates limits (defaults: 10 per 60 s, 20 per day).
    package init(ratePerWindow: Int = 10, window: TimeInterval = 60, dailyCap: Int = 20) {
        self.ratePerWindow = ratePerWindow
        self.window = window
        self.dailyCap = dailyCap
    }

    /// Reads the limits from the configuration.
    /// - Throws: ``ConfigurationError`` for a value below 1.
    package init(configuration: ServiceConfiguration) throws {
        self.init()
        ratePerWindow = try configuration.int("SUBMISSION_RATE_LIMIT", default: ratePerWindow)
        window = TimeInterval(try configuration.int("SUBMISSION_RATE_WINDOW_SECONDS", default: Int(window)))
        dailyCap = try configuration.int("SUBMISSION_DAILY_CAP", default: dailyCap)
        for (key, value) in [
            ("SUBMISSION_RATE_LIMIT", ratePerWindow), ("SUBMISSION_RATE_WINDOW_SECONDS", Int(window)),
            ("SUBMISSION_DAILY_CAP", dailyCap),
        ] where value < 1 {
            throw ConfigurationError.invalid(key: key, reason: "minimal 1 (at least 1)")
        }
    }

    /// The start of the Asia/Jakarta day of `date`.
    package static func jakartaDayStart(_ date: Date) -> Date {
        Date(timeIntervalSince1970: Double(SubmissionRules.jakartaDay(date) * 86_400 - 7 * 3600))
    }

    /// The 429 problem with `Retry-After` (whole seconds, at least 1).
    static func problem(code: String, detail: String, retryAfter: TimeInterval, limit: Int) -> ProblemDetails {
        let seconds = max(1, Int(retryAfter.rounded(.up)))
        var headers = HTTPFields()
        headers[.retryAfter] = String(seconds)
        return ProblemDetails(
            status: .tooManyRequests,
            title: "Terlalu banyak pengajuan",
            detail: detail,
            code: code,
            extensions: ["retryAfter": .int(seconds), "limit": .int(limit)],
            headers: headers
        )
    }
}
