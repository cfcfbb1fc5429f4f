import Database
import Foundation

/// Reads CPU time and memory of processes from Linux's `/proc` (no privileges needed for one's own processes;
/// root reads every process), for the benchmarks: `asnreward-bench` and the benchmark suites.
package enum ProcessProbe {
    /// Clock ticks per second of `/proc/<pid>/stat` times (`sysconf(_SC_CLK_TCK)`).
    package static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    /// Fields of `/proc/<pid>/stat` this probe needs.
    package struct Stat {
        /// Parent pid.
        package var parent: Int
        /// User + system CPU seconds of the process itself.
        package var cpuSeconds: Double
        /// User + system CPU seconds of its waited-for children (exited).
        package var childrenCPUSeconds: Double
    }

    /// The process's stat fields, or `nil` if it does not exist.
    package static func stat(_ pid: Int) -> Stat? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        // After "pid (comm) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
        // cutime cstime …
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 14, let parent = Int(fields[1]), let utime = Double(fields[11]),
            let stime = Double(fields[12]), let cutime = Double(fields[13]), let cstime = Double(fields[14])
        else { return nil }
        return Stat(
            parent: parent, cpuSeconds: (utime + stime) / ticksPerSecond,
            childrenCPUSeconds: (cutime + cstime) / ticksPerSecond)
    }

    /// CPU seconds of `pid` alone.
    package static func cpuSeconds(_ pid: Int) -> Double? { stat(pid)?.cpuSeconds }

    /// CPU seconds of `pid`, its live children and its exited children: for a PostgreSQL postmaster, the whole
    /// server (backends, WAL writer, checkpointer, autovacuum…), counting backends that ended during the run.
    package static func treeCPUSeconds(_ pid: Int) -> Double? {
        guard let root = stat(pid) else { return nil }
        var total = root.cpuSeconds + root.childrenCPUSeconds
        for child in children(of: pid) { total += stat(child)?.cpuSeconds ?? 0 }
        return total
    }

    /// Pids whose parent is `pid`.
    package static func children(of pid: Int) -> [Int] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap(Int.init).filter { stat($0)?.parent == pid }
    }

    /// `VmHWM` (peak resident set) and `VmRSS` in MiB from `/proc/<pid>/status`.
    package static func memoryMiB(_ pid: Int) -> (peak: Double, current: Double)? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        var peak: Double?
        var current: Double?
        for line in text.split(separator: "\n") {
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard parts.count >= 2, let kilobytes = Double(parts[1]) else { continue }
            if parts[0] == "VmHWM:" { peak = kilobytes / 1024 }
            if parts[0] == "VmRSS:" { current = kilobytes / 1024 }
        }
        guard let peak, let current else { return nil }
        return (peak, current)
    }

    /// Proportional set size of `pid` and its children together, in MiB (`Pss` of `/proc/<pid>/smaps_rollup`:
    /// shared pages such as PostgreSQL's shared buffers are divided among the processes mapping them, so the sum
    /// counts them once).
    package static func treePSSMiB(_ pid: Int) -> Double {
        ([pid] + children(of: pid)).reduce(0) { total, process in
            guard let text = try? String(contentsOfFile: "/proc/\(process)/smaps_rollup", encoding: .utf8),
                let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Pss:") }),
                let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Double($0) })
            else { return total }
            return total + kilobytes / 1024
        }
    }

    /// Resets the process's peak resident set (`VmHWM`) to its current size by writing `5` to
    /// `/proc/<pid>/clear_refs` (Linux ≥ 4.0; the process's owner or root). Returns whether it worked.
    @discardableResult
    package static func resetPeakRSS(_ pid: Int) -> Bool {
        guard let handle = FileHandle(forWritingAtPath: "/proc/\(pid)/clear_refs") else { return false }
        defer { try? handle.close() }
        return (try? handle.write(contentsOf: Data("5".utf8))) != nil
    }

    /// Busy and total CPU seconds of the whole machine since boot, from the first line of `/proc/stat`.
    package static func machineCPUSeconds() -> (busy: Double, total: Double)? {
        guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
            let line = text.split(separator: "\n").first
        else { return nil }
        let values = line.split(separator: " ").dropFirst().compactMap { Double($0) }
        guard values.count >= 5 else { return nil }
        let total = values.prefix(8).reduce(0, +)
        let idle = values[3] + values[4]  // idle + iowait
        return ((total - idle) / ticksPerSecond, total / ticksPerSecond)
    }

    /// Number of online CPUs.
    package static var cores: Int { ProcessInfo.processInfo.activeProcessorCount }

    /// The rate (units of work per second) the machine's cores allow when a unit costs `busyCPUSeconds / units`
    /// of CPU, nothing else runs and every core is busy: the physical limit to compare a measured rate with.
    package static func rateAllowed(units: Int, busyCPUSeconds: Double) -> Double {
        Double(units) * Double(cores) / busyCPUSeconds
    }

    /// The PostgreSQL postmaster of the server `admin` is connected to (its backends are its children), found by
    /// the `postmaster.pid` of its `data_directory` (readable by a superuser).
    package static func postmaster(of admin: DatabaseConnection) async -> Int? {
        guard let rows = try? await admin.query("SELECT current_setting('data_directory') AS dir"),
            let directory = try? rows.first?.decode("dir", as: String.self)
        else { return nil }
        return pid(fromFile: "\(directory)/postmaster.pid")
    }

    /// RabbitMQ's `beam.smp`, from `ASNREWARD_RABBIT_PID_FILE` (set by `deploy/dev bench`) or the pid file
    /// `deploy/dev` writes under `root/.run`.
    package static func rabbit(root: String = FileManager.default.currentDirectoryPath) -> Int? {
        pid(
            fromFile: ProcessInfo.processInfo.environment["ASNREWARD_RABBIT_PID_FILE"]
                ?? "\(root)/.run/rabbitmq/rabbitmq.pid")
    }

    /// The pid in a pid file (first line), if that process is alive.
    package static func pid(fromFile path: String) -> Int? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
            let pid = text.split(whereSeparator: \.isNewline).first.flatMap({
                Int($0.trimmingCharacters(in: .whitespaces))
            }),
            stat(pid) != nil
        else { return nil }
        return pid
    }
}
