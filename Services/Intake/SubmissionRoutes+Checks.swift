import Contracts
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Photo
import ServiceSupport

extension SubmissionRoutes {
    // MARK: - Photo facts

    /// Reads the facts of photo `index` from its bytes; a photo that cannot be read honestly is refused (422).
    static func inspect(_ bytes: ByteBuffer, index: Int) throws -> PhotoFacts {
        let result: Result<PhotoFacts, PhotoError> = bytes.withUnsafeReadableBytes { buffer in
            do throws(PhotoError) { return .success(try PhotoInspector.inspect(buffer)) } catch {
                return .failure(error)
            }
        }
        let field = "evidence[\(index)]"
        let number = index + 1
        switch result {
        case .success(let facts):
            return facts
        case .failure(.tooManyPixels(let width, let height)):
            throw ProblemDetails.unprocessable(
                "Foto bukti ke-\(number) berukuran \(width) × \(height) piksel, melebihi batas 40 megapiksel. "
                    + "The photo has more than 40 megapixels.",
                code: "IMAGE_TOO_MANY_PIXELS",
                errors: [.init(field: field, message: "Maksimal 40 megapiksel.", code: "IMAGE_TOO_MANY_PIXELS")]
            )
        case .failure(.truncated):
            throw ProblemDetails.unprocessable(
                "Foto bukti ke-\(number) terpotong (tidak lengkap); unggah ulang fotonya. The photo is truncated.",
                code: "IMAGE_TRUNCATED",
                errors: [.init(field: field, message: "File foto tidak lengkap.", code: "IMAGE_TRUNCATED")]
            )
        case .failure(.corrupt):
            throw ProblemDetails.unprocessable(
                "Foto bukti ke-\(number) rusak dan tidak dapat dibaca. The photo is corrupt.",
                code: "IMAGE_CORRUPT",
                errors: [.init(field: field, message: "File foto rusak.", code: "IMAGE_CORRUPT")]
            )
        case .failure(.malformedExif):
            throw ProblemDetails.unprocessable(
                "Data EXIF foto bukti ke-\(number) rusak; kirim foto asli dari kamera. The photo's EXIF is malformed.",
                code: "EXIF_MALFORMED",
                errors: [.init(field: field, message: "Data EXIF rusak.", code: "EXIF_MALFORMED")]
            )
        }
    }

    // MARK: - Abuse limits

    /// Throws 429 when `nip` is over the rate limit or the daily cap (a replay of a stored key never is).
    func checkLimits(nip: String, idempotencyKey: String) async throws {
        let now = now()
        let dayStart = AbuseLimits.jakartaDayStart(now)
        let usage = try await submissions.usage(
            nip: nip, idempotencyKey: idempotencyKey, window: limits.window, dayStart: dayStart, now: now)
        guard !usage.isReplay else { return }
        if usage.today >= limits.dailyCap {
            throw AbuseLimits.problem(
                code: "DAILY_CAP_REACHED",
                detail: "Batas \(limits.dailyCap) pengajuan per hari sudah tercapai; coba lagi besok. "
                    + "Daily submission cap reached.",
                retryAfter: dayStart.addingTimeInterval(86_400).timeIntervalSince(now),
                limit: limits.dailyCap)
        }
        if usage.inWindow >= limits.ratePerWindow {
            let oldest = usage.oldestInWindow ?? now
            throw AbuseLimits.problem(
                code: "RATE_LIMITED",
                detail: "Terlalu banyak pengajuan dalam waktu singkat (maksimal \(limits.ratePerWindow) per "
                    + "\(Int(limits.window)) detik); tunggu sebentar. Too many submissions; please wait.",
                retryAfter: oldest.addingTimeInterval(limits.window).timeIntervalSince(now),
                limit: limits.ratePerWindow)
        }
    }

    // MARK: - POST /v1/submissions/{id}/appeal

