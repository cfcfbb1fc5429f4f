import Contracts
import Foundation
import ServiceSupport
import TestSupport

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// `asnreward-bench demo`: a demo city through the services' real APIs, so that a fresh `deploy/dev up` shows a
/// leaderboard, a review queue and a live dashboard at once.
///
/// - the program file `deploy/programs/peduli-sampah.yaml` through `PUT /v1/programs/{code}`;
/// - about 500 ASN of six OPDs (valid PNS and PPPK NIPs, offices and homes in Semarang) through `POST /v1/roster`;
/// - the last seven days of history (as far back as the program lets a claim go): photos with EXIF and GPS that
///   pass the automatic checks, a few without capture data (the review queue) and a few reused photos
///   (rejections);
/// - a sign-in link per role for each page.
///
/// Idempotent on any day: every submission's `Idempotency-Key` names its ASN, day and slot, and its content
/// (activity time, photo) is derived from the key alone, so a rerun replays what exists and adds the new days.
func runDemoSeed() async throws {
    let environment = EnvFile.mergedEnvironment()
    guard let secret = environment["JWT_HS256_SECRET"], let intake = environment["INTAKE_URL"],
        let scoring = environment["SCORING_URL"]
    else {
        print("demo: run `deploy/dev up` and `. .run/env` first")
        return
    }
    let demo = DemoCity()
    let issuer = TokenIssuer(hs256Secret: secret)
    let admin = try await issuer.token(
        nip: DemoCity.adminNIP, name: "Admin BKPP", opd: "BKPP", roles: ["scoring-admin"], expiresIn: .seconds(3600))

    let programFile = DevEnvironment.repositoryRoot.appendingPathComponent("deploy/programs/peduli-sampah.yaml")
    if let program = FileManager.default.contents(atPath: programFile.path) {
        let (status, _) = try await DemoHTTP.send(
            "PUT", "\(scoring)/v1/programs/peduli-sampah", token: admin, body: program, contentType: "application/yaml")
        print("demo: program peduli-sampah → HTTP \(status)")
    }
    let (rosterStatus, rosterBody) = try await DemoHTTP.send(
        "POST", "\(scoring)/v1/roster", token: admin, body: Data(demo.population.rosterCSV().utf8),
        contentType: "text/csv; charset=utf-8")
    print("demo: roster of \(demo.population.people.count) ASN → HTTP \(rosterStatus)")
    if !(200..<300).contains(rosterStatus) { print(String(decoding: rosterBody.prefix(600), as: UTF8.self)) }
    // Give verification and notification a moment to learn the roster and the program from their events.
    try await Task.sleep(for: .seconds(3))

    let client = IntakeClient(baseURL: URL(string: intake)!)
    var counts: [Int: Int] = [:]
    for item in demo.history(now: Date()) {
        let person = demo.population.people[item.person]
        let token = try await issuer.token(
            nip: person.nip, name: person.name, opd: demo.population.opds[person.opd].code, roles: ["asn"])
        let status = try await client.submit(
            token: token, activity: item.activity, place: item.place, activityAt: item.activityAt,
            quantity: item.quantity, note: "Data contoh", photo: item.photo, idempotencyKey: item.key)
        counts[status, default: 0] += 1
    }
    print("demo: history → " + counts.sorted { $0.key < $1.key }.map { "HTTP \($0.key) × \($0.value)" }.joined(
        separator: ", "))
    try await demo.printSignInLinks(issuer: issuer, environment: environment)
}

/// The demo city: OPDs of Semarang, ~500 ASN, and a deterministic history.
struct DemoCity {
    /// The BKPP administrator who imports the roster.
    static let adminNIP = "197805122003121002"

    /// The OPDs the agencies asked to see.
    static let opds: [SyntheticPopulation.OPD] = [
        .init(code: "DLH", name: "Dinas Lingkungan Hidup", latitude: -6.9857, longitude: 110.4096),
        .init(
            code: "DISKOMINFO", name: "Dinas Komunikasi, Informatika, Statistik dan Persandian", latitude: -6.9830,
            longitude: 110.4101),
        .init(code: "BKPP", name: "Badan Kepegawaian, Pendidikan dan Pelatihan", latitude: -6.9826, longitude: 110.4094),
        .init(code: "DINKES", name: "Dinas Kesehatan", latitude: -6.9934, longitude: 110.4205),
        .init(code: "KECSMGTENGAH", name: "Kecamatan Semarang Tengah", latitude: -6.9781, longitude: 110.4175),
        .init(code: "INSPEKTORAT", name: "Inspektorat", latitude: -6.9839, longitude: 110.4092),
    ]

    let population: SyntheticPopulation
    private let photos = SyntheticJPEG(seed: 0xDE40_2026)

    /// 500 ASN; every fifth one a PPPK (appointment year, then `21`, in the TMT digits).
    init() {
        var population = SyntheticPopulation(count: 500, seed: 0xDE40, opds: Self.opds)
        var seen = Set(population.people.map(\.nip))
        for index in stride(from: 4, to: population.people.count, by: 5) {
            var digits = Array(population.people[index].nip)
            digits[12] = "2"
            digits[13] = "1"
            let pppk = String(digits)
            if NIP.isValid(pppk), seen.insert(pppk).inserted { population.people[index].nip = pppk }
        }
        self.population = population
    }

    /// One demo submission.
    struct Item {
        var key: String
        var person: Int
        var activity: String
        var place: String
        var quantity: Double
        var activityAt: Date
        var photo: [UInt8]
    }

