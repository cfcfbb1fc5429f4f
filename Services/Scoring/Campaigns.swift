import Contracts
import Database
import Foundation

/// Campaign multipliers (`campaigns`): created by BKPP, read by the rules for each batch.
enum Campaigns {
    static let columns = """
        id, name, multiplier::float8 AS multiplier, COALESCE(activities, '{}') AS activities, program, starts_at,
        ends_at
        """

    static func campaign(_ row: PostgresRow) throws -> Campaign {
        let activities: [String] = try row.decode("activities")
        return Campaign(
            id: try row.decode("id"), name: try row.decode("name"), multiplier: try row.decode("multiplier"),
            activities: activities.isEmpty ? nil : activities, program: try row.decode("program", as: String?.self),
            startsAt: try row.decode("starts_at"), endsAt: try row.decode("ends_at"))
    }

    /// Stores a campaign.
    static func create(_ campaign: Campaign, by creator: String, in connection: DatabaseConnection) async throws {
        try await connection.query(
            """
            INSERT INTO campaigns (id, name, multiplier, activities, program, starts_at, ends_at, created_by)
            VALUES (\(campaign.id), \(campaign.name), \(campaign.multiplier)::numeric,
                    NULLIF(\(campaign.activities ?? [])::text[], '{}'), \(campaign.program), \(campaign.startsAt),
                    \(campaign.endsAt), \(creator))
            """
        )
    }

    /// Every campaign with the time it was created (the recompute applies a campaign only to decisions applied
    /// after that, as the consumer did).
    static func allWithCreation(in connection: DatabaseConnection) async throws -> [(
        campaign: Campaign, createdAt: Date
    )] {
        try await connection.query(
            "SELECT \(unsafeSQL: columns), created_at FROM campaigns ORDER BY starts_at DESC, name"
        ).map { (try campaign($0), try $0.decode("created_at", as: Date.self)) }
    }

    /// Every campaign, latest start first.
    static func all(in connection: DatabaseConnection) async throws -> [Campaign] {
        try await allWithCreation(in: connection).map(\.campaign)
    }
}
