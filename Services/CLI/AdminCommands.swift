import ArgumentParser
import Foundation
import ServiceSupport

/// `asnreward roster import <csv> [--dry-run] [--partial]` → scoring's `POST /v1/roster`.
struct RosterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "roster",
        abstract: "Kelola daftar ASN. Manage the ASN roster.",
        subcommands: [Import.self]
    )

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Impor CSV daftar ASN lewat API scoring. Import a roster CSV through scoring's API.",
            discussion: """
                Kepala kolom / header: nip,name,opd,unit,phone,email,office_lat,office_lon,home_lat,home_lon,active
                Kode keluar / exit codes: 0 berhasil, 65 berkas ditolak (laporan per baris dicetak), 77 token/peran,
                69 layanan tidak tersedia.
                """
        )
        @Argument(help: "Berkas CSV. The CSV file.") var file: String
        @Flag(help: "Hanya laporkan perubahan, jangan simpan. Report what would change only.") var dryRun = false
        @Flag(help: "Terapkan baris yang valid walau ada baris salah. Apply valid rows despite invalid ones.")
        var partial = false
        @OptionGroup var service: ServiceOptions

        func run() async throws {
            let client = try await service.client("scoring", roles: ["scoring-admin"])
            let query = "?dryRun=\(dryRun)&partial=\(partial)"
            let answer = try await client.send(
                "POST", "/v1/roster\(query)", body: try readInput(file), contentType: "text/csv; charset=utf-8")
            printJSON(answer.body)
        }
    }
}

/// `asnreward program apply <yaml>` → scoring's `PUT /v1/programs/{code}`.
struct ProgramCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "program",
        abstract: "Kelola program. Manage programs.",
        subcommands: [Apply.self]
    )

    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Terapkan berkas YAML program sebagai versi baru. Apply a program YAML file as a new version.",
            discussion: "Kesalahan menyebut baris, kolom dan kolom isian. Errors name the line, column and field."
        )
        @Argument(help: "Berkas YAML program. The program YAML file.") var file: String
        @Option(help: "Kode program (bawaan: kunci `code` di berkas, atau nama berkas). Program code.")
        var code: String?
        @OptionGroup var service: ServiceOptions

        func run() async throws {
            let data = try readInput(file)
            let programCode =
                code ?? Self.code(in: data)
                ?? URL(fileURLWithPath: file).deletingPathExtension()
                .lastPathComponent
            let client = try await service.client("scoring", roles: ["scoring-admin"])
            let answer = try await client.send(
                "PUT", "/v1/programs/\(programCode)", body: data, contentType: "application/yaml; charset=utf-8")
            printJSON(answer.body)
        }

        /// The top-level `code:` value of a YAML document, read without a YAML parser (the service validates).
        static func code(in data: Data) -> String? {
            for line in String(decoding: data, as: UTF8.self).split(separator: "\n") where line.hasPrefix("code:") {
                let value = line.dropFirst("code:".count).trimmingCharacters(in: .whitespaces)
                return value.trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
            }
            return nil
        }
    }
}

/// `asnreward period close <id>` and `period list` → scoring's periods API.
struct PeriodCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "period",
        abstract: "Periode penilaian. Scoring periods.",
        subcommands: [List.self, Close.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Daftar periode dan statusnya. List periods.")
        @OptionGroup var service: ServiceOptions

        func run() async throws {
            let client = try await service.client("scoring", roles: ["scoring-admin"])
            printJSON(try await client.send("GET", "/v1/periods").body)
        }
    }

    struct Close: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Tutup periode (peringkat, penghargaan, sanksi). Close a period: rankings, awards, sanctions.",
            discussion: "Contoh / example: asnreward period close 2026-Q1"
        )
        @Argument(help: "Periode, mis. 2026-Q1, 2026-S1, 2026. The period id.") var id: String
        @OptionGroup var service: ServiceOptions

        func run() async throws {
            let client = try await service.client("scoring", roles: ["scoring-admin"])
            printJSON(try await client.send("POST", "/v1/periods/\(id)/close").body)
        }
    }
}

