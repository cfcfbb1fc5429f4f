import Contracts
import Foundation

/// The CloudEvents JSON event format ("structured mode"): the attributes and `data` in one JSON object, as
/// webhooks and the live stream send it.
enum CloudEventJSON {
    /// `{"specversion":"1.0","id":…,"source":…,"type":…,"subject":…,"time":…,"datacontenttype":…,
    /// "dataschema":…,"data":{…}}` with `data` embedded as the event's JSON bytes when they are JSON, else as a
    /// string. `dataIsJSON` says the caller already decoded `data` as JSON (it is then not parsed again here).
    static func structured(_ event: CloudEvent, dataIsJSON: Bool = false) -> String {
        var json = "{\"specversion\":\"1.0\",\"id\":\(quote(event.id)),\"source\":\(quote(event.source))"
        json += ",\"type\":\(quote(event.type))"
        if let subject = event.subject { json += ",\"subject\":\(quote(subject))" }
        json += ",\"time\":\(quote(RFC3339.format(event.time)))"
        json += ",\"datacontenttype\":\(quote(event.dataContentType))"
        if let schema = event.dataSchema { json += ",\"dataschema\":\(quote(schema))" }
        for (name, value) in event.extensions.sorted(by: { $0.key < $1.key }) where isExtensionName(name) {
            json += ",\(quote(name)):\(quote(value))"
        }
        let data = String(decoding: event.data, as: UTF8.self)
        let isJSONObject =
            dataIsJSON || (try? JSONSerialization.jsonObject(with: event.data, options: [.fragmentsAllowed])) != nil
        json += isJSONObject ? ",\"data\":\(data)}" : ",\"data\":\(quote(data))}"
        return json
    }

    /// A JSON string literal.
    static func quote(_ string: String) -> String {
        var out = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x2028 || scalar.value == 0x2029:
                out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    private static func isExtensionName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.allSatisfy { ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) }
            && !["specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema", "data"]
                .contains(name)
    }
}
