import Contracts
import Foundation

/// A reproducible synthetic roster: ASN with valid 18-digit NIPs spread over Semarang's OPDs, each with the
/// registered office (the OPD's) and home location the geofence check compares photo GPS with.
struct SyntheticPopulation: Sendable {
    /// An agency with its office location.
    struct OPD: Sendable {
        /// Agency code (the JWT's `opd` claim).
        var code: String
        /// Display name.
        var name: String
        /// Office latitude (decimal degrees, south negative).
        var latitude: Double
        /// Office longitude.
        var longitude: Double
    }

    /// One ASN of the population.
    struct Person: Sendable {
        /// Valid PNS NIP.
        var nip: String
        /// Full name.
        var name: String
        /// Index into `opds`.
        var opd: Int
        /// Registered home location.
        var homeLatitude: Double
        /// Registered home location.
        var homeLongitude: Double
    }

    /// Semarang city agencies with office coordinates near their real sites (approximate).
    static let semarangOPDs: [OPD] = [
        OPD(code: "DLH", name: "Dinas Lingkungan Hidup", latitude: -6.9857, longitude: 110.4096),
        OPD(code: "BKPP", name: "Badan Kepegawaian, Pendidikan dan Pelatihan", latitude: -6.9826, longitude: 110.4094),
        OPD(
            code: "DISKOMINFO", name: "Dinas Komunikasi, Informatika, Statistik dan Persandian",
            latitude: -6.9830, longitude: 110.4101),
        OPD(code: "DINKES", name: "Dinas Kesehatan", latitude: -6.9934, longitude: 110.4205),
        OPD(code: "DISDIK", name: "Dinas Pendidikan", latitude: -6.9902, longitude: 110.4159),
        OPD(code: "DPU", name: "Dinas Pekerjaan Umum", latitude: -6.9779, longitude: 110.4249),
        OPD(code: "BAPPEDA", name: "Badan Perencanaan Pembangunan Daerah", latitude: -6.9829, longitude: 110.4088),
        OPD(code: "DISHUB", name: "Dinas Perhubungan", latitude: -6.9685, longitude: 110.4278),
        OPD(code: "DISPERKIM", name: "Dinas Perumahan dan Kawasan Permukiman", latitude: -6.9956, longitude: 110.4336),
        OPD(code: "KECTEMBALANG", name: "Kecamatan Tembalang", latitude: -7.0546, longitude: 110.4383),
        OPD(code: "KECBANYUMANIK", name: "Kecamatan Banyumanik", latitude: -7.0659, longitude: 110.4164),
        OPD(code: "KECSMGUTARA", name: "Kecamatan Semarang Utara", latitude: -6.9605, longitude: 110.4146),
        OPD(code: "RSUDWONGSO", name: "RSUD K.R.M.T. Wongsonegoro", latitude: -7.0243, longitude: 110.4538),
        OPD(code: "SATPOLPP", name: "Satuan Polisi Pamong Praja", latitude: -6.9822, longitude: 110.4109),
    ]

    /// Camera makes and models the photos claim (a common spread of phones).
    static let cameras: [(make: String, model: String)] = [
        ("samsung", "SM-A145F"), ("samsung", "SM-A546E"), ("Xiaomi", "Redmi Note 12"), ("OPPO", "CPH2477"),
        ("vivo", "V2254"), ("realme", "RMX3710"), ("Apple", "iPhone 13"), ("INFINIX", "Infinix X6833B"),
    ]

    /// The agencies.
    let opds: [OPD]
    /// The people, in a fixed order.
    var people: [Person]

    /// `count` ASN (default 20,000), the same for the same `seed`, every NIP distinct and valid (`NIP.isValid`).
    init(count: Int = 20_000, seed: UInt64 = 20_261_130, opds: [OPD] = Self.semarangOPDs) {
        var random = SplitMix64(seed: seed)
        let givenNames = [
            "Siti", "Budi", "Dewi", "Agus", "Sri", "Eko", "Rina", "Joko", "Wahyu", "Ratna", "Dian", "Hendra",
            "Yuni", "Bambang", "Lestari", "Teguh", "Nur", "Fajar", "Indah", "Rudi",
        ]
        let familyNames = [
            "Rahma", "Santoso", "Lestari", "Wibowo", "Hartati", "Prasetyo", "Susanti", "Nugroho", "Kurniawan",
            "Wulandari", "Setiawan", "Handayani", "Saputra", "Purnomo", "Utami",
        ]
        var seen = Set<String>()
        var people: [Person] = []
        people.reserveCapacity(count)
        while people.count < count {
            let birthYear = 1966 + Int(random.next() % 35)
            let birthMonth = 1 + Int(random.next() % 12)
            let birthDay = 1 + Int(random.next() % 28)
            let startYear = min(birthYear + 20 + Int(random.next() % 15), 2025)
            let startMonth = 1 + Int(random.next() % 12)
            let sex = 1 + Int(random.next() % 2)
            let serial = 1 + Int(random.next() % 999)
            let nip =
                Self.pad(birthYear, 4) + Self.pad(birthMonth, 2) + Self.pad(birthDay, 2) + Self.pad(startYear, 4)
                + Self.pad(startMonth, 2)
                + String(sex) + Self.pad(serial, 3)
            guard seen.insert(nip).inserted else { continue }
            let name =
                givenNames[Int(random.next() % UInt64(givenNames.count))] + " "
                + familyNames[Int(random.next() % UInt64(familyNames.count))]
            // Homes within roughly ±8 km of the city centre.
            let homeLatitude = -6.99 + (Double(random.next() % 16_000) - 8_000) / 111_000
            let homeLongitude = 110.42 + (Double(random.next() % 16_000) - 8_000) / 110_000
            people.append(
                Person(
                    nip: nip, name: name, opd: Int(random.next() % UInt64(opds.count)), homeLatitude: homeLatitude,
                    homeLongitude: homeLongitude))
        }
        self.opds = opds
        self.people = people
    }

    /// The roster as the CSV DESIGN §5 describes (`nip,name,opd,unit,phone,email,office_lat,office_lon,home_lat,
    /// home_lon,active`), for the roster import once scoring has one.
    func rosterCSV() -> String {
        var lines = ["nip,name,opd,unit,phone,email,office_lat,office_lon,home_lat,home_lon,active"]
        lines.reserveCapacity(people.count + 1)
        for (index, person) in people.enumerated() {
            let opd = opds[person.opd]
            let phone = "+628" + Self.pad(1_100_000_000 + index, 10)
            let email = "asn\(index)@semarangkota.go.id"
            lines.append(
                "\(person.nip),\(person.name),\(opd.code),,\(phone),\(email),\(opd.latitude),\(opd.longitude),"
                    + "\(person.homeLatitude),\(person.homeLongitude),true")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }
}
