import Foundation

/// One photo of a submission, stored content-addressed by intake.
package struct EvidenceRef: Codable, Sendable, Equatable, Hashable {
    /// SHA-256 of the file bytes, 64 lowercase hex digits; also the blob store key.
    package var sha256: String
    /// The sniffed media type: `image/jpeg` or `image/png` (never trusted from the file name).
    package var mediaType: String
    /// File size in bytes (≤ 5 MB).
    package var sizeBytes: Int
    /// What the EXIF data says, when the file has any.
    package var capture: CaptureMetadata?
    /// A 64-bit perceptual hash (dHash) as 16 lowercase hex digits, for `NEAR_DUPLICATE_EVIDENCE`; `nil` when
    /// intake did not compute one.
    package var perceptualHash: String?
    /// Where an authorised reviewer can fetch the file from intake over HTTP, e.g. `/v1/evidence/<sha256>`.
    package var url: String?
    /// Pixel width read from the image header (never from the client).
    package var width: Int?
    /// Pixel height read from the image header (never from the client).
    package var height: Int?

    /// Creates an evidence reference.
    package init(
        sha256: String,
        mediaType: String,
        sizeBytes: Int,
        capture: CaptureMetadata? = nil,
        perceptualHash: String? = nil,
        url: String? = nil,
        width: Int? = nil,
        height: Int? = nil
    ) {
        self.sha256 = sha256
        self.mediaType = mediaType
        self.sizeBytes = sizeBytes
        self.capture = capture
        self.perceptualHash = perceptualHash
        self.url = url
        self.width = width
        self.height = height
    }
}

/// Capture metadata read from a photo's EXIF block. Every field is optional: photos are often stripped.
package struct CaptureMetadata: Codable, Sendable, Equatable, Hashable {
    /// `DateTimeOriginal`, interpreted in Asia/Jakarta unless the photo states an offset.
    package var capturedAt: Date?
    /// GPS latitude in decimal degrees (south negative).
    package var latitude: Double?
    /// GPS longitude in decimal degrees (west negative).
    package var longitude: Double?
    /// EXIF `Make`.
    package var cameraMake: String?
    /// EXIF `Model`.
    package var cameraModel: String?
    /// The UTC offset the photo states for `capturedAt` (EXIF `OffsetTimeOriginal`, e.g. `+07:00`); `nil` when the
    /// photo states none and Asia/Jakarta was assumed.
    package var capturedAtOffset: String?
    /// GPS altitude in metres above sea level (below negative).
    package var altitude: Double?
    /// The GPS fix time (`GPSDateStamp` + `GPSTimeStamp`, always UTC).
    package var gpsTimestamp: Date?
    /// EXIF `Software`.
    package var software: String?

    /// Creates capture metadata.
    package init(
        capturedAt: Date? = nil,
        latitude: Double? = nil,
        longitude: Double? = nil,
        cameraMake: String? = nil,
        cameraModel: String? = nil,
        capturedAtOffset: String? = nil,
        altitude: Double? = nil,
        gpsTimestamp: Date? = nil,
        software: String? = nil
    ) {
        self.capturedAt = capturedAt
        self.latitude = latitude
        self.longitude = longitude
        self.cameraMake = cameraMake
        self.cameraModel = cameraModel
        self.capturedAtOffset = capturedAtOffset
        self.altitude = altitude
        self.gpsTimestamp = gpsTimestamp
        self.software = software
    }

    /// The GPS position, when both coordinates are present.
    package var location: GeoPoint? {
        guard let latitude, let longitude else { return nil }
        return GeoPoint(latitude: latitude, longitude: longitude)
    }
}
