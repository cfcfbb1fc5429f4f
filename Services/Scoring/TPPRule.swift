import Contracts
import Foundation
import Yams

/// How a period's results change an ASN's TPP allowance (*tunjangan tambahan penghasilan*), as the program file's
/// `tpp` section configures it, for the HR export.
///
/// An ASN's adjustment is the percent of the highest band their points reach (0 below the lowest band), minus the
/// cut of each kind of sanction that concerns them (each kind counted once): `low_performance` concerns the listed
/// ASN, `commitment_missed` every ASN of the OPD that missed. The collective rule (Banjarmasin's "if one does not
/// report, none in the SKPD are paid"): when an OPD's participation rate is below `collective.minParticipationRate`,
/// the OPD's band percent is withheld for everyone in it (the positive part is not paid; sanction cuts still apply)
/// and the export says so.
///
/// ```yaml
/// tpp:
///   bands:
///     - minPoints: 100
///       percent: 2.5
///   sanctionCuts:
///     low_performance: 5
///   collective:
///     minParticipationRate: 60
/// ```
struct TPPRule: Codable, Sendable, Equatable {
    /// Points from `minPoints` on earn `percent`.
    struct Band: Codable, Sendable, Equatable {
        var minPoints: Int
        var percent: Double
    }

    /// The collective rule.
    struct Collective: Codable, Sendable, Equatable {
        /// Participation rate in percent (0–100) below which an OPD's adjustment is withheld.
        var minParticipationRate: Double
    }

    var bands: [Band]?
    /// Percent cut per sanction kind (`low_performance`, `commitment_missed`), written positive and subtracted.
    var sanctionCuts: [String: Double]?
    var collective: Collective?

    /// Keys allowed under `tpp`.
    static let keys: Set<String> = ["bands", "sanctionCuts", "collective"]

    /// The band percent `points` reach (0 below every band).
    func bandPercent(points: Int) -> Double {
        (bands ?? []).filter { points >= $0.minPoints }.max { $0.minPoints < $1.minPoints }?.percent ?? 0
    }

    /// The cut (positive) for a sanction kind, 0 when none is configured.
    func cut(for kind: String) -> Double { sanctionCuts?[kind] ?? 0 }

    /// The adjustment of one ASN, rounded to hundredths of a percent.
    func adjustment(points: Int, sanctionKinds: Set<String>, withheld: Bool) -> Double {
        let band = withheld ? 0 : bandPercent(points: points)
        let cuts = sanctionKinds.reduce(0.0) { $0 + cut(for: $1) }
        return Self.rounded(band - cuts)
    }

    static func rounded(_ value: Double) -> Double {
        let result = (value * 100).rounded() / 100
        return result == 0 ? 0 : result  // no "-0"
    }

    /// The rule problems of the section (fields relative to the file, without line and column).
    static func validate(_ rule: TPPRule?) -> [ProgramProblem] {
        guard let rule else { return [] }
        var problems: [ProgramProblem] = []
        func add(_ field: String, _ message: String) {
            problems.append(ProgramProblem(field: field, message: "\(field): \(message)"))
        }
        var seen: Set<Int> = []
        for (index, band) in (rule.bands ?? []).enumerated() {
            let at = "tpp.bands[\(index)]"
            if band.minPoints < 0 { add("\(at).minPoints", "harus ≥ 0 / must be at least 0") }
            if !seen.insert(band.minPoints).inserted { add("\(at).minPoints", "ambang ganda / duplicate threshold") }
            if !band.percent.isFinite || !(-100...100).contains(band.percent) {
                add("\(at).percent", "harus antara -100 dan 100 / must be between -100 and 100")
            }
        }
        for (kind, cut) in (rule.sanctionCuts ?? [:]).sorted(by: { $0.key < $1.key }) {
            let at = "tpp.sanctionCuts.\(kind)"
            if SanctionImposed.Kind(rawValue: kind) == nil {
                add(
                    at,
                    "jenis sanksi tidak dikenal (commitment_missed, low_performance) / unknown sanction kind")
            }
            if !cut.isFinite || !(0...100).contains(cut) {
                add(
                    at, "potongan harus 0–100 (ditulis positif, dikurangkan) / the cut must be 0–100 (written positive)"
                )
            }
        }
        if let collective = rule.collective,
            !collective.minParticipationRate.isFinite || !(0...100).contains(collective.minParticipationRate)
        {
            add("tpp.collective.minParticipationRate", "harus 0–100 (persen) / must be 0–100 (percent)")
        }
        return problems
    }

    /// Keys under `tpp` the format does not know, each at its line and column.
    static func unknownKeys(in section: Node?) -> [ProgramProblem] {
        guard let mapping = section?.mapping else { return [] }
        func check(_ mapping: Node.Mapping?, allowed: Set<String>, at path: String) -> [ProgramProblem] {
            guard let mapping else { return [] }
            return mapping.keys.filter { !allowed.contains($0.string ?? "") }.map { key in
                ProgramProblem(
                    field: "\(path)\(key.string ?? "?")", line: key.mark?.line, column: key.mark?.column,
                    message: "\(path)\(key.string ?? "?"): kunci tidak dikenal / unknown key")
            }
        }
        var problems = check(mapping, allowed: keys, at: "tpp.")
        for (index, band) in (mapping["bands"]?.sequence ?? []).enumerated() {
            problems += check(band.mapping, allowed: ["minPoints", "percent"], at: "tpp.bands[\(index)].")
        }
        problems += check(mapping["collective"]?.mapping, allowed: ["minParticipationRate"], at: "tpp.collective.")
        return problems
    }

    /// The rule in force among `programs`: the first (by program code) that has a `tpp` section.
    static func inForce(_ programs: [ProgramDocument]) -> TPPRule? {
        programs.sorted { $0.program < $1.program }.lazy.compactMap(\.tpp).first
    }
}
