import ArgumentParser
import Foundation
import ServiceSupport

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Exit codes a shell user can branch on (BSD `sysexits.h`).
enum ExitStatus {
    /// The service refused the input (400, 409, 413, 415, 422): fix the file or the arguments.
    static let dataError = ExitCode(65)
    /// The service is unreachable or failed (5xx, timeouts): try again later.
    static let unavailable = ExitCode(69)
    /// The token is missing, invalid or lacks the role (401, 403).
    static let noPermission = ExitCode(77)
    /// The thing asked for does not exist (404).
    static let notFound = ExitCode(66)
    /// Too many requests (429): wait for `Retry-After`.
    static let tempFail = ExitCode(75)
}

/// Options every command that calls a service shares: where the services are and whose token to send.
struct ServiceOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "Token akses (bawaan: ASNREWARD_TOKEN, atau dibuat dari JWT_HS256_SECRET dengan peran operator).",
            discussion: "Access token (default: ASNREWARD_TOKEN, or minted from JWT_HS256_SECRET)."))
    var token: String?

    @Option(help: "NIP operator untuk token yang dibuat. Operator NIP for a minted token.")
    var operatorNip: String = "198001012005011001"

    /// A client for `service` (`scoring`, `intake`, …) with the token for `roles`.
    func client(_ service: String, roles: [String]) async throws -> ServiceClient {
        let environment = EnvFile.mergedEnvironment()
        return ServiceClient(
            baseURL: try baseURL(service, environment: environment),
            token: try await bearer(roles: roles, environment: environment))
    }

    /// The base URL of `service` from `--<service>-url`-style variables: `INTAKE_URL`, `SCORING_URL`, …
    func baseURL(_ service: String, environment: [String: String]) throws -> String {
        let name = "\(service.uppercased())_URL"
        guard let url = environment[name], !url.isEmpty else {
            throw CLIError("\(name) belum diatur (lihat .run/env). \(name) is not set (see .run/env).")
        }
        return url.hasSuffix("/") ? String(url.dropLast()) : url
    }

    /// The bearer token: `--token`, else `ASNREWARD_TOKEN`, else one minted with `roles` from `JWT_HS256_SECRET`.
    func bearer(roles: [String], environment: [String: String]) async throws -> String {
        if let token, !token.isEmpty { return token }
        if let token = environment["ASNREWARD_TOKEN"], !token.isEmpty { return token }
        guard let secret = environment["JWT_HS256_SECRET"], !secret.isEmpty else {
            throw CLIError(
                "Tidak ada token: berikan --token atau ASNREWARD_TOKEN. No token: pass --token or set ASNREWARD_TOKEN.")
        }
        let issuer = TokenIssuer(
            hs256Secret: secret,
            issuer: environment["JWT_ISSUER"].flatMap { $0.isEmpty ? nil : $0 },
            audience: environment["JWT_AUDIENCE"].flatMap { $0.isEmpty ? nil : $0 })
        return try await issuer.token(
            nip: operatorNip, name: "Operator", opd: "KOMINFO", roles: roles, expiresIn: .seconds(600))
    }
}

/// One HTTP exchange with a service; problem+json answers become a printed message and a sysexits code.
struct ServiceClient {
    let baseURL: String
    let token: String

    /// Sends the request; answers the body of a 2xx (and its status), or prints the problem and exits.
    @discardableResult
    func send(
        _ method: String,
        _ path: String,
        body: Data? = nil,
        contentType: String? = nil,
        headers: [String: String] = [:]
    ) async throws -> (status: Int, body: Data) {
        guard let url = URL(string: baseURL + path) else { throw CLIError("URL tidak valid: \(baseURL + path)") }
        var request = URLRequest(url: url, timeoutInterval: 120)
        request.httpMethod = method
        request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization")
        request.setValue("application/json, application/problem+json", forHTTPHeaderField: "Accept")
        request.setValue("id", forHTTPHeaderField: "Accept-Language")
        if let contentType { request.setValue(contentType, forHTTPHeaderField: "Content-Type") }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        request.httpBody = body
        let data: Data
        let response: URLResponse
        do {
            (data, response) = try await URLSession.shared.data(for: request)
        } catch {
            printError(
                "Layanan di \(baseURL) tidak dapat dihubungi. Service unreachable: \(error.localizedDescription)")
            throw ExitStatus.unavailable
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard (200..<300).contains(status) else {
            printError(Self.describeProblem(status: status, body: data))
            switch status {
            case 401, 403: throw ExitStatus.noPermission
            case 404: throw ExitStatus.notFound
            case 429: throw ExitStatus.tempFail
            case 500...: throw ExitStatus.unavailable
            default: throw ExitStatus.dataError
            }
        }
        return (status, data)
    }

    /// `HTTP 422 Tidak dapat diproses: <detail>` plus each field error on its own line.
    static func describeProblem(status: Int, body: Data) -> String {
        guard let problem = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] else {
            return "HTTP \(status): \(String(decoding: body.prefix(500), as: UTF8.self))"
        }
        var lines = ["HTTP \(status) \(problem["title"] as? String ?? ""): \(problem["detail"] as? String ?? "")"]
        for key in ["errors", "rows"] {
            for error in problem[key] as? [[String: Any]] ?? [] {
                let parts = error.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                lines.append("  - " + parts.joined(separator: " "))
            }
        }
        return lines.joined(separator: "\n")
    }
}

/// Writes `message` to standard error.
func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// Prints JSON bytes indented, or as they are when they are not JSON.
func printJSON(_ data: Data) {
    if let object = try? JSONSerialization.jsonObject(with: data),
        let pretty = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    {
        print(String(decoding: pretty, as: UTF8.self))
    } else if !data.isEmpty {
        print(String(decoding: data, as: UTF8.self))
    }
}

/// Reads a file named on the command line, with a clear error when it cannot be read.
func readInput(_ path: String) throws -> Data {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw CLIError("Berkas tidak dapat dibaca: \(path). Cannot read file.")
    }
    return data
}
