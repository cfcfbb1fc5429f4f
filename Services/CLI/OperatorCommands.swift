import AMQP
import ArgumentParser
import Contracts
import Foundation
import ServiceSupport

/// `asnreward submit`: one submission with photos, through intake's `POST /v1/submissions` (for scripts).
struct SubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Kirim satu pengajuan kegiatan dengan foto. Submit one activity with photos.",
        discussion: """
            Token harus milik ASN yang melapor (peran asn), mis. dari `asnreward token --role asn`.
            The token must be the reporting ASN's (role asn). The same --idempotency-key never submits twice.
            Contoh / example: asnreward submit --activity pilah_sampah --place office --quantity 1.5 --photo foto.jpg
            """
    )
    @Option(help: "Kode kegiatan. Activity code.") var activity: String
    @Option(help: "Tempat: office atau home. Place.") var place: String
    @Option(help: "Jumlah (kg atau kali). Quantity.") var quantity: Double
    @Option(help: "Waktu kegiatan RFC 3339 (bawaan sekarang). Activity time (default now).") var activityAt: String?
    @Option(help: "Catatan. Note.") var note: String?
    @Option(name: .customLong("photo"), help: "Foto bukti JPEG/PNG; boleh diulang. Evidence photo; repeatable.")
    var photos: [String] = []
    @Option(help: "Kunci idempoten (bawaan acak). Idempotency key (default random).") var idempotencyKey: String?
    @OptionGroup var service: ServiceOptions

    func validate() throws {
        guard !photos.isEmpty else { throw ValidationError("Sertakan minimal satu --photo. At least one --photo.") }
    }

    func run() async throws {
        let client = try await service.client("intake", roles: ["asn"])
        var submission: [String: Any] = [
            "activity": activity, "place": place, "quantity": quantity,
            "activityAt": activityAt ?? RFC3339.format(Date()),
        ]
        if let note { submission["note"] = note }
        let boundary = "asnreward-\(UUID().uuidString.lowercased())"
        var body = Data()
        func part(_ headers: String, _ content: Data) {
            body.append(Data("--\(boundary)\r\n\(headers)\r\n\r\n".utf8))
            body.append(content)
            body.append(Data("\r\n".utf8))
        }
        part(
            "Content-Disposition: form-data; name=\"submission\"\r\nContent-Type: application/json",
            try JSONSerialization.data(withJSONObject: submission))
        for path in photos {
            let name = URL(fileURLWithPath: path).lastPathComponent.replacingOccurrences(of: "\"", with: "")
            part(
                "Content-Disposition: form-data; name=\"evidence\"; filename=\"\(name)\"\r\n"
                    + "Content-Type: application/octet-stream", try readInput(path))
        }
        body.append(Data("--\(boundary)--\r\n".utf8))
        let answer = try await client.send(
            "POST", "/v1/submissions", body: body, contentType: "multipart/form-data; boundary=\(boundary)",
            headers: ["Idempotency-Key": idempotencyKey ?? UUID().uuidString.lowercased()])
        printJSON(answer.body)
    }
}

/// `asnreward dead-letters list|show|replay`: the dead-letter queues, over AMQP with the operator's broker user.
struct DeadLettersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dead-letters",
        abstract: "Periksa dan putar ulang pesan mati. Inspect and replay dead letters.",
        discussion: """
            Memakai AMQP_URL_OPERATOR (atau AMQP_URL) dari environment atau .run/env. Antrean mati bernama
            <antrean>.dead; replay memindahkan pesan kembali ke <antrean> dengan identitas CloudEvents yang sama.
            Uses AMQP_URL_OPERATOR (or AMQP_URL). Dead-letter queues are <queue>.dead; replay moves messages back
            to <queue> with the same CloudEvents identity, and the consumer's inbox ignores any it already handled.
            """,
        subcommands: [List.self, Show.self, Replay.self]
    )

    struct BrokerOptions: ParsableArguments {
        @Option(
            help: "Berkas definisi RabbitMQ untuk daftar antrean. Definitions file listing the queues.")
        var definitions: String = "deploy/rabbitmq/definitions.json"

        func admin() throws -> AMQPAdmin {
            let environment = EnvFile.mergedEnvironment()
            guard let url = environment["AMQP_URL_OPERATOR"] ?? environment["AMQP_URL"], !url.isEmpty else {
                throw CLIError("AMQP_URL_OPERATOR belum diatur (lihat .run/env). AMQP_URL_OPERATOR is not set.")
            }
            return AMQPAdmin(configuration: try AMQPConfiguration(url: url, connectionName: "asnreward-cli"))
        }

        /// The `.dead` queues named in the definitions file.
        func deadQueues() throws -> [String] {
            let data = try readInput(definitions)
            guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
                let queues = root["queues"] as? [[String: Any]]
            else { throw CLIError("\(definitions) bukan berkas definisi RabbitMQ. Not a definitions file.") }
            return queues.compactMap { $0["name"] as? String }.filter { $0.hasSuffix(".dead") }.sorted()
        }
    }

    /// `<queue>.dead` for `<queue>`, or the name as given when it already ends in `.dead`.
    static func deadQueue(_ name: String) -> String { name.hasSuffix(".dead") ? name : name + ".dead" }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Jumlah pesan per antrean mati. Messages per dead-letter queue.")
        @OptionGroup var broker: BrokerOptions

        func run() async throws {
            let admin = try broker.admin()
            for queue in try broker.deadQueues() {
                do {
                    print("\(queue)\t\(try await admin.messageCount(queue: queue))")
                } catch {
                    print("\(queue)\t- (\(error))")
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Tampilkan pesan di kepala antrean mati, tanpa mengubahnya. Show messages without removing them.")
        @Argument(help: "Antrean, mis. verification.submissions. The queue.") var queue: String
        @Option(help: "Paling banyak. At most.") var limit: Int = 10
        @OptionGroup var broker: BrokerOptions

        func run() async throws {
            let messages = try await broker.admin().peek(queue: DeadLettersCommand.deadQueue(queue), limit: limit)
            if messages.isEmpty { print("Antrean kosong. The queue is empty.") }
            for message in messages {
                let headers = message.properties.headers.sorted { $0.key < $1.key }
                print("— id=\(message.properties.messageId ?? "-") type=\(message.properties.type ?? "-")")
                for (name, value) in headers { print("  \(name): \(value)") }
                print("  " + String(decoding: message.body.prefix(2000), as: UTF8.self))
            }
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pindahkan pesan mati kembali ke antreannya. Move dead letters back to their queue.")
        @Argument(help: "Antrean, mis. verification.submissions. The queue.") var queue: String
        @Option(help: "Paling banyak. At most.") var limit: Int = 1000
        @OptionGroup var broker: BrokerOptions

        func run() async throws {
            let target = queue.hasSuffix(".dead") ? String(queue.dropLast(".dead".count)) : queue
            let moved = try await broker.admin().move(
                from: DeadLettersCommand.deadQueue(queue), to: target, limit: limit)
            print("\(moved) pesan dipindahkan ke \(target). \(moved) messages moved.")
        }
    }
}
