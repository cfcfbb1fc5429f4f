import Contracts
import Foundation
import Testing

@Suite("Time-ordered UUIDs (RFC 9562 version 7)")
struct TimeOrderedUUIDTests {
    @Test("version 7, variant 10, and the Unix time in milliseconds in the first 48 bits")
    func layout() {
        // 2026-03-02 07:00:00.5 UTC = 1,772,434,800,500 ms = 0x019C_AD58_BF74.
        let date = Date(timeIntervalSince1970: 1_772_434_800.5)
        let id = UUID.timeOrdered(at: date)
        let text = id.lowercased
        #expect(text.hasPrefix("019cad58-bf74-7"))
        let bytes = withUnsafeBytes(of: id.uuid) { Array($0) }
        #expect(bytes[6] >> 4 == 7)
        #expect(bytes[8] >> 6 == 0b10)
        let milliseconds = bytes[0..<6].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        #expect(milliseconds == 1_772_434_800_500)
    }

    @Test("ids of later milliseconds sort after earlier ones, as bytes and as lowercase text")
    func ordered() {
        let start = Date(timeIntervalSince1970: 1_772_434_800)
        // 0.4 ms into each millisecond, clear of binary rounding at its edges.
        let ids = (0..<1_000).map { UUID.timeOrdered(at: start.addingTimeInterval((Double($0) + 0.4) / 1000)) }
        let texts = ids.map(\.lowercased)
        #expect(texts == texts.sorted())
        #expect(Set(ids).count == ids.count)
    }

    @Test("ids of the same millisecond differ in their 74 random bits")
    func random() {
        let date = Date()
        let ids = (0..<10_000).map { _ in UUID.timeOrdered(at: date) }
        #expect(Set(ids).count == ids.count)
        #expect(Set(ids.map { $0.lowercased.prefix(13) }).count == 1)
    }
}
