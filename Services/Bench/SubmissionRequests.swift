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
struct SubmissionRequests: LoadRequestFactory {
    let population: SyntheticPopulation
    /// Bearer token per person (same order as `population.people`).
    let tokens: [String]
    let photos: SyntheticJPEG
    /// Distinguishes this run's idempotency keys and photos from every other run's.
    let runID: UInt64
    /// `Host` header value.
    let host: String

    private static let activities: [(code: String, homeOnly: Bool)] = [
        ("pilah_sampah", false), ("pilah_sampah", false), ("kurangi_plastik", false), ("komposting", false),
        ("kerja_bakti", false), ("edukasi_warga", true),
    ]

    /// The person submitting request `index`: 7,919 is prime, so consecutive requests walk the whole population.
    func person(_ index: Int) -> Int {
        Int((UInt64(index) &* 7_919 &+ runID) % UInt64(population.people.count))
    }

    /// Writes the multipart body (`submission` JSON + `evidence` JPEG) and returns the head.
    func request(_ index: Int, body: inout ByteBuffer) -> HTTPRequestHead {
        var random = SplitMix64(seed: runID ^ (UInt64(index) &* 0x9E37_79B9_7F4A_7C15))
        let who = person(index)
        let asn = population.people[who]
        let office = population.opds[asn.opd]
        let activity = Self.activities[Int(random.next() % UInt64(Self.activities.count))]
        let atHome = activity.homeOnly || random.next() % 5 == 0
        let now = Date()
        let activityAt = now.addingTimeInterval(-Double(60 + random.next() % 3_600))
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
        let key = "bench-\(runID)-\(index)"
        let boundary = "asnreward-bench-\(runID)"

        body.writeString(
            "--\(boundary)\r\nContent-Disposition: form-data; name=\"submission\"\r\n"
                + "Content-Type: application/json\r\n\r\n"
                + "{\"activity\":\"\(activity.code)\",\"place\":\"\(atHome ? "home" : "office")\","
                + "\"activityAt\":\"\(RFC3339.format(activityAt))\",\"quantity\":1}\r\n"
                + "--\(boundary)\r\nContent-Disposition: form-data; name=\"evidence\"; filename=\"IMG_\(index).jpg\"\r\n"
                + "Content-Type: image/jpeg\r\n\r\n")
        photos.write(
            metadata: metadata, comment: "asnreward-bench \(key) \(asn.nip)", variant: runID &+ UInt64(index),
            into: &body)
        body.writeString("\r\n--\(boundary)--\r\n")

        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/v1/submissions")
        head.headers.add(name: "Host", value: host)
        head.headers.add(name: "Authorization", value: "Bearer \(tokens[who])")
        head.headers.add(name: "Content-Type", value: "multipart/form-data; boundary=\(boundary)")
        head.headers.add(name: "Idempotency-Key", value: key)
        return head
    }
}
