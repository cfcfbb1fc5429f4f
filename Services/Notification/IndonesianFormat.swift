import Foundation

/// Dates and numbers written the Indonesian way, in Asia/Jakarta time: `12 Jan`, `12 Jan 2026`, `1.250`,
/// `2,5`, `Rp 1.000.000`. Written out by hand so the text never depends on the machine's locale data.
enum IndonesianFormat {
    static let months = ["Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des"]
    static let monthsEnglish = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    static let calendar: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "Asia/Jakarta") ?? TimeZone(secondsFromGMT: 7 * 3600)!
        return calendar
    }()

    /// `12 Jan` (day and month in Jakarta time).
    static func dayMonth(_ date: Date, english: Bool = false) -> String {
        let parts = calendar.dateComponents([.day, .month], from: date)
        return "\(parts.day ?? 1) \((english ? monthsEnglish : months)[(parts.month ?? 1) - 1])"
    }

    /// `12 Jan 2026`.
    static func date(_ date: Date, english: Bool = false) -> String {
        let year = calendar.component(.year, from: date)
        return "\(dayMonth(date, english: english)) \(year)"
    }

    /// `12 Jan 2026 14.05` (Indonesian writes the time with a dot).
    static func dateTime(_ date: Date) -> String {
        let parts = calendar.dateComponents([.hour, .minute], from: date)
        let minute = parts.minute ?? 0
        return "\(self.date(date)) \(parts.hour ?? 0).\(minute < 10 ? "0" : "")\(minute)"
    }

    /// `1.250`, `-10`, `1.000.000` (dots group thousands).
    static func integer(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var grouped = ""
        for (index, character) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { grouped.append(".") }
            grouped.append(character)
        }
        return (value < 0 ? "-" : "") + grouped
    }

    /// `2,5`, `1.250`, `12,75` (a comma before the decimals, at most `decimals` of them, no trailing zeros).
    static func decimal(_ value: Double, decimals: Int = 2) -> String {
        let scale = pow(10.0, Double(decimals))
        let scaled = Int((abs(value) * scale).rounded())
        let whole = scaled / Int(scale)
        var fraction = String(scaled % Int(scale))
        fraction = String(repeating: "0", count: max(0, decimals - fraction.count)) + fraction
        while fraction.hasSuffix("0") { fraction.removeLast() }
        let sign = value < 0 && scaled != 0 ? "-" : ""
        return sign + integer(whole) + (fraction.isEmpty ? "" : "," + fraction)
    }

    /// `Rp 1.000.000`.
    static func rupiah(_ value: Int) -> String { "Rp \(integer(value))" }

    /// `+10`, `-5`, `0` (points with their sign).
    static func signedPoints(_ value: Int) -> String { value > 0 ? "+\(integer(value))" : integer(value) }
}
