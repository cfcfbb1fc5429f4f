import Contracts
import Database
import Eventing
import Foundation
import Logging
import Yams

/// One problem of a program file: the field, where it is in the file, and what is wrong.
struct ProgramProblem: Sendable, Equatable {
    /// The field's path, e.g. `activities[2].basePoints` (empty for the whole file).
    var field: String
    /// 1-based line and column of the field in the file, when known.
    var line: Int?
    var column: Int?
    /// What is wrong, Bahasa Indonesia first.
    var message: String

    /// `baris 12, kolom 5: activities[0].basePoints: …`.
    var text: String {
        guard let line, let column else { return message }
        return "baris \(line), kolom \(column) / line \(line), column \(column): \(message)"
    }
}

/// A program file that cannot be used, with every problem found (not only the first).
struct ProgramFileError: Error, CustomStringConvertible, Equatable {
    /// The file name, e.g. `peduli-sampah.yaml`.
    var file: String
    /// What is wrong, with field, line and column.
    var details: [ProgramProblem]

    init(file: String, details: [ProgramProblem]) {
        self.file = file
        self.details = details
    }

    init(file: String, problems: [String]) {
        self.init(file: file, details: problems.map { ProgramProblem(field: "", message: $0) })
    }

    /// What is wrong, one line each, with line and column when known.
    var problems: [String] { details.map(\.text) }

    var description: String {
        "berkas program \(file) tidak valid / program file \(file) is invalid:\n"
            + problems.map { "  - \($0)" }.joined(separator: "\n")
    }
}

/// Refusals when storing a program version.
enum ProgramCatalogError: Error, CustomStringConvertible, Equatable {
    /// The version is already stored with other content: versions are immutable, a change needs a new version.
    case versionConflict(program: String, version: Int)
    /// The program directory cannot be read.
    case unreadableDirectory(String)
    /// Two files of the directory hold the same program version.
    case duplicateVersion(program: String, version: Int, files: [String])

    var description: String {
        switch self {
        case .versionConflict(let program, let version):
            "program \(program) versi \(version) sudah tersimpan dengan isi berbeda; naikkan 'version' untuk "
                + "mengubah aturan / program \(program) version \(version) is already stored with different "
                + "content; bump 'version' to change the rules"
        case .unreadableDirectory(let path):
            "direktori program tidak dapat dibaca / cannot read the programs directory: \(path)"
        case .duplicateVersion(let program, let version, let files):
            "program \(program) versi \(version) ada di lebih dari satu berkas / program \(program) version "
                + "\(version) appears in several files: \(files.joined(separator: ", "))"
        }
    }
}

/// What ``ProgramCatalog/apply(_:pool:logger:)`` did.
enum ProgramApplyOutcome: Equatable, Sendable {
    /// The version was new: stored, and `program.published` enqueued.
    case published
    /// The same version with the same content was already stored: nothing happened.
    case unchanged
}

/// A stored program version.
struct StoredProgram: Sendable, Equatable {
    var document: ProgramDocument
    var checksum: String
    var appliedAt: Date
}

/// Programs and their versions: parsing and validating program files, storing versions, reading them back.
///
/// A program version is immutable once stored (a trigger refuses `UPDATE`/`DELETE` on `programs`), so totals can
/// be recomputed under any version later. The *current* version of a program is its highest stored version.
enum ProgramCatalog {
    // MARK: Files

