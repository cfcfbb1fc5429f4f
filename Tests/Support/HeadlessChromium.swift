import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A real headless Chromium driven over the W3C WebDriver protocol by Debian's `chromedriver`.
///
/// Each instance starts its own `chromedriver` on a free loopback port and one browser session with a phone-sized
/// window. Every call goes over HTTP to chromedriver, exactly as Selenium would send it; nothing is simulated.
///
/// ```swift
/// let browser = try await HeadlessChromium.launch(width: 412, height: 915)
/// try await browser.open("http://127.0.0.1:\(port)/")
/// try await browser.waitUntil("document.querySelector('#list li') !== null")
/// await browser.quit()
/// ```
///
/// A chromedriver whose test process ends without `quit()` is killed by a watchdog within a second.
///
/// ```swift
/// ```
package final class HeadlessChromium: Sendable {
    private let driverURL: String
    private let sessionId: String
    private let driverPid: pid_t

    private init(driverURL: String, sessionId: String, driverPid: pid_t) {
        self.driverURL = driverURL
        self.sessionId = sessionId
        self.driverPid = driverPid
    }

    /// Starts chromedriver and a headless Chromium session with a window of `width` × `height` CSS pixels.
    ///
    /// - Throws: ``BrowserError`` when `chromium` or `chromedriver` is missing (apt-get install chromium
    ///   chromium-driver) or the session cannot be created.
    package static func launch(width: Int = 412, height: Int = 915, language: String = "id-ID") async throws
        -> HeadlessChromium
    {
        let chromium = try executable(["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"])
        let driver = try executable(["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"])
        let port = try freeLoopbackPort()
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("chromedriver-\(port).log").path
        // Close every inherited descriptor first, so the daemon does not hold the test runner's pipes open.
        let output = try await DevEnvironment.shellOffPool(
            """
            for fd in $(ls /proc/$$/fd); do if [ "$fd" -gt 2 ]; then eval "exec $fd>&-"; fi; done
            nohup '\(driver)' --port=\(port) --allowed-ips=127.0.0.1 >'\(log)' 2>&1 </dev/null &
            driver=$!
            # A watchdog: when the test process ends (even without quit()), chromedriver and its Chromium go too.
            nohup bash -c "while kill -0 \(getpid()) 2>/dev/null && kill -0 $driver 2>/dev/null; do sleep 1; done
                pkill -9 -P $driver 2>/dev/null; kill -9 $driver 2>/dev/null" >/dev/null 2>&1 </dev/null &
            echo $driver
            """)
        guard let pid = pid_t(output.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw BrowserError("chromedriver did not start")
        }
        let driverURL = "http://127.0.0.1:\(port)"
        do {
            try await waitForDriver(driverURL)
            var arguments = [
                "--headless=new", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--window-size=\(width),\(height)", "--lang=\(language)", "--hide-scrollbars",
            ]
            if getuid() == 0 { arguments.append("--no-sandbox") }  // Chromium refuses to sandbox as root.
            let capabilities: [String: Any] = [
                "capabilities": [
                    "alwaysMatch": [
                        "browserName": "chrome",
                        "goog:chromeOptions": [
                            "binary": chromium, "args": arguments,
                            "prefs": ["intl.accept_languages": language],
                            // The viewport exactly width × height CSS pixels, as on a phone of that size.
                            "mobileEmulation": [
                                "deviceMetrics": ["width": width, "height": height, "pixelRatio": 1.0, "touch": false]
                            ],
                        ],
                        "goog:loggingPrefs": ["browser": "ALL"],
                    ]
                ]
            ]
            let created = try await request("POST", "\(driverURL)/session", capabilities)
            guard let value = created["value"] as? [String: Any], let sessionId = value["sessionId"] as? String else {
                throw BrowserError("chromedriver created no session: \(created)")
            }
            return HeadlessChromium(driverURL: driverURL, sessionId: sessionId, driverPid: pid)
        } catch {
            kill(pid, SIGKILL)
            throw error
        }
    }

    /// Navigates to `url` and waits for the document to load.
    package func open(_ url: String) async throws {
        _ = try await command("POST", "url", ["url": url])
    }

    /// Clicks the first element matching `css`, waiting up to 10 s for it to appear.
    package func click(_ css: String) async throws {
        let element = try await find(css)
        _ = try await command("POST", "element/\(element)/click", [:])
    }

    /// Types `text` into the first element matching `css`. For `<input type=file>`, `text` is an absolute path.
    package func type(_ css: String, _ text: String) async throws {
        let element = try await find(css)
        _ = try await command("POST", "element/\(element)/value", ["text": text])
    }

    /// Clears the first element matching `css`.
    package func clear(_ css: String) async throws {
        let element = try await find(css)
        _ = try await command("POST", "element/\(element)/clear", [:])
    }

    /// Chooses the option with `value` in the `<select>` matching `css` and fires its `change` event.
    package func select(_ css: String, value: String) async throws {
        _ = try await find(css)
        let script = """
            const s = document.querySelector(arguments[0]); s.value = arguments[1];
            s.dispatchEvent(new Event('input', {bubbles: true})); s.dispatchEvent(new Event('change', {bubbles: true}));
            return s.value;
            """
        let chosen = try await execute(script, [css, value])
        guard chosen as? String == value else { throw BrowserError("no option '\(value)' in \(css)") }
    }

    /// The visible text of the first element matching `css`.
    package func text(_ css: String) async throws -> String {
        let element = try await find(css)
        return try await command("GET", "element/\(element)/text", nil) as? String ?? ""
    }

    /// Polls the JavaScript expression `expression` until it is truthy.
    ///
    /// - Throws: ``BrowserError`` naming the expression when `timeout` passes first.
    package func waitUntil(_ expression: String, timeout: Duration = .seconds(15)) async throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let truthy = try await execute("return !!(\(expression));", []) as? Bool, truthy { return }
            guard ContinuousClock.now < deadline else {
                throw BrowserError("timed out after \(timeout) waiting for: \(expression)")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Runs `script` (a function body; use `return`) and answers its result encoded as JSON, or `nil` for
    /// `undefined`/`null`.
    package func evaluate(_ script: String) async throws -> String? {
        let result = try await execute(script, [])
        guard let result, !(result is NSNull) else { return nil }
        let data = try JSONSerialization.data(withJSONObject: result, options: [.fragmentsAllowed, .sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    /// Saves a PNG screenshot of the window to `path`, creating its directory.
    package func screenshot(to path: String) async throws {
        guard let encoded = try await command("GET", "screenshot", nil) as? String,
            let data = Data(base64Encoded: encoded)
        else { throw BrowserError("no screenshot") }
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: url)
    }

    /// Saves the window as `<name>.png` in the directory `ASNREWARD_SCREENSHOTS` names, when it is set: how the
    /// README's screenshots are made (`ASNREWARD_SCREENSHOTS=docs/screenshots swift test --filter Browser…`).
    package func documentationScreenshot(_ name: String) async throws {
        guard let directory = ProcessInfo.processInfo.environment["ASNREWARD_SCREENSHOTS"], !directory.isEmpty else {
            return
        }
        try await screenshot(to: URL(fileURLWithPath: directory).appendingPathComponent("\(name).png").path)
    }

    /// The browser console's SEVERE entries since the last call (errors, failed loads such as a missing favicon).
    package func consoleErrors() async throws -> [String] {
        let entries = try await command("POST", "se/log", ["type": "browser"]) as? [[String: Any]] ?? []
        return entries.compactMap { entry in
            guard entry["level"] as? String == "SEVERE" else { return nil }
            return entry["message"] as? String ?? "\(entry)"
        }
    }

    /// Ends the session and stops chromedriver (and with it Chromium).
    package func quit() async {
        _ = try? await Self.request("DELETE", "\(driverURL)/session/\(sessionId)", nil)
        kill(driverPid, SIGKILL)
    }

    // MARK: - WebDriver plumbing

    /// The WebDriver element reference of the first match of `css`, waiting up to 10 s.
    private func find(_ css: String, timeout: Duration = .seconds(10)) async throws -> String {
        let deadline = ContinuousClock.now + timeout
        while true {
            do {
                let found = try await command("POST", "element", ["using": "css selector", "value": css])
                if let found = found as? [String: Any], let reference = found.values.first as? String {
                    return reference
                }
            } catch let error as BrowserError where error.webDriverError == "no such element" {
                // Not there yet: poll.
            }
            guard ContinuousClock.now < deadline else { throw BrowserError("no element matches \(css)") }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    private func execute(_ script: String, _ arguments: [Any]) async throws -> Any? {
        try await command("POST", "execute/sync", ["script": script, "args": arguments])
    }

    /// Sends one session command and answers its `value`.
    private func command(_ method: String, _ path: String, _ body: [String: Any]?) async throws -> Any? {
        try await Self.request(method, "\(driverURL)/session/\(sessionId)/\(path)", body)["value"]
    }

    /// One HTTP/1.1 exchange with chromedriver over a plain socket. (Foundation's URLSession on Linux refuses
    /// chromedriver's `cache-control:no-cache` header line, which has no space after the colon.)
    private static func request(_ method: String, _ url: String, _ body: [String: Any]?) async throws -> [String: Any] {
        guard let parsed = URLComponents(string: url), let port = parsed.port else { throw BrowserError("bad \(url)") }
        let payload = try body.map { try JSONSerialization.data(withJSONObject: $0) } ?? Data()
        var head = "\(method) \(parsed.percentEncodedPath) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
        if body != nil { head += "Content-Type: application/json; charset=utf-8\r\n" }
        head += "Content-Length: \(payload.count)\r\n\r\n"
        let exchange = Data(head.utf8) + payload
        let (status, data) = try await withCheckedThrowingContinuation {
            (continuation: CheckedContinuation<(Int, Data), any Error>) in
            Thread.detachNewThread { continuation.resume(with: Result { try exchangeBlocking(exchange, port: port) }) }
        }
        let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
        if status >= 400 {
            let value = json["value"] as? [String: Any]
            throw BrowserError(
                "\(method) \(url) → \(status): \(value?["message"] as? String ?? String(decoding: data, as: UTF8.self))",
                webDriverError: value?["error"] as? String)
        }
        return json
    }

    /// Sends `request` to 127.0.0.1:`port`, reads the answer to EOF; answers the status code and body.
    private static func exchangeBlocking(_ request: Data, port: Int) throws -> (Int, Data) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw BrowserError("socket() failed") }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 120, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw BrowserError("connect to chromedriver on port \(port) failed") }
        try request.withUnsafeBytes { raw in
            var sent = 0
            while sent < raw.count {
                let n = send(fd, raw.baseAddress! + sent, raw.count - sent, Int32(MSG_NOSIGNAL))
                guard n > 0 else { throw BrowserError("send to chromedriver failed") }
                sent += n
            }
        }
        // Read to the end of the body: chromedriver may keep the connection open despite `Connection: close`.
        var answer = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !isComplete(answer) {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n == 0 { break }
            guard n > 0 else { throw BrowserError("no answer from chromedriver (errno \(errno))") }
            answer.append(contentsOf: buffer[0..<n])
        }
        guard let split = answer.firstRange(of: Data("\r\n\r\n".utf8)) else {
            throw BrowserError("malformed answer from chromedriver")
        }
        let statusLine = String(decoding: answer[..<split.lowerBound], as: UTF8.self).split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else {
            throw BrowserError("malformed status line from chromedriver")
        }
        let headers = String(decoding: answer[..<split.lowerBound], as: UTF8.self).lowercased()
        var body = Data(answer[split.upperBound...])
        if headers.contains("transfer-encoding: chunked") || headers.contains("transfer-encoding:chunked") {
            body = dechunk(body)
        }
        return (status, body)
    }

    /// Whether `answer` holds the whole response: headers, and a body of its `Content-Length` or a final chunk.
    private static func isComplete(_ answer: Data) -> Bool {
        guard let split = answer.firstRange(of: Data("\r\n\r\n".utf8)) else { return false }
        let headers = String(decoding: answer[..<split.lowerBound], as: UTF8.self).lowercased()
        let bodyCount = answer.distance(from: split.upperBound, to: answer.endIndex)
        for line in headers.split(separator: "\r\n") where line.hasPrefix("content-length:") {
            return bodyCount >= Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
        }
        if headers.contains("chunked") { return answer.suffix(5) == Data("0\r\n\r\n".utf8) }
        return false
    }

    private static func dechunk(_ data: Data) -> Data {
        var out = Data()
        var rest = data[...]
        while let lineEnd = rest.firstRange(of: Data("\r\n".utf8)),
            let size = Int(String(decoding: rest[..<lineEnd.lowerBound], as: UTF8.self), radix: 16), size > 0
        {
            let start = lineEnd.upperBound
            guard rest.distance(from: start, to: rest.endIndex) >= size else { break }
            let end = rest.index(start, offsetBy: size)
            out.append(rest[start..<end])
            rest = rest[rest.index(end, offsetBy: min(2, rest.distance(from: end, to: rest.endIndex)))...]
        }
        return out
    }

    private static func waitForDriver(_ driverURL: String) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        var last = "no answer"
        while ContinuousClock.now < deadline {
            do {
                let status = try await request("GET", "\(driverURL)/status", nil)
                if let value = status["value"] as? [String: Any], (value["ready"] as? NSNumber)?.boolValue == true {
                    return
                }
                last = "\(status)"
            } catch {
                last = "\(error)"
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw BrowserError("chromedriver at \(driverURL) did not become ready within 20 s: \(last)")
    }

    private static func executable(_ candidates: [String]) throws -> String {
        guard let path = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw BrowserError(
                "none of \(candidates) exists: apt-get install chromium chromium-driver (deploy/dev installs them)")
        }
        return path
    }
}

/// A WebDriver command failed, or the browser could not start.
package struct BrowserError: Error, CustomStringConvertible {
    package var description: String
    /// The W3C WebDriver error code (`no such element`, …), when chromedriver sent one.
    package var webDriverError: String?

    init(_ description: String, webDriverError: String? = nil) {
        self.description = description
        self.webDriverError = webDriverError
    }
}
