import Foundation

/// `asn.enrolled` (scoring → intake, verification, notification): an ASN joined the roster. Carries the full
/// roster record (event-carried state).
///
/// Subject: the NIP. Confidential: contacts and home location.
package struct ASNEnrolled: EventPayload {
    /// `asn.enrolled`.
    package static let eventName = "asn.enrolled"
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
    /// When enrolled.
    package var enrolledAt: Date
    /// OPD display name.
    package var opdName: String?
    /// Position (jabatan).
    package var position: String?
    /// Phone in E.164 (`+628…`), for WhatsApp/SMS.
    package var phone: String?
    /// E-mail.
    package var email: String?
    /// Whether the ASN accepts WhatsApp/SMS messages.
    package var messagingOptIn: Bool?
    /// Registered office and home locations (geofence).
    package var locations: [RegisteredLocation]?
    /// Roles (`Role` raw values).
    package var roles: [String]?
    /// Whether the ASN heads their OPD (sees the OPD's punishments).
    package var isOPDHead: Bool?
    /// Whether the ASN is active; `nil` in older events means active.
    package var active: Bool?
    /// Unit (bidang/bagian) inside the OPD.
    package var unit: String?

    /// Creates the payload.
    package init(
        nip: String,
        name: String,
        opd: String,
        enrolledAt: Date,
        opdName: String? = nil,
        position: String? = nil,
        phone: String? = nil,
        email: String? = nil,
        messagingOptIn: Bool? = nil,
        locations: [RegisteredLocation]? = nil,
        roles: [String]? = nil,
        isOPDHead: Bool? = nil,
        active: Bool? = nil,
        unit: String? = nil
    ) {
        self.nip = nip
        self.name = name
        self.opd = opd
        self.enrolledAt = enrolledAt
        self.opdName = opdName
        self.position = position
        self.phone = phone
        self.email = email
        self.messagingOptIn = messagingOptIn
        self.locations = locations
        self.roles = roles
        self.isOPDHead = isOPDHead
        self.active = active
        self.unit = unit
    }

    /// The NIP.
    package var subject: String { nip }
}
