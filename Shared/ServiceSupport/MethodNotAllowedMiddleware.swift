import HTTPTypes
import Hummingbird
import Synchronization

/// Answers 405 Method Not Allowed, with `Allow`, for a path the router knows under other methods (RFC 9110 §15.5.6),
/// where the router alone would answer 404. Sits inside ``ProblemMiddleware``, which turns it into problem+json.
package struct MethodNotAllowedMiddleware<Context: RequestContext>: RouterMiddleware {
    /// The routes, filled in once the router holds all of them (``ServiceApp/buildRouter()``).
    package let table: RouteTable

    /// Creates the middleware over `table`.
    package init(table: RouteTable) { self.table = table }

    /// Runs the chain; turns a 404 for a known path into 405.
    package func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            let allowed = table.methods(for: request.uri.path)
            guard !allowed.isEmpty, !allowed.contains(request.method) else { throw error }
            var headers = HTTPFields()
            headers[.allow] = allowed.map(\.rawValue).sorted().joined(separator: ", ")
            throw HTTPError(.methodNotAllowed, headers: headers, message: "Metode \(request.method) tidak didukung.")
        }
    }
}

/// The router's routes as path patterns with their methods, for ``MethodNotAllowedMiddleware``.
package final class RouteTable: Sendable {
    private let routes = Mutex<[(pattern: [Substring], method: HTTPRequest.Method)]>([])

    /// Creates an empty table.
    package init() {}

    /// Replaces the table with `routes` (Hummingbird's `Router.routes`).
    package func fill(_ routes: [(path: String, method: HTTPRequest.Method)]) {
        let patterns = routes.map { (pattern: $0.path.split(separator: "/"), method: $0.method) }
        self.routes.withLock { $0 = patterns }
    }

    /// The methods registered for a path matching `path` (`GET` also allows `HEAD`).
    package func methods(for path: String) -> Set<HTTPRequest.Method> {
        let segments = path.split(separator: "/")
        var methods = routes.withLock { routes in
            Set(routes.filter { Self.matches($0.pattern, segments) }.map(\.method))
        }
        if methods.contains(.get) { methods.insert(.head) }
        return methods
    }

    private static func matches(_ pattern: [Substring], _ segments: [Substring]) -> Bool {
        for (index, element) in pattern.enumerated() {
            if element == "**" { return true }
            guard index < segments.count else { return false }
            let isCapture = element.first == ":" || element.contains("{") || element.contains("*")
            if !isCapture && element != segments[index] { return false }
        }
        return pattern.count == segments.count
    }
}