/// `asnreward campaign start|stop|list` → scoring's campaigns API.
struct CampaignCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "campaign",
        abstract: "Kampanye pengali poin. Points multiplier campaigns.",
        subcommands: [Start.self, Stop.self, List.self]
    )

    struct Start: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Mulai kampanye. Start a campaign.",
            discussion: """
                Contoh / example: asnreward campaign start --name "Hari Peduli Sampah Nasional" --multiplier 2 \\
                  --starts-at 2026-02-21T00:00:00+07:00 --ends-at 2026-02-22T00:00:00+07:00 --activity memilah
                """
        )
        @Option(help: "Nama kampanye. Name.") var name: String
        @Option(help: "Pengali poin, mis. 2. Multiplier.") var multiplier: Double
        @Option(help: "Mulai (RFC 3339; bawaan sekarang). Start (default now).") var startsAt: String?
        @Option(help: "Selesai (RFC 3339). End.") var endsAt: String
        @Option(name: .customLong("activity"), help: "Kegiatan; boleh diulang (bawaan semua). Activity; repeatable.")
        var activities: [String] = []
        @Option(help: "Program.") var program: String = "peduli-sampah"
        @OptionGroup var service: ServiceOptions

        func validate() throws {
            guard multiplier > 0, multiplier.isFinite else {
                throw ValidationError("--multiplier harus > 0. Must be positive.")
            }
        }

        func run() async throws {
            let client = try await service.client("scoring", roles: ["scoring-admin"])
            var body: [String: Any] = [
                "name": name, "multiplier": multiplier, "program": program,
                "startsAt": startsAt ?? ISO8601DateFormatter().string(from: Date()), "endsAt": endsAt,
            ]
            if !activities.isEmpty { body["activities"] = activities }
            let answer = try await client.send(
                "POST", "/v1/campaigns", body: try JSONSerialization.data(withJSONObject: body),
                contentType: "application/json")
            printJSON(answer.body)
        }
    }

    struct Stop: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Hentikan kampanye sekarang. End a campaign now.")
        @Argument(help: "Id kampanye. Campaign id.") var id: String
        @OptionGroup var service: ServiceOptions

        func run() async throws {
            let client = try await service.client("scoring", roles: ["scoring-admin"])
            printJSON(try await client.send("POST", "/v1/campaigns/\(id)/stop").body)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Daftar kampanye. List campaigns.")
        @OptionGroup var service: ServiceOptions

        func run() async throws {
            let client = try await service.client("scoring", roles: ["scoring-admin"])
            printJSON(try await client.send("GET", "/v1/campaigns").body)
        }
    }
}

/// `asnreward recompute [--dry-run]` → scoring's `POST /v1/recompute`.
struct RecomputeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recompute",
        abstract: "Hitung ulang total dari buku poin. Recompute totals from the ledger.",
        discussion:
            "Tanpa --dry-run, entri koreksi ditambahkan (tidak mengubah entri lama). Without it, corrections are appended."
    )
    @Flag(help: "Hanya tampilkan selisih per ASN. Show the differences only.") var dryRun = false
    @Option(help: "Program.") var program: String = "peduli-sampah"
    @Option(help: "Versi aturan (bawaan: terbaru). Rule version (default: latest).") var version: String?
    @OptionGroup var service: ServiceOptions

    func run() async throws {
        let client = try await service.client("scoring", roles: ["scoring-admin"])
        var body: [String: Any] = ["program": program, "dryRun": dryRun]
        if let version { body["version"] = version }
        let answer = try await client.send(
            "POST", "/v1/recompute", body: try JSONSerialization.data(withJSONObject: body),
            contentType: "application/json")
        printJSON(answer.body)
    }
}

/// `asnreward republish program <code>` → scoring's `POST /v1/programs/{code}/republish`.
struct RepublishCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "republish",
        abstract: "Terbitkan ulang keadaan untuk konsumen baru. Republish state for a consumer added later.",
        subcommands: [Program.self]
    )

    struct Program: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Terbitkan ulang program.published versi terkini. Republish the current program version.")
        @Argument(help: "Kode program. Program code.") var code: String = "peduli-sampah"
        @OptionGroup var service: ServiceOptions

        func run() async throws {
            let client = try await service.client("scoring", roles: ["scoring-admin"])
            printJSON(try await client.send("POST", "/v1/programs/\(code)/republish").body)
        }
    }
}
