import Foundation
import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle
import UnixSignals

/// Everything a service runs, assembled the same way in all four services.
///
/// A service's `main` reads its configuration, builds its long-lived services (pool, relay, consumers) and its
/// routes, and hands them here:
/// ```swift
/// let configuration = try ServiceConfiguration.fromEnvironment(serviceName: "intake")
/// Observability.bootstrap(configuration: configuration)
/// let logger = Observability.logger(service: "intake", logLevel: configuration.logLevel)
/// let routes = RouteCollection(context: AuthenticatedRequestContext.self)
/// routes.post("/v1/submissions") { request, context in … }
/// try await ServiceApp(
///     configuration: configuration, logger: logger, routes: routes,
///     services: [pool, relay, consumer],
///     readinessChecks: ["database": { await pool.ping() }, "broker": { await publisher.isConnected }],
///     openAPIDocument: openAPI, publicDirectory: Bundle.module.url(forResource: "Public", withExtension: nil)
/// ).run()
/// ```
/// The router gets, outermost first: request metrics → problem+json for every error → bearer-token check on
/// `/v1` → static files from `publicDirectory` (`/` serves `index.html`; `..` is refused) → routes. Built-in public
/// routes: `/health/live`, `/health/ready`, `/metrics`, `/openapi.yaml`.
///
/// ``run()`` runs `services` and then the HTTP server in one `ServiceGroup`: started in that order, shut down in
/// reverse on SIGTERM/SIGINT (HTTP stops taking requests first, the pool closes last), with a bounded grace period.
package struct ServiceApp {
    /// The service's configuration (address, JWT keys, log level).
    package var configuration: ServiceConfiguration
    /// The application logger.
    package var logger: Logger
    /// The service's own routes, added after the shared middleware.
    package var routes: RouteCollection<AuthenticatedRequestContext>
    /// Long-lived services started before HTTP and stopped after it (pool, relay, consumers).
    package var services: [any Service]
    /// Named readiness checks for `/health/ready`.
    package var readinessChecks: [String: @Sendable () async -> Bool]
    /// Checks `/health/ready` reports without making the service unready (see ``HealthRoutes/advisoryChecks``).
    package var advisoryChecks: [String: @Sendable () async -> Bool]
    /// The OpenAPI 3.1 document served at `/openapi.yaml`.
    package var openAPIDocument: String
    /// Directory of static web pages served at `/`, if any.
    package var publicDirectory: URL?
    /// Registry rendered at `/metrics` and used for request metrics.
    package var metricsRegistry: PrometheusCollectorRegistry
    /// Path prefixes that need a bearer token.
    package var protectedPrefixes: [String]
    /// How long graceful shutdown may take before the group is cancelled.
    package var shutdownGracePeriod: Duration

    /// Collects the parts of the application.
    package init(
        configuration: ServiceConfiguration,
        logger: Logger,
        routes: RouteCollection<AuthenticatedRequestContext>,
        services: [any Service] = [],
        readinessChecks: [String: @Sendable () async -> Bool] = [:],
        advisoryChecks: [String: @Sendable () async -> Bool] = [:],
        openAPIDocument: String,
        publicDirectory: URL? = nil,
        metricsRegistry: PrometheusCollectorRegistry = PrometheusMetricsFactory.defaultRegistry,
        protectedPrefixes: [String] = ["/v1"],
        shutdownGracePeriod: Duration = .seconds(30)
    ) {
        self.configuration = configuration
        self.logger = logger
        self.routes = routes
        self.services = services
        self.readinessChecks = readinessChecks
        self.advisoryChecks = advisoryChecks
        self.openAPIDocument = openAPIDocument
        self.publicDirectory = publicDirectory
        self.metricsRegistry = metricsRegistry
        self.protectedPrefixes = protectedPrefixes
        self.shutdownGracePeriod = shutdownGracePeriod
    }

    /// Builds the router with the shared middleware and routes followed by the service's routes.
    package func buildRouter() async throws -> Router<AuthenticatedRequestContext> {
        let authenticator = try await JWTAuthenticator(settings: configuration.jwt)
        let router = Router(context: AuthenticatedRequestContext.self)
        router.add(middleware: HTTPMetricsMiddleware(registry: metricsRegistry))
        router.add(middleware: SecurityHeadersMiddleware())
        router.add(middleware: ProblemMiddleware())
        let routeTable = RouteTable()
        router.add(middleware: MethodNotAllowedMiddleware(table: routeTable))
        router.add(
            middleware: AuthMiddleware(
                authenticator: authenticator,
                protectedPrefixes: protectedPrefixes,
                allowQueryTokenForEventStream: configuration.jwt.allowQueryTokenForEventStream
            )
        )
        if let publicDirectory {
            router.add(
                middleware: PublicFilesMiddleware(
                    files: FileMiddleware(
                        publicDirectory.path,
                        cacheControl: .init([(.textHtml, [.noCache])]),
                        searchForIndexHtml: true,
                        logger: logger
                    )
                )
            )
        }

        HealthRoutes(readinessChecks: readinessChecks, advisoryChecks: advisoryChecks).add(to: router)
        let registry = metricsRegistry
        router.get("/metrics") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            headers[.cacheControl] = "no-store"
            return Response(
                status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        let document = openAPIDocument
        router.get("/openapi.yaml") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "application/yaml; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: document)))
        }
        router.addRoutes(routes)
        routeTable.fill(router.routes.map { (path: $0.path.description, method: $0.method) })
        return router
    }

    /// The Hummingbird application bound to the configured address; tests use `app.test(.router)`.
    package func buildApplication() async throws -> some ApplicationProtocol {
        let router = try await buildRouter()
        return Application(
            router: router,
            configuration: .init(
                address: .hostname(configuration.httpHost, port: configuration.httpPort),
                serverName: nil
            ),
            logger: logger
        )
    }

    /// Runs `services` and the HTTP server in one `ServiceGroup` until SIGTERM/SIGINT or a failure.
    package func run() async throws {
        let application = try await buildApplication()
        var groupConfiguration = ServiceGroupConfiguration(
            services: services.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) }
                + [ServiceGroupConfiguration.ServiceConfiguration(service: application)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        )
        groupConfiguration.maximumGracefulShutdownDuration = shutdownGracePeriod
        logger.info(
            "Layanan dimulai",
            metadata: [
                "configuration": .string(configuration.description),
                "http.address": .string("\(configuration.httpHost):\(configuration.httpPort)"),
            ]
        )
        try await ServiceGroup(configuration: groupConfiguration).run()
        logger.info("Layanan berhenti")
    }
}

/// Adds `X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer` to every response.
package struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Creates the middleware.
    package init() {}

    /// Adds the headers to the response of the rest of the chain.
    package func handle(
        _ request: Request,
        context: Context,
        next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var response = try await next(request, context)
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.init("Referrer-Policy")!] = "no-referrer"
        return response
    }
}
