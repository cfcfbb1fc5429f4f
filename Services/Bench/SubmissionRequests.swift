import Contracts
import Foundation
import NIOCore
import NIOHTTP1

extension ByteBuffer: ByteSink {
    /// Appends `bytes`.
    mutating func append(bytes: [UInt8]) { writeBytes(bytes) }
}

/// The submissions of one end-to-end run: request `index` is an ASN of the population (a different one for
/// consecutive indices) reporting a waste activity, with a photo of its own — EXIF capture time a few minutes before
/// the activity, GPS within ≈50 m of the registered office or home, a phone's make and model.
///
/// A share of the requests is planted on purpose (``Planted``): fraud that verification must catch (exact and
/// re-encoded duplicates of an earlier request's photo, a capture time days before the activity, GPS far outside
/// the geofence) and photos without EXIF, which go to human review.
///
/// Request `index` is the same bytes every time it is built (times count from `baseTime`), so a retry after a
/// failure carries the same `Idempotency-Key` and the same content, as a real client's retry does.
struct SubmissionRequests: LoadRequestFactory {
    /// What a request is meant to be.
    enum Planted: String, Sendable, CaseIterable {
        /// An honest submission: passes every automatic check (unless sampled or capped).
        case honest
        /// The photo of an earlier request, byte for byte (`DUPLICATE_EVIDENCE`).
        case exactDuplicate = "exact_duplicate"
        /// The picture of an earlier request with other EXIF and comment: other bytes, same pixels
        /// (`NEAR_DUPLICATE_EVIDENCE`).
        case reencodedDuplicate = "reencoded_duplicate"
        /// EXIF capture time three days before the activity (`CAPTURE_OUTSIDE_WINDOW`).
        case wrongCaptureTime = "wrong_capture_time"
        /// Photo GPS ≈25 km from the registered office or home (`OUTSIDE_GEOFENCE`).
        case outsideGeofence = "outside_geofence"
        /// No EXIF at all (`NO_CAPTURE_METADATA`: human review).
        case noExif = "no_exif"

        /// Whether verification should reject it automatically.
        var isFraud: Bool { self != .honest && self != .noExif }
    }

    let population: SyntheticPopulation
    /// Bearer token per person (same order as `population.people`).
    let tokens: [String]
    let photos: SyntheticJPEG
    /// Distinguishes this run's idempotency keys and photos from every other run's.
    let runID: UInt64
    /// `Host` header value.
    let host: String
    /// The run's reference time: activity and capture times are set back from it.
    var baseTime = Date()
    /// Share of requests planted as fraud (spread evenly over the four kinds), 0–1.
    var fraudShare = 0.0
    /// Share of requests sent without EXIF, 0–1.
    var noExifShare = 0.0

    private static let activities: [(code: String, homeOnly: Bool)] = [
        ("pilah_sampah", false), ("pilah_sampah", false), ("kurangi_plastik", false), ("komposting", false),
        ("kerja_bakti", false), ("edukasi_warga", true),
    ]

    /// The person submitting request `index`: 7,919 is prime, so consecutive requests walk the whole population.
    func person(_ index: Int) -> Int {
        Int((UInt64(index) &* 7_919 &+ runID) % UInt64(population.people.count))
    }

    /// The `Idempotency-Key` of request `index`.
    func key(_ index: Int) -> String { "bench-\(runID)-\(index)" }

    /// What request `index` is meant to be (deterministic from the run and the index). Duplicates need an earlier
    /// request, so the first 50 are honest or without EXIF.
    func planted(_ index: Int) -> Planted {
        var random = SplitMix64(seed: runID &+ 0xC0FF_EE00 ^ (UInt64(index) &* 0xBF58_476D_1CE4_E5B9))
        let roll = Double(random.next() % 1_000_000) / 1_000_000
        if roll < noExifShare { return .noExif }
        guard roll < noExifShare + fraudShare else { return .honest }
        let kinds: [Planted] = [.exactDuplicate, .reencodedDuplicate, .wrongCaptureTime, .outsideGeofence]
        let kind = kinds[Int(random.next() % 4)]
        if index < 50 && (kind == .exactDuplicate || kind == .reencodedDuplicate) { return .wrongCaptureTime }
        return kind
    }

