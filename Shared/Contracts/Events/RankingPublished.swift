import Foundation

/// `ranking.published` (scoring → notification, dashboards): a ranking for a period and scope.
///
/// Subject: `<period>/<scope>`, e.g. `2026-Q1/city` or `2026-Q1/DLH` (a ranking is about neither one NIP nor one
/// submission).
package struct RankingPublished: EventPayload {
    /// `ranking.published`.
    package static let eventName = "ranking.published"
    /// Version 1.
    package static let version = 1
    /// `scope` of the city-wide ranking.
    package static let cityScope = "city"

    /// The period, e.g. `2026-Q1`.
    package var period: String
    /// `city` or an OPD code.
    package var scope: String
    /// The program id.
    package var program: String
    /// When the ranking was computed.
    package var publishedAt: Date
    /// Top entries in rank order, standard competition ranking ("1224"); may be truncated to the top N.
    package var entries: [RankingEntry]
    /// Whether the period is closed (final ranking) rather than a provisional standing.
    package var final: Bool
    /// How many ASN are ranked in total (≥ `entries.count`).
    package var totalRanked: Int?
    /// The rule version of the totals.
    package var ruleVersion: String?

    /// Creates the payload.
    package init(
        period: String,
        scope: String,
        program: String,
        publishedAt: Date,
        entries: [RankingEntry],
        final: Bool = false,
        totalRanked: Int? = nil,
        ruleVersion: String? = nil
    ) {
        self.period = period
        self.scope = scope
        self.program = program
        self.publishedAt = publishedAt
        self.entries = entries
        self.final = final
        self.totalRanked = totalRanked
        self.ruleVersion = ruleVersion
    }

    /// `<period>/<scope>`.
    package var subject: String { "\(period)/\(scope)" }
}

/// One row of a ranking.
package struct RankingEntry: Codable, Sendable, Equatable, Hashable {
    /// Standard competition rank (ties share a rank; the next rank skips).
    package var rank: Int
    /// The ASN's NIP.
    package var nip: String
    /// The ASN's name.
    package var name: String
    /// The ASN's OPD code.
    package var opd: String
    /// Total points in the period.
    package var points: Int
    /// When the ASN reached this total (breaks ties for awards: earlier wins).
    package var reachedAt: Date?

    /// Creates a row.
    package init(rank: Int, nip: String, name: String, opd: String, points: Int, reachedAt: Date? = nil) {
        self.rank = rank
        self.nip = nip
        self.name = name
        self.opd = opd
        self.points = points
        self.reachedAt = reachedAt
    }
}
