/// `asnreward-bench` — the project's benchmarks, run in release mode by `deploy/dev bench [db|messaging|e2e|all]`.
///
/// `db` and `messaging` need only the infrastructure (`deploy/dev infra`); `e2e` needs the running services
/// (`deploy/dev up`). Settings come from the environment (`. .run/env`).
@main
struct BenchMain {
    static func main() async throws {
        let arguments = Array(CommandLine.arguments.dropFirst())
        let rest = Array(arguments.dropFirst())
        switch arguments.first ?? "all" {
        case "db":
            try await runDatabaseBench(arguments: rest)
        case "messaging":
            try await runMessagingBench(arguments: rest)
        case "e2e":
            try await runEndToEndBench(arguments: rest)
        case "intake":
            try await runIntakeBench(arguments: rest)
        case "notification":
            try await runNotificationBench(arguments: rest)
        case "stream":
            try await runStreamBench(arguments: rest)
        case "photos":
            try writeSamplePhotos(arguments: rest)
        case "scoring-periods":
            try await runScoringPeriodsBench(arguments: rest)
        case "scoring-export":
            try await runScoringExportBench(arguments: rest)
        case "demo":
            try await runDemoSeed()
        case "chaos-plant":
            try await runPoisonPlanter(arguments: rest)
        case "chaos-check":
            try await runChaosCheck(arguments: rest)
        case "all":
            try await runDatabaseBench(arguments: [])
            try await runMessagingBench(arguments: [])
        default:
            print(
                "usage: asnreward-bench db|messaging|e2e [N] [concurrency]|intake [N] [concurrency] [--pid P]|e2e --rate R --duration S|photos DIR [N]"
                    + "|notification [--count N]|stream [--clients N] [--rate R] [--duration S]"
                    + "|demo|chaos-plant --out FILE|chaos-check --log FILE [--planted FILE] [--baseline FILE]|all")
        }
    }
}
