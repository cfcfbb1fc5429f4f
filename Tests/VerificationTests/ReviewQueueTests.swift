import Contracts
import Database
import Eventing
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ServiceSupport
import TestSupport
import Testing

@testable import Verification

/// The review queue over HTTP on the real PostgreSQL: leases, refusals, four-eyes, appeals, audits, audit trail.
@Suite("Verification: review queue")
struct ReviewQueueTests {
    /// A submission without EXIF by Siti (DINKES): it waits for review.
    static func queued(_ pool: DatabasePool, _ submission: SubmissionReceived? = nil) async throws -> SubmissionReceived
    {
        let submission = submission ?? VF.received(photos: [VF.photo(exif: nil)])
        try await VF.check([submission], pool: pool)
        return submission
    }

    static func claim(_ client: any TestClientProtocol, _ nip: String, opd: String = "DLH", reviewId: String? = nil)
        async throws -> TestResponse
    {
        let body = reviewId.map { ByteBuffer(string: #"{"reviewId":"\#($0)"}"#) }
        return try await client.execute(
            uri: "/v1/reviews/claim", method: .post, headers: VF.headers(try await VF.token(nip, opd: opd)), body: body)
    }

    static func decide(
        _ client: any TestClientProtocol, _ nip: String, _ reviewId: String, _ decision: String,
        reason: String? = nil, note: String = "Diperiksa"
    ) async throws -> TestResponse {
        var object: [String: Any] = ["decision": decision, "note": note]
        if let reason { object["reasonCode"] = reason }
        let body = try JSONSerialization.data(withJSONObject: object)
        return try await client.execute(
            uri: "/v1/reviews/\(reviewId)/decision", method: .post, headers: VF.headers(try await VF.token(nip)),
            body: ByteBuffer(bytes: body))
    }

    static func reviewId(_ response: TestResponse) throws -> String {
        let item = try #require(try VF.json(response)["item"] as? [String: Any])
        return try #require(item["id"] as? String)
    }

    @Test("a claim takes a lease; others get 204; an expired lease returns the item; only the holder decides")
    func leaseExpiry() async throws {
        try await VF.withDatabase { pool in
            try await VF.seed(pool)
            let submission = try await Self.queued(pool)
            // Long enough that the second claim below lands inside the lease on a loaded machine (4 s expired
            // before it under the full suite), short enough to wait out.
            try await VF.withApp(pool, lease: .seconds(12)) { client in
                let claimed = try await Self.claim(client, VF.ani)
                #expect(claimed.status == .ok)
                let id = try Self.reviewId(claimed)
                let detail = try VF.json(claimed)
                let shownId = (detail["submission"] as? [String: Any])?["id"] as? String
                #expect(shownId.flatMap(UUID.init(uuidString:)) == submission.submissionId)
                #expect(((detail["checks"] as? [[String: Any]]) ?? []).count == 9)
                #expect(try await Self.claim(client, VF.dedi).status == .noContent)

                let open = await eventually(timeout: .seconds(60)) {
                    let list = try? await client.execute(
                        uri: "/v1/reviews?state=open", method: .get, headers: VF.headers(try await VF.token(VF.dedi)))
                    return ((try? VF.json(list!)["items"]) as? [Any])?.count == 1
                }
                #expect(open, "the expired lease returns the item to the open queue")
                let reclaimed = try await Self.claim(client, VF.dedi)
                #expect(reclaimed.status == .ok)
                #expect(try Self.reviewId(reclaimed) == id)
                let late = try await Self.decide(client, VF.ani, id, "approve")
                #expect(late.status == .forbidden)
                #expect(late.headers[.contentType] == "application/problem+json")
                #expect(try VF.json(late)["code"] as? String == "NOT_LEASE_HOLDER")
            }
        }
    }

    @Test("no reviewing one's own submission nor one from one's own OPD: 403 problem+json")
    func selfAndSameOPD() async throws {
        try await VF.withDatabase { pool in
            try await VF.seed(pool)
            _ = try await Self.queued(pool)
            try await VF.withApp(pool) { client in
                let listed = try await client.execute(
                    uri: "/v1/reviews?state=open", method: .get, headers: VF.headers(try await VF.token(VF.ani)))
                let items = try #require(try VF.json(listed)["items"] as? [[String: Any]])
                let id = try #require(items.first?["id"] as? String)

                let own = try await Self.claim(client, VF.siti, opd: "DINKES", reviewId: id)
                #expect(own.status == .forbidden)
                #expect(own.headers[.contentType] == "application/problem+json")
                #expect(try VF.json(own)["code"] as? String == "SELF_REVIEW")
                let sameOPD = try await Self.claim(client, VF.rina, opd: "DINKES", reviewId: id)
                #expect(sameOPD.status == .forbidden)
                #expect(try VF.json(sameOPD)["code"] as? String == "SAME_OPD")
                #expect(try await Self.claim(client, VF.rina, opd: "DINKES").status == .noContent)
                #expect(try await Self.claim(client, VF.ani).status == .ok)
            }
        }
    }

    @Test("four-eyes: a claim worth the threshold needs approvals from two different verifiers")
    func fourEyes() async throws {
        try await VF.withDatabase { pool in
            try await VF.seed(pool)
            let valuable = try await Self.queued(pool, VF.received(activity: "bank_sampah", quantity: 30))
            try await VF.withApp(pool) { client in
                let id = try Self.reviewId(try await Self.claim(client, VF.ani))
                let first = try await Self.decide(client, VF.ani, id, "approve")
                #expect(first.status == .ok)
                #expect(try VF.json(first)["outcome"] as? String == "awaiting_second_approval")
                #expect(try await VF.events(SubmissionVerified.self, pool: pool).isEmpty)
                #expect(try await Self.claim(client, VF.ani).status == .noContent)
                let again = try await Self.claim(client, VF.ani, reviewId: id)
                #expect(again.status == .forbidden)
                #expect(try VF.json(again)["code"] as? String == "FOUR_EYES")

                #expect(try Self.reviewId(try await Self.claim(client, VF.dedi)) == id)
                let second = try await Self.decide(client, VF.dedi, id, "approve")
                #expect(try VF.json(second)["outcome"] as? String == "approved")
                let verified = try await VF.events(SubmissionVerified.self, pool: pool)
                #expect(verified.map(\.submissionId) == [valuable.submissionId])
                #expect(verified.first?.decidedBy == VF.dedi && verified.first?.method == "manual")
                let assigned = try await VF.events(ReviewAssigned.self, pool: pool)
                #expect(assigned.map(\.trigger) == ["checks", "checks", "second_review", "checks"])
                #expect(assigned.map(\.reviewerNip) == [nil, VF.ani, nil, VF.dedi])
            }
        }
    }

    @Test("an appeal is decided by a verifier other than the one who rejected; a second appeal is ignored")
    func appeal() async throws {
        try await VF.withDatabase { pool in
            try await VF.seed(pool)
            let submission = try await Self.queued(pool)
            try await VF.withApp(pool) { client in
                let id = try Self.reviewId(try await Self.claim(client, VF.ani))
                let missing = try await Self.decide(client, VF.ani, id, "reject", reason: nil)
                #expect(missing.status == .badRequest)
                let rejected = try await Self.decide(client, VF.ani, id, "reject", reason: "REVIEWER_REJECTED")
                #expect(try VF.json(rejected)["outcome"] as? String == "rejected")
                let rejection = try #require(try await VF.events(SubmissionRejected.self, pool: pool).first)
                #expect(rejection.appealable == true && rejection.decidedBy == VF.ani && rejection.method == "manual")

                let appeal = AppealFiled(
                    appealId: UUID(), submissionId: submission.submissionId, nip: VF.siti, opd: "DINKES",
                    statement: "Foto diambil dengan kamera lama tanpa EXIF.", filedAt: Date(),
                    originalReasonCode: "REVIEWER_REJECTED", originalDecidedBy: VF.ani)
                let handler = AppealHandler(source: VF.source, logger: VF.logger)
                let events = [
                    try VF.inbound(appeal, from: .intake),
                    try VF.inbound(
                        AppealFiled(
                            appealId: UUID(), submissionId: submission.submissionId, nip: VF.siti, opd: "DINKES",
                            statement: "Banding kedua", filedAt: Date()), from: .intake),
                ]
                try await pool.withTransaction { try await handler.handle(events, in: $0) }

                #expect(try await Self.claim(client, VF.ani).status == .noContent)
                let listed = try await client.execute(
                    uri: "/v1/reviews?state=open", method: .get, headers: VF.headers(try await VF.token(VF.dedi)))
                let items = try #require(try VF.json(listed)["items"] as? [[String: Any]])
                #expect(items.count == 1 && items.first?["trigger"] as? String == "appeal")
                let appealId = try #require(items.first?["id"] as? String)
                let refused = try await Self.claim(client, VF.ani, reviewId: appealId)
                #expect(refused.status == .forbidden)
                #expect(try VF.json(refused)["code"] as? String == "APPEAL_SAME_VERIFIER")

                let claimed = try await Self.claim(client, VF.dedi)
                #expect(try VF.json(claimed)["appealStatement"] as? String == appeal.statement)
                let decided = try await Self.decide(client, VF.dedi, appealId, "approve")
                #expect(try VF.json(decided)["outcome"] as? String == "approved")
                let verified = try #require(try await VF.events(SubmissionVerified.self, pool: pool).first)
                #expect(verified.onAppeal == true && verified.decidedBy == VF.dedi)
            }
        }
    }

    @Test("an audit sample that a verifier rejects is revoked with submission.revoked")
    func auditRevocation() async throws {
        try await VF.withDatabase { pool in
            try await VF.seed(pool, program: VF.program(sampleRate: 1))
            let submission = VF.received()
            try await VF.check([submission], pool: pool)
            #expect(try await VF.decision(submission.submissionId, pool: pool)?.outcome == "approved")
            try await VF.withApp(pool) { client in
                let claimed = try await Self.claim(client, VF.ani)
                #expect((try VF.json(claimed)["item"] as? [String: Any])?["trigger"] as? String == "audit_sample")
                let id = try Self.reviewId(claimed)
                let decided = try await Self.decide(
                    client, VF.ani, id, "reject", reason: "OUTSIDE_GEOFENCE", note: "Foto bukan di kantor")
                #expect(try VF.json(decided)["outcome"] as? String == "revoked")
                let revoked = try await VF.events(SubmissionRevoked.self, pool: pool)
                #expect(revoked.map(\.submissionId) == [submission.submissionId])
                #expect(revoked.first?.reasonCode == "OUTSIDE_GEOFENCE" && revoked.first?.fraud == true)
                #expect(revoked.first?.decidedBy == VF.ani && revoked.first?.approvedAt != nil)

                let shown = try await client.execute(
                    uri: "/v1/decisions/\(submission.submissionId.lowercased)", method: .get,
                    headers: VF.headers(try await VF.token(VF.dedi, roles: ["auditor"])))
                #expect(try VF.json(shown)["outcome"] as? String == "revoked")
            }
        }
    }

    @Test("the audit trail lists every check and decision for auditors and verifiers, and cannot be changed")
    func auditTrail() async throws {
        try await VF.withDatabase { pool in
            try await VF.seed(pool)
            let start = Date().addingTimeInterval(-1)
            let submission = try await Self.queued(pool)
            try await VF.withApp(pool) { client in
                let id = try Self.reviewId(try await Self.claim(client, VF.ani))
                _ = try await Self.decide(client, VF.ani, id, "approve", note: "Foto jelas")
                let auditor = VF.headers(try await VF.token(VF.dedi, roles: ["auditor"]))
                let bySubmission = try await client.execute(
                    uri: "/v1/audit?submission=\(submission.submissionId.lowercased)", method: .get, headers: auditor)
                #expect(bySubmission.status == .ok)
                let entries = try #require(try VF.json(bySubmission)["entries"] as? [[String: Any]])
                #expect(
                    entries.map { $0["kind"] as? String } == [
                        "checks", "review.enqueued", "decision", "review.claimed", "decision",
                    ])
                #expect(entries.last?["actor"] as? String == VF.ani && entries.last?["result"] as? String == "approved")

                let since = try await client.execute(
                    uri: "/v1/audit?since=\(RFC3339.format(start))&limit=2", method: .get, headers: auditor)
                let page = try VF.json(since)
                #expect((page["entries"] as? [Any])?.count == 2 && page["next"] != nil)

                let asn = try await client.execute(
                    uri: "/v1/audit?since=\(RFC3339.format(start))", method: .get,
                    headers: VF.headers(try await VF.token(VF.budi, opd: "DISDIK", roles: ["asn"])))
                #expect(asn.status == .forbidden)
                let auditorClaim = try await client.execute(
                    uri: "/v1/reviews/claim", method: .post, headers: auditor)
                #expect(auditorClaim.status == .forbidden)
                #expect(try VF.json(auditorClaim)["code"] as? String == "READ_ONLY_ROLE")
            }
            await #expect(throws: DatabaseError.self) {
                try await pool.withConnection { try await $0.query("UPDATE audit_trail SET actor = 'x'") }
            }
            await #expect(throws: DatabaseError.self) {
                try await pool.withConnection { try await $0.query("DELETE FROM audit_trail") }
            }
        }
    }

    @Test("the holder may release an item back to the queue; nobody else may")
    func release() async throws {
        try await VF.withDatabase { pool in
            try await VF.seed(pool)
            _ = try await Self.queued(pool)
            try await VF.withApp(pool) { client in
                let id = try Self.reviewId(try await Self.claim(client, VF.ani))
                let stranger = try await client.execute(
                    uri: "/v1/reviews/\(id)/release", method: .post, headers: VF.headers(try await VF.token(VF.dedi)))
                #expect(stranger.status == .forbidden)
                let released = try await client.execute(
                    uri: "/v1/reviews/\(id)/release", method: .post, headers: VF.headers(try await VF.token(VF.ani)))
                #expect(released.status == .noContent)
                let list = try await client.execute(
                    uri: "/v1/reviews?state=open", method: .get, headers: VF.headers(try await VF.token(VF.dedi)))
                let body = try VF.json(list)
                #expect((body["counts"] as? [String: Any])?["open"] as? Int == 1)
                #expect(try Self.reviewId(try await Self.claim(client, VF.dedi)) == id)
            }
        }
    }

    @Test("the evidence proxy passes on only photos it checked, and says so when intake is not configured")
    func evidenceProxyRefusals() async throws {
        try await VF.withDatabase { pool in
            try await VF.seed(pool)
            let submission = try await Self.queued(pool)
            let known = try #require(submission.evidence.first?.sha256)
            let unknown = String(repeating: "ab", count: 32)
            let headers = VF.headers(try await VF.token(VF.ani))
            try await VF.withApp(pool, intakeURL: URL(string: "http://127.0.0.1:9")) { client in
                let missing = try await client.execute(uri: "/v1/evidence/\(unknown)", method: .get, headers: headers)
                #expect(missing.status == .notFound)
                #expect(try VF.json(missing)["code"] as? String == "EVIDENCE_NOT_FOUND")
                // Port 9 (discard) refuses connections: intake unreachable is a 502, not a 500.
                let unreachable = try await client.execute(uri: "/v1/evidence/\(known)", method: .get, headers: headers)
                #expect(unreachable.status == .badGateway)
                let asn = try await client.execute(
                    uri: "/v1/evidence/\(known)", method: .get,
                    headers: VF.headers(try await VF.token(VF.budi, opd: "DISDIK", roles: ["asn"])))
                #expect(asn.status == .forbidden)
            }
            try await VF.withApp(pool, intakeURL: nil) { client in
                let unconfigured = try await client.execute(
                    uri: "/v1/evidence/\(known)", method: .get, headers: headers)
                #expect(unconfigured.status == .serviceUnavailable)
            }
        }
    }
}
