import Contracts
import Foundation
import NIOCore
import Photo
import ServiceSupport

/// Where a submission stands, as the ASN sees it (DESIGN §4): received → in review → approved / rejected →
/// appealed → approved / rejected again (final: a decision on appeal cannot be appealed).
package enum SubmissionStatus: String, Codable, Sendable, CaseIterable {
    /// Accepted by intake, not yet decided.
    case received
    /// A verifier is looking at it.
    case inReview = "in_review"
    /// Verified; points follow (or have arrived).
    case approved
    /// Not accepted; `reasonCode` and `reason` say why.
    case rejected
    /// The ASN appealed the rejection; a different verifier decides.
    case appealed

    /// The label the upload page shows.
    package var indonesianLabel: String {
        switch self {
        case .received: "Diterima"
        case .inReview: "Sedang ditinjau"
        case .approved: "Disetujui"
        case .rejected: "Ditolak"
        case .appealed: "Banding diajukan"
        }
    }
}

/// The `submission` JSON part of `POST /v1/submissions`, every field optional so all problems are reported at once.
struct SubmissionForm: Decodable, Sendable {
    var activity: String?
    var place: String?
    var activityAt: String?
    var quantity: Double?
    var note: String?
    var deviceLocation: DeviceLocation?

    /// The device GPS as the browser reported it.
    struct DeviceLocation: Decodable, Sendable {
        var latitude: Double?
        var longitude: Double?
        var accuracy: Double?
    }
}

/// A validated submission before it is stored.
package struct SubmissionDraft: Sendable, Equatable {
    /// Activity code, `^[a-z_]{2,40}$`.
    package var activity: String
    /// `office` or `home`.
    package var place: Place
    /// When the ASN says the activity happened (microsecond precision).
    package var activityAt: Date
    /// Count or kilograms, > 0.
    package var quantity: Double
    /// Free text, trimmed; `nil` when empty.
    package var note: String?
    /// Device GPS, client-sent.
    package var deviceLocation: GeoPoint?
    /// The program version it was validated against; `nil` when intake knew no program yet.
    package var programVersion: String?
    /// The activity's unit in that program (`count` or `kg`).
    package var unit: String?

    /// Creates a draft (tests; the API validates a ``SubmissionForm``).
    package init(
        activity: String,
        place: Place,
        activityAt: Date,
        quantity: Double,
        note: String? = nil,
        deviceLocation: GeoPoint? = nil
    ) {
        self.activity = activity
        self.place = place
        self.activityAt = RFC3339.normalized(activityAt)
        self.quantity = quantity
        self.note = note
        self.deviceLocation = deviceLocation
    }

    /// Identifies the request for idempotency: the validated fields in canonical form plus the evidence hashes,
    /// so a retry that re-serialises the same JSON differently still counts as the same request.
    package func requestHash(evidenceHashes: [String]) -> String {
        var canonical = "v1\n\(activity)\n\(place.rawValue)\n\(RFC3339.format(activityAt))\n\(quantity)\n"
        canonical += (note ?? "") + "\n"
        if let deviceLocation {
            canonical += "\(deviceLocation.latitude),\(deviceLocation.longitude),\(deviceLocation.accuracy ?? -1)"
        }
        canonical += "\n" + evidenceHashes.joined(separator: ",")
        return EvidenceHash.sha256(Array(canonical.utf8))
    }
}

