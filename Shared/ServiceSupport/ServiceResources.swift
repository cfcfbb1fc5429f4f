import Database
import Eventing
import Foundation

/// The files every service bundles (Package.swift's `service(…)` declares them): ordered `Migrations/*.sql`,
/// `openapi.yaml`, and `Public/` web pages where the service has any.
///
/// ```swift
/// let resources = ServiceResources(bundle: .module)
/// let backbone = try EventBackbone(…, migrations: try resources.migrations(), …)
/// ServiceApp(…, openAPIDocument: try resources.openAPIDocument(), publicDirectory: resources.publicDirectory)
/// ```
package struct ServiceResources: @unchecked Sendable {
    // @unchecked: Bundle is immutable after loading; only its read-only lookups are used.
    /// The service module's resource bundle (`Bundle.module` of the executable target).
    package let bundle: Bundle

    /// Wraps a service's resource bundle.
    package init(bundle: Bundle) {
        self.bundle = bundle
    }

    /// The service's own migrations, sorted by file name (without the shared outbox/inbox schema, which
    /// ``EventBackbone`` prepends).
    package func migrations() throws -> [Migration] {
        guard let directory = bundle.url(forResource: "Migrations", withExtension: nil) else { return [] }
        return try MigrationRunner.load(directory: directory)
    }

    /// Everything the service's database needs, in order: the shared outbox/inbox schema, then its own files.
    /// Tests create their databases from this.
    package func allMigrations() throws -> [Migration] {
        MessagingSchema.migrations + (try migrations())
    }

    /// The OpenAPI 3.1 document served at `/openapi.yaml`.
    package func openAPIDocument() throws -> String {
        guard let url = bundle.url(forResource: "openapi", withExtension: "yaml") else {
            throw ResourceError(name: "openapi.yaml")
        }
        return try String(contentsOf: url, encoding: .utf8)
    }

    /// The directory of the service's web pages, if it has one.
    package var publicDirectory: URL? {
        bundle.url(forResource: "Public", withExtension: nil)
    }

    /// A bundled resource is missing (the executable was copied without its `.resources` directory).
    package struct ResourceError: Error, CustomStringConvertible {
        package var name: String
        package var description: String {
            "resource \(name) is missing next to the executable (copy the <package>_<target>.resources directory too)"
        }
    }
}
