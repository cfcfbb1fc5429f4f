import CRabbitMQ
import Foundation
import ServiceLifecycle
import Synchronization

/// A one-shot signal a Swift task can wait for: fired by graceful shutdown, cancellation or `shutdown()`.
final class StopSignal: Sendable {
    private let state = Mutex<(fired: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    /// Whether the signal has fired.
    var isFired: Bool { state.withLock { $0.fired } }

    /// Fires the signal, waking every waiter; later calls do nothing.
    func fire() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard !state.fired else { return [] }
            state.fired = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once the signal has fired.
    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let fired = state.withLock { state -> Bool in
                if state.fired { return true }
                state.waiters.append(continuation)
                return false
            }
            if fired { continuation.resume() }
        }
    }

    /// Waits until graceful shutdown, task cancellation or `fire()`, then returns.
    func waitForShutdown() async {
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await self.wait()
            } onGracefulShutdown: {
                self.fire()
            }
        } onCancel: {
            self.fire()
        }
    }
}

/// Monotonic clock in nanoseconds.
func monotonicNanos() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}

/// A `timeval` for `duration`.
func makeTimeval(_ duration: Duration) -> timeval {
    let micros = Int(duration.seconds * 1_000_000)
    return timeval(tv_sec: micros / 1_000_000, tv_usec: .init(micros % 1_000_000))
}

/// A field value for tables the client builds (client properties, queue arguments, message headers).
enum AMQPFieldValue {
    case string(String)
    case bool(Bool)
    case int(Int64)
    case table([(String, AMQPFieldValue)])
}

/// Owns C memory handed to rabbitmq-c for one call (strings, tables, property blocks) and frees it in `deinit`.
///
/// Used on one thread only; never escapes the call it was made for.
final class CArena {
    private var blocks: [UnsafeMutableRawPointer] = []

    deinit {
        for block in blocks { free(block) }
    }

    /// Copies `bytes` into C memory.
    func bytes<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> amqp_bytes_t {
        let count = bytes.count
        guard count > 0, let block = malloc(count) else { return amqp_bytes_t(len: 0, bytes: nil) }
        blocks.append(block)
        let typed = block.bindMemory(to: UInt8.self, capacity: count)
        _ = UnsafeMutableBufferPointer(start: typed, count: count).initialize(from: bytes)
        return amqp_bytes_t(len: count, bytes: block)
    }

    /// Copies the UTF-8 of `string` into C memory.
    func bytes(_ string: String) -> amqp_bytes_t {
        bytes(string.utf8)
    }

    /// Builds an AMQP table from `entries`.
    func table(_ entries: [(String, AMQPFieldValue)]) -> amqp_table_t {
        guard !entries.isEmpty,
            let block = malloc(MemoryLayout<amqp_table_entry_t>.stride * entries.count)
        else { return amqp_table_t(num_entries: 0, entries: nil) }
        blocks.append(block)
        let typed = block.bindMemory(to: amqp_table_entry_t.self, capacity: entries.count)
        for (index, (key, value)) in entries.enumerated() {
            (typed + index).initialize(to: amqp_table_entry_t(key: bytes(key), value: field(value)))
        }
        return amqp_table_t(num_entries: Int32(entries.count), entries: typed)
    }

    private func field(_ value: AMQPFieldValue) -> amqp_field_value_t {
        var field = amqp_field_value_t()
        switch value {
        case .string(let string):
            field.kind = UInt8(ascii: "S")
            field.value.bytes = bytes(string)
        case .bool(let flag):
            field.kind = UInt8(ascii: "t")
            field.value.boolean = flag ? 1 : 0
        case .int(let number):
            field.kind = UInt8(ascii: "l")
            field.value.i64 = number
        case .table(let entries):
            field.kind = UInt8(ascii: "F")
            field.value.table = table(entries)
        }
        return field
    }
}

extension amqp_bytes_t {
    /// The bytes as a Swift string (UTF-8, invalid sequences repaired).
    var string: String {
        guard len > 0, let bytes else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: bytes, count: len), as: UTF8.self)
    }

    /// The bytes as a Swift array.
    var array: [UInt8] {
        guard len > 0, let bytes else { return [] }
        return Array(UnsafeRawBufferPointer(start: bytes, count: len))
    }
}

extension amqp_table_t {
    /// The table's entries with every value in string form.
    var stringEntries: [String: String] {
        var result: [String: String] = [:]
        guard num_entries > 0, let entries else { return result }
        for index in 0..<Int(num_entries) {
            let entry = entries[index]
            result[entry.key.string] = entry.value.stringForm
        }
        return result
    }
}

extension amqp_field_value_t {
    /// The value converted to a string: text as is, numbers in decimal, booleans `true`/`false`, timestamps in
    /// seconds since 1970, tables and arrays in a JSON-like form.
    var stringForm: String {
        switch Character(Unicode.Scalar(kind)) {
        case "S", "x": value.bytes.string
        case "t": value.boolean != 0 ? "true" : "false"
        case "b": String(value.i8)
        case "B": String(value.u8)
        case "s": String(value.i16)
        case "u": String(value.u16)
        case "I": String(value.i32)
        case "i": String(value.u32)
        case "l": String(value.i64)
        case "L", "T": String(value.u64)
        case "f": String(value.f32)
        case "d": String(value.f64)
        case "D":
            String(Double(value.decimal.value) / pow(10, Double(value.decimal.decimals)))
        case "F":
            "{"
                + value.table.stringEntries.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }
                .joined(separator: ", ") + "}"
        case "A":
            "["
                + (0..<Int(value.array.num_entries)).map { value.array.entries[$0].stringForm }
                .joined(separator: ", ") + "]"
        default: ""
        }
    }
}
