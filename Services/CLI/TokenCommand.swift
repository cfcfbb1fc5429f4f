import ArgumentParser
import Contracts
import Foundation
import ServiceSupport

/// `asnreward token`: prints a development JWT signed with `JWT_HS256_SECRET` (from the environment, else from the
/// nearest `.run/env`).
///
/// ```
/// asnreward token --nip 198503142010011001 --role asn --opd DLH --name "Siti Rahma" --expires-in 8h
/// ```
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Buat token JWT pengembangan. Mint a development access token.",
        discussion: """
            Kunci diambil dari JWT_HS256_SECRET di environment atau dari berkas .run/env terdekat.
            The key is JWT_HS256_SECRET from the environment or the nearest .run/env file.
            Peran / roles: \(Roles.all.sorted().joined(separator: ", ")).
            """
    )

    @Option(help: "NIP 18 digit (subject).")
    var nip: String

    @Option(name: .customLong("role"), help: "Peran; boleh diulang. Role; repeatable.")
    var roles: [String] = []

    @Option(help: "Kode OPD. Agency code.")
    var opd: String

    @Option(help: "Nama tampilan. Display name.")
    var name: String = "ASN Pengembangan"

    @Option(name: .customLong("expires-in"), help: "Masa berlaku, mis. 8h, 30m, 1d. Lifetime, e.g. 8h.")
    var expiresIn: String = "8h"

    func validate() throws {
        do {
            _ = try NIP(nip)
        } catch let error as ContractError {
            throw ValidationError(error.message)
        }
        guard !roles.isEmpty else {
            throw ValidationError("Sertakan minimal satu --role. At least one --role is required.")
        }
        let unknown = roles.filter { Role(rawValue: $0) == nil }
        guard unknown.isEmpty else {
            throw ValidationError(
                "Peran tidak dikenal: \(unknown.joined(separator: ", ")). Dikenal: \(Roles.all.sorted().joined(separator: ", "))."
            )
        }
        guard !opd.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw ValidationError("--opd tidak boleh kosong. --opd must not be empty.")
        }
        guard DurationText.parse(expiresIn) != nil else {
            throw ValidationError("--expires-in tidak valid: gunakan mis. 8h, 30m, 1d. Invalid duration.")
        }
    }

    func run() async throws {
        let environment = EnvFile.mergedEnvironment()
        guard let secret = environment["JWT_HS256_SECRET"], !secret.isEmpty else {
            throw CLIError(
                "JWT_HS256_SECRET tidak ditemukan di environment maupun .run/env. "
                    + "Jalankan stack pengembangan atau ekspor variabelnya. Start the dev stack or export it."
            )
        }
        let issuer = TokenIssuer(
            hs256Secret: secret,
            issuer: environment["JWT_ISSUER"].flatMap { $0.isEmpty ? nil : $0 },
            audience: environment["JWT_AUDIENCE"].flatMap { $0.isEmpty ? nil : $0 }
        )
        let token = try await issuer.token(
            nip: nip,
            name: name,
            opd: opd,
            roles: roles,
            expiresIn: DurationText.parse(expiresIn) ?? .seconds(8 * 3600)
        )
        print(token)
    }
}

/// A failure the CLI reports as `Error: <message>` without the usage text.
struct CLIError: Error, CustomStringConvertible {
    /// What went wrong and what to do, Bahasa Indonesia first.
    var description: String

    init(_ description: String) {
        self.description = description
    }
}
