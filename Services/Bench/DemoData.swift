import Foundation
import ServiceSupport
import TestSupport

/// `asnreward-bench demo`: a few demo submissions against the running services, so a fresh `deploy/dev up` shows
/// points, a rejection and notifications at once. Idempotent: the same keys and photos every time.
func runDemoSeed() async throws {
    let environment = ProcessInfo.processInfo.environment
    guard let secret = environment["JWT_HS256_SECRET"], let intake = environment["INTAKE_URL"].flatMap(URL.init) else {
        print("demo: run `deploy/dev up` and `. .run/env` first")
        return
    }
    let issuer = TokenIssuer(hs256Secret: secret)
    let client = IntakeClient(baseURL: intake)
    let people = [
        (nip: "198503152010012001", name: "Siti Rahma", opd: "DLH"),
        (nip: "199001012015031002", name: "Budi Santoso", opd: "BKPP"),
        (nip: "198811202012122003", name: "Dewi Lestari", opd: "DISKOMINFO"),
    ]
    let plan: [(person: Int, activity: String, place: String, quantity: Double, photo: UInt64, hoursAgo: Double)] = [
        (0, "pilah_sampah", "office", 1, 1001, 30),
        (0, "komposting", "home", 1, 1002, 20),
        (1, "bank_sampah", "home", 3.5, 1003, 10),
        (2, "kerja_bakti", "office", 1, 1004, 5),
        (1, "pilah_sampah", "office", 1, 1001, 2),  // Siti's photo again: rejected as DUPLICATE_EVIDENCE
    ]
    for (index, item) in plan.enumerated() {
        let person = people[item.person]
        let token = try await issuer.token(nip: person.nip, name: person.name, opd: person.opd, roles: ["asn"])
        let status = try await client.submit(
            token: token,
            activity: item.activity,
            place: item.place,
            activityAt: Date().addingTimeInterval(-item.hoursAgo * 3600),
            quantity: item.quantity,
            note: "Data contoh",
            photo: TestImages.png(seed: item.photo),
            idempotencyKey: "demo-\(index)"
        )
        print("demo: \(person.name) \(item.activity) → HTTP \(status)")
    }
}