    /// The earlier request whose picture a duplicate copies (1–50 requests back).
    private func original(of index: Int) -> Int {
        var random = SplitMix64(seed: runID ^ 0xD0B1_E000 ^ UInt64(index))
        return index - 1 - Int(random.next() % 50)
    }

    /// The claim and photo parameters of request `index` as an honest request.
    private func honest(_ index: Int) -> (
        activity: String, atHome: Bool, activityAt: Date, metadata: PhotoMetadata, comment: String, variant: UInt64
    ) {
        var random = SplitMix64(seed: runID ^ (UInt64(index) &* 0x9E37_79B9_7F4A_7C15))
        let asn = population.people[person(index)]
        let office = population.opds[asn.opd]
        let activity = Self.activities[Int(random.next() % UInt64(Self.activities.count))]
        let atHome = activity.homeOnly || random.next() % 5 == 0
        let activityAt = baseTime.addingTimeInterval(-Double(60 + random.next() % 3_600))
        let capturedAt = activityAt.addingTimeInterval(-Double(30 + random.next() % 570))
        // Up to ≈50 m from the registered place.
        let jitterLatitude = (Double(random.next() % 1_000) - 500) / 11_100_000
        let jitterLongitude = (Double(random.next() % 1_000) - 500) / 11_000_000
        let camera = SyntheticPopulation.cameras[Int(random.next() % UInt64(SyntheticPopulation.cameras.count))]
        let metadata = PhotoMetadata(
            capturedAt: capturedAt,
            latitude: (atHome ? asn.homeLatitude : office.latitude) + jitterLatitude,
            longitude: (atHome ? asn.homeLongitude : office.longitude) + jitterLongitude,
            make: camera.make, model: camera.model)
        return (
            activity.code, atHome, activityAt, metadata, "asnreward-bench \(key(index)) \(asn.nip)",
            runID &+ UInt64(index)
        )
    }

    /// Writes the multipart body (`submission` JSON + `evidence` JPEG) and returns the head.
    func request(_ index: Int, body: inout ByteBuffer) -> HTTPRequestHead {
        let who = person(index)
        var claim = honest(index)
        var exif = true
        switch planted(index) {
        case .honest: break
        case .exactDuplicate:
            let copied = honest(original(of: index))
            (claim.metadata, claim.comment, claim.variant) = (copied.metadata, copied.comment, copied.variant)
        case .reencodedDuplicate:
            claim.variant = honest(original(of: index)).variant
        case .wrongCaptureTime:
            claim.metadata.capturedAt = claim.activityAt.addingTimeInterval(-3 * 86_400)
        case .outsideGeofence:
            claim.metadata.latitude -= 0.23
        case .noExif:
            exif = false
        }
        let boundary = "asnreward-bench-\(runID)"
        body.writeString(
            "--\(boundary)\r\nContent-Disposition: form-data; name=\"submission\"\r\n"
                + "Content-Type: application/json\r\n\r\n"
                + "{\"activity\":\"\(claim.activity)\",\"place\":\"\(claim.atHome ? "home" : "office")\","
                + "\"activityAt\":\"\(RFC3339.format(claim.activityAt))\",\"quantity\":1}\r\n"
                + "--\(boundary)\r\nContent-Disposition: form-data; name=\"evidence\"; filename=\"IMG_\(index).jpg\"\r\n"
                + "Content-Type: image/jpeg\r\n\r\n")
        photos.write(
            metadata: claim.metadata, comment: claim.comment, variant: claim.variant, exif: exif, into: &body)
        body.writeString("\r\n--\(boundary)--\r\n")

        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/v1/submissions")
        head.headers.add(name: "Host", value: host)
        head.headers.add(name: "Authorization", value: "Bearer \(tokens[who])")
        head.headers.add(name: "Content-Type", value: "multipart/form-data; boundary=\(boundary)")
        head.headers.add(name: "Idempotency-Key", value: key(index))
        return head
    }
}
