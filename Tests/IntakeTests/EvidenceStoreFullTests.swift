import Database
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import ServiceSupport
import Synchronization
import Testing

@testable import Intake

#if canImport(Glibc)
    import Glibc
#endif

/// A full evidence store (found by `deploy/dev chaos`: intake answered 500 "unexpected error" while its disk was
/// full) is an outage to wait out: 503 with `Retry-After`, nothing stored, and the same request succeeds later.
@Suite("Intake: a full evidence store", .serialized)
struct EvidenceStoreFullTests {
    typealias F = IntakeFixture

    /// Refuses to store with ENOSPC while `full`, then stores in memory.
    final class FillableStore: EvidenceStore {
        let full = Mutex(true)
        let memory = InMemoryEvidenceStore()

        func store(_ bytes: ByteBuffer, sha256: String) async throws {
            if full.withLock({ $0 }) {
                throw EvidenceStoreError("cannot write evidence (errno \(ENOSPC))", code: ENOSPC)
            }
            try await memory.store(bytes, sha256: sha256)
        }
        func load(sha256: String) async throws -> ByteBuffer? { try await memory.load(sha256: sha256) }
        func keys(storedBefore cutoff: Date) async throws -> [String] { try await memory.keys(storedBefore: cutoff) }
        func remove(sha256: String, ifStoredBefore cutoff: Date) async throws -> Bool {
            try await memory.remove(sha256: sha256, ifStoredBefore: cutoff)
        }
    }

    @Test("ENOSPC answers 503 problem+json with Retry-After and stores nothing; the retry is accepted")
    func fullDisk() async throws {
        let fillable = FillableStore()
        try await F.withIntakeApp(evidenceStore: fillable) {
            (client: any TestClientProtocol, pool: DatabasePool, store: FillableStore, _: SubmissionStore) in
            let token = try await F.token()
            let body = F.body()
            let refused = try await client.execute(
                uri: "/v1/submissions", method: .post, headers: F.headers(token: token, idempotencyKey: "full-1"),
                body: body)
            #expect(refused.status == .serviceUnavailable)
            #expect(refused.headers[.contentType] == ProblemDetails.mediaType)
            #expect(
                refused.headers[.retryAfter] == String(SubmissionRoutes<FillableStore>.evidenceFullRetryAfterSeconds))
            #expect(try await count(pool, "submissions") == 0)
            #expect(try await count(pool, "outbox") == 0)

            store.full.withLock { $0 = false }
            let accepted = try await client.execute(
                uri: "/v1/submissions", method: .post, headers: F.headers(token: token, idempotencyKey: "full-1"),
                body: body)
            #expect(accepted.status == .accepted)
            #expect(try await count(pool, "submissions") == 1)
        }
    }

    @Test("other evidence store failures are not called a full disk")
    func otherFailures() {
        #expect(EvidenceStoreError("x", code: ENOSPC).isOutOfSpace)
        #expect(EvidenceStoreError("x", code: EDQUOT).isOutOfSpace)
        #expect(!EvidenceStoreError("x", code: EIO).isOutOfSpace)
        #expect(!EvidenceStoreError("invalid evidence key").isOutOfSpace)
    }
}
