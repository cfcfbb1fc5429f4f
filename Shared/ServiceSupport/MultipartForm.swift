import Foundation
import Hummingbird

/// A parsed `multipart/form-data` body (RFC 7578), strictly: CRLF line endings, a closing delimiter, bounded
/// part count and header size. Errors are ``MultipartError``s, shown as 400 problem+json.
///
/// Parsing a collected `ByteBuffer` does not copy the content: each part's ``Part/content`` is a slice sharing the
/// body's storage, so a 16 MB upload costs 16 MB however many parts it has.
///
/// In a handler, bound the body first, then parse:
/// ```swift
/// let form = try await MultipartForm.parse(request, maxBytes: 16 * 1024 * 1024)   // 413 when larger
/// let meta = try form.decodeJSON(SubmissionForm.self, part: "submission")       // 400 when missing/invalid
/// for photo in form.parts(named: "photos") {
///     guard let type = ImageSniffer.mediaType(of: photo.body) else { throw ProblemDetails.unsupportedMediaType(…) }
/// }
/// ```
package struct MultipartForm: Sendable {
    /// One part of the form.
    package struct Part: Sendable {
        /// The `name` parameter of `Content-Disposition`.
        package var name: String
        /// The `filename` (or `filename*`) parameter, when the part is a file; informational only.
        package var filename: String?
        /// The part's `Content-Type` as sent by the client (not trusted for files: sniff the bytes).
        package var contentType: String?
        /// All headers of the part, names lowercased.
        package var headers: [String: String]
        /// The part's content: a slice of the request body (no copy).
        package var content: ByteBuffer

        /// Creates a part.
        package init(
            name: String, filename: String? = nil, contentType: String? = nil, headers: [String: String] = [:],
            content: ByteBuffer
        ) {
            self.name = name
            self.filename = filename
            self.contentType = contentType
            self.headers = headers
            self.content = content
        }

        /// The content as an array: a copy, for small parts and tests; use ``content`` for large ones.
        package var body: [UInt8] { Array(content.readableBytesView) }

        /// The content decoded as UTF-8 text.
        package var text: String { String(buffer: content) }
    }

    /// Bounds that keep a hostile body from costing more than its size.
    package struct Limits: Sendable {
        /// Maximum number of parts.
        package var maxParts: Int
        /// Maximum size of one part's header block, in bytes.
        package var maxHeaderBytes: Int

        /// Creates limits (defaults: 16 parts, 8 KiB of headers per part).
        package init(maxParts: Int = 16, maxHeaderBytes: Int = 8 * 1024) {
            self.maxParts = maxParts
            self.maxHeaderBytes = maxHeaderBytes
        }
    }

    /// The parts, in body order.
    package var parts: [Part]

    /// The first part called `name`.
    package func part(named name: String) -> Part? { parts.first { $0.name == name } }

    /// Every part called `name` (repeated fields such as several photos).
    package func parts(named name: String) -> [Part] { parts.filter { $0.name == name } }

    /// Decodes the JSON part `name` as `T`.
    /// - Throws: a 400 problem when the part is missing or is not valid JSON for `T`.
    package func decodeJSON<T: Decodable>(_ type: T.Type, part name: String, decoder: JSONDecoder = .iso8601) throws
        -> T
    {
        guard let part = part(named: name) else {
            throw ProblemDetails.badRequest(
                "Bagian formulir `\(name)` wajib ada. Missing form part `\(name)`.",
                code: "MULTIPART_PART_MISSING"
            )
        }
        do {
            return try decoder.decode(T.self, from: Data(part.content.readableBytesView))
        } catch let error as DecodingError {
            throw ProblemDetails.badRequest(
                "Bagian `\(name)`: \(ProblemDetails.describe(error))",
                code: "INVALID_BODY"
            )
        }
    }

    /// Parses `body` using the boundary of `contentType` (`multipart/form-data; boundary=…`).
    package init(contentType: String, body: some Collection<UInt8>, limits: Limits = Limits()) throws(MultipartError) {
        try self.init(
            boundary: Self.boundary(fromContentType: contentType), body: ByteBuffer(bytes: body), limits: limits)
    }

    /// Parses `body` delimited by `boundary` (copies `body` once into a buffer).
    package init(boundary: String, body: [UInt8], limits: Limits = Limits()) throws(MultipartError) {
        try self.init(boundary: boundary, body: ByteBuffer(bytes: body), limits: limits)
    }

    /// Parses the readable bytes of `body` delimited by `boundary`; the parts' content are slices of `body`.
    package init(boundary: String, body: ByteBuffer, limits: Limits = Limits()) throws(MultipartError) {
        guard (1...70).contains(boundary.utf8.count) else { throw .invalidBoundary }
        let delimiter = Array("--\(boundary)".utf8)
        let parsed = body.withUnsafeReadableBytes { bytes in
            Result { () throws(MultipartError) -> [Parser.ParsedPart] in
                var parser = Parser(body: bytes, delimiter: delimiter, limits: limits)
                return try parser.parse()
            }
        }
        self.parts = try parsed.get().map { parsed in
            Part(
                name: parsed.name,
                filename: parsed.filename,
                contentType: parsed.headers["content-type"],
                headers: parsed.headers,
                // In bounds: the parser only returns ranges inside the readable bytes it was given.
                content: body.getSlice(at: body.readerIndex + parsed.content.lowerBound, length: parsed.content.count)!
            )
        }
    }

    /// Collects the body of `request` (at most `maxBytes`, else 413) and parses it.
    /// - Throws: 413 problem when too large, 415 problem when not multipart, ``MultipartError`` when malformed.
    package static func parse(_ request: Request, maxBytes: Int, limits: Limits = Limits()) async throws
        -> MultipartForm
    {
        guard let contentType = request.headers[.contentType],
            contentType.lowercased().hasPrefix("multipart/form-data")
        else {
            throw ProblemDetails.unsupportedMediaType(
                "Kirim data sebagai multipart/form-data. Expected multipart/form-data."
            )
        }
        let boundary = try boundary(fromContentType: contentType)
        var request = request
        let body = try await request.collectBody(maxBytes: maxBytes)
        return try MultipartForm(boundary: boundary, body: body, limits: limits)
    }

    /// The `boundary` parameter of a `multipart/form-data` content type.
    package static func boundary(fromContentType contentType: String) throws(MultipartError) -> String {
        let pieces = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let mediaType = pieces.first?.lowercased(), mediaType.hasPrefix("multipart/") else {
            throw .notMultipart
        }
        for piece in pieces.dropFirst() {
            guard let equals = piece.firstIndex(of: "=") else { continue }
            guard piece[..<equals].trimmingCharacters(in: .whitespaces).lowercased() == "boundary" else { continue }
            var value = piece[piece.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") {
                value = String(value.dropFirst().dropLast())
            }
            guard !value.isEmpty else { throw .missingBoundary }
            guard value.utf8.count <= 70 else { throw .invalidBoundary }
            return value
        }
        throw .missingBoundary
    }
}

