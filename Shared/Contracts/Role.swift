/// A role claim in the identity provider's JWT (`roles`).
package enum Role: String, Codable, Sendable, CaseIterable {
    /// A civil servant submitting activities.
    case asn
    /// DLH staff reviewing evidence.
    case verifier
    /// BKPP staff managing programs, rules, periods and exports.
    case scoringAdmin = "scoring-admin"
    /// Inspektorat: read-only everywhere.
    case auditor
    /// The head of an OPD: reads the sanctions and exports of their own OPD (the `opd` claim).
    case opdHead = "opd-head"
    /// Reads rankings and the live stream.
    case dashboard
    /// Runs the system (campaigns, dead letters, recomputation).
    case `operator`
}
