import Contracts
import Database
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Photo
import ServiceSupport

/// The HTTP API of intake under `/v1`: submitting activities with photos, and reading them back.
///
/// - `POST /v1/submissions` (role `asn`): multipart form, `Idempotency-Key` required; 202 new, 200 replay, 503 with
///   `Retry-After` while the upload memory budget is taken.
/// - `GET /v1/me/submissions` (role `asn`): the caller's own submissions, newest first, a page at a time
///   (`?cursor=`, `?status=`), with the quarter's points.
/// - `GET /v1/submissions/{id}`: the owner, or `verifier` / `scoring-admin` / `auditor`.
/// - `POST /v1/submissions/{id}/appeal` (role `asn`, owner only): appeals a rejection once.
/// - `GET /v1/evidence/{sha256}`: a photo, for the owner and for `verifier` / `auditor`.
/// - `GET /v1/program`: the current program's activities and places (any signed-in role; the page's choices).
package struct SubmissionRoutes<Store: EvidenceStore>: Sendable {
    /// Database access.
    package let submissions: SubmissionStore
    /// Where photos go.
    package let evidenceStore: Store
    /// Request logger.
    package let logger: Logger
    /// The memory uploads in flight may hold together.
    package let uploadBudget: UploadMemoryBudget
    /// The published programs (`nil`: no program checks, as in tests of other concerns).
    package let programs: ProgramBook?
    /// Per-NIP rate limit and daily cap.
    package let limits: AbuseLimits
    /// The clock (tests move it).
    package let now: @Sendable () -> Date

    /// Creates the routes.
    package init(
        submissions: SubmissionStore,
        evidenceStore: Store,
        logger: Logger,
        uploadBudget: UploadMemoryBudget = UploadMemoryBudget(
            limitBytes: SubmissionRules.defaultUploadMemoryBudgetBytes),
        programs: ProgramBook? = nil,
        limits: AbuseLimits = AbuseLimits(),
        now: @escaping @Sendable () -> Date = { Date() }
    ) {
        self.submissions = submissions
        self.evidenceStore = evidenceStore
        self.logger = logger
        self.uploadBudget = uploadBudget
        self.programs = programs
        self.limits = limits
        self.now = now
    }

    /// Staff roles that may read any submission (`auditor` is added for reads by `require(roles:)`).
    static var staffRoles: Set<String> { [Roles.verifier, Roles.scoringAdmin] }
    /// Staff roles that may see any photo (`auditor` is added for reads): photos are personal data, so not BKPP.
    static var evidenceRoles: Set<String> { [Roles.verifier] }

    /// The route collection to hand to `ServiceApp`.
    package var collection: RouteCollection<AuthenticatedRequestContext> {
        let routes = RouteCollection(context: AuthenticatedRequestContext.self)
        routes.post("/v1/submissions") { request, context in try await create(request, context: context) }
        routes.get("/v1/me/submissions") { request, context in try await listOwn(request, context: context) }
        routes.get("/v1/submissions/:id") { _, context in try await show(context: context) }
        routes.post("/v1/submissions/:id/appeal") { request, context in try await appeal(request, context: context) }
        routes.get("/v1/evidence/:sha256") { _, context in try await evidence(context: context) }
        routes.get("/v1/program") { _, context in try await program(context: context) }
        return routes
    }

    // MARK: - POST /v1/submissions

    func create(_ request: Request, context: AuthenticatedRequestContext) async throws -> Response {
        let identity = try context.require(roles: [Roles.asn])
        let key = try IntakeHeaders.validateIdempotencyKey(request.headers[IntakeHeaders.idempotencyKey])
        // The body is read only under a reservation of its size, released when the request ends (also on error).
        let declaredLength = request.headers[.contentLength].flatMap { Int($0) }
        if let declaredLength, declaredLength > SubmissionRules.maxBodyBytes {
            throw ProblemDetails.contentTooLarge(limit: SubmissionRules.maxBodyBytes)
        }
        let reservation = max(0, declaredLength ?? SubmissionRules.maxBodyBytes)
        guard uploadBudget.reserve(reservation) else {
            logger.notice(
                "Unggahan ditolak: anggaran memori penuh",
                metadata: [
                    "upload.bytes": .stringConvertible(reservation),
                    "upload.reserved_bytes": .stringConvertible(uploadBudget.reservedBytes),
                ]
            )
            throw ProblemDetails.serviceUnavailable(
                "Server sedang menerima banyak unggahan; coba lagi sebentar lagi. "
                    + "Too many uploads in progress; please retry shortly.",
                retryAfterSeconds: Self.uploadRetryAfterSeconds
            )
        }
        defer { uploadBudget.release(reservation) }
        return try await createReserved(request, identity: identity, key: key)
    }

    /// `Retry-After` of a 503 for a full upload budget.
    static var uploadRetryAfterSeconds: Int { 2 }

    /// `Retry-After` of a 503 for a full evidence store.
    static var evidenceFullRetryAfterSeconds: Int { 30 }

    /// `POST /v1/submissions` once the upload's memory is reserved: parse, check, store the photos durably, then
    /// one statement to PostgreSQL, and the answer from what is in hand.
    private func createReserved(_ request: Request, identity: Identity, key: String) async throws -> Response {
        let form = try await MultipartForm.parse(
            request,
            maxBytes: SubmissionRules.maxBodyBytes,
            limits: .init(maxParts: 8)
        )
        let input = try form.decodeJSON(SubmissionForm.self, part: "submission", decoder: JSONDecoder())
        let photos = form.parts(named: "evidence")
        var uploads: [EvidenceUpload] = []
        for (index, photo) in photos.enumerated() {
            guard photo.content.readableBytes <= SubmissionRules.maxEvidenceBytes else {
                var problem = ProblemDetails.contentTooLarge(limit: SubmissionRules.maxEvidenceBytes)
                problem.detail = "Foto bukti ke-\(index + 1) melebihi 5 MB. Each photo must be at most 5 MB."
                problem.errors = [
                    .init(field: "evidence[\(index)]", message: "Ukuran foto maksimal 5 MB.", code: "TOO_LARGE")
                ]
                throw problem
            }
            guard let mediaType = ImageSniffer.mediaType(of: photo.content.readableBytesView) else {
                var problem = ProblemDetails.unsupportedMediaType(
                    "Foto bukti ke-\(index + 1) bukan gambar JPEG atau PNG. Only JPEG and PNG photos are accepted."
                )
                problem.errors = [
                    .init(
                        field: "evidence[\(index)]", message: "Hanya foto JPEG atau PNG.",
                        code: "UNSUPPORTED_MEDIA_TYPE")
                ]
                throw problem
            }
            let facts = try Self.inspect(photo.content, index: index)
            uploads.append(
                EvidenceUpload(
                    bytes: photo.content, sha256: EvidenceHash.sha256(photo.content), mediaType: mediaType,
                    facts: facts))
        }
        let program = try await programs?.current()
        if let program, program.active == false {
            throw ProblemDetails.conflict(
                "Program \(program.name) sedang tidak menerima pengajuan. The program is closed for submissions.",
                code: "PROGRAM_CLOSED")
        }
        let draft = try SubmissionRules.validate(input, photoCount: photos.count, now: now(), program: program)
        let requestHash = draft.requestHash(evidenceHashes: uploads.map(\.sha256))
        // Limits are checked before anything is stored, so a refused request leaves no photo behind.
        try await checkLimits(nip: identity.nip, idempotencyKey: key)

        // Photos are durable before the submission commits: a crash in between leaves an orphan photo (collected
        // later by EvidenceCollector), never a submission without its photo. A replay writes nothing new (an
        // existing photo only gets its time refreshed); photos of a request refused below (a reused key) stay as
        // orphans until collected.
        for upload in uploads {
            do {
                try await evidenceStore.store(upload.bytes, sha256: upload.sha256)
            } catch let error as EvidenceStoreError where error.isOutOfSpace {
                // A full disk is an outage to wait out, like the database being down: 503 and a retry.
                logger.error("Penyimpanan bukti penuh", metadata: ["error": "\(error)"])
                throw ProblemDetails.serviceUnavailable(
                    "Penyimpanan bukti sedang penuh; coba lagi nanti. The evidence store is full; please retry later.",
                    retryAfterSeconds: Self.evidenceFullRetryAfterSeconds)
            }
        }
        let outcome = try await submissions.create(
            draft,
            evidence: uploads.map(\.reference),
            submitter: .init(nip: identity.nip, name: identity.name.isEmpty ? nil : identity.name, opd: identity.opd),
            idempotencyKey: key,
            requestHash: requestHash,
            now: now()
        )
        switch outcome {
        case .created(let submission):
            logger.info(
                "Pengajuan diterima",
                metadata: [
                    "submission.id": .string(submission.id.lowercased), "nip": .string(identity.nip),
                    "activity": .string(submission.activity), "evidence.count": .stringConvertible(uploads.count),
                ]
            )
            var headers = HTTPFields()
            headers[.location] = "/v1/submissions/\(submission.id.lowercased)"
            return try Self.json(SubmissionView(submission), status: .accepted, headers: headers)
        case .existing(let submission):
            return try replay(submission, requestHash: requestHash)
        }
    }

    /// The stored submission for a repeated key: the same request gets it back, a different one is refused.
    private func replay(_ submission: StoredSubmission, requestHash: String) throws -> Response {
        guard submission.requestHash == requestHash else {
            throw ProblemDetails.unprocessable(
                "Idempotency-Key ini sudah dipakai untuk pengajuan lain dengan isi berbeda. "
                    + "This Idempotency-Key was already used for a different request.",
                code: "IDEMPOTENCY_KEY_REUSED"
            )
        }
        var headers = HTTPFields()
        headers[.location] = "/v1/submissions/\(submission.id.lowercased)"
        headers[IntakeHeaders.idempotentReplayed] = "true"
        return try Self.json(SubmissionView(submission), status: .ok, headers: headers)
    }
}

