/// The four services, as named in AMQP `app_id`, CloudEvents `source`, broker users and databases.
package enum ServiceName: String, Sendable, CaseIterable, Codable {
    /// Kominfo: submissions and evidence.
    case intake
    /// DLH: evidence checks, review, appeals, audits.
    case verification
    /// BKPP: programs, roster, ledger, rankings, awards, commitments, sanctions.
    case scoring
    /// Kominfo: inbox, WhatsApp/SMS, webhooks, live stream.
    case notification

    /// The CloudEvents `source` of events this service publishes, e.g. `/asnreward/intake`.
    package var eventSource: String { "/asnreward/\(rawValue)" }
}
