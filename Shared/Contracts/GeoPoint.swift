import Foundation

/// A WGS 84 position, e.g. the device GPS at submission or a registered office/home location.
package struct GeoPoint: Codable, Sendable, Equatable, Hashable {
    /// Latitude in decimal degrees (south negative).
    package var latitude: Double
    /// Longitude in decimal degrees (west negative).
    package var longitude: Double
    /// Reported accuracy radius in metres, when known.
    package var accuracy: Double?

    /// Creates a position.
    package init(latitude: Double, longitude: Double, accuracy: Double? = nil) {
        self.latitude = latitude
        self.longitude = longitude
        self.accuracy = accuracy
    }

    /// Whether the coordinates are on Earth (−90…90, −180…180) and finite.
    package var isValid: Bool {
        latitude.isFinite && longitude.isFinite && (-90...90).contains(latitude) && (-180...180).contains(longitude)
    }

    /// Great-circle distance in metres (haversine, mean Earth radius 6 371 008.8 m).
    package func distance(to other: GeoPoint) -> Double {
        let radius = 6_371_008.8
        let φ1 = latitude * .pi / 180
        let φ2 = other.latitude * .pi / 180
        let Δφ = (other.latitude - latitude) * .pi / 180
        let Δλ = (other.longitude - longitude) * .pi / 180
        let a = sin(Δφ / 2) * sin(Δφ / 2) + cos(φ1) * cos(φ2) * sin(Δλ / 2) * sin(Δλ / 2)
        return 2 * radius * atan2(a.squareRoot(), (1 - a).squareRoot())
    }
}

/// Where an activity was done. Payloads carry the raw value as a `String` so new places never break decoding.
package enum Place: String, Codable, Sendable, CaseIterable {
    /// At the ASN's office.
    case office
    /// At the ASN's home.
    case home

    /// The Bahasa Indonesia label, e.g. `Kantor`.
    package var indonesianName: String {
        switch self {
        case .office: "Kantor"
        case .home: "Rumah"
        }
    }
}

/// A location registered for an ASN in the roster, used for the `OUTSIDE_GEOFENCE` check.
package struct RegisteredLocation: Codable, Sendable, Equatable, Hashable {
    /// `office` or `home` (see `Place`).
    package var place: String
    /// Latitude in decimal degrees.
    package var latitude: Double
    /// Longitude in decimal degrees.
    package var longitude: Double
    /// Geofence radius in metres; `nil` means the verification default.
    package var radiusMeters: Double?
    /// A human label, e.g. `Kantor DLH Kota Semarang`.
    package var label: String?

    /// Creates a registered location.
    package init(place: String, latitude: Double, longitude: Double, radiusMeters: Double? = nil, label: String? = nil)
    {
        self.place = place
        self.latitude = latitude
        self.longitude = longitude
        self.radiusMeters = radiusMeters
        self.label = label
    }

    /// The centre as a `GeoPoint`.
    package var point: GeoPoint { GeoPoint(latitude: latitude, longitude: longitude) }
}
