import Foundation
import Testing

@testable import Intake

/// The directory evidence store: content-addressed, sharded, idempotent.
@Suite("Directory evidence store")
struct EvidenceStoreTests {
    @Test("stores under ab/cd/<sha256>, reads back, and storing again is a no-op")
    func roundTrip() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("intake-blobs-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let store = try DirectoryEvidenceStore(root: root)
        let bytes = IntakeFixture.jpeg()
        let sha = EvidenceHash.sha256(bytes)
        try await store.store(bytes, sha256: sha)
        try await store.store(bytes, sha256: sha)
        let path = root.appendingPathComponent(String(sha.prefix(2)))
            .appendingPathComponent(String(sha.dropFirst(2).prefix(2))).appendingPathComponent(sha)
        #expect(FileManager.default.fileExists(atPath: path.path))
        #expect(try await store.load(sha256: sha) == bytes)
        #expect(try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("tmp").path).isEmpty)
        #expect(try await store.load(sha256: String(repeating: "0", count: 64)) == nil)
        #expect(try await store.load(sha256: "../../etc/passwd") == nil)
    }

    @Test("concurrent stores of the same bytes leave one intact file")
    func concurrentStores() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("intake-blobs-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let store = try DirectoryEvidenceStore(root: root)
        let bytes = IntakeFixture.jpeg(padding: 256 * 1024)
        let sha = EvidenceHash.sha256(bytes)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 { group.addTask { try await store.store(bytes, sha256: sha) } }
            try await group.waitForAll()
        }
        #expect(try await store.load(sha256: sha) == bytes)
    }

    @Test("SHA-256 matches a known vector")
    func knownVector() {
        #expect(
            EvidenceHash.sha256(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        )
    }
}
