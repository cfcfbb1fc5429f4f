import AMQP
import Foundation
import Logging
import ServiceSupport
import TestSupport
import Testing

@testable import Intake
@testable import Notification
@testable import Scoring
@testable import Verification

/// `deploy/rabbitmq/definitions.json` (what operators load into a production broker) against the topology the four
/// services declare in code (`EventBackbone.consumerTopologies`, declared by `AMQPSession.declare`).
///
/// A change on either side fails here: a queue, binding, delivery limit or dead-letter setting added to a service
/// and not to the file (or the reverse), and — through the broker test — an argument `declare` sends that the file
/// does not carry (the broker refuses such a redeclaration with 406 PRECONDITION_FAILED).
@Suite struct DeployDefinitionsTests {
    // MARK: The file against the code

    @Test func definitionsHoldExactlyTheExchangesQueuesAndBindingsTheServicesDeclare() async throws {
        let definitions = try Definitions.load()
        let expected = BrokerObjects(topologies: try await ServiceTopologies.all().flatMap(\.topologies))
        let actual = try definitions.brokerObjects()

        #expect(definitions.vhosts == ["/"])
        #expect(
            actual.exchanges == expected.exchanges,
            "exchanges: only in the file \(actual.exchanges.subtracting(expected.exchanges)), only in the code \(expected.exchanges.subtracting(actual.exchanges))"
        )
        #expect(
            Set(actual.queues.keys) == Set(expected.queues.keys),
            "queues: only in the file \(Set(actual.queues.keys).subtracting(expected.queues.keys).sorted()), only in the code \(Set(expected.queues.keys).subtracting(actual.queues.keys).sorted())"
        )
        for (name, queue) in expected.queues {
            #expect(
                actual.queues[name] == queue,
                "queue \(name): file \(String(describing: actual.queues[name])), code \(queue)")
        }
        #expect(
            actual.bindings == expected.bindings,
            "bindings: only in the file \(actual.bindings.subtracting(expected.bindings).sorted()), only in the code \(expected.bindings.subtracting(actual.bindings).sorted())"
        )
    }

    @Test func everyWorkQueueIsAQuorumQueueWithAnExplicitDeliveryLimitAndADeadLetterQueue() throws {
        let objects = try Definitions.load().brokerObjects()
        let work = objects.queues.filter { !$0.key.hasSuffix(".dead") }
        #expect(work.count >= 4)
        for (name, queue) in work {
            #expect(queue.arguments["x-queue-type"] == .string("quorum"), "\(name)")
            if case .int(let limit)? = queue.arguments["x-delivery-limit"] {
                #expect(limit > 0, "\(name)")
            } else {
                Issue.record("\(name): no integer x-delivery-limit")
            }
            #expect(queue.arguments["x-dead-letter-exchange"] == .string("asnreward.dead"), "\(name)")
            #expect(objects.queues[name + ".dead"]?.durable == true, "\(name).dead")
            #expect(
                objects.bindings.contains(
                    Binding(source: "asnreward.dead", destination: name + ".dead", routingKey: name)))
        }
    }

    // MARK: Users and permissions

    @Test func eachServiceUserMayUseOnlyTheSharedExchangesAndItsOwnQueues() async throws {
        let definitions = try Definitions.load()
        let services = try await ServiceTopologies.all()
        let queues = Set(
            services.flatMap { $0.topologies.flatMap(\.queues) }.flatMap { [$0.name, $0.deadLetterQueueName] })
        #expect(definitions.users.allSatisfy { $0.passwordHash.isEmpty }, "the file must not carry passwords")
        #expect(definitions.users.first { $0.name == "asnreward_admin" }?.tags == ["administrator"])
        for service in services {
            let user = try #require(definitions.users.first { $0.name == service.name }, "user \(service.name)")
            #expect(user.tags.isEmpty, "\(service.name) is no management user")
            let permission = try #require(definitions.permission(user: service.name), "permissions of \(service.name)")
            let own = Set(service.topologies.flatMap(\.queues).flatMap { [$0.name, $0.deadLetterQueueName] })
            for regex in [permission.configure, permission.write, permission.read] {
                for name in ["asnreward.events", "asnreward.dead"] + own.sorted() {
                    #expect(try matches(regex, name), "\(service.name) must reach \(name) (\(regex))")
                }
                for name in queues.subtracting(own).sorted() + ["dashboard.live", "amq.topic"] {
                    #expect(try !matches(regex, name), "\(service.name) must not reach \(name) (\(regex))")
                }
            }
        }
        let dashboard = try #require(definitions.permission(user: "dashboard"))
        #expect(try matches(dashboard.configure, "dashboard.live-1"))
        #expect(try matches(dashboard.read, "asnreward.events"))
        #expect(try !matches(dashboard.configure, "asnreward.events"))
        #expect(try !matches(dashboard.write, "asnreward.events"))
        for queue in queues.sorted() {
            #expect(try !matches(dashboard.read, queue), "dashboard must not read \(queue)")
        }
        // Topic permissions: the dashboard binds only the public score events.
        let topics = try #require(definitions.topicPermission(user: "dashboard", exchange: "asnreward.events"))
        for key in ["points.awarded", "ranking.published", "award.granted"] {
            #expect(try matches(topics.read, key), "dashboard may bind \(key)")
        }
        for key in ["sanction.imposed", "penalty.applied", "submission.received", "asn.enrolled", "#", "*.imposed"] {
            #expect(try !matches(topics.read, key), "dashboard must not bind \(key)")
        }
        #expect(try !matches(topics.write, "points.awarded"))
    }

    /// Whether RabbitMQ's permission `regex` (an unanchored match, as the broker applies it) matches `name`.
    private func matches(_ regex: String, _ name: String) throws -> Bool {
        let expression = try NSRegularExpression(pattern: regex)
        return expression.firstMatch(in: name, range: NSRange(name.startIndex..., in: name)) != nil
    }

    // MARK: On the real broker

    /// Imports the file's exchanges, queues and bindings into a fresh virtual host, then lets every service declare
    /// its topology there as it does at start: an argument that differs makes the broker answer 406, and anything
    /// the code creates beyond the file shows in the listings.
    @Test func theBrokerAcceptsEveryServiceDeclarationOverTheImportedDefinitions() async throws {
        let definitions = try Definitions.load()
        let vhost = TestBroker.uniqueName("deploy-definitions")
        _ = try await TestBroker.rabbitmqctl("add_vhost", vhost)
        do {
            _ = try await TestBroker.rabbitmqctl("set_permissions", "-p", vhost, "asnreward_admin", ".*", ".*", ".*")
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("\(vhost).json")
            try definitions.topologyOnly(vhost: vhost).write(to: file)
            defer { try? FileManager.default.removeItem(at: file) }
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file.path)
            _ = try await TestBroker.rabbitmqctl("import_definitions", file.path)

            let adminURL = try DevEnvironment.value("AMQP_URL_ADMIN")
            let url = String(adminURL[..<(adminURL.lastIndex(of: "/") ?? adminURL.endIndex)]) + "/" + vhost
            let admin = AMQPAdmin(configuration: try AMQPConfiguration(url: url, connectionName: vhost))
            for service in try await ServiceTopologies.all() {
                for topology in service.topologies {
                    await #expect(throws: Never.self, "\(service.name) declares \(topology.queues.map(\.name))") {
                        try await admin.declare(topology)
                    }
                }
            }

            let expected = try definitions.brokerObjects()
            let queueLines = try await TestBroker.rabbitmqctl(
                "list_queues", "-p", vhost, "name", "type", "durable", "--no-table-headers", "--quiet")
            var queues: [String: String] = [:]
            for line in queueLines.split(separator: "\n") {
                let fields = line.split(separator: "\t").map(String.init)
                if fields.count == 3 { queues[fields[0]] = "\(fields[1]) durable=\(fields[2])" }
            }
            let expectedQueues = expected.queues.mapValues {
                "\($0.arguments["x-queue-type"] == .string("quorum") ? "quorum" : "classic") durable=\($0.durable)"
            }
            #expect(queues == expectedQueues)

            let bindingLines = try await TestBroker.rabbitmqctl(
                "list_bindings", "-p", vhost, "source_name", "destination_name", "routing_key", "--no-table-headers",
                "--quiet")
            let bindings = Set(
                bindingLines.split(separator: "\n").compactMap { line -> Binding? in
                    let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
                    guard fields.count == 3, !fields[0].isEmpty else { return nil }  // the default exchange's
                    return Binding(source: fields[0], destination: fields[1], routingKey: fields[2])
                })
            #expect(bindings == expected.bindings)

            let exchangeLines = try await TestBroker.rabbitmqctl(
                "list_exchanges", "-p", vhost, "name", "type", "durable", "--no-table-headers", "--quiet")
            let exchanges = Set(
                exchangeLines.split(separator: "\n").map(String.init).filter {
                    !$0.hasPrefix("amq.") && !$0.hasPrefix("\t")
                })
            #expect(exchanges == Set(expected.exchanges.map { "\($0.name)\t\($0.type)\t\($0.durable)" }))
        } catch {
            _ = try? await TestBroker.rabbitmqctl("delete_vhost", vhost)
            throw error
        }
        _ = try await TestBroker.rabbitmqctl("delete_vhost", vhost)
    }
}

