import Foundation
import Hummingbird
import Logging

/// Verifies the bearer token of every request under the protected prefixes (`/v1` by default).
///
/// Other paths (`/health/*`, `/metrics`, `/openapi.yaml`, static pages) are public and pass untouched. A missing,
/// malformed, expired or wrongly signed token ends the request with a 401 problem carrying
/// `WWW-Authenticate: Bearer`. When `allowQueryTokenForEventStream` is set, a `GET` that accepts
/// `text/event-stream` may carry the token as `?access_token=` instead (browsers' `EventSource` cannot send
/// headers); nothing else may.
package struct AuthMiddleware: RouterMiddleware {
    package typealias Context = AuthenticatedRequestContext

    /// Verifies tokens.
    private let authenticator: JWTAuthenticator
    /// Path prefixes that require a token.
    private let protectedPrefixes: [String]
    /// Whether SSE `GET`s may pass the token in the query.
    private let allowQueryTokenForEventStream: Bool

    /// Creates the middleware.
    package init(
        authenticator: JWTAuthenticator,
        protectedPrefixes: [String] = ["/v1"],
        allowQueryTokenForEventStream: Bool = true
    ) {
        self.authenticator = authenticator
        self.protectedPrefixes = protectedPrefixes
        self.allowQueryTokenForEventStream = allowQueryTokenForEventStream
    }

    /// Authenticates protected requests and records the method for read/write role checks.
    package func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var context = context
        context.requestMethod = request.method
        guard isProtected(request.uri.path) else { return try await next(request, context) }
        guard let token = bearerToken(in: request) else { throw AuthenticationFailure.missing.problem }
        let identity: Identity
        do {
            identity = try await authenticator.authenticate(token)
        } catch {
            context.logger.notice("Token ditolak", metadata: ["auth.failure": "\(error)"])
            throw error.problem
        }
        context.identity = identity
        context.logger[metadataKey: "user.nip"] = .string(identity.nip)
        return try await next(request, context)
    }

    /// Whether `path` equals a protected prefix or lies under it.
    private func isProtected(_ path: String) -> Bool {
        protectedPrefixes.contains { prefix in
            path == prefix || path.hasPrefix(prefix + "/")
        }
    }

    /// The token from `Authorization: Bearer …`, or from `?access_token=` for event-stream GETs when allowed.
    private func bearerToken(in request: Request) -> String? {
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
            let token = parts[1].trimmingCharacters(in: .whitespaces)
            return token.isEmpty ? nil : token
        }
        if allowQueryTokenForEventStream, request.method == .get,
            request.headers[values: .accept].contains(where: { $0.contains("text/event-stream") }),
            let token = request.uri.queryParameters.get("access_token"), !token.isEmpty
        {
            return token
        }
        return nil
    }
}