    /// Loads every `*.yaml`/`*.yml` of `directory` (sorted by name), validated.
    ///
    /// - Throws: ``ProgramFileError`` for the first invalid file, ``ProgramCatalogError`` when the directory
    ///   cannot be read or two files hold the same program version.
    static func load(directory: URL) throws -> [ProgramDocument] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw ProgramCatalogError.unreadableDirectory(directory.path)
        }
        var documents: [(file: String, document: ProgramDocument)] = []
        for name in names.sorted() where name.hasSuffix(".yaml") || name.hasSuffix(".yml") {
            guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent(name).path) else {
                throw ProgramFileError(file: name, problems: ["berkas tidak dapat dibaca / cannot read the file"])
            }
            documents.append((name, try parse(String(decoding: data, as: UTF8.self), file: name)))
        }
        let byVersion = Dictionary(grouping: documents) { "\($0.document.program)@\($0.document.version)" }
        if let (_, clash) = byVersion.first(where: { $0.value.count > 1 }) {
            let first = clash[0].document
            throw ProgramCatalogError.duplicateVersion(
                program: first.program, version: first.version, files: clash.map(\.file))
        }
        return documents.map(\.document).sorted { ($0.program, $0.version) < ($1.program, $1.version) }
    }

    /// Parses and validates one program file.
    ///
    /// - Throws: ``ProgramFileError`` listing every problem (YAML syntax, unknown keys, wrong types, rule errors),
    ///   each with its field, line and column.
    static func parse(_ yaml: String, file: String) throws -> ProgramDocument {
        let node: Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch {
            throw ProgramFileError(
                file: file, details: [ProgramProblem(field: "", message: "YAML tidak valid / invalid YAML: \(error)")])
        }
        guard let node, let root = node.mapping else {
            throw ProgramFileError(
                file: file, problems: ["isi berkas harus berupa mapping YAML / the file must hold a YAML mapping"])
        }
        var problems = unknownKeys(in: root)
        let document: ProgramDocument
        do {
            document = try YAMLDecoder().decode(ProgramDocument.self, from: node)
        } catch let error as DecodingError {
            throw ProgramFileError(file: file, details: problems + [describe(error, root: node)])
        } catch {
            throw ProgramFileError(file: file, details: problems + [ProgramProblem(field: "", message: "\(error)")])
        }
        problems += validate(document).map { problem in
            var located = problem
            if let mark = locate(problem.field, in: node) {
                located.line = mark.line
                located.column = mark.column
            }
            return located
        }
        guard problems.isEmpty else { throw ProgramFileError(file: file, details: problems) }
        return document
    }

    /// The rule problems of a decoded document (empty when it is valid); fields without line and column.
    static func validate(_ document: ProgramDocument) -> [ProgramProblem] {
        var problems: [ProgramProblem] = []
        func add(_ field: String, _ message: String) {
            problems.append(ProgramProblem(field: field, message: message))
        }
        if !matches(document.program, allowed: "abcdefghijklmnopqrstuvwxyz0123456789-") {
            add(
                "program",
                "program '\(document.program)': kode harus huruf kecil, angka dan '-' / "
                    + "the code must be lowercase letters, digits and '-'")
        }
        if document.version < 1 {
            add("version", "version \(document.version): harus ≥ 1 / must be at least 1")
        }
        if document.name.trimmingCharacters(in: .whitespaces).isEmpty {
            add("name", "name: wajib diisi / is required")
        }
        if let days = document.maxClaimAgeDays, days < 1 {
            add("maxClaimAgeDays", "maxClaimAgeDays: harus ≥ 1 / must be at least 1")
        }
        if document.activities.isEmpty {
            add("activities", "activities: minimal satu kegiatan / at least one activity is required")
        }
        for (place, factor) in (document.placeFactors ?? [:]).sorted(by: { $0.key < $1.key }) {
            if !ProgramVocabulary.places.contains(place) {
                add(
                    "placeFactors.\(place)",
                    "placeFactors.\(place): tempat tidak dikenal (office, home) / unknown place (office, home)")
            }
            if !factor.isFinite || factor < 0 {
                add("placeFactors.\(place)", "placeFactors.\(place): harus ≥ 0 / must be at least 0 (got \(factor))")
            }
        }
        if let policy = document.verification {
            if let rate = policy.auditSampleRate, !(0...1).contains(rate) {
                add(
                    "verification.auditSampleRate",
                    "verification.auditSampleRate: harus 0–1 / must be 0–1 (got \(rate))")
            }
            if let hours = policy.captureWindowHours, !(hours > 0) {
                add("verification.captureWindowHours", "verification.captureWindowHours: harus > 0 / must be positive")
            }
            if let meters = policy.geofenceMeters, !(meters > 0) {
                add("verification.geofenceMeters", "verification.geofenceMeters: harus > 0 / must be positive")
            }
            if let points = policy.fourEyesMinPoints, points < 0 {
                add(
                    "verification.fourEyesMinPoints",
                    "verification.fourEyesMinPoints: tidak boleh negatif / must not be negative")
            }
            if let distance = policy.nearDuplicateDistance, !(0...64).contains(distance) {
                add(
                    "verification.nearDuplicateDistance",
                    "verification.nearDuplicateDistance: harus 0–64 / must be 0–64")
            }
        }
        if let streak = document.streak {
            if streak.bonuses.isEmpty {
                add("streak.bonuses", "streak.bonuses: minimal satu bonus / at least one bonus is required")
            }
            var lengths: Set<Int> = []
            for (index, bonus) in streak.bonuses.enumerated() {
                let at = "streak.bonuses[\(index)]"
                if bonus.weeks < 2 || bonus.weeks > 52 {
                    add("\(at).weeks", "\(at).weeks: harus 2–52 / must be 2–52")
                }
                if bonus.points < 0 {
                    add("\(at).points", "\(at).points: poin tidak boleh negatif / points must not be negative")
                }
                if !lengths.insert(bonus.weeks).inserted {
                    add("\(at).weeks", "\(at).weeks: panjang ganda / duplicate length")
                }
            }
        }
        if let fraud = document.fraud {
            if fraud.penaltyPoints < 0 {
                add(
                    "fraud.penaltyPoints",
                    "fraud.penaltyPoints: poin tidak boleh negatif (ditulis positif, dikurangkan) / points must not be "
                        + "negative (written positive, deducted)")
            }
            if let ban = fraud.ban {
                if ban.rejections < 1 { add("fraud.ban.rejections", "fraud.ban.rejections: harus ≥ 1 / must be ≥ 1") }
                if ban.withinDays < 1 { add("fraud.ban.withinDays", "fraud.ban.withinDays: harus ≥ 1 / must be ≥ 1") }
                if ban.banDays < 1 { add("fraud.ban.banDays", "fraud.ban.banDays: harus ≥ 1 / must be ≥ 1") }
            }
        }
        problems += TPPRule.validate(document.tpp)
        problems += AwardSchemes.validate(document)
        var seen: Set<String> = []
        for (index, activity) in document.activities.enumerated() {
            let at = "activities[\(index)] (\(activity.code))"
            let field = "activities[\(index)]"
            if !seen.insert(activity.code).inserted {
                add("\(field).code", "\(at): kode kegiatan ganda / duplicate activity code '\(activity.code)'")
            }
            if !matches(activity.code, allowed: "abcdefghijklmnopqrstuvwxyz0123456789_") {
                add(
                    "\(field).code",
                    "\(at): kode harus huruf kecil, angka dan '_' / code must be lowercase, digits, '_'")
            }
            if activity.name.trimmingCharacters(in: .whitespaces).isEmpty {
                add("\(field).name", "\(at).name: wajib diisi / is required")
            }
            if !ProgramVocabulary.units.contains(activity.unit) {
                add("\(field).unit", "\(at).unit: satuan tidak dikenal '\(activity.unit)' (count, kg) / unknown unit")
            }
            if activity.places.isEmpty {
                add("\(field).places", "\(at).places: minimal satu tempat / at least one place is required")
            }
            for (placeIndex, place) in activity.places.enumerated() where !ProgramVocabulary.places.contains(place) {
                add(
                    "\(field).places[\(placeIndex)]",
                    "\(at).places: tempat tidak dikenal '\(place)' (office, home) / unknown place")
            }
            if Set(activity.places).count != activity.places.count {
                add("\(field).places", "\(at).places: tempat ganda / duplicate place")
            }
            if activity.basePoints < 0 {
                add("\(field).basePoints", "\(at).basePoints: poin tidak boleh negatif / points must not be negative")
            }
            if let perKg = activity.pointsPerKg {
                if !perKg.isFinite || perKg < 0 {
                    add(
                        "\(field).pointsPerKg",
                        "\(at).pointsPerKg: poin tidak boleh negatif / points must not be negative")
                }
                if activity.unit != "kg" {
                    add("\(field).pointsPerKg", "\(at).pointsPerKg: hanya untuk satuan kg / only for kg activities")
                }
            }
            if let cap = activity.dailyCap, cap < 1 {
                add("\(field).dailyCap", "\(at).dailyCap: harus ≥ 1 / must be at least 1")
            }
            if let cap = activity.weeklyCap, cap < 1 {
                add("\(field).weeklyCap", "\(at).weeklyCap: harus ≥ 1 / must be at least 1")
            }
            if let daily = activity.dailyCap, let weekly = activity.weeklyCap, daily > weekly {
                add("\(field).dailyCap", "\(at): dailyCap > weeklyCap / the daily cap exceeds the weekly cap")
            }
            if let maximum = activity.maxQuantity, !(maximum > 0) || !maximum.isFinite {
                add("\(field).maxQuantity", "\(at).maxQuantity: harus > 0 / must be positive")
            }
            if let minimum = activity.minQuantity {
                if !(minimum > 0) || !minimum.isFinite {
                    add("\(field).minQuantity", "\(at).minQuantity: harus > 0 / must be positive")
                } else if let maximum = activity.maxQuantity, minimum > maximum {
                    add("\(field).minQuantity", "\(at): minQuantity > maxQuantity / the minimum exceeds the maximum")
                }
            }
        }
        return problems
    }

    // MARK: Database

    /// Stores `document` if its version is new and enqueues `program.published`, in one transaction.
    ///
    /// Idempotent: applying a stored version again with the same content does nothing (so every restart may
    /// apply the files). Two replicas applying at once are serialised by the primary key.
    ///
    /// - Throws: ``ProgramCatalogError/versionConflict(program:version:)`` when the version is stored with other
    ///   content.
    @discardableResult
    static func apply(_ document: ProgramDocument, pool: DatabasePool, logger: Logger) async throws
        -> ProgramApplyOutcome
    {
        let outcome = try await pool.withTransaction { connection in
            try await apply(document, in: connection)
        }
        logger.info(
            outcome == .published ? "program version published" : "program version already stored",
            metadata: ["program": "\(document.program)", "program.version": "\(document.version)"])
        return outcome
    }

    /// ``apply(_:pool:logger:)`` inside the caller's transaction.
    static func apply(_ document: ProgramDocument, in connection: DatabaseConnection) async throws
        -> ProgramApplyOutcome
    {
        let json = PostgresJSON(document)
        let inserted = try await connection.query(
            """
            INSERT INTO programs (code, version, name, document, checksum)
            VALUES (\(document.program), \(document.version), \(document.name), \(json),
                    encode(sha256(convert_to((\(json))::text, 'UTF8')), 'hex'))
            ON CONFLICT (code, version) DO NOTHING
            RETURNING applied_at
            """
        )
        if let row = inserted.first {
            let appliedAt = try row.decode("applied_at", as: Date.self)
            try await Outbox.enqueue(
                document.published(at: appliedAt), source: ServiceName.scoring.eventSource, in: connection)
            return .published
        }
        let existing = try await connection.query(
            """
            SELECT document = \(json) AS same FROM programs
            WHERE code = \(document.program) AND version = \(document.version)
            """
        )
        guard try existing.first?.decode("same", as: Bool.self) == true else {
            throw ProgramCatalogError.versionConflict(program: document.program, version: document.version)
        }
        return .unchanged
    }

    /// The current (highest) version of every program, by program id.
    static func currentPrograms(in connection: DatabaseConnection) async throws -> [String: ProgramDocument] {
        let rows = try await connection.query(
            "SELECT DISTINCT ON (code) code, document FROM programs ORDER BY code, version DESC")
        var programs: [String: ProgramDocument] = [:]
        for row in rows {
            programs[try row.decode("code")] = try row.decode("document", as: PostgresJSON<ProgramDocument>.self).value
        }
        return programs
    }

    /// The program `code` names, or for a decision naming none (a rejection may not), the only program there is.
    static func resolve(_ code: String?, in programs: [String: ProgramDocument]) -> ProgramDocument? {
        if let code { return programs[code] }
        return programs.count == 1 ? programs.values.first : nil
    }

    /// The current versions of every program with their storage details, ordered by program id.
    static func list(pool: DatabasePool) async throws -> [StoredProgram] {
        try await pool.withConnection { connection in
            try await connection.query(
                """
                SELECT DISTINCT ON (code) document, checksum, applied_at FROM programs
                ORDER BY code, version DESC
                """
            ).map(storedProgram)
        }
    }

    /// One program: `version`, or its current version when `nil`.
    static func find(_ code: String, version: Int? = nil, pool: DatabasePool) async throws -> StoredProgram? {
        try await pool.withConnection { connection in
            try await connection.query(
                """
                SELECT document, checksum, applied_at FROM programs
                WHERE code = \(code) AND (\(version)::bigint IS NULL OR version = \(version))
                ORDER BY version DESC LIMIT 1
                """
            ).first.map(storedProgram)
        }
    }

    // MARK: Helpers

    private static func storedProgram(_ row: PostgresRow) throws -> StoredProgram {
        StoredProgram(
            document: try row.decode("document", as: PostgresJSON<ProgramDocument>.self).value,
            checksum: try row.decode("checksum"),
            appliedAt: try row.decode("applied_at")
        )
    }

    private static func matches(_ text: String, allowed: String) -> Bool {
        !text.isEmpty && text.allSatisfy { allowed.contains($0) }
    }

    /// Keys a program file uses that the program format does not know (typos such as `pointPerKg` would otherwise
    /// be ignored silently and change the points), each at its line and column.
    private static func unknownKeys(in root: Node.Mapping) -> [ProgramProblem] {
        func check(_ mapping: Node.Mapping?, allowed: Set<String>, at path: String) -> [ProgramProblem] {
            guard let mapping else { return [] }
            return mapping.keys.filter { !allowed.contains($0.string ?? "") }.map { key in
                ProgramProblem(
                    field: "\(path)\(key.string ?? "?")", line: key.mark?.line, column: key.mark?.column,
                    message: "\(path)\(key.string ?? "?"): kunci tidak dikenal / unknown key")
            }
        }
        var problems = check(root, allowed: ProgramVocabulary.documentKeys, at: "")
        problems += check(
            root["verification"]?.mapping, allowed: ProgramVocabulary.verificationKeys, at: "verification.")
        problems += check(root["streak"]?.mapping, allowed: ["bonuses"], at: "streak.")
        for (index, bonus) in (root["streak"]?.mapping?["bonuses"]?.sequence ?? []).enumerated() {
            problems += check(bonus.mapping, allowed: ["weeks", "points"], at: "streak.bonuses[\(index)].")
        }
        problems += check(root["fraud"]?.mapping, allowed: ["penaltyPoints", "ban"], at: "fraud.")
        problems += check(
            root["fraud"]?.mapping?["ban"]?.mapping, allowed: ["rejections", "withinDays", "banDays"], at: "fraud.ban.")
        problems += TPPRule.unknownKeys(in: root["tpp"])
        for (index, activity) in (root["activities"]?.sequence ?? []).enumerated() {
            problems += check(activity.mapping, allowed: ProgramVocabulary.activityKeys, at: "activities[\(index)].")
        }
        problems += AwardSchemes.unknownKeys(in: root)
        return problems
    }

    /// The node at `field` (`activities[2].basePoints`), or the deepest node on the way when it is missing.
    static func locate(_ field: String, in root: Node) -> Mark? {
        var node = root
        for part in field.split(separator: ".") {
            var name = Substring(part)
            var indices: [Int] = []
            while let open = name.lastIndex(of: "["), name.hasSuffix("]") {
                indices.insert(Int(name[name.index(after: open)..<name.index(before: name.endIndex)]) ?? 0, at: 0)
                name = name[..<open]
            }
            if !name.isEmpty {
                guard let next = node.mapping?[String(name)] else { return node.mark }
                node = next
            }
            for index in indices {
                guard let sequence = node.sequence, index < sequence.count else { return node.mark }
                node = sequence[index]
            }
        }
        return node.mark
    }

    private static func describe(_ error: DecodingError, root: Node) -> ProgramProblem {
        func path(_ context: DecodingError.Context) -> String {
            let text = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return text.hasPrefix(".") ? String(text.dropFirst()) : text
        }
        func problem(_ field: String, _ message: String) -> ProgramProblem {
            let mark = locate(field, in: root)
            return ProgramProblem(field: field, line: mark?.line, column: mark?.column, message: message)
        }
        switch error {
        case .keyNotFound(let key, let context):
            let prefix = path(context)
            let field = "\(prefix.isEmpty ? "" : prefix + ".")\(key.stringValue)"
            return problem(field, "\(field): wajib diisi / is required")
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            return problem(
                path(context), "\(path(context)): jenis nilai salah, seharusnya \(type) / wrong type, expected \(type)")
        case .dataCorrupted(let context):
            return problem(path(context), "\(path(context)): \(context.debugDescription)")
        @unknown default:
            return ProgramProblem(field: "", message: "\(error)")
        }
    }
}