// MARK: - The code's side

/// The topologies each service declares, read from the services as `main` builds them (nothing connects).
struct ServiceTopologies {
    var name: String
    var topologies: [Topology]

    static let logger: Logger = {
        var logger = Logger(label: "deploy-definitions-tests")
        logger.logLevel = .critical
        return logger
    }()

    static func configuration(_ service: String) -> ServiceConfiguration {
        ServiceConfiguration(
            serviceName: service,
            databaseURL: "postgresql://\(service):unused@127.0.0.1:1/\(service)",
            amqpURL: "amqp://\(service):unused@127.0.0.1:1/%2F",
            jwt: JWTSettings(hs256Secret: String(repeating: "k", count: JWTSettings.minimumSecretLength))
        )
    }

    static func all() async throws -> [ServiceTopologies] {
        let blobs = FileManager.default.temporaryDirectory.appendingPathComponent(TestBroker.uniqueName("blobs"))
        defer { try? FileManager.default.removeItem(at: blobs) }
        let intake = try IntakeService(
            configuration: configuration("intake"), logger: logger,
            evidenceStore: try DirectoryEvidenceStore(root: blobs))
        let verification = try VerificationService(configuration: configuration("verification"), logger: logger)
        let scoring = try ScoringService(
            configuration: configuration("scoring"), logger: logger,
            programsDirectory: DevEnvironment.repositoryRoot.appendingPathComponent("deploy/programs"))
        let notification = try await NotificationService(configuration: configuration("notification"), logger: logger)
        // The publisher declares both exchanges; an empty topology stands for it.
        let exchanges = Topology(queues: [])
        return [
            ServiceTopologies(name: "intake", topologies: [exchanges] + intake.backbone.consumerTopologies),
            ServiceTopologies(name: "verification", topologies: [exchanges] + verification.backbone.consumerTopologies),
            ServiceTopologies(name: "scoring", topologies: [exchanges] + scoring.backbone.consumerTopologies),
            ServiceTopologies(name: "notification", topologies: [exchanges] + notification.backbone.consumerTopologies),
        ]
    }
}

