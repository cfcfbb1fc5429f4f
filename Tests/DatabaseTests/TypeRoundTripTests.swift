import Database
import Foundation
import TestSupport
import Testing

/// Every supported Swift type goes to PostgreSQL and back unchanged, and the server sees the value we meant.
@Suite struct TypeRoundTripTests {
    /// Sends `value` as `$1`, returns it decoded plus the server's own text rendering of it.
    func roundTrip<T: PostgresEncodable & PostgresDecodable>(_ value: T, on pool: DatabasePool) async throws -> (
        T, String?
    ) {
        try await pool.withConnection { connection in
            let row = try await connection.query("SELECT \(value) AS v, \(value)::text AS t")[0]
            return (try row.decode("v", as: T.self), try row.decode("t", as: String?.self))
        }
    }

    @Test func stringsIncludingUnicodeAndQuotes() async throws {
        try await withTestDatabase { pool in
            for text in [
                "", "zażółć gęślą jaźń", "🚀 emoji 👩‍👩‍👧", "O'Reilly \"quoted\" \\ back", "日本語",
                String(repeating: "x", count: 100_000),
            ] {
                let (decoded, serverText) = try await roundTrip(text, on: pool)
                #expect(decoded == text)
                #expect(serverText == text)
            }
        }
    }

    @Test func integersAtTheirExtremes() async throws {
        try await withTestDatabase { pool in
            for value in [Int.min, -1, 0, 1, Int.max] {
                let (decoded, text) = try await roundTrip(value, on: pool)
                #expect(decoded == value)
                #expect(text == String(value))
            }
            for value in [Int64.min, -42, Int64.max] { #expect(try await roundTrip(value, on: pool).0 == value) }
            for value in [Int32.min, -7, Int32.max] {
                let (decoded, text) = try await roundTrip(value, on: pool)
                #expect(decoded == value)
                #expect(text == String(value))
            }
            for value in [Int16.min, -3, Int16.max] { #expect(try await roundTrip(value, on: pool).0 == value) }
        }
    }

    @Test func integerColumnsDecodeIntoWiderAndNarrowerTypes() async throws {
        try await withTestDatabase { pool in
            let row = try await pool.withConnection {
                try await $0.query(
                    "SELECT 5::int2 AS a, (-70000)::int4 AS b, count(*) AS c FROM generate_series(1, 3)")[0]
            }
            #expect(try row.decode("a", as: Int.self) == 5)
            #expect(try row.decode("b", as: Int.self) == -70_000)
            #expect(try row.decode("c", as: Int.self) == 3)
            #expect(throws: DatabaseError.self) { try row.decode("b", as: Int16.self) }  // does not fit
        }
    }

    @Test func boolsAndDoubles() async throws {
        try await withTestDatabase { pool in
            for flag in [true, false] {
                let (decoded, text) = try await roundTrip(flag, on: pool)
                #expect(decoded == flag)
                #expect(text == String(flag))
            }
            for value in [
                0.0, -0.0, .pi, -1.5e-300, Double.greatestFiniteMagnitude, .leastNonzeroMagnitude, .infinity,
                -.infinity,
            ] {
                let decoded = try await roundTrip(value, on: pool).0
                #expect(decoded == value)
                #expect(decoded.sign == value.sign)
            }
            let nan = try await roundTrip(Double.nan, on: pool).0
            #expect(nan.isNaN)
            let text = try await roundTrip(0.1, on: pool).1
            #expect(text == "0.1")
        }
    }

    @Test func decimalsKeepEveryDigit() async throws {
        try await withTestDatabase { pool in
            let texts = [
                "0", "1", "-1", "0.0001", "-0.00000001", "123.45", "10000", "100000000", "99999999.9999",
                "12345678901234567890.123456789012345678", "-98765432109876543210987654321098765432",
                "0.12345678901234567890123456789012345678", "1000000000000000000000000000000000000",
            ]
            for text in texts {
                let value = try #require(Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")))
                let (decoded, serverText) = try await roundTrip(value, on: pool)
                #expect(decoded == value, "\(text)")
                #expect(
                    serverText.flatMap { Decimal(string: $0, locale: Locale(identifier: "en_US_POSIX")) } == value,
                    "\(text) → \(serverText ?? "nil")")
            }
            // The server's scale survives decoding: 2.50 is read back as 2.5 exactly.
            let row = try await pool.withConnection {
                try await $0.query("SELECT 2.50::numeric(10,2) AS v, 'NaN'::numeric AS n")[0]
            }
            #expect(try row.decode("v", as: Decimal.self) == Decimal(string: "2.5"))
            #expect(try row.decode("n", as: Decimal.self).isNaN)
        }
    }

    @Test func datesKeepMicroseconds() async throws {
        try await withTestDatabase { pool in
            let date = Date(timeIntervalSince1970: 1_700_000_000.123456)
            let (decoded, _) = try await roundTrip(date, on: pool)
            #expect(abs(decoded.timeIntervalSince1970 - date.timeIntervalSince1970) < 0.000_000_5)
            let text = try await pool.withConnection {
                try await $0.query("SELECT to_char(\(date) AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS t")[0]
                    .decode("t", as: String.self)
            }
            #expect(text == "2023-11-14 22:13:20.123456")
            // Before 2000 (negative PostgreSQL time) and far future.
            for date in [
                Date(timeIntervalSince1970: -1_234_567_890.654321), Date(timeIntervalSince1970: 4_102_444_800.000001),
            ] {
                let back = try await roundTrip(date, on: pool).0
                #expect(abs(back.timeIntervalSince1970 - date.timeIntervalSince1970) < 0.000_001)
            }
            // A timestamp the server makes is decoded to the same instant it prints.
            let row = try await pool.withConnection {
                try await $0.query(
                    "SELECT '2024-02-29 23:59:59.999999+00'::timestamptz AS t, 'infinity'::timestamptz AS i, '2024-03-01'::date AS d"
                )[0]
            }
            let expected = try Date("2024-02-29T23:59:59Z", strategy: .iso8601).addingTimeInterval(0.999999)
            #expect(abs(try row.decode("t", as: Date.self).timeIntervalSince(expected)) < 0.000_000_5)
            #expect(try row.decode("i", as: Date.self) == .distantFuture)
            #expect(try row.decode("d", as: Date.self) == (try Date("2024-03-01T00:00:00Z", strategy: .iso8601)))
        }
    }

    @Test func uuidsAndBytes() async throws {
        try await withTestDatabase { pool in
            let id = UUID()
            let (decodedID, idText) = try await roundTrip(id, on: pool)
            #expect(decodedID == id)
            #expect(idText == id.uuidString.lowercased())
            let bytes = Data([0, 1, 0, 255, 0, 0x5C, 0x78, 0])
            let (decoded, _) = try await roundTrip(bytes, on: pool)
            #expect(decoded == bytes)
            let length = try await pool.withConnection {
                try await $0.query("SELECT length(\(bytes)) AS n")[0].decode("n", as: Int.self)
            }
            #expect(length == 8)
            #expect(try await roundTrip(Data(), on: pool).0 == Data())
        }
    }

    @Test func arrays() async throws {
        try await withTestDatabase { pool in
            let strings = ["a", "", "zażółć", "with,comma", "with \"quote\"", "NULL"]
            #expect(try await roundTrip(strings, on: pool).0 == strings)
            #expect(try await roundTrip([String](), on: pool).0 == [])
            let ints = [Int.min, 0, Int.max, -5]
            #expect(try await roundTrip(ints, on: pool).0 == ints)
            let ids = [UUID(), UUID()]
            #expect(try await roundTrip(ids, on: pool).0 == ids)
            let row = try await pool.withConnection {
                try await $0.query(
                    "SELECT array_length(\(strings), 1) AS n, \(ints)[3] AS third, \(ids) @> ARRAY[\(ids[1])] AS has")[
                        0]
            }
            #expect(try row.decode("n", as: Int.self) == strings.count)
            #expect(try row.decode("third", as: Int.self) == Int.max)
            #expect(try row.decode("has", as: Bool.self))
            let withNull = try await pool.withConnection { try await $0.query("SELECT ARRAY['a', NULL] AS v")[0] }
            #expect(throws: DatabaseError.self) { try withNull.decode("v", as: [String].self) }
        }
    }

    struct Payload: Codable, Equatable, Sendable {
        var name: String
        var points: Int
        var tags: [String]
        var at: Date
        var nested: [String: Double]
    }

    @Test func jsonb() async throws {
        try await withTestDatabase { pool in
            let payload = Payload(
                name: "Łódź \"x\" 🚀", points: -12, tags: ["a", "b"], at: Date(timeIntervalSince1970: 1_700_000_000.25),
                nested: ["pi": 3.14])
            let json = PostgresJSON(payload)
            #expect(try await roundTrip(json, on: pool).0 == json)
            let row = try await pool.withConnection {
                try await $0.query(
                    "SELECT \(json)->>'name' AS name, jsonb_typeof(\(json)->'points') AS kind, \(json)->>'at' AS at")[0]
            }
            #expect(try row.decode("name", as: String.self) == payload.name)
            #expect(try row.decode("kind", as: String.self) == "number")
            #expect(try row.decode("at", as: String.self) == "2023-11-14T22:13:20.250Z")
        }
    }

    @Test func nullsDecodeAsNilAndNeverAsValues() async throws {
        try await withTestDatabase { pool in
            try await pool.withConnection { connection in
                let none: Int? = nil
                let text: String? = nil
                let row = try await connection.query(
                    "SELECT \(none) AS i, \(text) AS s, \(nil as UUID?) AS u, \(nil as Date?) AS d, \(nil as Decimal?) AS n, \(nil as Data?) AS b, \(nil as [String]?) AS a, \(nil as PostgresJSON<[Int]>?) AS j, \(Optional(7)) AS seven"
                )[0]
                #expect(try row.decode("i", as: Int?.self) == nil)
                #expect(try row.decode("s", as: String?.self) == nil)
                #expect(try row.decode("u", as: UUID?.self) == nil)
                #expect(try row.decode("d", as: Date?.self) == nil)
                #expect(try row.decode("n", as: Decimal?.self) == nil)
                #expect(try row.decode("b", as: Data?.self) == nil)
                #expect(try row.decode("a", as: [String]?.self) == nil)
                #expect(try row.decode("j", as: PostgresJSON<[Int]>?.self) == nil)
                #expect(try row.decode("seven", as: Int?.self) == 7)
                #expect(try row.isNull("i"))
                let error = #expect(throws: DatabaseError.self) { try row.decode("i", as: Int.self) }
                #expect(error?.code == .decoding)
                #expect(throws: DatabaseError.self) { try row.decode(0, as: String.self) }
                #expect(throws: DatabaseError.self) { try row.decode("no_such_column", as: Int?.self) }
                #expect(throws: DatabaseError.self) { try row.decode("seven", as: String.self) }  // bigint is not text
            }
        }
    }

    @Test func typedTableColumnsAcceptTheBinds() async throws {
        try await withTestDatabase { pool in
            try await pool.withConnection { connection in
                try await connection.execute(
                    unsafeSQL: """
                        CREATE TABLE t (id uuid PRIMARY KEY, n int4, small int2, name varchar(20), amount numeric(12,2),
                                        at timestamptz, raw bytea, tags text[], doc jsonb, flag bool, ratio float8)
                        """)
                let id = UUID()
                let at = Date(timeIntervalSince1970: 1_000_000_000.000001)
                try await connection.query(
                    """
                    INSERT INTO t VALUES (\(id), \(42), \(Int16(-2)), \("Zażółć"), \(Decimal(string: "1234567890.12")!),
                                          \(at), \(Data([0, 0, 1])), \(["x", "y"]), \(PostgresJSON(["k": 1])), \(true), \(0.5))
                    """)
                let rows = try await connection.query("SELECT * FROM t WHERE id = \(id) AND n = \(42)")
                #expect(rows.count == 1)
                let row = try #require(rows.first)
                #expect(try row.decode("n", as: Int.self) == 42)
                #expect(try row.decode("small", as: Int16.self) == -2)
                #expect(try row.decode("name", as: String.self) == "Zażółć")
                #expect(try row.decode("amount", as: Decimal.self) == Decimal(string: "1234567890.12"))
                #expect(abs(try row.decode("at", as: Date.self).timeIntervalSince(at)) < 0.000_001)
                #expect(try row.decode("raw", as: Data.self) == Data([0, 0, 1]))
                #expect(try row.decode("tags", as: [String].self) == ["x", "y"])
                #expect(try row.decode("doc", as: PostgresJSON<[String: Int]>.self).value == ["k": 1])
                #expect(try row.decode("flag", as: Bool.self))
                #expect(try row.decode("ratio", as: Double.self) == 0.5)
                #expect(try row.decode(0, as: UUID.self) == id)
            }
        }
    }
}
