import Foundation

/// `award.granted` (scoring → notification): an ASN won an award stage (e.g. quarterly top N with Rp 1 juta,
/// semester shortlist, yearly umrah).
///
/// Subject: the NIP.
package struct AwardGranted: EventPayload {
    /// `award.granted`.
    package static let eventName = "award.granted"
    /// Version 1.
    package static let version = 1

    /// The award id.
    package var awardId: UUID
    /// The award scheme id, e.g. `bengkulu-asn-teladan`.
    package var scheme: String
    /// The stage: `quarter`, `semester` or `year` (a `Period.Kind` raw value).
    package var stage: String
    /// The period, e.g. `2026-Q1`.
    package var period: String
    /// The winner's NIP.
    package var nip: String
    /// The winner's name.
    package var name: String?
    /// The winner's OPD code.
    package var opd: String
    /// The rank that earned the award.
    package var rank: Int
    /// The winner's points in the period.
    package var points: Int
    /// The prize as shown, e.g. `Uang pembinaan Rp 1.000.000` or `Umrah`.
    package var prize: String
    /// The prize money in rupiah, when it is money.
    package var prizeAmountRupiah: Int?
    /// When the award was granted.
    package var grantedAt: Date

    /// Creates the payload.
    package init(
        awardId: UUID,
        scheme: String,
        stage: String,
        period: String,
        nip: String,
        name: String? = nil,
        opd: String,
        rank: Int,
        points: Int,
        prize: String,
        prizeAmountRupiah: Int? = nil,
        grantedAt: Date
    ) {
        self.awardId = awardId
        self.scheme = scheme
        self.stage = stage
        self.period = period
        self.nip = nip
        self.name = name
        self.opd = opd
        self.rank = rank
        self.points = points
        self.prize = prize
        self.prizeAmountRupiah = prizeAmountRupiah
        self.grantedAt = grantedAt
    }

    /// The NIP.
    package var subject: String { nip }
}