extension JSONDecoder {
    /// A decoder reading ISO 8601 dates, as the APIs send them.
    package static var iso8601: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}

/// Why a multipart body was refused; each is a 400 problem with code `MULTIPART_INVALID`.
package enum MultipartError: Error, Equatable, ProblemConvertible {
    /// The content type is not `multipart/*`.
    case notMultipart
    /// No `boundary` parameter.
    case missingBoundary
    /// The boundary is longer than 70 bytes.
    case invalidBoundary
    /// The body does not start with the boundary.
    case missingOpeningBoundary
    /// A part's headers never end (no blank line).
    case unterminatedHeaders
    /// The body ends without the closing `--boundary--`.
    case missingClosingBoundary
    /// A delimiter line is followed by something other than CRLF or `--`.
    case malformedDelimiter
    /// More parts than allowed.
    case tooManyParts(limit: Int)
    /// A part's header block exceeds the limit.
    case headerTooLong(limit: Int)
    /// A header line is not `Name: value`.
    case malformedHeader
    /// A part without `Content-Disposition: form-data; name="…"`.
    case missingName

    /// The 400 shown to the client.
    package var problem: ProblemDetails {
        let detail: String =
            switch self {
            case .notMultipart: "Jenis konten bukan multipart. Content type is not multipart."
            case .missingBoundary: "Parameter boundary tidak ada pada Content-Type. Missing multipart boundary."
            case .invalidBoundary: "Boundary multipart tidak valid. Invalid multipart boundary."
            case .missingOpeningBoundary: "Isi multipart tidak diawali boundary. Missing opening boundary."
            case .unterminatedHeaders: "Header bagian multipart tidak diakhiri baris kosong. Unterminated part headers."
            case .missingClosingBoundary:
                "Isi multipart terpotong: boundary penutup tidak ada. Missing closing boundary."
            case .malformedDelimiter: "Baris boundary multipart tidak valid. Malformed boundary line."
            case .tooManyParts(let limit): "Terlalu banyak bagian multipart (maksimal \(limit)). Too many parts."
            case .headerTooLong(let limit):
                "Header bagian multipart terlalu panjang (maksimal \(limit) byte). Part header too long."
            case .malformedHeader: "Header bagian multipart tidak valid. Malformed part header."
            case .missingName: "Bagian multipart tanpa nama (Content-Disposition name). Part without a name."
            }
        return ProblemDetails.badRequest(detail, code: "MULTIPART_INVALID")
    }
}

