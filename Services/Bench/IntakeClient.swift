import Contracts
import Foundation
import TestSupport

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Posts submissions to intake over HTTP, as the ASN upload page does (multipart: `submission` JSON + `evidence`).
struct IntakeClient: Sendable {
    let baseURL: URL
    private let session: URLSession

    /// A client allowing `connections` requests in flight (URLSession's default is 6 per host).
    init(baseURL: URL, connections: Int = 64) {
        self.baseURL = baseURL
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = connections
        session = URLSession(configuration: configuration)
    }

    /// Submits one activity with one photo; returns the HTTP status.
    func submit(
        token: String,
        activity: String,
        place: String = "office",
        activityAt: Date,
        quantity: Double = 1,
        note: String? = nil,
        photo: [UInt8],
        idempotencyKey: String
    ) async throws -> Int {
        var form = MultipartBody()
        var fields: [String: Any] = [
            "activity": activity, "place": place, "activityAt": RFC3339.format(activityAt), "quantity": quantity,
        ]
        if let note { fields["note"] = note }
        form.add(
            name: "submission", contentType: "application/json",
            data: Array(try JSONSerialization.data(withJSONObject: fields)))
        let isJPEG = photo.starts(with: [0xFF, 0xD8])
        form.add(
            name: "evidence", filename: isJPEG ? "foto.jpg" : "foto.png", contentType: isJPEG ? "image/jpeg" : "image/png",
            data: photo)
        var request = URLRequest(url: baseURL.appendingPathComponent("v1/submissions"))
        request.httpMethod = "POST"
        request.timeoutInterval = 60
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.setValue(form.contentType, forHTTPHeaderField: "Content-Type")
        request.setValue(idempotencyKey, forHTTPHeaderField: "Idempotency-Key")
        request.httpBody = form.data
        let (_, response) = try await session.data(for: request)
        return (response as? HTTPURLResponse)?.statusCode ?? 0
    }
}
