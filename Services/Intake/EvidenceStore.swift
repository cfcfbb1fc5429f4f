import Crypto
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where evidence photos live, addressed by the SHA-256 of their bytes (DESIGN §4 Submission).
///
/// Storing is idempotent: the same bytes always land under the same key, so a retried upload or two ASN sending
/// the same photo cost one copy. The store never interprets the bytes.
///
/// Blobs are stored *before* the submission that references them commits, so a crash in between leaves an orphan
/// blob, never a submission without its photo. Orphans are removed by ``EvidenceCollector`` after a grace period;
/// storing a key again refreshes its stored time so a blob about to be referenced is not collected.
package protocol EvidenceStore: Sendable {
    /// Stores `bytes` under `sha256` (64 lowercase hex digits, the caller's hash of exactly these bytes) and
    /// returns once they are durable; storing an existing key refreshes its stored time.
    func store(_ bytes: ByteBuffer, sha256: String) async throws
    /// The bytes stored under `sha256`, or `nil` when there are none.
    func load(sha256: String) async throws -> ByteBuffer?
    /// Keys last stored before `cutoff`: the candidates of orphan collection.
    func keys(storedBefore cutoff: Date) async throws -> [String]
    /// Deletes `sha256` unless it was stored again at or after `cutoff`; returns whether it deleted the blob.
    func remove(sha256: String, ifStoredBefore cutoff: Date) async throws -> Bool
}

/// SHA-256 helpers for evidence keys.
package enum EvidenceHash {
    /// The SHA-256 of `bytes` as 64 lowercase hex digits.
    package static func sha256(_ bytes: some DataProtocol) -> String {
        hex(SHA256.hash(data: bytes))
    }

    /// The SHA-256 of the readable bytes of `buffer`, without copying them.
    package static func sha256(_ buffer: ByteBuffer) -> String {
        buffer.withUnsafeReadableBytes { hex(SHA256.hash(data: $0)) }
    }

    private static func hex(_ digest: SHA256.Digest) -> String {
        digest.map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }

    /// Whether `key` is 64 lowercase hex digits (also keeps path tricks out of the directory store).
    package static func isValidKey(_ key: String) -> Bool {
        key.utf8.count == 64 && key.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }
}

/// Why the evidence store failed; the message names the key, never the bytes.
package struct EvidenceStoreError: Error, CustomStringConvertible {
    /// What went wrong.
    package var message: String
    /// The `errno` of the system call that failed, when one did.
    package var code: Int32?
    /// Creates an error.
    package init(_ message: String, code: Int32? = nil) {
        self.message = message
        self.code = code
    }
    /// Whether the store's file system is full or over quota: the upload itself is fine and may succeed later.
    package var isOutOfSpace: Bool { code == ENOSPC || code == EDQUOT }
    /// The message.
    package var description: String { "EvidenceStoreError: \(message)" }
}