/// Header names of the submission API.
package enum IntakeHeaders {
    /// `Idempotency-Key` (request): the client's key for one submission attempt.
    package static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
    /// `Idempotent-Replayed: true` (response): the answer is the submission stored for an earlier request.
    package static let idempotentReplayed = HTTPField.Name("Idempotent-Replayed")!

    /// Checks the `Idempotency-Key` header: 1–200 visible ASCII characters.
    static func validateIdempotencyKey(_ value: String?) throws -> String {
        guard let value, !value.isEmpty else {
            throw ProblemDetails.badRequest(
                "Header Idempotency-Key wajib diisi (mis. UUID acak per pengajuan). "
                    + "Idempotency-Key header is required.",
                code: "IDEMPOTENCY_KEY_MISSING"
            )
        }
        guard value.utf8.count <= 200, value.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw ProblemDetails.badRequest(
                "Idempotency-Key harus 1–200 karakter ASCII tanpa spasi. "
                    + "Idempotency-Key must be 1–200 visible ASCII characters.",
                code: "IDEMPOTENCY_KEY_INVALID"
            )
        }
        return value
    }
}

extension SubmissionRoutes {
    // MARK: - Reading

    func listOwn(_ request: Request, context: AuthenticatedRequestContext) async throws -> Response {
        let identity = try context.require(roles: [Roles.asn])
        let query = request.uri.queryParameters
        let limit = query.get("limit", as: Int.self) ?? 20
        guard (1...100).contains(limit) else {
            throw ProblemDetails.badRequest(
                "Parameter limit harus 1–100. limit must be 1–100.",
                code: "INVALID_QUERY",
                errors: [.init(field: "limit", message: "Harus 1–100.")]
            )
        }
        var statuses: [SubmissionStatus] = []
        if let text = query.get("status"), !text.isEmpty {
            for part in text.split(separator: ",") {
                guard let status = SubmissionStatus(rawValue: String(part)) else {
                    let known = SubmissionStatus.allCases.map(\.rawValue).joined(separator: ", ")
                    throw ProblemDetails.badRequest(
                        "Status \"\(part)\" tidak dikenal (pilihan: \(known)). Unknown status.",
                        code: "INVALID_QUERY",
                        errors: [.init(field: "status", message: "Pilihan: \(known).")]
                    )
                }
                statuses.append(status)
            }
        }
        var cursor: SubmissionStore.Cursor?
        if let text = query.get("cursor"), !text.isEmpty {
            guard let parsed = SubmissionStore.Cursor(token: text) else {
                throw ProblemDetails.badRequest(
                    "Parameter cursor tidak valid; gunakan tautan next dari halaman sebelumnya. Invalid cursor.",
                    code: "INVALID_QUERY",
                    errors: [.init(field: "cursor", message: "Cursor tidak valid.")]
                )
            }
            cursor = parsed
        }
        // One more than asked tells whether a next page exists.
        var items = try await submissions.page(nip: identity.nip, statuses: statuses, after: cursor, limit: limit + 1)
        var next: String?
        if items.count > limit {
            items.removeLast()
            let last = items[items.count - 1]
            var link =
                "/v1/me/submissions?cursor=\(SubmissionStore.Cursor(submittedAt: last.submittedAt, id: last.id).token)"
            if !statuses.isEmpty { link += "&status=\(statuses.map(\.rawValue).joined(separator: ","))" }
            if limit != 20 { link += "&limit=\(limit)" }
            next = link
        }
        let quarter = Period.containing(now(), kind: .quarter)
        let points = try await submissions.points(nip: identity.nip, in: quarter.range)
        var headers = HTTPFields()
        if let next { headers[HTTPField.Name("Link")!] = "<\(next)>; rel=\"next\"" }
        return try Self.json(
            SubmissionList(
                items: items.map(SubmissionSummary.init), next: next,
                quarter: .init(period: quarter.description, points: points)),
            status: .ok, headers: headers)
    }

