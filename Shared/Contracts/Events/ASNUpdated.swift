import Foundation

/// `asn.updated` (scoring → intake, verification, notification): a roster record changed (moved OPD, new phone,
/// new locations, left service). Carries the whole record after the change, so consumers simply upsert.
///
/// Subject: the NIP. Confidential: contacts and home location.
package struct ASNUpdated: EventPayload {
    /// `asn.updated`.
    package static let eventName = "asn.updated"
    /// Version 1.
    package static let version = 1
    /// Personal data.
    package static var isConfidential: Bool { true }

    /// The NIP.
    package var nip: String
    /// Full name.
    package var name: String
    /// OPD code.
    package var opd: String
    /// When updated.
    package var updatedAt: Date
    /// Whether the ASN is still active (false: retired, moved out, deactivated).
    package var active: Bool
    /// OPD display name.
    package var opdName: String?
    /// Position (jabatan).
    package var position: String?
    /// Phone in E.164.
    package var phone: String?
    /// E-mail.
    package var email: String?
    /// Whether the ASN accepts WhatsApp/SMS messages.
    package var messagingOptIn: Bool?
    /// Registered office and home locations.
    package var locations: [RegisteredLocation]?
    /// Roles (`Role` raw values).
    package var roles: [String]?
    /// Whether the ASN heads their OPD.
    package var isOPDHead: Bool?
    /// Names of the fields that changed, informational.
    package var changedFields: [String]?
    /// Unit (bidang/bagian) inside the OPD.
    package var unit: String?

    /// Creates the payload.
    package init(
        nip: String,
        name: String,
        opd: String,
        updatedAt: Date,
        active: Bool = true,
        opdName: String? = nil,
        position: String? = nil,
        phone: String? = nil,
        email: String? = nil,
        messagingOptIn: Bool? = nil,
        locations: [RegisteredLocation]? = nil,
        roles: [String]? = nil,
        isOPDHead: Bool? = nil,
        changedFields: [String]? = nil,
        unit: String? = nil
    ) {
        self.nip = nip
        self.name = name
        self.opd = opd
        self.updatedAt = updatedAt
        self.active = active
        self.opdName = opdName
        self.position = position
        self.phone = phone
        self.email = email
        self.messagingOptIn = messagingOptIn
        self.locations = locations
        self.roles = roles
        self.isOPDHead = isOPDHead
        self.changedFields = changedFields
        self.unit = unit
    }

    /// The NIP.
    package var subject: String { nip }
}
