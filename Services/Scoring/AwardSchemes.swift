import Contracts
import Foundation
import Yams

/// The `awards:` and `leaderboard:` sections of a program file.
///
/// ```yaml
/// leaderboard:
///   showNames: true          # false: initials only, for every rank
///   initialsBelowRank: 10    # names for ranks 1–10, initials below
/// awards:
///   - scheme: teladan-triwulan
///     name: ASN Teladan Triwulan
///     stage: quarterly
///     top: 1
///     prize: Uang pembinaan Rp 1.000.000
///     prizeAmountRupiah: 1000000
///   - scheme: teladan-semester
///     stage: semester
///     requires: teladan-triwulan   # the semester shortlist is the quarter winners …
///     prize: Masuk daftar pendek ASN Teladan Tahunan
///   - scheme: teladan-tahunan
///     stage: yearly
///     top: 1
///     requires: teladan-semester   # … and only a shortlisted ASN can win the year
///     prize: Umrah
/// ```
struct AwardScheme: Codable, Sendable, Equatable {
    /// When a scheme is granted: at the close of a quarter, a semester or a year.
    enum Stage: String, Codable, Sendable, CaseIterable, Comparable {
        case quarterly
        case semester
        case yearly

        /// The period kind closing it.
        var periodKind: Period.Kind {
            switch self {
            case .quarterly: .quarter
            case .semester: .semester
            case .yearly: .year
            }
        }

        init(_ kind: Period.Kind) {
            switch kind {
            case .quarter: self = .quarterly
            case .semester: self = .semester
            case .year: self = .yearly
            }
        }

        static func < (lhs: Stage, rhs: Stage) -> Bool { lhs.periodKind < rhs.periodKind }
    }

    /// The scheme id (lowercase letters, digits and `-`), unique in the file.
    var scheme: String
    /// Display name, e.g. `ASN Teladan Triwulan`; the scheme id when absent.
    var name: String?
    var stage: Stage
    /// How many ASN receive it (the top N eligible by points, ties broken by who reached the score first).
    /// Absent with `requires`: every eligible ASN (e.g. the semester shortlist made of the quarter winners).
    var top: Int?
    /// The prize as shown, e.g. `Uang pembinaan Rp 1.000.000`, `Umrah`.
    var prize: String
    /// The prize money in rupiah when it is money.
    var prizeAmountRupiah: Int?
    /// Eligibility: only ASN who received this (earlier-stage) scheme in a period inside this one.
    var requires: String?
    /// Eligibility: at least this many points in the period (every award needs at least 1 point).
    var minPoints: Int?

    /// The display name.
    var displayName: String { name ?? scheme }
}

/// Privacy of the public rankings (`leaderboard:`): full names, or initials below a rank.
///
/// The ASN themselves, `scoring-admin` and `auditor` always see full names and NIPs; everyone else sees the rows
/// the setting allows, and a row reduced to initials also hides the NIP (it encodes the birth date).
struct LeaderboardPrivacy: Codable, Sendable, Equatable {
    /// Whether names are shown at all (default `true`); `false`: initials for every rank.
    var showNames: Bool?
    /// Names only for ranks up to this one, initials below; absent: names for every rank.
    var initialsBelowRank: Int?

    /// The strictest of several programs' settings (rankings are across programs).
    static func strictest(_ settings: [LeaderboardPrivacy?]) -> LeaderboardPrivacy {
        var result = LeaderboardPrivacy(showNames: true, initialsBelowRank: nil)
        for setting in settings.compactMap({ $0 }) {
            if setting.showNames == false { result.showNames = false }
            if let rank = setting.initialsBelowRank {
                result.initialsBelowRank = min(result.initialsBelowRank ?? rank, rank)
            }
        }
        return result
    }

    /// Whether the name of a row at `rank` may be shown.
    func showsName(atRank rank: Int) -> Bool {
        guard showNames ?? true else { return false }
        guard let limit = initialsBelowRank else { return true }
        return rank <= limit
    }

    /// `Siti Rahma` → `S. R.`.
    static func initials(_ name: String) -> String {
        let letters = name.split(whereSeparator: { $0 == " " || $0 == "." || $0 == "," }).compactMap(\.first)
        guard !letters.isEmpty else { return "–" }
        return letters.prefix(4).map { "\(String($0).uppercased())." }.joined(separator: " ")
    }
}

