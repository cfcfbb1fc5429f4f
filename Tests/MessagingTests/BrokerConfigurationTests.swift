import AMQP
import Testing

/// URL parsing, without a broker.
@Suite struct BrokerConfigurationTests {
    @Test func parsesPlainURLWithEncodedVirtualHost() throws {
        let configuration = try AMQPConfiguration(url: "amqp://user:p%40ss@broker.local:5673/%2F", connectionName: "x")
        #expect(configuration.host == "broker.local")
        #expect(configuration.port == 5673)
        #expect(configuration.user == "user")
        #expect(configuration.password == "p@ss")
        #expect(configuration.virtualHost == "/")
        #expect(configuration.useTLS == false)
        #expect(configuration.heartbeat == .seconds(10))
    }

    @Test func defaultsPortsAndVirtualHost() throws {
        let plain = try AMQPConfiguration(url: "amqp://h", connectionName: "x")
        #expect(plain.port == 5672)
        #expect(plain.virtualHost == "/")
        let tls = try AMQPConfiguration(url: "amqps://u:p@h/asnreward-test", connectionName: "x")
        #expect(tls.port == 5671)
        #expect(tls.useTLS)
        #expect(tls.virtualHost == "asnreward-test")
    }

    @Test func rejectsOtherSchemesAndNeverShowsThePassword() throws {
        #expect(throws: MessagingError.self) { try AMQPConfiguration(url: "http://h", connectionName: "x") }
        let configuration = try AMQPConfiguration(url: "amqp://u:secret-pw@h/v", connectionName: "x")
        #expect(!configuration.description.contains("secret-pw"))
    }
}