    /// The body of an appeal.
    struct AppealForm: Decodable {
        var reason: String?
    }

    func appeal(_ request: Request, context: AuthenticatedRequestContext) async throws -> Response {
        let identity = try context.require(roles: [Roles.asn])
        guard let id = UUID(uuidString: try context.parameters.require("id")) else {
            throw ProblemDetails.notFound(
                "Pengajuan tidak ditemukan. Submission not found.", code: "SUBMISSION_NOT_FOUND")
        }
        let form = try await request.decode(as: AppealForm.self, context: context)
        let reason = form.reason?.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        guard (10...1000).contains(reason.count) else {
            throw ProblemDetails.unprocessable(
                "Alasan banding harus 10–1.000 karakter. The appeal reason must be 10–1,000 characters.",
                code: "VALIDATION_FAILED",
                errors: [
                    .init(
                        field: "reason",
                        message: reason.isEmpty ? "Alasan banding wajib diisi." : "Harus 10–1.000 karakter.",
                        code: reason.isEmpty ? "REQUIRED" : "INVALID_LENGTH")
                ]
            )
        }
        switch try await submissions.appeal(submissionId: id, nip: identity.nip, statement: reason, now: now()) {
        case .filed(let submission, let appealId):
            logger.info(
                "Banding diajukan",
                metadata: ["submission.id": .string(id.lowercased), "appeal.id": .string(appealId.lowercased)])
            return try Self.json(SubmissionView(submission), status: .accepted)
        case .notFound:
            throw ProblemDetails.notFound(
                "Pengajuan tidak ditemukan. Submission not found.", code: "SUBMISSION_NOT_FOUND")
        case .notOwner:
            throw ProblemDetails.forbidden(
                "Hanya pemilik pengajuan yang dapat mengajukan banding. Only the submitter may appeal.",
                code: "NOT_OWNER")
        case .alreadyAppealed:
            throw ProblemDetails.conflict(
                "Banding untuk pengajuan ini sudah pernah diajukan; banding hanya sekali. Already appealed.",
                code: "ALREADY_APPEALED")
        case .notAppealable(let status):
            throw ProblemDetails.conflict(
                status == .rejected
                    ? "Penolakan ini sudah final dan tidak dapat dibanding. This rejection is final."
                    : "Banding hanya dapat diajukan untuk pengajuan yang ditolak (status sekarang: "
                        + "\(status.indonesianLabel)). Only a rejection can be appealed.",
                code: "NOT_APPEALABLE")
        }
    }

    // MARK: - GET /v1/program

    /// The current program as the upload page needs it.
    struct ProgramView: Encodable {
        var program: String
        var programVersion: String
        var name: String
        var description: String?
        var active: Bool
        var maxClaimAgeDays: Int
        var activities: [Activity]

        struct Activity: Encodable {
            var code: String
            var name: String
            var unit: String
            var places: [String]
            var minQuantity: Double?
            var maxQuantity: Double?
            var basePoints: Int
            var description: String?
        }
    }

    func program(context: AuthenticatedRequestContext) async throws -> Response {
        _ = try context.requireIdentity()
        guard let program = try await programs?.current() else {
            throw ProblemDetails.notFound(
                "Program belum tersedia; coba lagi beberapa saat lagi. No program has been published yet.",
                code: "PROGRAM_NOT_AVAILABLE")
        }
        let view = ProgramView(
            program: program.program, programVersion: program.programVersion, name: program.name,
            description: program.description, active: program.active ?? true,
            maxClaimAgeDays: program.maxClaimAgeDays ?? SubmissionRules.defaultMaxClaimAgeDays,
            activities: program.activities.map {
                .init(
                    code: $0.code, name: $0.name, unit: $0.unit, places: $0.places, minQuantity: $0.minQuantity,
                    maxQuantity: $0.maxQuantity, basePoints: $0.basePoints, description: $0.description)
            })
        return try Self.json(view, status: .ok)
    }
}
