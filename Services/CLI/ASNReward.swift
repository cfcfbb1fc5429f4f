import ArgumentParser

/// `asnreward`: the operators' tool (DESIGN §5), one subcommand per task.
@main
struct ASNReward: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "asnreward",
        abstract: "Alat operator ASN Reward. Operator tool for ASN Reward.",
        discussion: """
            Layanan dihubungi lewat API HTTP-nya (INTAKE_URL, SCORING_URL, …) dan broker lewat AMQP_URL_OPERATOR,
            dari environment atau .run/env — tidak pernah langsung ke basis data layanan.
            Services are reached through their HTTP APIs and the broker with the operator's credentials, never
            through another service's database.
            Kode keluar / exit codes: 0 ok, 64 usage, 65 input ditolak/refused, 66 tidak ada/not found,
            69 layanan tidak tersedia/unavailable, 75 coba lagi/retry later (429), 77 izin/permission.
            """,
        subcommands: [
            TokenCommand.self, RosterCommand.self, ProgramCommand.self, PeriodCommand.self, CampaignCommand.self,
            DeadLettersCommand.self, RecomputeCommand.self, SubmitCommand.self, RepublishCommand.self,
        ]
    )
}
