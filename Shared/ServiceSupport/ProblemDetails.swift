import Foundation
import HTTPTypes
import Hummingbird

/// An RFC 9457 problem: the body of every error response, sent as `application/problem+json`.
///
/// Throw it from a handler (`throw ProblemDetails.notFound("Pengajuan tidak ditemukan.")`) or make a domain
/// error ``ProblemConvertible``; ``ProblemMiddleware`` turns every other error into one too. Titles and details
/// are in Bahasa Indonesia first, English may follow as a second sentence. `code` is a stable machine-readable
/// reason (`TOKEN_EXPIRED`, `DUPLICATE_EVIDENCE`); when set, `type` defaults to `urn:asnreward:problem:<code>`.
package struct ProblemDetails: Error, HTTPResponseError, Sendable, CustomStringConvertible {
    /// URI reference naming the problem kind; `about:blank` when the HTTP status says it all.
    package var type: String
    /// Short summary of the problem kind.
    package var title: String
    /// HTTP status of the response.
    package var status: HTTPResponse.Status
    /// Explanation of this occurrence, safe to show to the user.
    package var detail: String?
    /// Identifies this occurrence; ``ProblemMiddleware`` fills in the request path when empty.
    package var instance: String?
    /// Stable machine-readable reason code.
    package var code: String?
    /// Per-field validation errors.
    package var errors: [FieldError]?
    /// Further extension members (e.g. `limit`, `retryAfter`).
    package var extensions: [String: ProblemValue]
    /// Extra response headers (`WWW-Authenticate`, `Retry-After`, …).
    package var headers: HTTPFields

    /// One invalid input field.
    package struct FieldError: Codable, Sendable, Equatable {
        /// JSON pointer or form field name, e.g. `/quantity` or `photos[1]`.
        package var field: String
        /// What is wrong, in Bahasa Indonesia.
        package var message: String
        /// Optional machine-readable reason.
        package var code: String?

        /// Creates a field error.
        package init(field: String, message: String, code: String? = nil) {
            self.field = field
            self.message = message
            self.code = code
        }
    }

    /// Creates a problem; `type` defaults from `code` (or `about:blank`).
    package init(
        status: HTTPResponse.Status,
        title: String,
        detail: String? = nil,
        type: String? = nil,
        code: String? = nil,
        instance: String? = nil,
        errors: [FieldError]? = nil,
        extensions: [String: ProblemValue] = [:],
        headers: HTTPFields = [:]
    ) {
        self.status = status
        self.title = title
        self.detail = detail
        self.type =
            type ?? code.map { "urn:asnreward:problem:\($0.lowercased().replacingOccurrences(of: "_", with: "-"))" }
            ?? "about:blank"
        self.code = code
        self.instance = instance
        self.errors = errors
        self.extensions = extensions
        self.headers = headers
    }

    /// For logs: status, code and title (never the detail of a 5xx, which may be internal).
    package var description: String {
        "ProblemDetails(\(status.code) \(code ?? type): \(title))"
    }

    /// The JSON body.
    package func jsonData() throws -> Data {
        var object: [String: ProblemValue] = extensions
        object["type"] = .string(type)
        object["title"] = .string(title)
        object["status"] = .int(status.code)
        if let detail { object["detail"] = .string(detail) }
        if let instance { object["instance"] = .string(instance) }
        if let code { object["code"] = .string(code) }
        if let errors {
            object["errors"] = .array(
                errors.map { error in
                    var item: [String: ProblemValue] = [
                        "field": .string(error.field), "message": .string(error.message),
                    ]
                    if let code = error.code { item["code"] = .string(code) }
                    return .object(item)
                }
            )
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(object)
    }

    /// Media type of problem responses.
    package static let mediaType = "application/problem+json"

    /// Renders the problem as an `application/problem+json` response.
    package func response(from request: Request, context: some RequestContext) throws -> Response {
        var problem = self
        if problem.instance == nil { problem.instance = request.uri.path }
        return try problem.response()
    }

    /// Renders the problem without a request (e.g. outside a router).
    package func response() throws -> Response {
        let data = try jsonData()
        var fields = HTTPFields()
        fields[.contentType] = Self.mediaType
        fields[.contentLength] = String(data.count)
        fields[.contentLanguage] = "id"
        fields[.cacheControl] = "no-store"
        fields.append(contentsOf: headers)
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// A JSON value carried by a problem's extension members.
package enum ProblemValue: Codable, Sendable, Equatable {
    case string(String)
    case int(Int)
    case double(Double)
    case bool(Bool)
    case array([ProblemValue])
    case object([String: ProblemValue])
    case null

    /// Encodes the bare JSON value.
    package func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .bool(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        case .null: try container.encodeNil()
        }
    }

    /// Decodes any JSON value.
    package init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int.self) {
            self = .int(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([ProblemValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: ProblemValue].self))
        }
    }
}

/// An error that knows the problem it shows to the client; ``ProblemMiddleware`` uses ``problem``.
///
/// Conform domain errors to it to map them to HTTP in one place:
/// ```swift
/// extension SubmissionError: ProblemConvertible {
///     var problem: ProblemDetails { .conflict("Pengajuan sudah ada.", code: "DUPLICATE_SUBMISSION") }
/// }
/// ```
package protocol ProblemConvertible: Error {
    /// The problem shown to the client.
    var problem: ProblemDetails { get }
}