/// The state machine over the raw body; it returns where each part's content is, not a copy of it.
private struct Parser {
    /// A part found in the body: its headers and the range of its content.
    struct ParsedPart {
        var name: String
        var filename: String?
        var headers: [String: String]
        var content: Range<Int>
    }

    let body: UnsafeRawBufferPointer
    /// `--boundary`.
    let delimiter: [UInt8]
    let limits: MultipartForm.Limits
    var position = 0

    init(body: UnsafeRawBufferPointer, delimiter: [UInt8], limits: MultipartForm.Limits) {
        self.body = body
        self.delimiter = delimiter
        self.limits = limits
    }

    static let cr = UInt8(ascii: "\r")
    static let lf = UInt8(ascii: "\n")
    static let dash = UInt8(ascii: "-")

    mutating func parse() throws(MultipartError) -> [ParsedPart] {
        // The first delimiter starts the body (a preamble is allowed by RFC 2046 but never sent by browsers).
        guard let first = findDelimiter(from: 0, atBodyStart: true) else { throw .missingOpeningBoundary }
        position = first
        var parts: [ParsedPart] = []
        while true {
            position += delimiter.count
            if try atCloseAfterDelimiter() { return parts }
            guard parts.count < limits.maxParts else { throw .tooManyParts(limit: limits.maxParts) }
            let headers = try readHeaders()
            guard let end = findDelimiter(from: position, atBodyStart: false) else { throw .missingClosingBoundary }
            // The CRLF before the delimiter belongs to the delimiter, not to the content.
            parts.append(try makePart(headers: headers, content: position..<(end - 2)))
            position = end
        }
    }

    /// After a delimiter: `--` closes the body; otherwise optional spaces/tabs then CRLF start a part.
    mutating func atCloseAfterDelimiter() throws(MultipartError) -> Bool {
        if position + 1 < body.count, body[position] == Self.dash, body[position + 1] == Self.dash {
            position += 2
            return true
        }
        while position < body.count, body[position] == UInt8(ascii: " ") || body[position] == UInt8(ascii: "\t") {
            position += 1
        }
        guard position + 1 < body.count else { throw .missingClosingBoundary }
        guard body[position] == Self.cr, body[position + 1] == Self.lf else { throw .malformedDelimiter }
        position += 2
        return false
    }

