import Contracts
import Foundation
import Testing

@Suite("Event catalogue and JSON rules")
struct EventCatalogTests {
    @Test func catalogHasAllSixteenEventsOfTheDesign() {
        let expected: Set = [
            "submission.received", "submission.verified", "submission.rejected", "submission.revoked",
            "review.assigned", "appeal.filed", "points.awarded", "points.reversed", "penalty.applied",
            "ranking.published", "award.granted", "commitment.evaluated", "sanction.imposed", "program.published",
            "asn.enrolled", "asn.updated",
        ]
        #expect(EventCatalog.all.count == 16)
        #expect(Set(EventCatalog.routingKeys) == expected)
        #expect(Set(EventCatalog.all.map { $0.eventType }).count == 16)
        for type in EventCatalog.all {
            #expect(type.version == 1)
            #expect(EventCatalog.isKnown(type: type.eventType))
            #expect(EventCatalog.parse(type: type.eventType)! == (type.eventName, 1))
        }
        // Every event has a sample, so the round-trip test covers the whole catalogue.
        #expect(Set(Samples.all.map { type(of: $0).eventName }) == expected)
    }

    @Test func parseType() {
        #expect(EventCatalog.parse(type: "id.asnreward.points.awarded.v12")! == ("points.awarded", 12))
        #expect(EventCatalog.parse(type: "id.asnreward.points.awarded") == nil)
        #expect(EventCatalog.parse(type: "com.example.points.awarded.v1") == nil)
        #expect(EventCatalog.parse(type: "id.asnreward.points.awarded.v0") == nil)
    }

    @Test func confidentialEventsStayOffPublicChannels() {
        let confidential = Set(EventCatalog.all.filter { $0.isConfidential }.map { $0.eventName })
        #expect(confidential.isSuperset(of: ["penalty.applied", "sanction.imposed", "asn.enrolled", "asn.updated"]))
        #expect(!confidential.contains("ranking.published"))
        #expect(!confidential.contains("points.awarded"))
    }

    @Test func jsonIsSortedCamelCaseWithLowercaseUUIDsAndRFC3339Times() throws {
        let json = String(decoding: try ContractsJSON.encode(Samples.received), as: UTF8.self)
        #expect(json.contains(#""submissionId":"6f1c2e9a-3b4d-4e5f-8a7b-1c2d3e4f5a6b""#))
        #expect(!json.contains("6F1C2E9A"))
        #expect(json.contains(#""submittedAt":"2026-03-14T02:00:00.123456Z""#))
        #expect(json.contains(#""activityAt":"2026-03-14T01:30:00.000000Z""#))
        #expect(json.contains(#""capturedAt":"2026-03-14T01:29:00.000000Z""#))
        #expect(json.hasPrefix(#"{"activity":"bank_sampah","activityAt""#))
        #expect(!json.contains("\\/"))
        // Stable output: encoding twice gives the same bytes.
        #expect(try ContractsJSON.encode(Samples.received) == ContractsJSON.encode(Samples.received))
    }

    @Test func optionalUUIDsAreLowercaseToo() throws {
        let penalty = try #require(Samples.all.first { $0 is PenaltyApplied } as? PenaltyApplied)
        let json = String(decoding: try ContractsJSON.encode(penalty), as: UTF8.self)
        #expect(json.contains(#""submissionId":"6f1c2e9a-3b4d-4e5f-8a7b-1c2d3e4f5a6b""#))
        #expect(json.contains(#""entryId":"\#(penalty.entryId.uuidString.lowercased())""#))
    }

    @Test func absentOptionalFieldsDecode() throws {
        let json = #"""
            {"entryId":"0a1b2c3d-4e5f-4061-8273-94a5b6c7d8e9","reversesEntryId":"0A1B2C3D-4E5F-4061-8273-94A5B6C7D8E9",
             "submissionId":"6f1c2e9a-3b4d-4e5f-8a7b-1c2d3e4f5a6b","nip":"198503152010011001","points":-15,
             "reason":"Koreksi"}
            """#
        let payload = try ContractsJSON.decode(PointsReversed.self, from: Data(json.utf8))
        #expect(payload.points == -15)
        #expect(payload.period == nil)
        #expect(payload.reversesEntryId == Samples.entryId)
    }

    @Test func missingRequiredFieldNamesTheField() throws {
        let error = try #require(throws: ContractError.self) {
            try ContractsJSON.decode(PointsAwarded.self, from: Data(#"{"nip":"198503152010011001"}"#.utf8))
        }
        #expect(error.code == .invalidData)
        #expect(error.message.contains("missing field"))
    }

    @Test func reasonCodesHaveTextsInBothLanguages() {
        #expect(
            Set(ReasonCode.allCases.map(\.rawValue)) == [
                "DUPLICATE_EVIDENCE", "NEAR_DUPLICATE_EVIDENCE", "CAPTURE_OUTSIDE_WINDOW", "NO_CAPTURE_METADATA",
                "OUTSIDE_GEOFENCE", "DAILY_CAP", "FUTURE_DATE", "IMPLAUSIBLE_QUANTITY", "EARNING_BANNED",
                "REVIEWER_REJECTED",
            ]
        )
        for code in ReasonCode.allCases {
            #expect(code.indonesianText.count > 20 && code.indonesianText.hasSuffix("."))
            #expect(code.englishText.count > 20 && code.englishText.hasSuffix("."))
            #expect(code.indonesianText != code.englishText)
        }
        #expect(Set(ReasonCode.allCases.map(\.indonesianText)).count == ReasonCode.allCases.count)
    }

    @Test func rolesMatchTheTokenClaims() throws {
        #expect(
            Role.allCases.map(\.rawValue) == ["asn", "verifier", "scoring-admin", "auditor", "opd-head", "dashboard", "operator"])
        #expect(try ContractsJSON.decode([Role].self, from: Data(#"["scoring-admin"]"#.utf8)) == [.scoringAdmin])
    }

    @Test func geoDistance() {
        // Semarang city hall to Tugu Muda: about 1.1 km.
        let balaikota = GeoPoint(latitude: -6.9845, longitude: 110.4091)
        let tuguMuda = GeoPoint(latitude: -6.9840, longitude: 110.4094 - 0.0100)
        let distance = balaikota.distance(to: tuguMuda)
        #expect(distance > 1_000 && distance < 1_200)
        #expect(balaikota.distance(to: balaikota) == 0)
        #expect(!GeoPoint(latitude: 91, longitude: 0).isValid)
    }
}