extension ProblemDetails {
    /// 400: the request is malformed.
    package static func badRequest(
        _ detail: String? = nil,
        code: String? = nil,
        errors: [FieldError]? = nil
    ) -> ProblemDetails {
        ProblemDetails(status: .badRequest, title: "Permintaan tidak valid", detail: detail, code: code, errors: errors)
    }

    /// 401 with `WWW-Authenticate: Bearer` (RFC 6750); `error="invalid_token"` when a token was sent.
    package static func unauthorized(
        _ detail: String = "Token tidak ditemukan. Missing bearer token.",
        code: String = "TOKEN_MISSING",
        tokenPresent: Bool = false
    ) -> ProblemDetails {
        var headers = HTTPFields()
        headers[.wwwAuthenticate] =
            tokenPresent ? #"Bearer realm="asnreward", error="invalid_token""# : #"Bearer realm="asnreward""#
        return ProblemDetails(
            status: .unauthorized,
            title: "Token tidak valid",
            detail: detail,
            code: code,
            headers: headers
        )
    }

    /// 403: authenticated but not allowed.
    package static func forbidden(
        _ detail: String = "Anda tidak memiliki hak akses untuk tindakan ini. You are not allowed to do this.",
        code: String = "FORBIDDEN"
    ) -> ProblemDetails {
        ProblemDetails(status: .forbidden, title: "Akses ditolak", detail: detail, code: code)
    }

    /// 404: the resource does not exist (or the caller may not know it exists).
    package static func notFound(_ detail: String? = nil, code: String? = nil) -> ProblemDetails {
        ProblemDetails(status: .notFound, title: "Tidak ditemukan", detail: detail, code: code)
    }

    /// 409: the request conflicts with the current state.
    package static func conflict(_ detail: String? = nil, code: String? = nil) -> ProblemDetails {
        ProblemDetails(status: .conflict, title: "Konflik dengan data yang ada", detail: detail, code: code)
    }

    /// 413: the body exceeds `limit` bytes.
    package static func contentTooLarge(limit: Int? = nil) -> ProblemDetails {
        var detail = "Ukuran data yang dikirim melebihi batas."
        if let limit { detail += " Batas: \(limit) byte. Request body exceeds \(limit) bytes." }
        return ProblemDetails(
            status: .contentTooLarge,
            title: "Ukuran permintaan terlalu besar",
            detail: detail,
            code: "CONTENT_TOO_LARGE",
            extensions: limit.map { ["limit": .int($0)] } ?? [:]
        )
    }

    /// 415: the media type of the body is not accepted.
    package static func unsupportedMediaType(_ detail: String? = nil) -> ProblemDetails {
        ProblemDetails(
            status: .unsupportedMediaType,
            title: "Jenis konten tidak didukung",
            detail: detail,
            code: "UNSUPPORTED_MEDIA_TYPE"
        )
    }

    /// 422: well-formed but semantically invalid input.
    package static func unprocessable(
        _ detail: String? = nil,
        code: String? = "VALIDATION_FAILED",
        errors: [FieldError]? = nil
    ) -> ProblemDetails {
        ProblemDetails(
            status: .unprocessableContent,
            title: "Data tidak dapat diproses",
            detail: detail,
            code: code,
            errors: errors
        )
    }

    /// 500 with a generic detail; the cause is logged, never sent.
    package static func internalError() -> ProblemDetails {
        ProblemDetails(
            status: .internalServerError,
            title: "Terjadi kesalahan pada server",
            detail: "Terjadi kesalahan tak terduga. Silakan coba lagi nanti. An unexpected error occurred.",
            code: "INTERNAL_ERROR"
        )
    }

    /// 503: a dependency is down.
    package static func serviceUnavailable(_ detail: String? = nil, retryAfterSeconds: Int? = nil) -> ProblemDetails {
        var headers = HTTPFields()
        if let retryAfterSeconds { headers[.retryAfter] = String(retryAfterSeconds) }
        return ProblemDetails(
            status: .serviceUnavailable,
            title: "Layanan sedang tidak tersedia",
            detail: detail ?? "Silakan coba lagi nanti. Service temporarily unavailable.",
            code: "SERVICE_UNAVAILABLE",
            headers: headers
        )
    }

    /// A problem for a bare HTTP status (used for Hummingbird's own errors).
    package static func status(_ status: HTTPResponse.Status, detail: String? = nil) -> ProblemDetails {
        switch status {
        case .badRequest: return .badRequest(detail)
        case .unauthorized: return .unauthorized()
        case .forbidden: return .forbidden()
        case .notFound: return .notFound(detail ?? "Alamat tidak ditemukan. Not found.")
        case .contentTooLarge: return .contentTooLarge()
        case .internalServerError: return .internalError()
        default:
            let title: String =
                switch status {
                case .methodNotAllowed: "Metode tidak diizinkan"
                case .notAcceptable: "Format tidak dapat disediakan"
                case .requestTimeout: "Waktu permintaan habis"
                case .conflict: "Konflik dengan data yang ada"
                case .gone: "Sudah tidak tersedia"
                case .preconditionFailed: "Prasyarat tidak terpenuhi"
                case .unsupportedMediaType: "Jenis konten tidak didukung"
                case .rangeNotSatisfiable: "Rentang tidak dapat dipenuhi"
                case .unprocessableContent: "Data tidak dapat diproses"
                case .tooManyRequests: "Terlalu banyak permintaan"
                case .serviceUnavailable: "Layanan sedang tidak tersedia"
                default: status.reasonPhrase
                }
            return ProblemDetails(status: status, title: title, detail: detail)
        }
    }
}
