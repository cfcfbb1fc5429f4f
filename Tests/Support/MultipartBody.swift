import Foundation

/// Builds a `multipart/form-data` body the way a browser does, for upload tests and benchmarks.
package struct MultipartBody: Sendable {
    /// The boundary between parts.
    package let boundary: String
    private var bytes: [UInt8] = []

    /// Starts an empty body with a random boundary.
    package init(boundary: String = "asnreward-\(UUID().uuidString)") {
        self.boundary = boundary
    }

    /// The `Content-Type` header value.
    package var contentType: String { "multipart/form-data; boundary=\(boundary)" }

    /// Adds a part with the given bytes.
    package mutating func add(name: String, filename: String? = nil, contentType: String? = nil, data: [UInt8]) {
        var header = "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\""
        if let filename { header += "; filename=\"\(filename)\"" }
        header += "\r\n"
        if let contentType { header += "Content-Type: \(contentType)\r\n" }
        header += "\r\n"
        bytes += Array(header.utf8) + data + Array("\r\n".utf8)
    }

    /// Adds a JSON part.
    package mutating func addJSON(name: String, _ json: String) {
        add(name: name, contentType: "application/json", data: Array(json.utf8))
    }

    /// The finished body, with the closing boundary.
    package var data: Data { Data(bytes + Array("--\(boundary)--\r\n".utf8)) }
}