/// Validation of the award and leaderboard sections, with fields the program catalogue locates in the file.
enum AwardSchemes {
    /// Keys allowed in one award scheme.
    static let schemeKeys: Set<String> = [
        "scheme", "name", "stage", "top", "prize", "prizeAmountRupiah", "requires", "minPoints",
    ]
    /// Keys allowed under `leaderboard`.
    static let leaderboardKeys: Set<String> = ["showNames", "initialsBelowRank"]

    /// Unknown keys under `awards[i]` and `leaderboard`, each at its line and column.
    static func unknownKeys(in root: Node.Mapping) -> [ProgramProblem] {
        func check(_ mapping: Node.Mapping?, allowed: Set<String>, at path: String) -> [ProgramProblem] {
            guard let mapping else { return [] }
            return mapping.keys.filter { !allowed.contains($0.string ?? "") }.map { key in
                ProgramProblem(
                    field: "\(path)\(key.string ?? "?")", line: key.mark?.line, column: key.mark?.column,
                    message: "\(path)\(key.string ?? "?"): kunci tidak dikenal / unknown key")
            }
        }
        var problems = check(root["leaderboard"]?.mapping, allowed: leaderboardKeys, at: "leaderboard.")
        for (index, scheme) in (root["awards"]?.sequence ?? []).enumerated() {
            problems += check(scheme.mapping, allowed: schemeKeys, at: "awards[\(index)].")
        }
        return problems
    }

    /// The rule problems of the sections (fields without line and column; the catalogue adds them).
    static func validate(_ document: ProgramDocument) -> [ProgramProblem] {
        var problems: [ProgramProblem] = []
        func add(_ field: String, _ message: String) {
            problems.append(ProgramProblem(field: field, message: message))
        }
        if let rank = document.leaderboard?.initialsBelowRank, rank < 0 {
            add("leaderboard.initialsBelowRank", "leaderboard.initialsBelowRank: harus ≥ 0 / must be at least 0")
        }
        let schemes = document.awards ?? []
        var stages: [String: AwardScheme.Stage] = [:]
        for scheme in schemes where stages[scheme.scheme] == nil { stages[scheme.scheme] = scheme.stage }
        var seen: Set<String> = []
        for (index, scheme) in schemes.enumerated() {
            let at = "awards[\(index)]"
            if !seen.insert(scheme.scheme).inserted {
                add("\(at).scheme", "\(at).scheme: skema ganda '\(scheme.scheme)' / duplicate scheme")
            }
            if scheme.scheme.isEmpty
                || !scheme.scheme.allSatisfy({ "abcdefghijklmnopqrstuvwxyz0123456789-".contains($0) })
            {
                add("\(at).scheme", "\(at).scheme: huruf kecil, angka dan '-' / lowercase letters, digits and '-'")
            }
            if scheme.prize.trimmingCharacters(in: .whitespaces).isEmpty {
                add("\(at).prize", "\(at).prize: wajib diisi / is required")
            }
            if let top = scheme.top, top < 1 || top > 1000 {
                add("\(at).top", "\(at).top: harus 1–1000 / must be 1–1000")
            }
            if scheme.top == nil && scheme.requires == nil {
                add(
                    "\(at).top",
                    "\(at).top: wajib diisi bila tidak ada 'requires' / required unless 'requires' names an earlier "
                        + "stage")
            }
            if let amount = scheme.prizeAmountRupiah, amount < 0 {
                add("\(at).prizeAmountRupiah", "\(at).prizeAmountRupiah: tidak boleh negatif / must not be negative")
            }
            if let minimum = scheme.minPoints, minimum < 1 {
                add("\(at).minPoints", "\(at).minPoints: harus ≥ 1 / must be at least 1")
            }
            if let required = scheme.requires {
                if let stage = stages[required] {
                    if !(stage < scheme.stage) {
                        add(
                            "\(at).requires",
                            "\(at).requires: '\(required)' harus tahap lebih awal dari \(scheme.stage.rawValue) / "
                                + "must be an earlier stage than \(scheme.stage.rawValue)")
                    }
                } else {
                    add(
                        "\(at).requires",
                        "\(at).requires: skema '\(required)' tidak ada di berkas ini / no such scheme in this file")
                }
            }
        }
        return problems
    }
}
