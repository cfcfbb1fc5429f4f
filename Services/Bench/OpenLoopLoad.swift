import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// How submissions are offered to intake.
struct LoadPlan: Sendable {
    /// How many requests in all.
    var count: Int
    /// Offered rate in requests/s (open loop); `nil` starts every request as soon as a connection is free (closed
    /// loop with `concurrency` workers, as the earlier bench did).
    var rate: Double?
    /// Keep-alive connections, so also the cap on requests in flight.
    var concurrency: Int
    /// A request starting this much after its scheduled time is counted as late.
    var lateAfterNanoseconds: UInt64 = 10_000_000
    /// Attempts per request: a request that failed with a status a client should retry (no response, 408, 429,
    /// 5xx) is sent again, with the same head and body, after a backoff growing from 0.25 s to 5 s.
    var maxAttempts = 1

    /// Whether a client should send a request again after `status` (0: no response at all).
    static func isRetryable(_ status: Int) -> Bool {
        status == 0 || status == 408 || status == 429 || (500...599).contains(status)
    }
}

/// Builds request `index`: writes its body into the buffer and returns its head (called on the event loop).
protocol LoadRequestFactory: Sendable {
    /// The head of request `index`, its body written into `body` (`Content-Length` is set by the caller).
    func request(_ index: Int, body: inout ByteBuffer) -> HTTPRequestHead
}

/// What happened to every request of a run, by index. Times are nanoseconds since the run's start (monotonic).
struct LoadOutcome: Sendable {
    /// When each request was due (open loop); when it started (closed loop).
    var scheduled: [UInt64]
    /// When its first byte was written (0 if it never started).
    var started: [UInt64]
    /// When its response ended (0 if none).
    var finished: [UInt64]
    /// HTTP status of the last attempt (0: connection failed or never sent).
    var status: [Int]
    /// Attempts made per request (more than one when a retryable failure was retried).
    var attempts: [Int]
    /// Statuses of the attempts before the last one, per request (empty when the first attempt was the last).
    var earlierStatuses: [[Int]]
    /// The response body of `2xx` responses (small JSON), for the submission id.
    var body: [String?]
    /// Requests that started more than `lateAfterNanoseconds` after they were due.
    var lateStarts: Int
    /// Most requests in flight at once.
    var peakInFlight: Int
    /// Connections (re)opened during the run.
    var connectionsOpened: Int
    /// Whether the run ended at its deadline with requests unfinished.
    var timedOut: Bool
    /// Wall-clock time (seconds since 1970) of the run's start, to compare with database timestamps.
    var wallStart: Double
    /// Nanoseconds from the run's start to the end of the last response.
    var elapsed: UInt64
}

/// A low-overhead HTTP/1.1 load generator on one NIO event loop: keep-alive connections, one request at a time on
/// each, requests started at a fixed offered rate whatever the completions (open loop), queued when every
/// connection is busy (which makes them late). Everything mutable is confined to the event loop.
final class OpenLoopLoad: @unchecked Sendable {
    // @unchecked Sendable: every stored `var` is read and written only on `loop` (each entry point is either
    // scheduled on it or called from a channel handler of a channel on it); the `let`s are Sendable.
    private let loop: any EventLoop
    private let plan: LoadPlan
    private let factory: any LoadRequestFactory
    private let host: String
    private let port: Int
    private let promise: EventLoopPromise<LoadOutcome>

    private var outcome: LoadOutcome
    private var startNanoseconds: UInt64 = 0
    private var nextIndex = 0
    private var pending: [Int] = []
    private var pendingHead = 0
    private var done = 0
    private var inFlight = 0
    private var idle: [Int] = []
    private var channels: [Int: any Channel] = [:]
    private var current: [Int: Int] = [:]  // slot → request index
    private var nextSlot = 0
    private var ticker: RepeatedTask?
    private var finished = false

    /// A run of `plan` against `host:port` on `loop`, requests from `factory`.
    init(plan: LoadPlan, host: String, port: Int, loop: any EventLoop, factory: any LoadRequestFactory) {
        self.plan = plan
        self.host = host
        self.port = port
        self.loop = loop
        self.factory = factory
        self.promise = loop.makePromise(of: LoadOutcome.self)
        outcome = LoadOutcome(
            scheduled: [UInt64](repeating: 0, count: plan.count), started: [UInt64](repeating: 0, count: plan.count),
            finished: [UInt64](repeating: 0, count: plan.count), status: [Int](repeating: 0, count: plan.count),
            attempts: [Int](repeating: 0, count: plan.count),
            earlierStatuses: [[Int]](repeating: [], count: plan.count),
            body: [String?](repeating: nil, count: plan.count), lateStarts: 0, peakInFlight: 0, connectionsOpened: 0,
            timedOut: false, wallStart: 0, elapsed: 0)
    }

    /// Opens the connections, then offers the requests; returns when every request has ended or at `deadline`.
    func run(deadline: Duration) async throws -> LoadOutcome {
        // Open every connection first, so connection set-up is not part of the measured run.
        try await loop.flatSubmit { [self] in
            EventLoopFuture.andAllSucceed((0..<plan.concurrency).map { _ in openConnection() }, on: loop)
        }.get()
        let seconds = deadline.components.seconds
        loop.execute { self.start(deadlineSeconds: seconds) }
        return try await promise.futureResult.get()
    }

    // MARK: On the event loop

