import Database
import Foundation
import HTTPTypes
import Hummingbird
import ServiceSupport

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Fetches evidence photos from intake (`GET <INTAKE_URL>/v1/evidence/{sha256}`) with the verifier's own token, for
/// the console: the page stays on one origin, and verification passes on only photos of submissions it checked.
struct EvidenceProxy: Sendable {
    let pool: DatabasePool
    /// Intake's base URL (`INTAKE_URL`), e.g. `http://127.0.0.1:8081`; `nil` when not configured.
    let intakeURL: URL?
    /// Largest photo passed on (intake accepts ≤ 5 MB).
    static let maxBytes = 6 * 1024 * 1024

    func fetch(_ sha: String, authorization: String) async throws -> Response {
        guard let intakeURL else {
            throw ProblemDetails.serviceUnavailable(
                "Alamat layanan intake belum dikonfigurasi (INTAKE_URL). Intake URL is not configured.")
        }
        let known = try await pool.withConnection { connection in
            try await connection.query("SELECT 1 FROM evidence_fingerprints WHERE sha256 = \(sha)")
        }
        guard !known.isEmpty else {
            throw ProblemDetails.notFound("Foto bukti tidak dikenal. Unknown evidence.", code: "EVIDENCE_NOT_FOUND")
        }
        var request = URLRequest(url: intakeURL.appendingPathComponent("v1/evidence/\(sha)"))
        request.timeoutInterval = 10
        request.setValue(authorization, forHTTPHeaderField: "Authorization")
        let data: Data
        let response: URLResponse
        do {
            (data, response) = try await URLSession.shared.data(for: request)
        } catch {
            throw ProblemDetails.status(
                .badGateway, detail: "Layanan intake tidak dapat dihubungi. Intake is unreachable.")
        }
        guard let http = response as? HTTPURLResponse else {
            throw ProblemDetails.status(.badGateway, detail: "Jawaban intake tidak valid. Invalid intake response.")
        }
        guard http.statusCode == 200 else {
            throw ProblemDetails.status(
                http.statusCode == 404 ? .notFound : (http.statusCode == 403 ? .forbidden : .badGateway),
                detail: "Intake menolak permintaan foto (HTTP \(http.statusCode)). Intake refused the evidence request."
            )
        }
        guard data.count <= Self.maxBytes else {
            throw ProblemDetails.status(.badGateway, detail: "Foto terlalu besar. Evidence too large.")
        }
        let type = http.value(forHTTPHeaderField: "Content-Type") ?? "application/octet-stream"
        guard type.hasPrefix("image/jpeg") || type.hasPrefix("image/png") else {
            throw ProblemDetails.status(.badGateway, detail: "Jenis berkas tidak dikenal. Unexpected media type.")
        }
        var headers = HTTPFields()
        headers[.contentType] = type
        headers[.cacheControl] = "private, max-age=3600"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
