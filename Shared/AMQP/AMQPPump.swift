import CRabbitMQ
import Foundation
import Logging
import Synchronization

/// What a publisher or consumer plugs into the frame pump. Every method runs on the pump thread.
protocol AMQPPumpDriver<Command>: AnyObject {
    /// Work handed over from Swift tasks.
    associatedtype Command: Sendable

    /// Prepares a fresh session: declare the topology, set the channel up (confirm mode, qos, consume).
    func didConnect(_ session: AMQPSession) throws(MessagingError)
    /// Carries out commands on the live session.
    func perform(_ commands: [Command], session: AMQPSession) throws(MessagingError)
    /// Fails commands that arrived while there is no connection.
    func reject(_ commands: [Command], reason: MessagingError)
    /// Sends queued work; returns whether more is ready to send at once.
    func flush(_ session: AMQPSession) throws(MessagingError) -> Bool
    /// Reacts to something the broker sent.
    func handle(_ event: AMQPEvent, session: AMQPSession) throws(MessagingError)
    /// The connection is gone (or never came up): fail or forget what depended on it.
    func didDisconnect(_ error: MessagingError)
    /// Called every loop turn with the monotonic time, for timeouts and retries.
    func tick(now: UInt64, session: AMQPSession) throws(MessagingError)
    /// Whether nothing is in flight, so a stopping pump may close now.
    var isIdle: Bool { get }
}

/// Wraps a value that is handed to the pump thread once and used there only.
///
/// `@unchecked Sendable`: the driver is created by the Swift side, passed to the new thread before it starts
/// and never touched by the creator again.
private struct HandOver<Value>: @unchecked Sendable {
    let value: Value
}

/// One connection's OS thread: connects (with backoff 1→30 s), runs the frame pump, hands commands to the
/// driver, and watches every blocking C call.
///
/// The pump thread is the only thread that touches the rabbitmq-c connection. Swift tasks talk to it through
/// `enqueue` (a locked queue plus a wake-up pipe polled next to the socket). A watchdog thread shuts the socket
/// down (`shutdown(2)`) when one C call blocks longer than its limit — rabbitmq-c 0.11's `amqp_basic_publish`
/// can block forever on a stalled broker — so the call fails and the pump reconnects.
///
/// `@unchecked Sendable`: the mutable state shared between threads is in `Mutex`es; the pipe descriptors
/// are immutable after `init`.
final class AMQPPump<Command: Sendable>: @unchecked Sendable {
    let configuration: AMQPConfiguration
    let logger: Logger

    private let commands = Mutex<(items: [Command], closed: Bool)>(([], false))
    private let connected = Mutex(false)
    private let stopState = Mutex<(requested: Bool, deadline: UInt64)>((false, 0))
    private let watch = Mutex<(fd: Int32, since: UInt64, limit: UInt64, what: String)>((-1, 0, 0, ""))
    private let started = Mutex(false)
    private let exited = StopSignal()
    private let wakeRead: Int32
    private let wakeWrite: Int32

