import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Settings of the local stack started by `deploy/dev`: the process environment first, then `.run/env`.
///
/// `.run/env` is found by walking up from the current directory and from this file's directory, and is parsed by
/// the shell itself (it is shell syntax with `export` lines and quotes).
package enum DevEnvironment {
    /// The value of `name`, or an error telling the reader to start the stack.
    package static func value(_ name: String) throws -> String {
        if let value = ProcessInfo.processInfo.environment[name], !value.isEmpty { return value }
        if let file = envFile() {
            let value = try shell(". '\(file.path)' && printf '%s' \"$\(name)\"")
            if !value.isEmpty { return value }
        }
        throw DevEnvironmentError(message: "\(name) is not set and .run/env does not define it: run deploy/dev up")
    }

    /// The repository root: the directory holding `Package.swift` above this file.
    package static var repositoryRoot: URL {
        var directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: directory.appendingPathComponent("Package.swift").path) {
            let parent = directory.deletingLastPathComponent()
            if parent.path == directory.path { break }
            directory = parent
        }
        return directory
    }

    /// `.run/env` of the nearest enclosing checkout, if the stack was started.
    package static func envFile() -> URL? {
        for start in [
            FileManager.default.currentDirectoryPath, URL(fileURLWithPath: #filePath).deletingLastPathComponent().path,
        ] {
            var directory = URL(fileURLWithPath: start).standardizedFileURL
            while true {
                let env = directory.appendingPathComponent(".run/env")
                if FileManager.default.fileExists(atPath: env.path) { return env }
                let parent = directory.deletingLastPathComponent()
                if parent.path == directory.path { break }
                directory = parent
            }
        }
        return nil
    }

    /// ``shell(_:environment:capture:)`` on a thread of its own, for async code: commands such as `rabbitmqctl`,
    /// `initdb` or `pg_ctl -w` take seconds, and blocking one of the few cooperative threads that long stalls every
    /// test running beside the caller.
    package static func shellOffPool(_ script: String, environment: [String: String]? = nil, capture: Bool = true)
        async throws -> String
    {
        try await onOwnThread { try shell(script, environment: environment, capture: capture) }
    }

    /// Runs `script` with `/bin/bash -c`; returns standard output, throws on a non-zero exit.
    ///
    /// - Parameter capture: `false` sends standard output to /dev/null — for scripts that start daemons, which
    ///   would otherwise inherit the pipe and keep it open forever.
    @discardableResult
    package static func shell(_ script: String, environment: [String: String]? = nil, capture: Bool = true) throws
        -> String
    {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")  // bash: dash cannot redirect descriptors > 9
        process.arguments = ["-c", script]
        if let environment { process.environment = environment }
        process.standardError = FileHandle.nullDevice
        let data: Data
        if capture {
            let output = Pipe()
            process.standardOutput = output
            try process.run()
            data = output.fileHandleForReading.readDataToEndOfFile()
        } else {
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            data = Data()
        }
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw DevEnvironmentError(message: "shell command failed with status \(process.terminationStatus)")
        }
        return String(decoding: data, as: UTF8.self)
    }
}

/// Runs blocking or CPU-bound synchronous work on a thread of its own and awaits its result.
///
/// Swift Testing runs every test on the cooperative pool, which has one thread per core (two here): a loop of
/// seconds there stalls every async test beside it, so that a 100 ms timeout elsewhere fires seconds late. Heavy
/// synchronous test work (fuzzing, encoding a thousand photos, shell commands) goes through here instead. Record
/// expectations after it returns, in the test's own task.
package func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread { continuation.resume(with: Result { try work() }) }
    }
}

/// The local stack is missing or a helper command failed.
package struct DevEnvironmentError: Error, CustomStringConvertible {
    package var message: String
    package var description: String { message }

    /// Creates the error with a message for the test log.
    package init(message: String) { self.message = message }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
package func freeLoopbackPort() throws -> Int {
    let (fd, port) = try boundLoopbackSocket()
    close(fd)
    return port
}

/// A loopback port that takes connections (the kernel completes them, up to `backlog`) but never accepts or answers
/// one: an HTTP client's requests to it wait for their read timeout. Close the descriptor when done.
package func silentLoopbackListener(backlog: Int32 = 512) throws -> (fd: Int32, port: Int) {
    let (fd, port) = try boundLoopbackSocket()
    guard listen(fd, backlog) == 0 else {
        close(fd)
        throw DevEnvironmentError(message: "listen() failed")
    }
    return (fd, port)
}

/// A TCP socket bound to a free port on 127.0.0.1, and the port.
private func boundLoopbackSocket() throws -> (fd: Int32, port: Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw DevEnvironmentError(message: "socket() failed") }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
            bind(fd, raw, length) == 0 && getsockname(fd, raw, &length) == 0
        }
    }
    guard bound else {
        close(fd)
        throw DevEnvironmentError(message: "cannot find a free port")
    }
    return (fd, Int(UInt16(bigEndian: address.sin_port)))
}
