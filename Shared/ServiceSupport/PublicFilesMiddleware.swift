import Foundation
import Hummingbird

/// Serves the service's public pages (`FileMiddleware`) for requests no route answered, except for paths that
/// hold `..` or are not valid percent-encoding: no file can be served for those, and `FileMiddleware` would turn
/// the route's own answer (the 404 of `GET /v1/evidence/0..0`) into an undocumented 400. Such requests keep the
/// answer of the routes.
struct PublicFilesMiddleware<Context: RequestContext>: RouterMiddleware {
    let files: FileMiddleware<Context, LocalFileSystem>

    func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        guard let path = request.uri.path.removingPercentEncoding, !path.contains("..") else {
            return try await next(request, context)
        }
        return try await files.handle(request, context: context, next: next)
    }
}
