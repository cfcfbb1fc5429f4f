import AsyncHTTPClient
import Contracts
import Database
import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import NIOHTTP1
import Synchronization
import TestSupport
import Testing

@testable import Notification

/// The live stream over a real HTTP connection: SSE framing, resume with Last-Event-ID, slow clients, heartbeats.
@Suite("Notification: live stream (SSE)")
struct StreamTests {
    typealias F = NotificationFixture

    /// What an SSE client received.
    final class Received: Sendable {
        struct Event: Sendable {
            var id: Int64
            var name: String
            var data: String
        }
        let events = Mutex<[Event]>([])
        let comments = Mutex<[String]>([])
        let ended = Mutex(false)
        var ids: [Int64] { events.withLock { $0.map(\.id) } }
    }

    /// Reads an SSE response into `received` until it ends.
    static func read(_ response: HTTPClientResponse, into received: Received) async throws {
        var pending = ""
        var current: (id: Int64?, name: String?, data: String?) = (nil, nil, nil)
        for try await buffer in response.body {
            pending += String(buffer: buffer)
            // Whole lines only; the last piece may be a partial line.
            var lines = pending.split(separator: "\n", omittingEmptySubsequences: false)
            pending = String(lines.removeLast())
            for line in lines {
                if line.isEmpty {
                    if let id = current.id, let name = current.name, let data = current.data {
                        received.events.withLock { $0.append(.init(id: id, name: name, data: data)) }
                    }
                    current = (nil, nil, nil)
                } else if line.hasPrefix(":") {
                    received.comments.withLock { $0.append(String(line)) }
                } else if line.hasPrefix("id: ") {
                    current.id = Int64(line.dropFirst(4))
                } else if line.hasPrefix("event: ") {
                    current.name = String(line.dropFirst(7))
                } else if line.hasPrefix("data: ") {
                    current.data = String(line.dropFirst(6))
                }
            }
        }
        received.ended.withLock { $0 = true }
    }

    static func request(port: Int, token: String, lastEventId: Int64? = nil, queryToken: Bool = false)
        -> HTTPClientRequest
    {
        var request = HTTPClientRequest(
            url: "http://127.0.0.1:\(port)/v1/stream" + (queryToken ? "?access_token=\(token)" : ""))
        request.headers.add(name: "accept", value: "text/event-stream")
        if !queryToken { request.headers.add(name: "authorization", value: "Bearer \(token)") }
        if let lastEventId { request.headers.add(name: "Last-Event-ID", value: String(lastEventId)) }
        return request
    }

