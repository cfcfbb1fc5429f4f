import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Times `fsync` on the disk the stack writes to while a bench runs: every 50 ms it writes 4 KiB to a file and
/// waits for `fsync`, on a thread of its own. A quorum queue delivers a message and PostgreSQL commits only after
/// such a flush, so the slowest flush in a run is a floor under the slowest event end to end: no durable pipeline
/// on this disk could have been faster at that moment.
final class FsyncProbe: Sendable {
    private let path: String
    private let stopped = Atomic<Bool>(false)
    private let samples = Mutex<[Double]>([])
    private let finished = DispatchSemaphore(value: 0)

    /// Starts probing with a file at `path` (removed by `stop`), by default `.run/bench-fsync-probe` beside the
    /// stack's data.
    init(path: String = FileManager.default.currentDirectoryPath + "/.run/bench-fsync-probe") {
        self.path = path
        let thread = Thread { [self] in self.probe() }
        thread.name = "fsync-probe"
        thread.start()
    }

    private func probe() {
        defer { finished.signal() }
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard descriptor >= 0 else { return }
        defer {
            close(descriptor)
            unlink(path)
        }
        let block = [UInt8](repeating: 0x5a, count: 4096)
        var offset: off_t = 0
        while !stopped.load(ordering: .relaxed) {
            let start = DispatchTime.now().uptimeNanoseconds
            let written = block.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, offset) }
            guard written == block.count, fsync(descriptor) == 0 else { return }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            samples.withLock { $0.append(seconds) }
            offset = (offset + 4096) % (1 << 20)
            usleep(50_000)
        }
    }

    /// Stops the probe and describes the flush times it measured, in one line for a bench's report.
    func stop() -> String {
        stopped.store(true, ordering: .relaxed)
        finished.wait()
        let flushes = EndToEndReport.Percentiles(samples.withLock { $0 })
        return String(
            format:
                "  the disk meanwhile: 4 KiB write + fsync every 50 ms took p50 %.1f, p99 %.1f, max %.1f ms (%d flushes)",
            flushes.p50, flushes.p99, flushes.max, flushes.count)
    }
}
