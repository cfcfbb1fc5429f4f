import Crypto
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where evidence photos live, addressed by the SHA-256 of their bytes (DESIGN §4 Submission).
///
/// Storing is idempotent: the same bytes always land under the same key, so a retried upload or two ASN sending
/// the same photo cost one copy. The store never interprets the bytes.
package protocol EvidenceStore: Sendable {
    /// Stores `bytes` under `sha256` (64 lowercase hex digits, the caller's hash of exactly these bytes).
    func store(_ bytes: [UInt8], sha256: String) async throws
    /// The bytes stored under `sha256`, or `nil` when there are none.
    func load(sha256: String) async throws -> [UInt8]?
}

/// SHA-256 helpers for evidence keys.
package enum EvidenceHash {
    /// The SHA-256 of `bytes` as 64 lowercase hex digits.
    package static func sha256(_ bytes: some DataProtocol) -> String {
        SHA256.hash(data: bytes).map { byte in
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
    /// Creates an error.
    package init(_ message: String) { self.message = message }
    /// The message.
    package var description: String { "EvidenceStoreError: \(message)" }
}

/// Stores evidence as files under a directory, sharded as `ab/cd/<sha256>`.
///
/// Each file is written to `tmp/` under the root, flushed to disk and then renamed into place, so a reader never
/// sees a partial file and a crash leaves at most a stray temporary file. A key that already exists is not
/// rewritten.
package struct DirectoryEvidenceStore: EvidenceStore {
    /// The root directory (config `BLOB_DIRECTORY`).
    package let root: URL

    /// Creates the store, creating `root` and its `tmp/` directory when missing.
    package init(root: URL) throws {
        self.root = root
        try FileManager.default.createDirectory(
            at: root.appendingPathComponent("tmp"),
            withIntermediateDirectories: true
        )
    }

    /// The file that holds `sha256`.
    package func path(for sha256: String) -> URL {
        let utf8 = Array(sha256.utf8)
        let first = String(decoding: utf8[0..<2], as: UTF8.self)
        let second = String(decoding: utf8[2..<4], as: UTF8.self)
        return root.appendingPathComponent(first).appendingPathComponent(second).appendingPathComponent(sha256)
    }

    package func store(_ bytes: [UInt8], sha256: String) async throws {
        guard EvidenceHash.isValidKey(sha256) else { throw EvidenceStoreError("invalid evidence key") }
        let target = path(for: sha256)
        if FileManager.default.fileExists(atPath: target.path) { return }
        try FileManager.default.createDirectory(
            at: target.deletingLastPathComponent(),
            withIntermediateDirectories: true
        )
        let temporary = root.appendingPathComponent("tmp").appendingPathComponent("\(sha256).\(UUID().uuidString)")
        try Self.writeDurably(bytes, to: temporary.path)
        // rename(2) is atomic on one file system; a concurrent writer of the same key renames identical bytes.
        guard rename(temporary.path, target.path) == 0 else {
            let code = errno
            unlink(temporary.path)
            throw EvidenceStoreError("cannot move evidence \(sha256) into place (errno \(code))")
        }
    }

    package func load(sha256: String) async throws -> [UInt8]? {
        guard EvidenceHash.isValidKey(sha256) else { return nil }
        guard let data = FileManager.default.contents(atPath: path(for: sha256).path) else { return nil }
        return Array(data)
    }

    /// Creates `path`, writes all of `bytes` and fsyncs it.
    private static func writeDurably(_ bytes: [UInt8], to path: String) throws {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL, 0o640)
        guard descriptor >= 0 else {
            throw EvidenceStoreError("cannot create a temporary evidence file (errno \(errno))")
        }
        var failure: Int32?
        bytes.withUnsafeBytes { buffer in
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
            throw EvidenceStoreError("cannot write evidence (errno \(failure))")
        }
    }
}

/// Keeps evidence in memory: for tests and for trying the service without a disk.
///
/// `@unchecked Sendable`: `blobs` is only touched while holding `lock`.
package final class InMemoryEvidenceStore: EvidenceStore, @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [String: [UInt8]] = [:]

    /// Creates an empty store.
    package init() {}

    package func store(_ bytes: [UInt8], sha256: String) async throws {
        lock.withLock {
            if storage[sha256] == nil { storage[sha256] = bytes }
        }
    }

    package func load(sha256: String) async throws -> [UInt8]? {
        lock.withLock { storage[sha256] }
    }

    /// How many distinct blobs are stored.
    package var count: Int { lock.withLock { storage.count } }
}
