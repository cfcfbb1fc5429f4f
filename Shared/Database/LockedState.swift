import Foundation

/// A value guarded by a lock, for the little shared state of pools and cancellation.
///
/// `@unchecked Sendable`: `value` is only read or written inside `withLock`, which holds `lock`.
final class LockedState<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    /// Runs `body` with exclusive access to the value.
    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}
