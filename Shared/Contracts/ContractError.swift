/// The one error thrown by `Contracts`: a malformed event, an unsupported CloudEvents version, a payload of the
/// wrong type, or an invalid value such as a malformed NIP or period.
///
/// `description` never contains message bodies, so it is safe to log.
package struct ContractError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What kind of contract violation happened.
    package enum Code: String, Sendable, Equatable, CaseIterable {
        /// A required CloudEvents attribute (`specversion`, `id`, `source`, `type`) is absent.
        case missingAttribute
        /// `specversion` is not a 1.x version.
        case unsupportedSpecVersion
        /// The event's `type` is not the type the caller asked to decode.
        case typeMismatch
        /// A value is malformed: bad JSON, bad time, bad NIP, bad period, unsupported content type.
        case invalidData
        /// The event's `type` is not in `EventCatalog` (consumers dead-letter these).
        case unknownType
    }

    /// What kind of contract violation happened.
    package var code: Code
    /// A human-readable explanation (for NIP and period errors: Bahasa Indonesia, then English).
    package var message: String

    /// Creates an error with a code and a message.
    package init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `"<code>: <message>"`.
    package var description: String { "\(code.rawValue): \(message)" }

    /// A required attribute is missing.
    package static func missingAttribute(_ name: String) -> ContractError {
        ContractError(.missingAttribute, "missing CloudEvents attribute '\(name)'")
    }

    /// A value is malformed.
    package static func invalidData(_ message: String) -> ContractError {
        ContractError(.invalidData, message)
    }
}