    /// Reads header lines up to the blank line; names lowercased.
    mutating func readHeaders() throws(MultipartError) -> [String: String] {
        var headers: [String: String] = [:]
        let start = position
        while true {
            guard let lineEnd = findCRLF(from: position) else {
                if body.count - start > limits.maxHeaderBytes { throw .headerTooLong(limit: limits.maxHeaderBytes) }
                throw .unterminatedHeaders
            }
            guard lineEnd + 2 - start <= limits.maxHeaderBytes else {
                throw .headerTooLong(limit: limits.maxHeaderBytes)
            }
            let line = body[position..<lineEnd]
            position = lineEnd + 2
            if line.isEmpty { return headers }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex,
                line.first != UInt8(ascii: " "), line.first != UInt8(ascii: "\t")
            else { throw .malformedHeader }
            let name = String(decoding: line[..<colon], as: UTF8.self).lowercased()
            guard name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) else { throw .malformedHeader }
            let value = String(decoding: line[(colon + 1)...], as: UTF8.self).trimmingCharacters(in: .whitespaces)
            headers[name] = value
        }
    }

    /// Index of the next CRLF at or after `from`.
    func findCRLF(from: Int) -> Int? {
        var index = from
        while index + 1 < body.count {
            if body[index] == Self.cr, body[index + 1] == Self.lf { return index }
            index += 1
        }
        return nil
    }

    /// Index of the next delimiter that starts a line (`CRLF--boundary`, or `--boundary` at offset 0) and is
    /// followed by `--`, whitespace or CRLF — so `--boundaryX` inside content is not mistaken for one.
    func findDelimiter(from: Int, atBodyStart: Bool) -> Int? {
        if atBodyStart, matchesDelimiter(at: 0) { return 0 }
        var index = from
        let count = body.count
        let first = delimiter[0]
        guard let base = body.baseAddress else { return nil }
        while index + 2 + delimiter.count <= count {
            // memchr to the next CR: a photo has one in about 256 bytes, and this loop was 3 % of intake's CPU
            // when it looked at every byte.
            guard let found = memchr(base + index, Int32(Self.cr), count - index) else { return nil }
            index = base.distance(to: UnsafeRawPointer(found))
            guard index + 2 + delimiter.count <= count else { return nil }
            if body[index + 1] == Self.lf, body[index + 2] == first, matchesDelimiter(at: index + 2) {
                return index + 2
            }
            index += 1
        }
        return nil
    }

    /// Whether a complete delimiter line begins at `index`.
    func matchesDelimiter(at index: Int) -> Bool {
        guard index + delimiter.count <= body.count else { return false }
        for offset in 0..<delimiter.count where body[index + offset] != delimiter[offset] { return false }
        let after = index + delimiter.count
        guard after < body.count else { return true }  // truncated: reported as missing closing boundary
        let next = body[after]
        return next == Self.dash || next == Self.cr || next == UInt8(ascii: " ") || next == UInt8(ascii: "\t")
    }

    /// Builds a part from its headers; `Content-Disposition: form-data; name="…"` is required.
    func makePart(headers: [String: String], content: Range<Int>) throws(MultipartError) -> ParsedPart {
        guard let disposition = headers["content-disposition"] else { throw .missingName }
        let parameters = Self.parameters(of: disposition)
        guard parameters.type == "form-data", let name = parameters.values["name"], !name.isEmpty else {
            throw .missingName
        }
        let filename = parameters.values["filename*"].flatMap(Self.decodeExtendedValue) ?? parameters.values["filename"]
        return ParsedPart(name: name, filename: filename, headers: headers, content: content)
    }

    /// Splits `form-data; name="a"; filename="b;c.jpg"` into its type and parameters (quoted strings honoured).
    static func parameters(of header: String) -> (type: String, values: [String: String]) {
        var values: [String: String] = [:]
        var characters = Substring(header)
        func readToken(until stops: Set<Character>) -> String {
            let end = characters.firstIndex(where: { stops.contains($0) }) ?? characters.endIndex
            let token = characters[..<end]
            characters = characters[end...]
            return token.trimmingCharacters(in: .whitespaces)
        }
        let type = readToken(until: [";"]).lowercased()
        while !characters.isEmpty {
            characters = characters.dropFirst()  // ";"
            let key = readToken(until: ["=", ";"]).lowercased()
            guard characters.first == "=" else { continue }
            characters = characters.dropFirst()
            characters = characters.drop(while: { $0 == " " || $0 == "\t" })
            var value = ""
            if characters.first == "\"" {
                characters = characters.dropFirst()
                var escaped = false
                while let character = characters.first {
                    characters = characters.dropFirst()
                    if escaped {
                        value.append(character)
                        escaped = false
                    } else if character == "\\" {
                        escaped = true
                    } else if character == "\"" {
                        break
                    } else {
                        value.append(character)
                    }
                }
                _ = readToken(until: [";"])
            } else {
                value = readToken(until: [";"])
            }
            if !key.isEmpty { values[key] = value }
        }
        return (type, values)
    }

    /// Decodes an RFC 8187 value such as `UTF-8''foto%20kerja.jpg`.
    static func decodeExtendedValue(_ value: String) -> String? {
        let pieces = value.split(separator: "'", maxSplits: 2, omittingEmptySubsequences: false)
        guard pieces.count == 3, pieces[0].lowercased() == "utf-8" else { return nil }
        return String(pieces[2]).removingPercentEncoding
    }
}
