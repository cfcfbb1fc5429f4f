import Database
import ServiceLifecycle

/// Runs a worker's `loop` with one coalesced wake-up signal (at most one pending), raised by every NOTIFY on
/// `listener`'s channel, by a ticker every `interval` (for work that falls due without a NOTIFY, and as a fallback
/// while the listener reconnects), and once when graceful shutdown begins, so a waiting loop sees it at once.
/// `onWork` runs before each NOTIFY's and tick's signal (not before the loop's own ones, sent through the
/// continuation it gets). The listener and the ticker stop when `loop` returns.
func withWakeUps(
    listener: DatabaseListener, every interval: Duration, onWork: @escaping @Sendable () -> Void = {},
    _ loop: (AsyncStream<Void>, AsyncStream<Void>.Continuation) async -> Void
) async {
    let (wakeUps, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    await withTaskGroup(of: Void.self) { group in
        group.addTask { try? await listener.run() }
        group.addTask {
            for await _ in listener.notifications {
                onWork()
                wake.yield()
            }
        }
        group.addTask {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                onWork()
                wake.yield()
            }
        }
        await withGracefulShutdownHandler {
            await loop(wakeUps, wake)
        } onGracefulShutdown: {
            wake.yield()
        }
        group.cancelAll()
    }
}
