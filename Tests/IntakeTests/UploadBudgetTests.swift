import Database
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import ServiceSupport
import Testing

@testable import Intake

/// The in-flight upload memory budget: uploads beyond it get 503 + `Retry-After`, and every request gives its
/// reservation back.
@Suite("Upload memory budget")
struct UploadBudgetTests {
    typealias F = IntakeFixture

    @Test("with one upload holding the budget, concurrent uploads get 503 + Retry-After; afterwards the budget is back")
    func refusesBeyondBudget() async throws {
        let photo = F.jpeg(padding: 48 * 1024)
        let size = F.body(photos: [photo]).readableBytes
        // Room for one upload of this size, not two.
        let budget = UploadMemoryBudget(limitBytes: size + size / 2)
        let store = GatedEvidenceStore()
        try await F.withIntakeApp(evidenceStore: store, uploadBudget: budget) { client, pool, store, _ in
            let token = try await F.token()
            async let first = client.execute(
                uri: "/v1/submissions", method: .post, headers: F.headers(token: token), body: F.body(photos: [photo]))
            // The first upload is inside the handler, holding its reservation, until the gate opens.
            await store.waitUntilEntered()
            #expect(budget.reservedBytes == size)

            let refused = try await withThrowingTaskGroup(of: TestResponse.self) { group in
                for _ in 0..<3 {
                    group.addTask {
                        try await client.execute(
                            uri: "/v1/submissions", method: .post, headers: F.headers(token: token),
                            body: F.body(photos: [F.jpeg(padding: 48 * 1024)]))
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            for response in refused {
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] == "2")
                #expect(response.headers[.contentType] == ProblemDetails.mediaType)
                #expect(try JSONBody(response).string("code") == "SERVICE_UNAVAILABLE")
            }

            await store.open()
            #expect(try await first.status == .accepted)
            #expect(budget.reservedBytes == 0)
            #expect(try await count(pool, "submissions") == 1)

            // Refused requests and failed ones give their reservation back too.
            let fake = try await client.execute(
                uri: "/v1/submissions", method: .post, headers: F.headers(token: token),
                body: F.body(photos: [Array("bukan foto".utf8)]))
            #expect(fake.status == .unsupportedMediaType)
            #expect(budget.reservedBytes == 0)

            let later = try await client.execute(
                uri: "/v1/submissions", method: .post, headers: F.headers(token: token), body: F.body(photos: [photo]))
            #expect(later.status == .accepted)
            #expect(budget.reservedBytes == 0)
        }
    }

    @Test("an upload larger than the whole budget is refused with 503, one over the body limit with 413")
    func largerThanBudget() async throws {
        let budget = UploadMemoryBudget(limitBytes: 1024)
        try await F.withIntakeApp(evidenceStore: InMemoryEvidenceStore(), uploadBudget: budget) { client, _, _, _ in
            let token = try await F.token()
            let response = try await client.execute(
                uri: "/v1/submissions", method: .post, headers: F.headers(token: token),
                body: F.body(photos: [F.jpeg(padding: 4096)]))
            #expect(response.status == .serviceUnavailable)
            #expect(response.headers[.retryAfter] != nil)

            let photos = (0..<4).map { _ in F.jpeg(padding: 4 * 1024 * 1024 + 512 * 1024) }
            let tooLarge = try await client.execute(
                uri: "/v1/submissions", method: .post, headers: F.headers(token: token), body: F.body(photos: photos))
            #expect(tooLarge.status == .contentTooLarge)
            #expect(budget.reservedBytes == 0)
        }
    }

    @Test(
        "over a real HTTP connection a refused upload is answered 503 without reading its body, and the server goes on")
    func refusedOverHTTP() async throws {
        let budget = UploadMemoryBudget(limitBytes: 1024)
        try await F.withIntakeApp(evidenceStore: InMemoryEvidenceStore(), uploadBudget: budget, testing: .live) {
            client, _, _, _ in
            let token = try await F.token()
            let body = F.body(photos: [F.jpeg(padding: 2 * 1024 * 1024)])
            for _ in 0..<3 {
                let refused = try await client.execute(
                    uri: "/v1/submissions", method: .post, headers: F.headers(token: token), body: body)
                #expect(refused.status == .serviceUnavailable)
                #expect(refused.headers[.retryAfter] == "2")
            }
            let live = try await client.execute(uri: "/health/live", method: .get)
            #expect(live.status == .ok)
            #expect(budget.reservedBytes == 0)
        }
    }

    @Test("the budget reserves and releases exactly")
    func accounting() {
        let budget = UploadMemoryBudget(limitBytes: 100)
        #expect(budget.reserve(60))
        #expect(!budget.reserve(41))
        #expect(budget.reserve(40))
        #expect(budget.reservedBytes == 100)
        budget.release(60)
        budget.release(40)
        #expect(budget.reservedBytes == 0)
        #expect(!budget.reserve(101))
    }
}

/// An in-memory evidence store whose `store` waits until the test opens it, so a request can be held mid-flight.
final class GatedEvidenceStore: EvidenceStore {
    private let inner = InMemoryEvidenceStore()
    private let state = Gate()

    func store(_ bytes: ByteBuffer, sha256: String) async throws {
        await state.enterAndWait()
        try await inner.store(bytes, sha256: sha256)
    }

    func load(sha256: String) async throws -> ByteBuffer? { try await inner.load(sha256: sha256) }
    func keys(storedBefore cutoff: Date) async throws -> [String] { try await inner.keys(storedBefore: cutoff) }
    func remove(sha256: String, ifStoredBefore cutoff: Date) async throws -> Bool {
        try await inner.remove(sha256: sha256, ifStoredBefore: cutoff)
    }

    /// Returns once a request is waiting in `store`.
    func waitUntilEntered() async { await state.waitUntilEntered() }
    /// Lets every waiting and later `store` through.
    func open() async { await state.open() }

    private actor Gate {
        var isOpen = false
        var entered = false
        var waiting: [CheckedContinuation<Void, Never>] = []
        var enteredWaiters: [CheckedContinuation<Void, Never>] = []

        func enterAndWait() async {
            entered = true
            for waiter in enteredWaiters { waiter.resume() }
            enteredWaiters = []
            if isOpen { return }
            await withCheckedContinuation { waiting.append($0) }
        }

        func waitUntilEntered() async {
            if entered { return }
            await withCheckedContinuation { enteredWaiters.append($0) }
        }

        func open() {
            isOpen = true
            for waiter in waiting { waiter.resume() }
            waiting = []
        }
    }
}