    func show(context: AuthenticatedRequestContext) async throws -> Response {
        _ = try context.requireIdentity()
        let text = try context.parameters.require("id")
        guard let id = UUID(uuidString: text), let submission = try await submissions.submission(id: id) else {
            throw ProblemDetails.notFound(
                "Pengajuan tidak ditemukan. Submission not found.", code: "SUBMISSION_NOT_FOUND")
        }
        try context.requireSelfOrRoles(nip: submission.nip, roles: Self.staffRoles)
        return try Self.json(SubmissionView(submission), status: .ok)
    }

    func evidence(context: AuthenticatedRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let sha256 = try context.parameters.require("sha256").lowercased()
        let notFound = ProblemDetails.notFound(
            "Foto bukti tidak ditemukan. Evidence not found.", code: "EVIDENCE_NOT_FOUND")
        guard EvidenceHash.isValidKey(sha256), let mediaType = try await submissions.mediaType(sha256: sha256) else {
            throw notFound
        }
        var isOwner = false
        if identity.has(Roles.asn) { isOwner = try await submissions.owns(nip: identity.nip, sha256: sha256) }
        if !isOwner {
            // An ASN without a staff role does not learn whether someone else's photo exists.
            // An ASN does not learn whether someone else's photo exists; other staff roles are told they may not.
            if identity.has(Roles.asn), !identity.hasAny(of: Self.evidenceRoles.union([Roles.auditor])) {
                throw notFound
            }
            try context.require(roles: Self.evidenceRoles)
        }
        guard let bytes = try await evidenceStore.load(sha256: sha256) else { throw notFound }
        var headers = HTTPFields()
        headers[.contentType] = mediaType
        headers[.contentLength] = String(bytes.readableBytes)
        // Content-addressed: the bytes under this URL never change; private because photos are personal data.
        headers[.cacheControl] = "private, max-age=31536000, immutable"
        headers[.eTag] = "\"\(sha256)\""
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: bytes))
    }

    // MARK: - Responses

    /// Encodes `value` as JSON (RFC 3339 dates, sorted keys).
    static func json(_ value: some Encodable, status: HTTPResponse.Status, headers: HTTPFields = [:]) throws -> Response
    {
        let data = try ContractsJSON.encode(value)
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        fields[.cacheControl] = "no-store"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// One submission as the API shows it.
struct SubmissionView: Encodable {
    var id: String
    var status: SubmissionStatus
    var statusLabel: String
    var program: String
    var activity: String
    var place: String
    var activityAt: Date
    var quantity: Double
    var note: String?
    var deviceLocation: GeoPoint?
    var points: Int?
    var reasonCode: String?
    var reason: String?
    var appealable: Bool
    var submittedAt: Date
    var updatedAt: Date
    var evidence: [Evidence]

    struct Evidence: Encodable {
        var sha256: String
        var mediaType: String
        var sizeBytes: Int
        var url: String?
        var width: Int?
        var height: Int?
        var perceptualHash: String?
        var capture: CaptureMetadata?
    }

    init(_ submission: StoredSubmission) {
        id = submission.id.lowercased
        appealable = submission.status == .rejected && submission.appealable
        status = submission.status
        statusLabel = submission.status.indonesianLabel
        program = submission.program
        activity = submission.activity
        place = submission.place
        activityAt = submission.activityAt
        quantity = submission.quantity
        note = submission.note
        deviceLocation = submission.deviceLocation
        points = submission.points
        reasonCode = submission.reasonCode
        reason = submission.reason
        submittedAt = submission.submittedAt
        updatedAt = submission.updatedAt
        evidence = submission.evidence.map {
            Evidence(
                sha256: $0.sha256, mediaType: $0.mediaType, sizeBytes: $0.sizeBytes, url: $0.url, width: $0.width,
                height: $0.height, perceptualHash: $0.perceptualHash, capture: $0.capture)
        }
    }
}

/// A line of the ASN's own list.
struct SubmissionSummary: Encodable {
    var id: String
    var activity: String
    var place: String
    var activityAt: Date
    var quantity: Double
    var status: SubmissionStatus
    var statusLabel: String
    var points: Int?
    var reasonCode: String?
    var reason: String?
    var appealable: Bool
    var submittedAt: Date
    var updatedAt: Date

    init(_ submission: StoredSubmission) {
        id = submission.id.lowercased
        appealable = submission.status == .rejected && submission.appealable
        activity = submission.activity
        place = submission.place
        activityAt = submission.activityAt
        quantity = submission.quantity
        status = submission.status
        statusLabel = submission.status.indonesianLabel
        points = submission.points
        reasonCode = submission.reasonCode
        reason = submission.reason
        submittedAt = submission.submittedAt
        updatedAt = submission.updatedAt
    }
}

/// `GET /v1/me/submissions`.
struct SubmissionList: Encodable {
    var items: [SubmissionSummary]
    /// The next page, or `null` on the last.
    var next: String?
    /// The points of approved activities in the current quarter (Asia/Jakarta).
    var quarter: QuarterPoints

    struct QuarterPoints: Encodable {
        var period: String
        var points: Int
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(items, forKey: .items)
        try container.encode(next, forKey: .next)  // an explicit null on the last page
        try container.encode(quarter, forKey: .quarter)
    }

    enum CodingKeys: String, CodingKey { case items, next, quarter }
}
