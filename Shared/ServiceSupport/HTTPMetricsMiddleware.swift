import Hummingbird
import Prometheus

/// Counts requests and measures their duration, by route template, method and status:
/// `http_requests_total{route,method,status}` and `http_request_duration_seconds{route,method,status}`.
///
/// The route is the router's template (`/v1/submissions/{id}`), never the raw path, so labels stay bounded;
/// unmatched requests are labelled `NotFound`, static files `FileMiddleware`. Place it outermost so it sees the
/// final status after ``ProblemMiddleware``.
package struct HTTPMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Registry the metrics are created in.
    private let registry: PrometheusCollectorRegistry

    /// `http_requests_total`.
    private static var requests: MetricNameDescriptor {
        MetricNameDescriptor(metricName: "http_requests", unitName: "total", helpText: "HTTP requests served")
    }
    /// `http_request_duration_seconds`.
    private static var duration: MetricNameDescriptor {
        MetricNameDescriptor(
            metricName: "http_request_duration", unitName: "seconds", helpText: "HTTP request duration")
    }

    /// Histogram buckets, 5 ms to 10 s.
    private static var buckets: [Duration] {
        [
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
        ]
    }

    /// Creates the middleware recording into `registry`.
    package init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    /// Times the rest of the chain.
    package func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            record(request: request, context: context, status: response.status.code, since: start)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status.code ?? 500
            record(request: request, context: context, status: status, since: start)
            throw error
        }
    }

    /// Records one finished request.
    private func record(request: Request, context: Context, status: Int, since start: ContinuousClock.Instant) {
        let labels = [
            ("route", context.endpointPath ?? "NotFound"),
            ("method", request.method.rawValue),
            ("status", String(status)),
        ]
        registry.makeCounter(descriptor: Self.requests, labels: labels).increment()
        registry.makeDurationHistogram(descriptor: Self.duration, labels: labels, buckets: Self.buckets)
            .record(ContinuousClock.now - start)
    }
}
