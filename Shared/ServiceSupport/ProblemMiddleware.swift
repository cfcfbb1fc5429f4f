import Database
import Foundation
import Hummingbird
import Logging
import NIOCore

/// Turns every error thrown below it into an `application/problem+json` response (RFC 9457).
///
/// - ``ProblemDetails`` and ``ProblemConvertible`` errors are shown as they are;
/// - Hummingbird's `HTTPError` (404, 405, 413, the 400s of `request.decode`) and other `HTTPResponseError`s keep
///   their status; a 4xx keeps its message as `detail`, a 5xx's message is dropped;
/// - `DecodingError` becomes 400 with the path of the offending field;
/// - a ``DatabaseError`` that means the database is unreachable, frozen or saturated becomes 503 with
///   `Retry-After` (the request may simply be sent again); one refusing text it cannot store (a NUL character,
///   SQLSTATE 22021 or 22P05) becomes 400;
/// - anything else becomes a 500 with a generic detail; the error itself is logged, never sent.
package struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Creates the middleware.
    package init() {}

    /// Runs the rest of the chain and converts its errors.
    package func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let problem = Self.problem(for: error, logger: context.logger)
            return try problem.response(from: request, context: context)
        }
    }

    /// The problem shown for `error`; logs what must not be shown.
    package static func problem(for error: any Error, logger: Logger) -> ProblemDetails {
        switch error {
        case let problem as ProblemDetails:
            if problem.status.code >= 500 { logger.error("Permintaan gagal", metadata: ["problem": "\(problem)"]) }
            return problem
        case let convertible as any ProblemConvertible:
            let problem = convertible.problem
            if problem.status.code >= 500 {
                logger.error("Permintaan gagal", metadata: ["error": "\(String(reflecting: error))"])
            }
            return problem
        case let httpError as HTTPError:
            guard httpError.status.code < 500 else {
                logger.error("Permintaan gagal", metadata: ["error": "\(httpError)"])
                return .status(httpError.status)
            }
            var problem = ProblemDetails.status(httpError.status, detail: httpError.body.map(Self.indonesianDetail))
            problem.headers.append(contentsOf: httpError.headers)
            return problem
        case let responseError as any HTTPResponseError:
            if responseError.status.code >= 500 {
                logger.error("Permintaan gagal", metadata: ["error": "\(String(reflecting: error))"])
            }
            return .status(responseError.status)
        case let decoding as DecodingError:
            return .badRequest(ProblemDetails.describe(decoding), code: "INVALID_BODY")
        case is CancellationError:
            return .serviceUnavailable()
        case let database as DatabaseError where database.isUnavailable || database.code == .timeout:
            // The database is down, frozen or saturated: the request was fine and may be sent again shortly.
            logger.warning("Basis data tidak tersedia", metadata: ["error": "\(database)"])
            return .serviceUnavailable(
                "Layanan sedang tidak dapat menjangkau basis data; silakan coba lagi sebentar lagi. "
                    + "The database is temporarily unavailable; please retry.",
                retryAfterSeconds: 5
            )
        case let database as DatabaseError where database.sqlState == "22021" || database.sqlState == "22P05":
            // Text PostgreSQL cannot store (a NUL character) that a request carried into a query.
            return .badRequest(
                "Teks dalam permintaan berisi karakter yang tidak dapat disimpan (NUL). "
                    + "The request's text contains a character that cannot be stored (NUL).",
                code: "INVALID_TEXT")
        default:
            logger.error("Kesalahan tak terduga", metadata: ["error": "\(String(reflecting: error))"])
            return .internalError()
        }
    }

    /// Prefixes Hummingbird's English decode messages with an Indonesian sentence.
    private static func indonesianDetail(_ message: String) -> String {
        if message.hasPrefix("Coding key") || message.hasPrefix("Value not found") || message.hasPrefix("Type mismatch")
            || message.hasPrefix("The given data")
        {
            return "Isi permintaan tidak sesuai format JSON yang diharapkan. \(message)"
        }
        return message
    }
}

extension ProblemDetails {
    /// A user-facing explanation of a decoding error: which field and what is wrong.
    package static func describe(_ error: DecodingError) -> String {
        func path(_ codingPath: [any CodingKey]) -> String {
            let text = codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return text.hasPrefix(".") ? String(text.dropFirst()) : (text.isEmpty ? "(root)" : text)
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "Kolom `\(path(context.codingPath + [key]))` wajib diisi. Missing field."
        case .valueNotFound(_, let context):
            return "Kolom `\(path(context.codingPath))` tidak boleh kosong. Missing value."
        case .typeMismatch(let type, let context):
            return "Kolom `\(path(context.codingPath))` harus bertipe \(type). Type mismatch."
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty { return "Isi permintaan bukan JSON yang valid. Invalid JSON." }
            return "Nilai kolom `\(path(context.codingPath))` tidak valid. Invalid value."
        @unknown default:
            return "Isi permintaan tidak valid. Invalid request body."
        }
    }
}

/// The JSON decoder of ``AuthenticatedRequestContext``: like Hummingbird's, but a bad body becomes a 400 problem
/// naming the field in Bahasa Indonesia, and an oversized one a 413 problem stating the limit.
package struct ProblemJSONDecoder: RequestDecoder {
    /// Creates the decoder.
    package init() {}

    /// Decodes `type` from the request body (at most `context.maxUploadSize` bytes), dates as ISO 8601.
    package func decode<T: Decodable>(_ type: T.Type, from request: Request, context: some RequestContext) async throws
        -> T
    {
        var request = request
        let buffer = try await request.collectBody(maxBytes: context.maxUploadSize)
        do {
            return try JSONDecoder.iso8601.decode(T.self, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            throw ProblemDetails.badRequest(ProblemDetails.describe(error), code: "INVALID_BODY")
        }
    }
}
