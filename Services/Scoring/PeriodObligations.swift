import Contracts
import Database
import Foundation

/// What a period's close decides besides rankings and awards: Lelang Kinerja commitments, sanctions and the
/// collective rule. ``PeriodClose`` calls it once, inside the close transaction, after the standings are frozen
/// and the awards stored; it writes its own rows and enqueues its events (`commitment.evaluated`,
/// `sanction.imposed`) with `Outbox.enqueue` on `connection`.
enum PeriodObligations {
    /// The close in progress.
    struct Close: Sendable {
        var period: Period
        /// The current version of each program.
        var programs: [ProgramDocument]
        /// The frozen standings of the period.
        var standings: [Standing]
        var closedAt: Date
        var closedBy: String
    }

    /// Evaluates the period's commitments, imposes sanctions and applies the collective rule.
    static func evaluate(_ close: Close, in connection: DatabaseConnection) async throws {
        // Commitments and sanctions do not exist yet (issue #11, items 4–6).
    }
}
