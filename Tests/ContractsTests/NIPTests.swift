import Contracts
import Foundation
import Testing

@Suite("NIP")
struct NIPTests {
    @Test(
        "valid PNS NIPs",
        arguments: [
            "198503152010011001",  // born 1985-03-15, TMT 2010-01, male, serial 001
            "199001012015032003",  // female
            "197012311995121999",  // serial 999, December dates
            "200002292022011001",  // born on a leap day
            " 198503152010011001\n",  // surrounding whitespace ignored
        ]
    )
    func validPNS(_ string: String) throws {
        let nip = try NIP(string)
        #expect(nip.kind == .pns)
        #expect(nip.value.count == 18)
        #expect(nip.description == string.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    @Test func segments() throws {
        let nip = try NIP("198503152010011001")
        #expect((nip.birthYear, nip.birthMonth, nip.birthDay) == (1985, 3, 15))
        #expect((nip.serviceYear, nip.serviceMonth) == (2010, 1))
        #expect(nip.sex == .male)
        #expect(nip.serial == 1)
        #expect(try NIP("199001012015032003").sex == .female)
        #expect(nip.redacted == "198503**********01")
    }

    @Test(
        "PPPK NIPs: valid birth date, TMT not a PNS start of service",
        arguments: [
            "199005052022212001",  // appointment 2022, PPPK marker 21 in the month position
            "198807172023211002",
            "199512122000011001",  // TMT before the age of 18
        ]
    )
    func pppk(_ string: String) throws {
        #expect(try NIP(string).kind == .pppk)
    }

    @Test(
        "malformed NIPs are rejected",
        arguments: [
            ("", "18 digit"),
            ("19850315201001100", "18 digit"),  // 17 digits
            ("1985031520100110011", "18 digit"),  // 19 digits
            ("19850315201001100a", "angka"),
            ("198503152010 11001", "angka"),
            ("１９８５０３１５２０１００１１００１", "angka"),  // full-width digits
            ("198513152010011001", "tanggal lahir"),  // month 13
            ("198502302010011001", "tanggal lahir"),  // 30 February
            ("199002292015011001", "tanggal lahir"),  // 1990 is not a leap year
            ("190002282015011001", "tanggal lahir"),  // born 1900: implausible
            ("201501012035011001", "tanggal lahir"),  // born 2015: implausible
            ("198503002010011001", "tanggal lahir"),  // day 00
            ("198503152010013001", "jenis kelamin"),  // sex digit 3
            ("198503152010010001", "jenis kelamin"),  // sex digit 0
            ("198503152010011000", "nomor urut"),  // serial 000
        ]
    )
    func malformed(_ string: String, _ expectedText: String) throws {
        let error = try #require(throws: ContractError.self) { try NIP(string) }
        #expect(error.code == .invalidData)
        #expect(error.message.contains(expectedText), "\(error.message)")
        #expect(error.message.contains("NIP"))
        #expect(!NIP.isValid(string))
    }

    @Test func codableAsPlainString() throws {
        let nip = try NIP("198503152010011001")
        #expect(String(decoding: try ContractsJSON.encode([nip]), as: UTF8.self) == #"["198503152010011001"]"#)
        #expect(try ContractsJSON.decode([NIP].self, from: Data(#"["198503152010011001"]"#.utf8)) == [nip])
        let error = try #require(throws: ContractError.self) {
            try ContractsJSON.decode([NIP].self, from: Data(#"["12345"]"#.utf8))
        }
        #expect(error.message.contains("18 digit"))
    }
}
