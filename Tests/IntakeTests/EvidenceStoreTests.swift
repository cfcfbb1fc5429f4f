import Foundation
import Hummingbird
import NIOPosix
import Testing

@testable import Intake

/// The directory evidence store: content-addressed, sharded, idempotent, durable, and collectable.
@Suite("Directory evidence store")
struct EvidenceStoreTests {
    typealias F = IntakeFixture

    @Test("stores under ab/cd/<sha256>, reads back, and storing again is a no-op")
    func roundTrip() async throws {
        try await F.withBlobDirectory { root in
            let store = try DirectoryEvidenceStore(root: root)
            let bytes = ByteBuffer(bytes: F.jpeg())
            let sha = EvidenceHash.sha256(bytes)
            #expect(sha == EvidenceHash.sha256(Array(bytes.readableBytesView)))
            try await store.store(bytes, sha256: sha)
            try await store.store(bytes, sha256: sha)
            let path = root.appendingPathComponent(String(sha.prefix(2)))
                .appendingPathComponent(String(sha.dropFirst(2).prefix(2))).appendingPathComponent(sha)
            #expect(path == store.path(for: sha))
            #expect(FileManager.default.fileExists(atPath: path.path))
            #expect(try await store.load(sha256: sha) == bytes)
            #expect(
                try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("tmp").path).isEmpty)
            #expect(try await store.load(sha256: String(repeating: "0", count: 64)) == nil)
            #expect(try await store.load(sha256: "../../etc/passwd") == nil)
        }
    }

    @Test("concurrent stores of the same bytes leave one intact file")
    func concurrentStores() async throws {
        try await F.withBlobDirectory { root in
            let store = try DirectoryEvidenceStore(root: root)
            let bytes = ByteBuffer(bytes: F.jpeg(padding: 256 * 1024))
            let sha = EvidenceHash.sha256(bytes)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<8 { group.addTask { try await store.store(bytes, sha256: sha) } }
                try await group.waitForAll()
            }
            #expect(try await store.load(sha256: sha) == bytes)
        }
    }

    @Test("file I/O runs on the store's NIOThreadPool: a pool that is not running refuses it")
    func runsOnThreadPool() async throws {
        try await F.withBlobDirectory { root in
            let stopped = NIOThreadPool(numberOfThreads: 1)
            let store = try DirectoryEvidenceStore(root: root, threadPool: stopped)
            let bytes = ByteBuffer(bytes: F.jpeg())
            await #expect(throws: (any Error).self) { try await store.store(bytes, sha256: EvidenceHash.sha256(bytes)) }
            #expect(!FileManager.default.fileExists(atPath: store.path(for: EvidenceHash.sha256(bytes)).path))

            let running = NIOThreadPool(numberOfThreads: 1)
            running.start()
            let working = try DirectoryEvidenceStore(root: root, threadPool: running)
            try await working.store(bytes, sha256: EvidenceHash.sha256(bytes))
            #expect(try await working.load(sha256: EvidenceHash.sha256(bytes)) == bytes)
            try await running.shutdownGracefully()
        }
    }

    @Test("only blobs stored before the cutoff are candidates; storing again refreshes a blob and saves it")
    func storedTimeAndRemoval() async throws {
        try await F.withBlobDirectory { root in
            let store = try DirectoryEvidenceStore(root: root)
            let old = ByteBuffer(bytes: F.jpeg())
            let fresh = ByteBuffer(bytes: F.jpeg())
            let reused = ByteBuffer(bytes: F.jpeg())
            for blob in [old, fresh, reused] { try await store.store(blob, sha256: EvidenceHash.sha256(blob)) }
            let twoHoursAgo = Date().addingTimeInterval(-7200)
            for blob in [old, reused] {
                try FileManager.default.setAttributes(
                    [.modificationDate: twoHoursAgo], ofItemAtPath: store.path(for: EvidenceHash.sha256(blob)).path)
            }
            let cutoff = Date().addingTimeInterval(-3600)
            #expect(
                Set(try await store.keys(storedBefore: cutoff))
                    == [EvidenceHash.sha256(old), EvidenceHash.sha256(reused)])

            // A new upload of the same photo between listing and removal keeps it.
            try await store.store(reused, sha256: EvidenceHash.sha256(reused))
            #expect(try await store.remove(sha256: EvidenceHash.sha256(reused), ifStoredBefore: cutoff) == false)
            #expect(try await store.load(sha256: EvidenceHash.sha256(reused)) == reused)

            #expect(try await store.remove(sha256: EvidenceHash.sha256(old), ifStoredBefore: cutoff))
            #expect(try await store.load(sha256: EvidenceHash.sha256(old)) == nil)
            #expect(try await store.remove(sha256: EvidenceHash.sha256(fresh), ifStoredBefore: cutoff) == false)
            #expect(
                try FileManager.default.contentsOfDirectory(atPath: root.appendingPathComponent("tmp").path).isEmpty)

            // A photo removed as an orphan and uploaded again is written anew.
            try await store.store(old, sha256: EvidenceHash.sha256(old))
            #expect(try await store.load(sha256: EvidenceHash.sha256(old)) == old)
        }
    }

    @Test("SHA-256 matches a known vector")
    func knownVector() {
        #expect(
            EvidenceHash.sha256(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        )
        #expect(
            EvidenceHash.sha256(ByteBuffer(string: "abc"))
                == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