/// Stores evidence as files under a directory, sharded as `ab/cd/<sha256>`.
///
/// Each file is written to `tmp/` under the root, fsynced, renamed into place, and the directory holding it is
/// fsynced too (as is every shard directory it creates, in its parent), so once ``store(_:sha256:)`` returns the
/// photo survives a crash. A reader never sees a partial file; a crash leaves at most a stray temporary file,
/// which ``EvidenceCollector`` removes after the grace period. A key that already exists is not rewritten; its
/// modification time is refreshed instead (the "stored time" the collector goes by) and it is fsynced with its
/// directories, in case it was left by a write that crashed before confirming.
///
/// Every file system call runs on `NIOThreadPool`, never on the cooperative pool.
package struct DirectoryEvidenceStore: EvidenceStore {
    /// The root directory (config `BLOB_DIRECTORY`).
    package let root: URL
    /// Where blocking file I/O runs.
    package let threadPool: NIOThreadPool

    /// Creates the store, creating `root` and its `tmp/` directory when missing.
    package init(root: URL, threadPool: NIOThreadPool = .singleton) throws {
        self.root = root
        self.threadPool = threadPool
        try FileManager.default.createDirectory(
            at: root.appendingPathComponent("tmp"),
            withIntermediateDirectories: true
        )
    }

    /// The directory of temporary files.
    var temporaryDirectory: URL { root.appendingPathComponent("tmp") }

    /// The file that holds `sha256`.
    package func path(for sha256: String) -> URL {
        let utf8 = Array(sha256.utf8)
        let first = String(decoding: utf8[0..<2], as: UTF8.self)
        let second = String(decoding: utf8[2..<4], as: UTF8.self)
        return root.appendingPathComponent(first).appendingPathComponent(second).appendingPathComponent(sha256)
    }

    package func store(_ bytes: ByteBuffer, sha256: String) async throws {
        guard EvidenceHash.isValidKey(sha256) else { throw EvidenceStoreError("invalid evidence key") }
        let root = root.path
        let target = path(for: sha256)
        let temporary = temporaryDirectory.appendingPathComponent("\(sha256).\(UUID().uuidString)").path
        try await threadPool.runIfActive {
            // Touching is also the existence check: a blob the collector moved away meanwhile is written anew.
            if FileIO.touch(target.path) {
                // It may come from a write that never confirmed (a crash before its fsyncs): make it durable too.
                try FileIO.flush(target.path, directory: false)
                var directory = target.deletingLastPathComponent()
                for _ in 0..<3 {
                    try FileIO.flush(directory.path, directory: true)
                    directory = directory.deletingLastPathComponent()
                }
                return
            }
            try FileIO.makeShardDirectories(for: target, root: root)
            try FileIO.writeDurably(bytes, to: temporary)
            // rename(2) is atomic on one file system; a concurrent writer of the same key renames identical bytes.
            guard rename(temporary, target.path) == 0 else {
                let code = errno
                unlink(temporary)
                throw EvidenceStoreError("cannot move evidence \(sha256) into place (errno \(code))", code: code)
            }
            try FileIO.fsyncDirectory(target.deletingLastPathComponent().path)
        }
    }

    package func load(sha256: String) async throws -> ByteBuffer? {
        guard EvidenceHash.isValidKey(sha256) else { return nil }
        let path = path(for: sha256).path
        return try await threadPool.runIfActive { try FileIO.readFile(path) }
    }

    package func keys(storedBefore cutoff: Date) async throws -> [String] {
        let root = root
        let shards = try await threadPool.runIfActive {
            try FileManager.default.contentsOfDirectory(atPath: root.path).filter(FileIO.isShardName)
        }
        var keys: [String] = []
        // One thread-pool job per top-level shard, so a large store never holds a pool thread for long.
        for first in shards {
            keys += try await threadPool.runIfActive {
                var keys: [String] = []
                let manager = FileManager.default
                let firstURL = root.appendingPathComponent(first)
                for second in (try? manager.contentsOfDirectory(atPath: firstURL.path)) ?? []
                where FileIO.isShardName(second) {
                    let secondURL = firstURL.appendingPathComponent(second)
                    for name in (try? manager.contentsOfDirectory(atPath: secondURL.path)) ?? []
                    where EvidenceHash.isValidKey(name) && name.hasPrefix(first + second) {
                        if let modified = FileIO.modificationTime(secondURL.appendingPathComponent(name).path),
                            modified < cutoff
                        {
                            keys.append(name)
                        }
                    }
                }
                return keys
            }
        }
        return keys
    }

    package func remove(sha256: String, ifStoredBefore cutoff: Date) async throws -> Bool {
        guard EvidenceHash.isValidKey(sha256) else { return false }
        let target = path(for: sha256).path
        let parked = temporaryDirectory.appendingPathComponent("\(sha256).collect.\(UUID().uuidString)").path
        return try await threadPool.runIfActive {
            guard let modified = FileIO.modificationTime(target), modified < cutoff else { return false }
            // Park the file first: a store that touched it before the move shows in its time and gets it back; a
            // store after the move finds no file and writes a new one.
            guard rename(target, parked) == 0 else { return false }
            if let modified = FileIO.modificationTime(parked), modified >= cutoff {
                if rename(parked, target) != 0 { unlink(parked) }
                return false
            }
            unlink(parked)
            try FileIO.fsyncDirectory(URL(fileURLWithPath: target).deletingLastPathComponent().path)
            return true
        }
    }

    /// Removes temporary files older than `cutoff` (left by a crash during a write); returns how many.
    package func removeTemporaryFiles(olderThan cutoff: Date) async throws -> Int {
        let directory = temporaryDirectory
        return try await threadPool.runIfActive {
            var removed = 0
            for name in try FileManager.default.contentsOfDirectory(atPath: directory.path) {
                let path = directory.appendingPathComponent(name).path
                if let modified = FileIO.modificationTime(path), modified < cutoff, unlink(path) == 0 { removed += 1 }
            }
            return removed
        }
    }
}

/// The blocking file operations of ``DirectoryEvidenceStore``; callers run them on `NIOThreadPool`.
private enum FileIO {
    /// Sets the modification time of `path` to now; `false` when there is no such file.
    static func touch(_ path: String) -> Bool {
        utimes(path, nil) == 0
    }

