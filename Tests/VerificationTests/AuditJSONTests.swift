import Contracts
import Foundation
import Testing

@testable import Verification

/// The audit trail's JSON is written directly (``Fact/jsonText``) instead of through Foundation's encoder: it must
/// be valid JSON that means exactly what the encoder's output means.
@Suite struct AuditJSONTests {
    static let samples: [Fact] = [
        .object([
            "checks": .array(
                [
                    CheckResult.pass("EARNING_BANNED"),
                    CheckResult.flag(
                        "NEAR_DUPLICATE_EVIDENCE",
                        [
                            "distance": .number(3), "threshold": .number(6.5), "tiny": .number(1e-7),
                            "huge": .number(1e300), "negative": .number(-42), "notFinite": .number(.infinity),
                            "when": .date(Date(timeIntervalSince1970: 1_772_000_000.25)), "none": .null,
                            "matches": .array([.object(["nip": .string("199001012015031001"), "ok": .bool(true)])]),
                        ]),
                    CheckResult.skipped(
                        "GEOFENCE", "lokasi kantor \"belum\" terdaftar\\ \n\t\r\u{08}\u{0C}\u{01}\u{1F}"),
                    CheckResult.pass("CAPTURE_TIME", ["note": .string("Tempat: Balai Kota / Semarang — ñ 漢字 😀")]),
                ].map(\.fact))
        ]),
        .object([:]), .array([]), .string(""), .number(0), .bool(false),
    ]

    @Test func sameDocumentAsTheEncoder() throws {
        for sample in Self.samples {
            let text = sample.jsonText
            let direct = try JSONDecoder().decode(Fact.self, from: Data(text.utf8))
            let encoded = try JSONDecoder().decode(Fact.self, from: ContractsJSON.encode(sample))
            #expect(direct == encoded, "\(text)")
        }
    }

    @Test func keysAreSortedAndIntegersHaveNoFraction() {
        #expect(
            Fact.object(["b": .number(2), "a": .number(1.5), "c": .array([.null, .bool(true)])]).jsonText
                == #"{"a":1.5,"b":2,"c":[null,true]}"#)
        #expect(Fact.string("a\"b\\c\u{01}").jsonText == #""a\"b\\c\u0001""#)
    }
}
