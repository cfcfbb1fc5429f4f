import CoreFoundation
import Foundation
import Glibc
import Photo

/// A physical limit of this machine for the end-to-end benchmark: what intake must do with every photo whatever
/// else is optimised — read its structure and EXIF, decode it at 1/8 scale through TurboJPEG and compute the
/// dHash (``PhotoInspector/inspect(_:decode:)``) — measured in this process, on one thread, on photos of the kind
/// the run sends.
struct PhotoWorkLimit: Codable, Sendable {
    /// Photos inspected.
    var photos: Int
    /// Thread CPU time per photo.
    var cpuMsPerPhoto: Double
    /// `cores × 1000 / cpuMsPerPhoto`: submissions per second this machine could take if it did nothing but the
    /// photo work.
    var ceilingPerSecond: Double

    /// Inspects `count` photos from `generator` (each different), after a few unmeasured ones.
    static func measure(_ generator: SyntheticJPEG, count: Int = 200, cores: Int) throws -> PhotoWorkLimit {
        let metadata = PhotoMetadata(
            capturedAt: Date(), latitude: -6.9903, longitude: 110.4229, make: "Bench", model: "Synthetic")
        let photos = (0..<(count + 10)).map {
            generator.photo(metadata: metadata, comment: "limit-\($0)", variant: UInt64($0) &* 0x9E37_79B9)
        }
        var hashed = 0
        for photo in photos.prefix(10) { _ = try PhotoInspector.inspect(photo) }
        let start = threadCPUSeconds()
        for photo in photos.dropFirst(10) where try PhotoInspector.inspect(photo).perceptualHash != nil {
            hashed += 1
        }
        let seconds = threadCPUSeconds() - start
        guard hashed == count else { throw BenchError("only \(hashed) of \(count) sample photos were decoded") }
        let perPhoto = seconds * 1000 / Double(count)
        return PhotoWorkLimit(
            photos: count, cpuMsPerPhoto: perPhoto, ceilingPerSecond: Double(cores) * 1000 / max(perPhoto, 1e-9))
    }

    private static func threadCPUSeconds() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
