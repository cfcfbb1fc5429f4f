/// Why verification flagged or rejected a submission (DESIGN §4). Raw values are the codes carried in events.
package enum ReasonCode: String, Codable, Sendable, CaseIterable {
    /// The same photo (SHA-256) was used before, by anyone.
    case duplicateEvidence = "DUPLICATE_EVIDENCE"
    /// A photo is perceptually close to an earlier one.
    case nearDuplicateEvidence = "NEAR_DUPLICATE_EVIDENCE"
    /// The EXIF capture time is outside the claimed activity window, or after submission.
    case captureOutsideWindow = "CAPTURE_OUTSIDE_WINDOW"
    /// No photo has capture metadata (never auto-approve on client-sent data alone).
    case noCaptureMetadata = "NO_CAPTURE_METADATA"
    /// The photo GPS is far from the registered office or home.
    case outsideGeofence = "OUTSIDE_GEOFENCE"
    /// The daily or weekly limit for the activity is reached.
    case dailyCap = "DAILY_CAP"
    /// The activity date is in the future.
    case futureDate = "FUTURE_DATE"
    /// The quantity is not plausible for the activity.
    case implausibleQuantity = "IMPLAUSIBLE_QUANTITY"
    /// The ASN is temporarily banned from earning points.
    case earningBanned = "EARNING_BANNED"
    /// A verifier rejected the submission after review.
    case reviewerRejected = "REVIEWER_REJECTED"

    /// A user-facing sentence in Bahasa Indonesia.
    package var indonesianText: String {
        switch self {
        case .duplicateEvidence:
            "Foto bukti ini sudah pernah digunakan sebelumnya. Gunakan foto baru dari kegiatan Anda."
        case .nearDuplicateEvidence:
            "Foto bukti ini sangat mirip dengan foto yang pernah dikirim sebelumnya."
        case .captureOutsideWindow:
            "Waktu pengambilan foto tidak sesuai dengan waktu kegiatan yang Anda laporkan."
        case .noCaptureMetadata:
            "Foto tidak memiliki data waktu pengambilan, sehingga perlu diperiksa oleh petugas."
        case .outsideGeofence:
            "Lokasi foto berada jauh dari kantor atau rumah yang terdaftar."
        case .dailyCap:
            "Batas harian atau mingguan untuk kegiatan ini sudah tercapai."
        case .futureDate:
            "Tanggal kegiatan tidak boleh di masa mendatang."
        case .implausibleQuantity:
            "Jumlah yang dilaporkan tidak wajar untuk kegiatan ini."
        case .earningBanned:
            "Anda sedang dalam masa penangguhan perolehan poin karena pelanggaran sebelumnya."
        case .reviewerRejected:
            "Pengajuan ditolak oleh verifikator setelah pemeriksaan."
        }
    }

    /// The same sentence in English.
    package var englishText: String {
        switch self {
        case .duplicateEvidence: "This evidence photo has been used before. Please use a new photo of your activity."
        case .nearDuplicateEvidence: "This evidence photo is nearly identical to a photo submitted earlier."
        case .captureOutsideWindow: "The photo's capture time does not match the activity time you reported."
        case .noCaptureMetadata: "The photo has no capture time data, so it needs review by an officer."
        case .outsideGeofence: "The photo was taken far from your registered office or home."
        case .dailyCap: "The daily or weekly limit for this activity has been reached."
        case .futureDate: "The activity date cannot be in the future."
        case .implausibleQuantity: "The reported quantity is not plausible for this activity."
        case .earningBanned: "You are temporarily suspended from earning points because of an earlier violation."
        case .reviewerRejected: "A verifier rejected the submission after review."
        }
    }
}
