import Contracts
import Hummingbird

/// The request context of every service: Hummingbird's core context plus the caller's ``Identity``.
///
/// ``AuthMiddleware`` fills ``identity`` on `/v1` routes (and rejects the request without a valid token), so a
/// handler under `/v1` can rely on it. Check roles with the helpers below; they throw 401/403 problems.
///
/// **Read vs write.** The auditor role (Inspektorat) may read everything and change nothing. The helpers infer
/// the kind of access from the HTTP method: `GET`/`HEAD`/`OPTIONS` are reads, where `auditor` is accepted in
/// addition to the listed roles; every other method is a write, where `auditor` is never accepted, even if listed.
/// Pass `access:` to override (e.g. a `POST /v1/exports/search` that only reads):
/// ```swift
/// routes.get("/v1/submissions/:nip") { request, context in
///     let nip = try context.parameters.require("nip")
///     try context.requireSelfOrRoles(nip: nip, roles: [Roles.verifier])   // asn: own only; auditor: reads
///     …
/// }
/// routes.post("/v1/submissions") { request, context in
///     let me = try context.require(roles: [Roles.asn])                      // auditor → 403
///     …
/// }
/// ```
package struct AuthenticatedRequestContext: RequestContext {
    /// Hummingbird's per-request storage.
    package var coreContext: CoreRequestContextStorage
    /// The verified caller, or `nil` on public routes.
    package var identity: Identity?
    /// The request's method, recorded by ``AuthMiddleware`` to tell reads from writes.
    package var requestMethod: HTTPRequest.Method?

    /// Creates the context for a new request.
    package init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.identity = nil
        self.requestMethod = nil
    }

    /// Upper bound for bodies decoded with `request.decode` (JSON); uploads use `collectBody(maxBytes:)` or
    /// ``MultipartForm/parse(_:maxBytes:limits:)`` with their own limit.
    package var maxUploadSize: Int { 1024 * 1024 }

    /// Decodes JSON bodies, turning errors into 400/413 problems in Bahasa Indonesia.
    package var requestDecoder: ProblemJSONDecoder { ProblemJSONDecoder() }
}

/// Whether a route reads or changes state; decides whether the `auditor` role passes.
package enum AccessKind: Sendable {
    /// Reading: `auditor` is accepted too.
    case read
    /// Changing state: `auditor` is never accepted.
    case write
}

extension AuthenticatedRequestContext {
    /// The caller, or a 401 problem when the request carried no verified token.
    package func requireIdentity() throws -> Identity {
        guard let identity else { throw AuthenticationFailure.missing.problem }
        return identity
    }

    /// The caller if they hold one of `roles` (plus `auditor` for reads), else a 403 problem.
    ///
    /// - Parameter access: read or write; `nil` infers it from the HTTP method (safe methods are reads).
    @discardableResult
    package func require(roles: Set<String>, access: AccessKind? = nil) throws -> Identity {
        let identity = try requireIdentity()
        var allowed = roles
        if (access ?? inferredAccess) == .read { allowed.insert(Roles.auditor) } else { allowed.remove(Roles.auditor) }
        guard identity.hasAny(of: allowed) else {
            if identity.has(Roles.auditor) && !allowed.contains(Roles.auditor) {
                throw ProblemDetails.forbidden(
                    "Auditor hanya dapat membaca data. Auditors have read-only access.",
                    code: "READ_ONLY_ROLE"
                )
            }
            throw ProblemDetails.forbidden(
                "Peran Anda tidak diizinkan untuk tindakan ini (perlu: \(roles.sorted().joined(separator: ", "))). "
                    + "Your role is not allowed here.",
                code: "ROLE_REQUIRED"
            )
        }
        return identity
    }

    /// The caller if they are the ASN `nip` themselves (role `asn`), or hold one of `roles` (plus `auditor` for
    /// reads); else a 403 problem. Use on routes under `/v1/asn/:nip/…` so an ASN sees only their own data.
    @discardableResult
    package func requireSelfOrRoles(nip: String, roles: Set<String>, access: AccessKind? = nil) throws -> Identity {
        let identity = try requireIdentity()
        if identity.nip == nip, identity.has(Roles.asn) { return identity }
        do {
            return try require(roles: roles, access: access)
        } catch let problem as ProblemDetails where problem.code == "ROLE_REQUIRED" {
            throw ProblemDetails.forbidden(
                "Anda hanya dapat mengakses data milik Anda sendiri. You can only access your own data.",
                code: "NOT_OWNER"
            )
        }
    }

    /// ``require(roles:access:)`` with `Contracts.Role` values: `try context.require(roles: [.verifier])`.
    @discardableResult
    package func require(roles: Set<Role>, access: AccessKind? = nil) throws -> Identity {
        try require(roles: Set(roles.map(\.rawValue)), access: access)
    }

    /// ``requireSelfOrRoles(nip:roles:access:)`` with `Contracts.Role` values.
    @discardableResult
    package func requireSelfOrRoles(nip: String, roles: Set<Role>, access: AccessKind? = nil) throws -> Identity {
        try requireSelfOrRoles(nip: nip, roles: Set(roles.map(\.rawValue)), access: access)
    }

    /// Read for safe methods, write otherwise (write when unknown, the safe default).
    private var inferredAccess: AccessKind {
        switch requestMethod {
        case .get?, .head?, .options?: .read
        default: .write
        }
    }
}