// MARK: - Broker objects, from either side

enum ArgumentValue: Hashable, CustomStringConvertible {
    case string(String)
    case int(Int)
    case other(String)

    var description: String {
        switch self {
        case .string(let value): "\"\(value)\""
        case .int(let value): "\(value)"
        case .other(let value): "?\(value)"
        }
    }
}

struct Exchange: Hashable, CustomStringConvertible {
    var name: String
    var type: String
    var durable: Bool
    var autoDelete: Bool
    var `internal`: Bool
    var description: String {
        "\(name) (\(type), durable=\(durable), autoDelete=\(autoDelete), internal=\(`internal`))"
    }
}

struct Queue: Equatable, CustomStringConvertible {
    var durable: Bool
    var autoDelete: Bool
    var arguments: [String: ArgumentValue]
    var description: String {
        "durable=\(durable) autoDelete=\(autoDelete) \(arguments.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" })"
    }
}

struct Binding: Hashable, Comparable, CustomStringConvertible {
    var source: String
    var destination: String
    var routingKey: String
    var description: String { "\(source) -[\(routingKey)]-> \(destination)" }
    static func < (lhs: Binding, rhs: Binding) -> Bool { lhs.description < rhs.description }
}

struct BrokerObjects {
    var exchanges: Set<Exchange> = []
    var queues: [String: Queue] = [:]
    var bindings: Set<Binding> = []

    init() {}

