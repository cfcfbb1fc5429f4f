import Hummingbird

extension Request {
    /// Collects the whole body, refusing more than `maxBytes` with a 413 problem.
    ///
    /// A `Content-Length` above the limit is refused before reading anything; a chunked body is refused as soon
    /// as it grows past the limit. The collected body is also stored back into the request.
    package mutating func collectBody(maxBytes: Int) async throws -> ByteBuffer {
        if let length = headers[.contentLength].flatMap({ Int($0) }), length > maxBytes {
            throw ProblemDetails.contentTooLarge(limit: maxBytes)
        }
        do {
            return try await collectBody(upTo: maxBytes)
        } catch let error as any HTTPResponseError where error.status == .contentTooLarge {
            throw ProblemDetails.contentTooLarge(limit: maxBytes)
        }
    }
}
