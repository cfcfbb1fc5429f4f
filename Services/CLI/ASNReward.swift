import ArgumentParser

/// `asnreward`: the operators' tool (DESIGN §5). Each task is a subcommand; later issues add `import-roster`,
/// `apply-program`, `periods`, `campaign`, `replay-dead` and `recompute` next to ``TokenCommand``.
@main
struct ASNReward: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "asnreward",
        abstract: "Alat operator ASN Reward. Operator tool for ASN Reward.",
        subcommands: [TokenCommand.self]
    )
}