    /// What `AMQPSession.declare` creates for `topologies`, per ``Topology``'s documented contract.
    init(topologies: [Topology]) {
        for topology in topologies {
            for name in [topology.eventsExchange, topology.deadLetterExchange] {
                exchanges.insert(Exchange(name: name, type: "topic", durable: true, autoDelete: false, internal: false))
            }
            for queue in topology.queues {
                switch queue.kind {
                case .durable:
                    queues[queue.name] = Queue(
                        durable: true, autoDelete: false,
                        arguments: [
                            "x-queue-type": .string("quorum"),
                            "x-delivery-limit": .int(queue.deliveryLimit),
                            "x-dead-letter-exchange": .string(topology.deadLetterExchange),
                            "x-dead-letter-routing-key": .string(queue.name),
                        ])
                    queues[queue.deadLetterQueueName] = Queue(durable: true, autoDelete: false, arguments: [:])
                    bindings.insert(
                        Binding(
                            source: topology.deadLetterExchange, destination: queue.deadLetterQueueName,
                            routingKey: queue.name))
                case .transient:
                    queues[queue.name] = Queue(durable: false, autoDelete: true, arguments: [:])
                }
                for key in queue.bindings {
                    bindings.insert(Binding(source: topology.eventsExchange, destination: queue.name, routingKey: key))
                }
            }
        }
    }
}

// MARK: - The file's side

/// `deploy/rabbitmq/definitions.json`, as RabbitMQ's definitions import reads it.
struct Definitions {
    struct User {
        var name: String
        var passwordHash: String
        var tags: [String]
    }

    struct Permission {
        var user: String
        var configure: String
        var write: String
        var read: String
    }

    var json: [String: Any]

    static let url = DevEnvironment.repositoryRoot.appendingPathComponent("deploy/rabbitmq/definitions.json")

    static func load() throws -> Definitions {
        let object = try JSONSerialization.jsonObject(with: try Data(contentsOf: url))
        return Definitions(json: try #require(object as? [String: Any], "definitions.json is a JSON object"))
    }

    private func list(_ key: String) -> [[String: Any]] { json[key] as? [[String: Any]] ?? [] }

    var vhosts: [String] { list("vhosts").compactMap { $0["name"] as? String } }

    var users: [User] {
        list("users").map { user in
            let tags: [String] =
                if let list = user["tags"] as? [String] { list } else {
                    (user["tags"] as? String ?? "").split(separator: ",").map(String.init)
                }
            return User(
                name: user["name"] as? String ?? "", passwordHash: user["password_hash"] as? String ?? "",
                tags: tags)
        }
    }

    func permission(user: String) -> Permission? {
        list("permissions").first { $0["user"] as? String == user && $0["vhost"] as? String == "/" }.map {
            Permission(
                user: user, configure: $0["configure"] as? String ?? "", write: $0["write"] as? String ?? "",
                read: $0["read"] as? String ?? "")
        }
    }

    /// The topic permission of `user` on `exchange` (vhost `/`), its `read` and `write` patterns as a `Permission`.
    func topicPermission(user: String, exchange: String) -> Permission? {
        list("topic_permissions").first {
            $0["user"] as? String == user && $0["vhost"] as? String == "/" && $0["exchange"] as? String == exchange
        }.map {
            Permission(
                user: user, configure: "", write: $0["write"] as? String ?? "", read: $0["read"] as? String ?? "")
        }
    }

    func brokerObjects() throws -> BrokerObjects {
        var objects = BrokerObjects()
        for exchange in list("exchanges") {
            #expect((exchange["arguments"] as? [String: Any])?.isEmpty ?? true, "exchange arguments")
            objects.exchanges.insert(
                Exchange(
                    name: try #require(exchange["name"] as? String), type: exchange["type"] as? String ?? "",
                    durable: exchange["durable"] as? Bool ?? false,
                    autoDelete: exchange["auto_delete"] as? Bool ?? false,
                    internal: exchange["internal"] as? Bool ?? false))
        }
        for queue in list("queues") {
            let name = try #require(queue["name"] as? String)
            #expect(objects.queues[name] == nil, "queue \(name) listed twice")
            let arguments = (queue["arguments"] as? [String: Any] ?? [:]).mapValues { value -> ArgumentValue in
                // JSONSerialization gives NSNumber for both numbers and booleans.
                if let string = value as? String { return .string(string) }
                if let number = value as? NSNumber, String(cString: number.objCType) != "c",
                    number.doubleValue == Double(number.intValue)
                {
                    return .int(number.intValue)
                }
                return .other("\(value)")
            }
            objects.queues[name] = Queue(
                durable: queue["durable"] as? Bool ?? false, autoDelete: queue["auto_delete"] as? Bool ?? false,
                arguments: arguments)
        }
        for binding in list("bindings") {
            #expect(binding["destination_type"] as? String == "queue")
            #expect((binding["arguments"] as? [String: Any])?.isEmpty ?? true, "binding arguments")
            let added = objects.bindings.insert(
                Binding(
                    source: binding["source"] as? String ?? "", destination: binding["destination"] as? String ?? "",
                    routingKey: binding["routing_key"] as? String ?? "")
            ).inserted
            #expect(added, "binding listed twice: \(binding)")
        }
        for item in list("queues") + list("exchanges") + list("bindings") {
            #expect(item["vhost"] as? String == "/", "everything lives on vhost /: \(item)")
        }
        return objects
    }

    /// The file's exchanges, queues and bindings moved to `vhost`, without users or permissions.
    func topologyOnly(vhost: String) throws -> Data {
        func moved(_ key: String) -> [[String: Any]] {
            list(key).map {
                var item = $0; item["vhost"] = vhost; return item
            }
        }
        let object: [String: Any] = [
            "vhosts": [["name": vhost]], "exchanges": moved("exchanges"), "queues": moved("queues"),
            "bindings": moved("bindings"),
        ]
        return try JSONSerialization.data(withJSONObject: object)
    }
}

// MARK: - deploy/validate

/// `deploy/validate` (compose.yaml, deploy/k8s, HAProxy, the Dockerfile against deploy/dev and the code) as part of
/// the test suite. Needs docker-compose and python3-venv (Debian) and, the first time, PyPI for its pinned tools.
@Suite(.serialized) struct DeployValidateTests {
    /// Runs deploy/validate in `root`; returns its output and exit status.
    static func validate(root: String) async throws -> (output: String, status: Int) {
        let output = try await DevEnvironment.shellOffPool(
            "cd '\(root)' && { bash deploy/validate 2>&1; echo \"exit-status=$?\"; }")
        let status = output.split(separator: "\n").last.flatMap {
            Int($0.replacingOccurrences(of: "exit-status=", with: ""))
        }
        return (output, status ?? -1)
    }

