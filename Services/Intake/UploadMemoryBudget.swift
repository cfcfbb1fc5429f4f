import NIOConcurrencyHelpers

/// Bounds the memory held by uploads in flight (config `UPLOAD_MEMORY_BUDGET_BYTES`, default 64 MiB).
///
/// An upload reserves its `Content-Length` (or the largest body accepted, when it sends none) before its body is
/// read, and gives the reservation back when its request ends, whatever the outcome. When a reservation does not
/// fit, the request is refused with 503 and `Retry-After` instead of being read: a burst of large uploads slows
/// clients down rather than getting the process killed for running out of memory.
package final class UploadMemoryBudget: Sendable {
    /// The most bytes all reservations together may hold.
    package let limitBytes: Int
    private let reserved = NIOLockedValueBox(0)

    /// Creates a budget of `limitBytes`.
    package init(limitBytes: Int) {
        self.limitBytes = limitBytes
    }

    /// Bytes currently reserved.
    package var reservedBytes: Int { reserved.withLockedValue { $0 } }

    /// Reserves `bytes` if they fit; returns whether they did.
    package func reserve(_ bytes: Int) -> Bool {
        reserved.withLockedValue { reserved in
            guard bytes <= limitBytes - reserved else { return false }
            reserved += bytes
            return true
        }
    }

    /// Gives back `bytes` reserved earlier.
    package func release(_ bytes: Int) {
        reserved.withLockedValue { $0 -= bytes }
    }
}