    private static let activities: [(code: String, place: String, quantity: Double)] = [
        ("pilah_sampah", "office", 1), ("komposting", "home", 1), ("bank_sampah", "home", 2.5),
        ("kerja_bakti", "office", 1), ("kurangi_plastik", "office", 1), ("edukasi_warga", "home", 1),
    ]

    /// The last seven Asia/Jakarta days up to `now`: each day a different fifth of the ASN report once; one in 40
    /// sends a photo without EXIF (review), one in 60 reuses a colleague's photo of the same day (rejection).
    func history(now: Date) -> [Item] {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "Asia/Jakarta")!
        let today = calendar.startOfDay(for: now)
        var items: [Item] = []
        for daysAgo in stride(from: 6, through: 0, by: -1) {
            let day = calendar.date(byAdding: .day, value: -daysAgo, to: today)!
            let dayKey = Self.dayFormatter.string(from: day)
            let ordinal = Int(day.timeIntervalSince1970 / 86_400)
            for (person, _) in population.people.enumerated() where (person + ordinal) % 5 == 0 {
                var random = SplitMix64(seed: UInt64(person) &* 1_000_003 &+ UInt64(ordinal))
                let activity = Self.activities[Int(random.next() % UInt64(Self.activities.count))]
                let at = day.addingTimeInterval(Double(7 * 3600 + Int(random.next() % (10 * 3600))))
                guard at < now.addingTimeInterval(-600) else { continue }
                let who = population.people[person]
                let office = population.opds[who.opd]
                let (latitude, longitude) =
                    activity.place == "office"
                    ? (office.latitude, office.longitude) : (who.homeLatitude, who.homeLongitude)
                let variant = UInt64(person) << 20 | UInt64(ordinal & 0xFFFFF)
                let metadata = PhotoMetadata(
                    capturedAt: at.addingTimeInterval(-300), latitude: latitude + 0.0002, longitude: longitude - 0.0002,
                    make: "samsung", model: "SM-A145F")
                var photo = photos.photo(metadata: metadata, comment: "demo \(who.nip) \(dayKey)", variant: variant)
                let roll = random.next() % 120
                if roll < 3 {
                    // No EXIF: a verifier must look at it. The same real JPEG without its APP1 segment (intake
                    // decodes every photo, so a header-only file would be refused as corrupt).
                    let exifEnd = 4 + (Int(photo[4]) << 8 | Int(photo[5]))
                    photo = [0xFF, 0xD8] + photo[exifEnd...]
                } else if roll < 5, let earlier = items.last(where: { $0.key.hasSuffix(dayKey) }) {
                    photo = earlier.photo  // a colleague's photo of the same day, byte for byte
                }
                items.append(
                    Item(
                        key: "demo-\(who.nip)-\(dayKey)", person: person, activity: activity.code,
                        place: activity.place, quantity: activity.quantity, activityAt: at, photo: photo))
            }
        }
        return items
    }

    private static let dayFormatter: DateFormatter = {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "Asia/Jakarta")
        formatter.dateFormat = "yyyy-MM-dd"
        return formatter
    }()

    /// Prints each page's URL with a sign-in link (the token in the URL fragment, which never reaches a server log).
    func printSignInLinks(issuer: TokenIssuer, environment: [String: String]) async throws {
        let asn = population.people[0]
        let verifier = population.people.first { population.opds[$0.opd].code == "DLH" } ?? asn
        let links: [(label: String, service: String, nip: String, name: String, opd: String, roles: [String])] = [
            ("ASN (unggah kegiatan)", "INTAKE_URL", asn.nip, asn.name, population.opds[asn.opd].code, ["asn"]),
            ("Verifikator DLH (konsol)", "VERIFICATION_URL", verifier.nip, verifier.name, "DLH", ["verifier"]),
            ("Dasbor langsung", "NOTIFICATION_URL", "198001012005011001", "Dasbor Kota", "DISKOMINFO", ["dashboard"]),
        ]
        print("\nHalaman dan tautan masuk (berlaku 8 jam) / pages and sign-in links (valid 8 h):")
        for link in links {
            guard let base = environment[link.service] else { continue }
            let token = try await issuer.token(
                nip: link.nip, name: link.name, opd: link.opd, roles: link.roles, expiresIn: .seconds(8 * 3600))
            print("  \(link.label):\n    \(base)/#token=\(token)")
        }
        // BKPP's admin page comes with scoring part 2; until then BKPP and the Inspektorat use the API.
        let apiTokens: [(label: String, nip: String, name: String, opd: String, roles: [String])] = [
            ("Admin BKPP (API scoring, asnreward CLI)", Self.adminNIP, "Admin BKPP", "BKPP", ["scoring-admin"]),
            ("Auditor Inspektorat (GET /v1/audit, /v1/ledger)", "197011042000031001", "Auditor", "INSPEKTORAT", ["auditor"]),
        ]
        print("Token API (berlaku 8 jam) / API tokens (valid 8 h):")
        for entry in apiTokens {
            let token = try await issuer.token(
                nip: entry.nip, name: entry.name, opd: entry.opd, roles: entry.roles, expiresIn: .seconds(8 * 3600))
            print("  \(entry.label):\n    \(token)")
        }
    }
}

/// Plain requests for the demo step.
enum DemoHTTP {
    static func send(_ method: String, _ url: String, token: String, body: Data, contentType: String) async throws
        -> (Int, Data)
    {
        var request = URLRequest(url: URL(string: url)!, timeoutInterval: 300)
        request.httpMethod = method
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.setValue(contentType, forHTTPHeaderField: "Content-Type")
        request.httpBody = body
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
    }
}