    @Test func theDeployFilesValidate() async throws {
        let (output, status) = try await Self.validate(root: DevEnvironment.repositoryRoot.path)
        let failures = output.split(separator: "\n").filter { $0.contains("FAIL") }.joined(separator: "\n")
        #expect(status == 0, "deploy/validate failed:\n\(failures)\n\(output.suffix(1500))")
        #expect(output.contains(" passed, 0 failed"))
    }

    /// The same checks on a copy whose compose.yaml publishes scoring on another port than deploy/dev and whose
    /// verification Deployment lost its readiness probe: both must be reported.
    @Test func aDriftedCopyFailsValidation() async throws {
        let root = DevEnvironment.repositoryRoot
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent(TestBroker.uniqueName("deploy-copy"))
        defer { try? FileManager.default.removeItem(at: copy) }
        try FileManager.default.createDirectory(
            at: copy.appendingPathComponent("Shared/ServiceSupport"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(
            at: copy.appendingPathComponent(".run"), withIntermediateDirectories: true)
        for path in ["compose.yaml", "deploy", "Package.swift", "Shared/ServiceSupport/HealthRoutes.swift"] {
            try FileManager.default.copyItem(
                at: root.appendingPathComponent(path), to: copy.appendingPathComponent(path))
        }
        // The pinned tools installed by the first run, shared.
        try FileManager.default.createSymbolicLink(
            at: copy.appendingPathComponent(".run/deploy-venv"),
            withDestinationURL: root.appendingPathComponent(".run/deploy-venv"))

        let compose = copy.appendingPathComponent("compose.yaml")
        let text = try String(contentsOf: compose, encoding: .utf8)
        #expect(text.contains("\"8083:8083\""))
        try text.replacingOccurrences(of: "\"8083:8083\"", with: "\"9083:8083\"").write(
            to: compose, atomically: true, encoding: .utf8)
        let deployment = copy.appendingPathComponent("deploy/k8s/base/verification/deployment.yaml")
        let manifest = try String(contentsOf: deployment, encoding: .utf8)
        try manifest.replacingOccurrences(of: "path: /health/ready", with: "path: /health/live").write(
            to: deployment, atomically: true, encoding: .utf8)

        _ = try await Self.validate(root: root.path)  // installs the tools if this test runs first
        let (output, status) = try await Self.validate(root: copy.path)
        #expect(status == 1, "\(output.suffix(1500))")
        #expect(
            output.contains("FAIL\u{1B}[0m scoring: published on port 8083 as in deploy/dev"), "\(output.suffix(1500))")
        #expect(
            output.contains("verification has probes, resources, Service, PDB, scaling, config, DB setup: readiness"))
    }
}