    /// A client with a long read timeout (a stream may be idle), shut down after the test.
    static func client() async throws -> HTTPClient {
        HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: HTTPClient.Configuration(timeout: .init(connect: .seconds(10), read: .seconds(300))))
    }

    static func shutdown(_ client: HTTPClient) {
        Task { try? await client.shutdown() }
    }

    static func seqs(_ pool: DatabasePool) async throws -> [Int64] {
        try await pool.withConnection { connection in
            try await connection.query("SELECT seq FROM stream_events ORDER BY seq").map { try $0.decode("seq") }
        }
    }

    @Test(
        "events arrive as SSE with id, event name and CloudEvent JSON; a client resuming with Last-Event-ID loses nothing"
    )
    func resume() async throws {
        try await F.withStack(parts: [.pump], testing: .live) { client, stack in
            let port = try #require(client.port)
            let token = try await F.token(nip: F.head, roles: ["dashboard"])
            let http = try await Self.client()
            defer { Self.shutdown(http) }
            // The first client, with the token in the query as a browser's EventSource sends it.
            let first = Received()
            let firstResponse = try await http.execute(
                Self.request(port: port, token: token, queryToken: true), timeout: .seconds(120))
            #expect(firstResponse.status == .ok)
            #expect(firstResponse.headers.first(name: "content-type")?.hasPrefix("text/event-stream") == true)
            let firstReader = Task { try await Self.read(firstResponse, into: first) }
            #expect(await eventually { stack.hub.clientCount == 1 && stack.pump.publishedSeq != nil })

            for _ in 0..<30 { try await F.deliver([try F.awarded()], to: stack.pool) }
            // Confidential events never reach the stream.
            try await F.deliver([try F.rejected()], to: stack.pool)
            let all = try await Self.seqs(stack.pool)
            #expect(all.count == 30)
            #expect(await eventually { first.ids.count == 30 })
            #expect(first.ids == all)
            let sample = try #require(first.events.withLock { $0.first })
            #expect(sample.name == "points.awarded")
            let cloudEvent = try JSONSerialization.jsonObject(with: Data(sample.data.utf8)) as? [String: Any]
            #expect(cloudEvent?["specversion"] as? String == "1.0")
            #expect(cloudEvent?["type"] as? String == PointsAwarded.eventType)
            #expect((cloudEvent?["data"] as? [String: Any])?["nip"] as? String == F.siti)

            // A second client that had seen up to the 10th event resumes and receives 11…30, then live ones.
            let second = Received()
            let secondResponse = try await http.execute(
                Self.request(port: port, token: token, lastEventId: all[9]), timeout: .seconds(120))
            let secondReader = Task { try await Self.read(secondResponse, into: second) }
            #expect(await eventually { second.ids.count == 20 })
            for _ in 0..<5 { try await F.deliver([try F.awarded()], to: stack.pool) }
            let after = try await Self.seqs(stack.pool)
            #expect(await eventually { second.ids.count == 25 && first.ids.count == 35 })
            #expect(second.ids == Array(after[10...]))
            #expect(first.ids == after)
            firstReader.cancel()
            secondReader.cancel()
        }
    }

    @Test("a slow client is dropped without delaying the others, and resumes without loss")
    func slowClientDropped() async throws {
        let settings = F.settings { $0.streamClientBuffer = 512 }
        try await F.withStack(settings: settings, parts: [.pump], testing: .live) { client, stack in
            let port = try #require(client.port)
            let token = try await F.token(nip: F.head, roles: ["dashboard"])
            let http = try await Self.client()
            defer { Self.shutdown(http) }
            let fast = Received()
            let fastResponse = try await http.execute(Self.request(port: port, token: token), timeout: .seconds(120))
            let fastReader = Task { try await Self.read(fastResponse, into: fast) }
            // The slow client connects and then does not read at all.
            let slowResponse = try await http.execute(Self.request(port: port, token: token), timeout: .seconds(120))
            #expect(await eventually { stack.hub.clientCount == 2 && stack.pump.publishedSeq != nil })

            // 4,000 events of ~2 KB (8 MB: far more than the slow client's socket buffers and its 512-event
            // buffer), arriving in 80 commits of 50 as a busy day would bring them.
            let padding = String(repeating: "x", count: 2000)
            let count = 4000
            let started = ContinuousClock.now
            for chunk in 0..<80 {
                try await stack.pool.withTransaction { connection in
                    try await connection.query(
                        """
                        INSERT INTO stream_events (event_id, event_name, body)
                        SELECT 'bulk-' || g, 'points.awarded', '{"n":' || g || ',"pad":"' || \(padding) || '"}'
                        FROM generate_series(\(chunk * 50 + 1), \(chunk * 50 + 50)) AS g
                        """)
                    try await connection.query("SELECT pg_notify('notification_stream', '')")
                }
                try await Task.sleep(for: .milliseconds(40))
            }
            #expect(await eventually(timeout: .seconds(120)) { fast.ids.count == count })
            let fastTook = ContinuousClock.now - started
            #expect(stack.hub.dropped == 1)
            #expect(stack.hub.clientCount == 1)
            let allSeqs = try await Self.seqs(stack.pool)
            #expect(fast.ids == allSeqs, "the fast client got every event in order")

            // The slow client now reads what it had; its stream ends early, short of the total.
            let slow = Received()
            try await Self.read(slowResponse, into: slow)
            #expect(slow.ended.withLock { $0 })
            #expect(slow.ids.count < count)
            // It comes back with Last-Event-ID and gets the rest: nothing lost.
            let resumed = Received()
            let resumedResponse = try await http.execute(
                Self.request(port: port, token: token, lastEventId: slow.ids.last ?? 0), timeout: .seconds(120))
            let resumedReader = Task { try await Self.read(resumedResponse, into: resumed) }
            #expect(await eventually(timeout: .seconds(120)) { slow.ids.count + resumed.ids.count == count })
            let lostNothing = slow.ids + resumed.ids == fast.ids
            #expect(lostNothing, "the slow client lost nothing")
            print("slow-client test: fast client received \(count) events in \(fastTook)")
            fastReader.cancel()
            resumedReader.cancel()
        }
    }

    @Test("the retained window keeps the last 10,000 events and everything younger than 24 h")
    func retainedWindow() async throws {
        try await F.withStack { _, stack in
            func insert(_ seqs: ClosedRange<Int>, age: String) async throws {
                try await stack.pool.withConnection { connection in
                    try await connection.query(
                        """
                        INSERT INTO stream_events (seq, event_id, event_name, body, created_at)
                        SELECT n, 'e-' || n, 'points.awarded', '{}', now() - \(age)::interval
                        FROM generate_series(\(seqs.lowerBound), \(seqs.upperBound)) AS n
                        """)
                }
            }
            func window() async throws -> (count: Int, first: Int) {
                let row = try await stack.pool.withConnection { connection in
                    try await connection.query("SELECT count(*) AS n, min(seq) AS first FROM stream_events")[0]
                }
                return (try row.decode("n"), try row.decode("first"))
            }
            // 15,000 events two days old, then (after a gap in seq, as a rolled-back append leaves) 3,000 of the
            // last hour: the last 10,000 rows are the 3,000 new ones and the newest 7,000 old ones.
            try await insert(1...15_000, age: "2 days")
            try await insert(15_101...18_100, age: "1 hour")
            #expect(try await stack.pump.prune() == 8_000)
            #expect(try await window() == (10_000, 8_001))
            #expect(try await stack.pump.prune() == 0)
            // 9,000 more new ones: the old ones are all outside the last 10,000 now, and the 12,000 of the last
            // day all stay.
            try await insert(18_101...27_100, age: "1 hour")
            #expect(try await stack.pump.prune() == 7_000)
            #expect(try await window() == (12_000, 15_101))
        }
    }

    @Test("heartbeat comments keep an idle stream open; the role is checked")
    func heartbeatAndRoles() async throws {
        let settings = F.settings { $0.streamHeartbeat = .milliseconds(200) }
        try await F.withStack(settings: settings, parts: [.pump], testing: .live) { client, stack in
            let port = try #require(client.port)
            let http = try await Self.client()
            defer { Self.shutdown(http) }
            let asn = try await http.execute(
                Self.request(port: port, token: try await F.token(roles: ["asn"])), timeout: .seconds(120))
            #expect(asn.status == .forbidden)
            let badResume = try await http.execute(
                {
                    var request = Self.request(port: port, token: "x")
                    request.headers.replaceOrAdd(name: "authorization", value: "Bearer x")
                    return request
                }(), timeout: .seconds(120))
            #expect(badResume.status == .unauthorized)
            let token = try await F.token(nip: F.head, roles: ["dashboard"])
            let received = Received()
            let response = try await http.execute(Self.request(port: port, token: token), timeout: .seconds(120))
            let reader = Task { try await Self.read(response, into: received) }
            #expect(await eventually { received.comments.withLock { $0.filter { $0 == ": heartbeat" }.count >= 2 } })
            reader.cancel()
        }
    }
}
