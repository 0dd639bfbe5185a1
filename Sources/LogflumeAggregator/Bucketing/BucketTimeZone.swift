import Foundation

/// The zone bucket labels (`dt=`, `hr=`) are written in: UTC, a fixed offset such as "+09:00", or
/// an IANA name such as "Europe/Berlin" whose offset changes with daylight saving time.
public enum BucketTimeZone: Sendable, Equatable, CustomStringConvertible {
    /// A constant offset east of UTC, in seconds (UTC is 0).
    case fixed(seconds: Int)
    /// An IANA zone, resolved through Foundation's time zone database.
    case named(String)

    public static let utc = BucketTimeZone.fixed(seconds: 0)

    /// Accepts "UTC", "Z", "+09:00", "-0530", "+09" and IANA names.
    public init?(_ text: String) {
        if text == "UTC" || text == "Z" || text == "GMT" {
            self = .utc
            return
        }
        if let first = text.first, first == "+" || first == "-" {
            let digits = text.dropFirst().filter { $0 != ":" }
            guard digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber), digits.count == 2 || digits.count == 4,
                  let hours = Int(digits.prefix(2)), let minutes = Int(digits.dropFirst(2).isEmpty ? "0" : String(digits.dropFirst(2))),
                  hours <= 14, minutes < 60
            else { return nil }
            let seconds = (hours * 3600 + minutes * 60) * (first == "-" ? -1 : 1)
            self = .fixed(seconds: seconds)
            return
        }
        guard TimeZone(identifier: text) != nil else { return nil }
        self = .named(text)
    }

    public var description: String {
        switch self {
        case .fixed(let seconds) where seconds == 0: return "UTC"
        case .fixed(let seconds):
            let magnitude = abs(seconds)
            return String(format: "%@%02d:%02d", seconds < 0 ? "-" : "+", magnitude / 3600, magnitude % 3600 / 60)
        case .named(let name): return name
        }
    }
}
