import Foundation
import NIOPosix
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Decides whether a webhook URL may be called (SSRF protection): `http`/`https` only, no credentials in the
/// URL, and every address its host resolves to must be public. Loopback, private (RFC 1918, CGNAT, ULA) and
/// unspecified addresses are refused unless an operator allows private targets
/// (`WEBHOOK_ALLOW_PRIVATE_TARGETS`); link-local addresses, where cloud metadata services live
/// (169.254.169.254, fe80::/10), and multicast are refused always. The check runs when a subscription is made
/// and again before each delivery round (a name may be re-pointed after it was checked).
struct WebhookTargetPolicy: Sendable {
    var allowPrivate: Bool

    struct Refusal: Error, CustomStringConvertible {
        var reason: String
        var description: String { reason }
    }

    /// A URL that passed, with the addresses it was checked at (a delivery connects to one of these, not to what
    /// the name resolves to by then).
    struct Checked: Sendable {
        var url: URL
        var addresses: [String]
    }

    /// Checks `text`; returns the URL and its checked addresses or throws a ``Refusal`` in Bahasa Indonesia and
    /// English.
    @discardableResult
    func check(_ text: String) async throws -> Checked {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme),
            let host = url.host, !host.isEmpty
        else { throw Refusal(reason: "URL harus http(s)://… yang lengkap. The URL must be a full http(s) URL.") }
        guard url.user == nil, url.password == nil else {
            throw Refusal(reason: "URL tidak boleh memuat kredensial. The URL must not carry credentials.")
        }
        let name = host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).lowercased()
        if name == "metadata.google.internal" || name.hasSuffix(".internal") && !allowPrivate {
            throw Refusal(reason: "Alamat internal tidak diizinkan. Internal host names are not allowed.")
        }
        let addresses = try await Self.resolve(name, timeout: .seconds(3))
        guard !addresses.isEmpty else {
            throw Refusal(reason: "Nama host tidak dapat di-resolve. The host name does not resolve.")
        }
        for address in addresses {
            switch Self.classify(address) {
            case .public: continue
            case .privateOrLoopback where allowPrivate: continue
            case .privateOrLoopback:
                throw Refusal(
                    reason: "Alamat loopback/privat tidak diizinkan (\(address)). "
                        + "Loopback and private addresses are not allowed.")
            case .forbidden:
                throw Refusal(
                    reason: "Alamat link-local/metadata/multicast tidak diizinkan (\(address)). "
                        + "Link-local, metadata and multicast addresses are not allowed.")
            }
        }
        return Checked(url: url, addresses: addresses)
    }

    enum Kind: Equatable { case `public`, privateOrLoopback, forbidden }

    /// Classifies an IPv4 or IPv6 address given as text.
    static func classify(_ address: String) -> Kind {
        var v4 = in_addr()
        if inet_pton(AF_INET, address, &v4) == 1 {
            let bytes = withUnsafeBytes(of: v4.s_addr) { Array($0) }
            return classifyV4(bytes)
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, address, &v6) == 1 else { return .forbidden }
        let b = withUnsafeBytes(of: v6) { Array($0) }
        if b.allSatisfy({ $0 == 0 }) { return .privateOrLoopback }  // ::
        if b[0..<15].allSatisfy({ $0 == 0 }) && b[15] == 1 { return .privateOrLoopback }  // ::1
        if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xFF && b[11] == 0xFF { return classifyV4(Array(b[12..<16])) }
        if b[0] == 0xFE && (b[1] & 0xC0) == 0x80 { return .forbidden }  // fe80::/10 link-local
        if b[0] == 0xFF { return .forbidden }  // multicast
        if (b[0] & 0xFE) == 0xFC { return .privateOrLoopback }  // fc00::/7 unique local
        return .public
    }

    private static func classifyV4(_ b: [UInt8]) -> Kind {
        switch (b[0], b[1]) {
        case (169, 254): return .forbidden  // link-local, cloud metadata
        case (224...255, _): return .forbidden  // multicast, reserved, broadcast
        case (0, _), (10, _), (127, _), (192, 168), (172, 16...31), (100, 64...127), (198, 18...19):
            return .privateOrLoopback
        case (192, 0) where b[2] == 0: return .privateOrLoopback
        default: return .public
        }
    }

    /// Every address `host` resolves to, or none when the lookup takes longer than `timeout` (a slow resolver
    /// must not hold a request: an unresolvable name is refused like any other).
    static func resolve(_ host: String, timeout: Duration) async throws -> [String] {
        // Unstructured on purpose: a blocked getaddrinfo cannot be cancelled, and the answer must not wait for it.
        await withCheckedContinuation { (continuation: CheckedContinuation<[String], Never>) in
            let once = ResumeOnce(continuation)
            Task { once.resume((try? await resolve(host)) ?? []) }
            Task {
                try? await Task.sleep(for: timeout)
                once.resume([])
            }
        }
    }

    /// Every address `host` resolves to (getaddrinfo, on NIO's thread pool: it blocks).
    static func resolve(_ host: String) async throws -> [String] {
        try await NIOThreadPool.singleton.runIfActive {
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var result: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(host, nil, &hints, &result) == 0 else { return [] }
            defer { freeaddrinfo(result) }
            var addresses: [String] = []
            var cursor = result
            while let info = cursor {
                var buffer = [CChar](repeating: 0, count: Int(NI_MAXHOST))
                if getnameinfo(
                    info.pointee.ai_addr, info.pointee.ai_addrlen, &buffer, socklen_t(buffer.count), nil, 0,
                    NI_NUMERICHOST) == 0
                {
                    addresses.append(String(cString: buffer))
                }
                cursor = info.pointee.ai_next
            }
            return addresses
        }
    }
}

/// Resumes a continuation with the first answer only.
private final class ResumeOnce: Sendable {
    private let continuation: Mutex<CheckedContinuation<[String], Never>?>

    init(_ continuation: CheckedContinuation<[String], Never>) { self.continuation = Mutex(continuation) }

    func resume(_ value: [String]) {
        continuation.withLock { stored in
            stored?.resume(returning: value)
            stored = nil
        }
    }
}