    /// The modification time of `path`, or `nil` when it does not exist.
    static func modificationTime(_ path: String) -> Date? {
        (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date
    }

    /// Whether `name` is a two-hex-digit shard directory name.
    static func isShardName(_ name: String) -> Bool {
        name.utf8.count == 2 && name.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }

    /// Creates `ab/` and `ab/cd/` above `target` when missing, fsyncing the parent of each one created.
    static func makeShardDirectories(for target: URL, root: String) throws {
        let second = target.deletingLastPathComponent()
        let first = second.deletingLastPathComponent()
        for (directory, parent) in [(first.path, root), (second.path, first.path)] {
            if mkdir(directory, 0o750) == 0 {
                try fsyncDirectory(parent)
            } else if errno != EEXIST {
                let code = errno
                throw EvidenceStoreError("cannot create evidence directory (errno \(code))", code: code)
            }
        }
    }

    /// Flushes a directory's entries (a rename or a new entry in it) to disk.
    static func fsyncDirectory(_ path: String) throws {
        try flush(path, directory: true)
    }

    /// Flushes a file, or a directory's entries, to disk.
    static func flush(_ path: String, directory: Bool) throws {
        let descriptor = open(path, directory ? O_RDONLY | O_DIRECTORY : O_RDONLY)
        guard descriptor >= 0 else { throw EvidenceStoreError("cannot open evidence path (errno \(errno))") }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else {
            let code = errno
            throw EvidenceStoreError("cannot fsync evidence path (errno \(code))", code: code)
        }
    }

    /// Creates `path`, writes all of `bytes` and fsyncs it.
    static func writeDurably(_ bytes: ByteBuffer, to path: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o640)
        guard descriptor >= 0 else {
            let code = errno
            throw EvidenceStoreError("cannot create a temporary evidence file (errno \(code))", code: code)
        }
        var failure: Int32?
        bytes.withUnsafeReadableBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    failure = errno
                    return
                }
                offset += written
            }
        }
        if failure == nil, fsync(descriptor) != 0 { failure = errno }
        close(descriptor)
        if let failure {
            unlink(path)
            throw EvidenceStoreError("cannot write evidence (errno \(failure))", code: failure)
        }
    }

    /// The whole content of `path`, or `nil` when it does not exist.
    static func readFile(_ path: String) throws -> ByteBuffer? {
        let descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else {
            if errno == ENOENT { return nil }
            throw EvidenceStoreError("cannot open evidence (errno \(errno))")
        }
        defer { close(descriptor) }
        let end = lseek(descriptor, 0, SEEK_END)
        guard end >= 0, lseek(descriptor, 0, SEEK_SET) == 0 else {
            throw EvidenceStoreError("cannot size evidence (errno \(errno))")
        }
        let size = Int(end)
        var buffer = ByteBufferAllocator().buffer(capacity: size)
        while buffer.readableBytes < size {
            let remaining = size - buffer.readableBytes
            let count = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: remaining) { target in
                while true {
                    let count = read(descriptor, target.baseAddress!, remaining)
                    if count < 0, errno == EINTR { continue }
                    guard count >= 0 else { throw EvidenceStoreError("cannot read evidence (errno \(errno))") }
                    return count
                }
            }
            if count == 0 { break }  // shorter than its size said: return what is there
        }
        return buffer
    }
}

/// Keeps evidence in memory: for tests and for trying the service without a disk.
package final class InMemoryEvidenceStore: EvidenceStore {
    private struct Blob {
        var bytes: ByteBuffer
        var storedAt: Date
    }

    private let storage = NIOLockedValueBox([String: Blob]())
    /// The clock used for stored times (tests move it).
    private let now: @Sendable () -> Date

    /// Creates an empty store.
    package init(now: @escaping @Sendable () -> Date = { Date() }) { self.now = now }

    package func store(_ bytes: ByteBuffer, sha256: String) async throws {
        let time = now()
        storage.withLockedValue { storage in
            if storage[sha256] == nil {
                storage[sha256] = Blob(bytes: bytes, storedAt: time)
            } else {
                storage[sha256]?.storedAt = time
            }
        }
    }

    package func load(sha256: String) async throws -> ByteBuffer? {
        storage.withLockedValue { $0[sha256]?.bytes }
    }

    package func keys(storedBefore cutoff: Date) async throws -> [String] {
        storage.withLockedValue { $0.filter { $0.value.storedAt < cutoff }.map(\.key) }
    }

    package func remove(sha256: String, ifStoredBefore cutoff: Date) async throws -> Bool {
        storage.withLockedValue { storage in
            guard let blob = storage[sha256], blob.storedAt < cutoff else { return false }
            storage[sha256] = nil
            return true
        }
    }

    /// How many distinct blobs are stored.
    package var count: Int { storage.withLockedValue { $0.count } }
}