    private func openConnection() -> EventLoopFuture<Void> {
        let slot = nextSlot
        nextSlot += 1
        return ClientBootstrap(group: loop)
            .channelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(ResponseHandler(load: self, slot: slot))
                }
            }
            .connect(host: host, port: port)
            .map { [self] channel in
                loop.preconditionInEventLoop()
                channels[slot] = channel
                idle.append(slot)
                outcome.connectionsOpened += 1
                if startNanoseconds > 0 { dispatch() }
            }
            .flatMapError { [self] error in
                // The server is down (a restart): try again in a second while work remains.
                if startNanoseconds > 0 && !finished {
                    loop.scheduleTask(in: .seconds(1)) { [self] in
                        if !finished { openConnection().whenFailure { _ in } }
                    }
                }
                return loop.makeFailedFuture(error)
            }
    }

    private func start(deadlineSeconds: Int64) {
        startNanoseconds = NIODeadline.now().uptimeNanoseconds
        outcome.wallStart = wallClock()
        if let rate = plan.rate {
            let interval = 1e9 / rate
            for index in 0..<plan.count { outcome.scheduled[index] = UInt64(Double(index) * interval) }
            ticker = loop.scheduleRepeatedTask(initialDelay: .zero, delay: .milliseconds(1)) { [self] _ in tick() }
        } else {
            tick()
        }
        loop.scheduleTask(in: .seconds(deadlineSeconds)) { [self] in
            if !finished {
                outcome.timedOut = true
                finish()
            }
        }
    }

    private func tick() {
        let now = NIODeadline.now().uptimeNanoseconds - startNanoseconds
        while nextIndex < plan.count && outcome.scheduled[nextIndex] <= now {
            pending.append(nextIndex)
            nextIndex += 1
        }
        if nextIndex == plan.count {
            ticker?.cancel()
            ticker = nil
        }
        dispatch()
    }

    private func dispatch() {
        while pendingHead < pending.count, let slot = idle.popLast() {
            let index = pending[pendingHead]
            pendingHead += 1
            send(index, on: slot)
        }
        if pendingHead > 4096 && pendingHead * 2 > pending.count {
            pending.removeFirst(pendingHead)
            pendingHead = 0
        }
    }

    private func send(_ index: Int, on slot: Int) {
        guard let channel = channels[slot] else { return }
        let now = NIODeadline.now().uptimeNanoseconds - startNanoseconds
        // A closed loop has no schedule: a request is due when a connection is free.
        if plan.rate == nil && outcome.attempts[index] == 0 { outcome.scheduled[index] = now }
        if outcome.attempts[index] == 0 {
            outcome.started[index] = now
            if now > outcome.scheduled[index] + plan.lateAfterNanoseconds { outcome.lateStarts += 1 }
        }
        outcome.attempts[index] += 1
        current[slot] = index
        inFlight += 1
        outcome.peakInFlight = max(outcome.peakInFlight, inFlight)
        var body = channel.allocator.buffer(capacity: 128 * 1024)
        var head = factory.request(index, body: &body)
        head.headers.replaceOrAdd(name: "Content-Length", value: String(body.readableBytes))
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        channel.write(HTTPClientRequestPart.body(.byteBuffer(body)), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
    }

    /// A response ended on `slot`'s connection.
    fileprivate func responded(slot: Int, status: Int, body: ByteBuffer?) {
        guard let index = current.removeValue(forKey: slot) else { return }
        outcome.status[index] = status
        if (200..<300).contains(status), let body { outcome.body[index] = String(buffer: body) }
        if !retry(index, after: status) { complete(index) }
        if channels[slot] != nil { idle.append(slot) }
        dispatch()
    }

    /// `slot`'s connection closed: its request (if any) failed; a replacement is opened while work remains.
    fileprivate func closed(slot: Int) {
        channels[slot] = nil
        idle.removeAll { $0 == slot }
        if let index = current.removeValue(forKey: slot) {
            outcome.status[index] = 0
            if !retry(index, after: 0) { complete(index) }
        }
        // No cap on reopening: a balancer with no server up answers 503 and closes each connection, so a long
        // outage costs a connection per attempt (a cap once stalled a chaos run for good).
        if !finished {
            openConnection().whenFailure { _ in }
        }
    }

    /// Sends request `index` again later when `status` calls for it and attempts remain; returns whether it will.
    private func retry(_ index: Int, after status: Int) -> Bool {
        guard !finished, LoadPlan.isRetryable(status), outcome.attempts[index] < plan.maxAttempts else { return false }
        outcome.earlierStatuses[index].append(status)
        inFlight -= 1
        let backoff = min(250 * (1 << min(outcome.attempts[index] - 1, 5)), 5_000) + Int.random(in: 0...250)
        loop.scheduleTask(in: .milliseconds(Int64(backoff))) { [self] in
            guard !finished else { return }
            pending.append(index)
            dispatch()
        }
        return true
    }

    private func complete(_ index: Int) {
        outcome.finished[index] = NIODeadline.now().uptimeNanoseconds - startNanoseconds
        inFlight -= 1
        done += 1
        if done == plan.count { finish() }
    }

    private func finish() {
        guard !finished else { return }
        finished = true
        ticker?.cancel()
        outcome.elapsed = NIODeadline.now().uptimeNanoseconds - startNanoseconds
        let all = Array(channels.values)
        channels = [:]
        for channel in all { channel.close(promise: nil) }
        promise.succeed(outcome)
    }

    private func wallClock() -> Double { Date().timeIntervalSince1970 }
}

/// Collects one response at a time and reports it to the load generator.
private final class ResponseHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let load: OpenLoopLoad
    private let slot: Int
    private var status = 0
    private var body: ByteBuffer?

    init(load: OpenLoopLoad, slot: Int) {
        self.load = load
        self.slot = slot
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = Int(head.status.code)
            body = nil
        case .body(var part):
            if body == nil { body = part } else { body!.writeBuffer(&part) }
        case .end:
            load.responded(slot: slot, status: status, body: body)
            body = nil
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        load.closed(slot: slot)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
