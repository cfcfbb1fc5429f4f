import Database
import Foundation
import Messaging

/// The files bundled with the intake executable: migrations, the OpenAPI document and the upload page.
package enum IntakeResources {
    /// Intake's own migrations (`Migrations/*.sql`), without the shared outbox/inbox schema.
    package static func migrations() throws -> [Migration] {
        guard let directory = Bundle.module.url(forResource: "Migrations", withExtension: nil) else { return [] }
        return try MigrationRunner.load(directory: directory)
    }

    /// Everything the intake database needs, in order: the shared outbox/inbox schema, then intake's own files.
    package static func allMigrations() throws -> [Migration] {
        MessagingSchema.migrations + (try migrations())
    }

    /// The OpenAPI 3.1 document served at `/openapi.yaml`.
    package static func openAPIDocument() throws -> String {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml") else { return "" }
        return try String(contentsOf: url, encoding: .utf8)
    }

    /// The directory of the upload page.
    package static var publicDirectory: URL? {
        Bundle.module.url(forResource: "Public", withExtension: nil)
    }
}