    /// Creates a pump for `configuration`; nothing runs until `start`.
    init(configuration: AMQPConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) == 0 {
            for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        }
        wakeRead = fds[0]
        wakeWrite = fds[1]
    }

    deinit {
        close(wakeRead)
        close(wakeWrite)
    }

    /// Whether the connection is up (logged in, set up by the driver).
    var isConnected: Bool { connected.withLock { $0 } }

    /// Whether the pump thread has finished.
    var hasExited: Bool { exited.isFired }

    /// Starts the pump and watchdog threads with `driver`; later calls do nothing.
    func start(driver: some AMQPPumpDriver<Command>) {
        guard
            started.withLock({ started in
                defer { started = true }; return !started
            })
        else { return }
        let handOver = HandOver(value: driver)
        let pump = Thread { [self] in self.runLoop(handOver.value) }
        pump.name = "amqp \(configuration.connectionName)"
        pump.start()
        let watchdog = Thread { [self] in self.runWatchdog() }
        watchdog.name = "amqp watchdog \(configuration.connectionName)"
        watchdog.start()
    }

    /// Queues `command` for the pump thread; false if the pump has stopped (the command will never run).
    @discardableResult
    func enqueue(_ command: Command) -> Bool {
        let accepted = commands.withLock { state -> Bool in
            guard !state.closed else { return false }
            state.items.append(command)
            return true
        }
        if accepted { wake() }
        return accepted
    }

    /// Asks the pump to finish: it carries out queued commands, waits up to `drain` for in-flight work, then
    /// closes the connection and exits.
    func requestStop(drain: Duration) {
        stopState.withLock { state in
            if !state.requested {
                state = (true, monotonicNanos() + drain.nanoseconds)
            }
        }
        wake()
    }

    /// Returns once the pump thread has exited (at once if it never started).
    func waitUntilExited() async {
        if !started.withLock({ $0 }) { return }
        await exited.wait()
    }

    // MARK: Pump thread

    private func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    private func drainWakePipe() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(wakeRead, &buffer, buffer.count) > 0 {}
    }

    /// Waits until `fd` is readable, a command arrives, or `milliseconds` pass (`fd` < 0: commands only).
    private func waitForInput(fd: Int32, milliseconds: Int32) {
        var fds = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
        if fd >= 0 { fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
        _ = poll(&fds, nfds_t(fds.count), milliseconds)
        if fds[0].revents != 0 { drainWakePipe() }
    }

    /// Runs `body` under the watchdog: if it blocks longer than `limit`, the socket is shut down.
    private func guarded<Result>(
        _ what: String,
        limit: Duration,
        _ body: () throws(MessagingError) -> Result
    ) throws(MessagingError) -> Result {
        watch.withLock {
            $0.since = monotonicNanos(); $0.limit = limit.nanoseconds; $0.what = what
        }
        defer { watch.withLock { $0.since = 0 } }
        return try body()
    }

    private func setSocket(_ fd: Int32) {
        watch.withLock { $0.fd = fd }
    }

    private func runLoop(_ driver: some AMQPPumpDriver<Command>) {
        var session: AMQPSession?
        var backoff: Double = 1
        var retryAt: UInt64 = 0
        let stallLimit = configuration.effectiveWriteStallLimit
        let rpcLimit = max(stallLimit, configuration.connectTimeout) + .seconds(1)

        while true {
            let stop = stopState.withLock { $0 }
            let now = monotonicNanos()
            if stop.requested, session == nil || driver.isIdle || now >= stop.deadline {
                // Carry out what was queued before the stop (a consumer's last acks) before closing.
                if let live = session {
                    let pending = takeCommands()
                    if !pending.isEmpty {
                        try? guarded("commands", limit: stallLimit) { () throws(MessagingError) in
                            try driver.perform(pending, session: live)
                        }
                    }
                }
                break
            }
            guard let live = session else {
                let pending = takeCommands()
                if !pending.isEmpty {
                    driver.reject(pending, reason: MessagingError(.notConnected, "no connection to the broker"))
                }
                if now < retryAt {
                    waitForInput(fd: -1, milliseconds: Int32(min(100, (retryAt - now) / 1_000_000 + 1)))
                    continue
                }
                do throws(MessagingError) {
                    let fresh = try guarded("connect", limit: configuration.connectTimeout * 2 + .seconds(1)) {
                        () throws(MessagingError) -> AMQPSession in
                        let fresh = try AMQPSession(configuration: configuration)
                        setSocket(fresh.fd)
                        do throws(MessagingError) {
                            try driver.didConnect(fresh)
                        } catch {
                            setSocket(-1)  // before `fresh` is destroyed and its descriptor closed
                            throw error
                        }
                        return fresh
                    }
                    session = fresh
                    connected.withLock { $0 = true }
                    backoff = 1
                    logger.info("AMQP connected", metadata: ["amqp.connection": "\(configuration)"])
                } catch {
                    setSocket(-1)
                    driver.didDisconnect(error)
                    logger.warning(
                        "AMQP connect failed; retrying in \(Int(backoff)) s",
                        metadata: ["amqp.connection": "\(configuration)", "error": "\(error)"]
                    )
                    retryAt = monotonicNanos() + UInt64(backoff * 1e9)
                    backoff = min(backoff * 2, 30)
                }
                continue
            }
            do throws(MessagingError) {
                let pending = takeCommands()
                if !pending.isEmpty {
                    try guarded("commands", limit: stallLimit) { () throws(MessagingError) in
                        try driver.perform(pending, session: live)
                    }
                }
                let more = try guarded("publish", limit: stallLimit) { () throws(MessagingError) in
                    try driver.flush(live)
                }
                try guarded("housekeeping", limit: rpcLimit) { () throws(MessagingError) in
                    try driver.tick(now: now, session: live)
                }
                if !live.hasBufferedInput {
                    waitForInput(fd: live.fd, milliseconds: more ? 0 : 100)
                }
                for _ in 0..<1024 {
                    let (event, gotFrame) = try guarded("read", limit: rpcLimit) {
                        () throws(MessagingError) in try live.poll()
                    }
                    if let event {
                        try guarded("event", limit: rpcLimit) { () throws(MessagingError) in
                            try driver.handle(event, session: live)
                        }
                    }
                    if !gotFrame { break }
                }
                amqp_maybe_release_buffers(live.state)
            } catch {
                setSocket(-1)
                session = nil
                connected.withLock { $0 = false }
                driver.didDisconnect(error)
                logger.warning(
                    "AMQP connection lost; reconnecting in \(Int(backoff)) s",
                    metadata: ["amqp.connection": "\(configuration)", "error": "\(error)"]
                )
                retryAt = monotonicNanos() + UInt64(backoff * 1e9)
                backoff = min(backoff * 2, 30)
            }
        }

        if let live = session {
            try? guarded("close", limit: .seconds(2)) { () throws(MessagingError) in live.close() }
            setSocket(-1)
            session = nil
        }
        connected.withLock { $0 = false }
        let leftovers = commands.withLock { state -> [Command] in
            state.closed = true
            defer { state.items = [] }
            return state.items
        }
        let shutdown = MessagingError(.shutdown, "the connection was closed on shutdown")
        if !leftovers.isEmpty { driver.reject(leftovers, reason: shutdown) }
        driver.didDisconnect(shutdown)
        logger.debug("AMQP pump stopped", metadata: ["amqp.connection": "\(configuration)"])
        exited.fire()
    }

    private func takeCommands() -> [Command] {
        commands.withLock { state in
            defer { state.items = [] }
            return state.items
        }
    }

    private func runWatchdog() {
        while !exited.isFired {
            usleep(200_000)
            let now = monotonicNanos()
            let fired = watch.withLock { state -> (what: String, seconds: Double)? in
                guard state.since != 0, state.fd >= 0, now > state.since, now - state.since > state.limit else {
                    return nil
                }
                // Under the lock, so the pump cannot close and reuse the descriptor meanwhile.
                shutdown(state.fd, Int32(SHUT_RDWR))
                let seconds = Double(now - state.since) / 1e9
                state.since = 0
                return (state.what, seconds)
            }
            if let fired {
                logger.error(
                    "AMQP call blocked; watchdog shut the socket down",
                    metadata: [
                        "amqp.connection": "\(configuration)", "amqp.call": "\(fired.what)",
                        "blocked_seconds": "\(Int(fired.seconds))",
                    ]
                )
            }
        }
    }
}