/// Input rules of `POST /v1/submissions`; messages are shown to the ASN, in Bahasa Indonesia.
package enum SubmissionRules {
    /// Photos per submission.
    package static let evidenceCount = 1...3
    /// Largest photo accepted (5 MiB).
    package static let maxEvidenceBytes = 5 * 1024 * 1024
    /// Largest request body accepted (16 MiB: three photos plus the form).
    package static let maxBodyBytes = 16 * 1024 * 1024
    /// Memory all uploads in flight may hold together unless `UPLOAD_MEMORY_BUDGET_BYTES` says otherwise (64 MiB:
    /// four uploads of the largest size, many more of the usual phone photos).
    package static let defaultUploadMemoryBudgetBytes = 64 * 1024 * 1024
    /// Longest note.
    package static let maxNoteLength = 1000
    /// Largest quantity (count or kg); plausibility per activity is verification's job.
    package static let maxQuantity = 10_000.0
    /// Clock skew tolerated between the phone and the server for `activityAt`.
    package static let futureTolerance: TimeInterval = 5 * 60
    /// How many Asia/Jakarta calendar days back an activity may be claimed when the program does not say.
    package static let defaultMaxClaimAgeDays = 7

    /// The Asia/Jakarta calendar day of `date` (days since 1970-01-01 in UTC+7, which has no daylight saving).
    static func jakartaDay(_ date: Date) -> Int {
        Int(((date.timeIntervalSince1970 + 7 * 3600) / 86_400).rounded(.down))
    }

    /// Whether `activity` looks like an activity code (`pilah_sampah`). Whether the program knows it is checked by
    /// verification against the published program.
    package static func isActivityCode(_ activity: String) -> Bool {
        (2...40).contains(activity.utf8.count)
            && activity.utf8.allSatisfy {
                ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || $0 == UInt8(ascii: "_")
            }
    }

    /// Validates `form` at `now` against `program` (the current version, `nil` before intake has heard of one:
    /// then only the format and the default claim age are checked, and verification checks the rest); throws a
    /// 422 problem listing every invalid field.
    static func validate(_ form: SubmissionForm, photoCount: Int, now: Date, program: ProgramPublished? = nil)
        throws -> SubmissionDraft
    {
        var errors: [ProblemDetails.FieldError] = []
        func fail(_ field: String, _ message: String, _ code: String) {
            errors.append(.init(field: field, message: message, code: code))
        }

        let activity = form.activity?.trimmingCharacters(in: .whitespaces) ?? ""
        if activity.isEmpty {
            fail("activity", "Jenis kegiatan wajib diisi.", "REQUIRED")
        } else if !isActivityCode(activity) {
            fail(
                "activity", "Kode kegiatan tidak valid (2–40 huruf kecil atau garis bawah, mis. pilah_sampah).",
                "INVALID_FORMAT")
        }

        var definition: ActivityDefinition?
        if let program, isActivityCode(activity) {
            definition = program.activity(activity)
            if definition == nil {
                let known = program.activities.map(\.code).joined(separator: ", ")
                fail(
                    "activity", "Kegiatan \"\(activity)\" tidak ada dalam program \(program.name) (pilihan: \(known)).",
                    "UNKNOWN_ACTIVITY")
            }
        }

        let place = form.place.flatMap(Place.init(rawValue:))
        if form.place == nil {
            fail("place", "Tempat kegiatan wajib diisi (office atau home).", "REQUIRED")
        } else if place == nil {
            fail("place", "Tempat kegiatan harus \"office\" (kantor) atau \"home\" (rumah).", "INVALID_VALUE")
        } else if let place, let definition, !definition.places.contains(place.rawValue) {
            fail(
                "place",
                "Kegiatan \(definition.name) tidak dapat dilakukan di \(place == .office ? "kantor" : "rumah").",
                "PLACE_NOT_ALLOWED")
        }

        let activityAt = form.activityAt.flatMap(RFC3339.parse)
        if form.activityAt == nil {
            fail("activityAt", "Waktu kegiatan wajib diisi.", "REQUIRED")
        } else if let activityAt {
            let maxAge = program?.maxClaimAgeDays ?? defaultMaxClaimAgeDays
            if activityAt.timeIntervalSince(now) > futureTolerance {
                fail("activityAt", ReasonCode.futureDate.indonesianText, ReasonCode.futureDate.rawValue)
            } else if jakartaDay(now) - jakartaDay(activityAt) > maxAge {
                fail(
                    "activityAt", "Kegiatan hanya dapat diajukan paling lambat \(maxAge) hari setelah dilakukan.",
                    "CLAIM_TOO_OLD")
            }
        } else {
            fail(
                "activityAt", "Waktu kegiatan harus berformat RFC 3339, mis. 2026-03-01T08:30:00+07:00.",
                "INVALID_FORMAT")
        }

        if let quantity = form.quantity {
            if !quantity.isFinite || quantity <= 0 {
                fail("quantity", "Jumlah harus lebih dari 0.", "INVALID_VALUE")
            } else if quantity > maxQuantity {
                fail("quantity", "Jumlah terlalu besar (maksimal \(Int(maxQuantity))).", "INVALID_VALUE")
            } else if let definition {
                let unit = definition.unit == "kg" ? " kg" : ""
                if let minimum = definition.minQuantity, quantity < minimum {
                    fail(
                        "quantity", "Jumlah minimal untuk \(definition.name) adalah \(format(minimum))\(unit).",
                        "QUANTITY_OUT_OF_RANGE")
                } else if let maximum = definition.maxQuantity, quantity > maximum {
                    fail(
                        "quantity", "Jumlah maksimal untuk \(definition.name) adalah \(format(maximum))\(unit).",
                        "QUANTITY_OUT_OF_RANGE")
                } else if definition.unit == "count", quantity != quantity.rounded() {
                    fail("quantity", "Jumlah untuk \(definition.name) harus bilangan bulat.", "QUANTITY_NOT_WHOLE")
                }
            }
        } else {
            fail("quantity", "Jumlah wajib diisi.", "REQUIRED")
        }

        var note = form.note?.trimmingCharacters(in: .whitespacesAndNewlines)
        if note?.isEmpty == true { note = nil }
        if let note, note.count > maxNoteLength {
            fail("note", "Catatan terlalu panjang (maksimal \(maxNoteLength) karakter).", "TOO_LONG")
        }

        var location: GeoPoint?
        if let device = form.deviceLocation {
            if let latitude = device.latitude, let longitude = device.longitude {
                let point = GeoPoint(latitude: latitude, longitude: longitude, accuracy: device.accuracy)
                if !point.isValid {
                    fail("deviceLocation", "Koordinat lokasi perangkat tidak valid.", "INVALID_VALUE")
                } else if let accuracy = device.accuracy, !accuracy.isFinite || accuracy < 0 {
                    fail("deviceLocation.accuracy", "Akurasi lokasi harus 0 atau lebih.", "INVALID_VALUE")
                } else {
                    location = point
                }
            } else {
                fail("deviceLocation", "Lokasi perangkat harus berisi latitude dan longitude.", "REQUIRED")
            }
        }

        if photoCount < evidenceCount.lowerBound {
            fail("evidence", "Lampirkan minimal 1 foto bukti kegiatan.", "REQUIRED")
        } else if photoCount > evidenceCount.upperBound {
            fail("evidence", "Maksimal \(evidenceCount.upperBound) foto bukti per pengajuan.", "TOO_MANY")
        }

        guard errors.isEmpty, let place, let activityAt, let quantity = form.quantity else {
            throw ProblemDetails.unprocessable(
                "Data pengajuan belum lengkap atau tidak valid. Submission data is incomplete or invalid.",
                code: errors.contains { $0.code == ReasonCode.futureDate.rawValue } && errors.count == 1
                    ? ReasonCode.futureDate.rawValue : "VALIDATION_FAILED",
                errors: errors
            )
        }
        var draft = SubmissionDraft(
            activity: activity,
            place: place,
            activityAt: activityAt,
            quantity: quantity,
            note: note,
            deviceLocation: location
        )
        draft.programVersion = program?.programVersion
        draft.unit = definition?.unit
        return draft
    }

    /// `2`, `2.5`: a quantity as the ASN would write it.
    private static func format(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}

/// A photo of an upload, checked and hashed.
package struct EvidenceUpload: Sendable {
    /// The bytes: a slice of the request body, not a copy.
    package var bytes: ByteBuffer
    /// SHA-256, lowercase hex.
    package var sha256: String
    /// Sniffed from the bytes.
    package var mediaType: ImageSniffer.MediaType
    /// Read from the bytes: size, EXIF, perceptual hash.
    package var facts: PhotoFacts

    /// The reference carried in events and responses.
    package var reference: EvidenceRef {
        EvidenceRef(
            sha256: sha256, mediaType: mediaType.rawValue, sizeBytes: bytes.readableBytes, capture: facts.capture,
            perceptualHash: facts.perceptualHash?.hex, url: "/v1/evidence/\(sha256)", width: facts.width,
            height: facts.height)
    }
}

/// A submission as stored, with its current status.
package struct StoredSubmission: Sendable, Equatable {
    package var id: UUID
    package var nip: String
    package var name: String?
    package var opd: String
    package var program: String
    package var activity: String
    package var place: String
    package var activityAt: Date
    package var quantity: Double
    package var note: String?
    package var deviceLocation: GeoPoint?
    package var requestHash: String
    package var submittedAt: Date
    package var status: SubmissionStatus
    package var points: Int?
    package var reasonCode: String?
    package var reason: String?
    package var updatedAt: Date
    package var evidence: [EvidenceRef]
    /// Whether the latest rejection may still be appealed.
    package var appealable: Bool = false
    /// Who made the latest decision (`auto` or a verifier's NIP).
    package var decidedBy: String?
}
