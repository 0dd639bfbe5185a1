/// ISO 8601 instants as the CLI and the manifests write them.
public enum EventTime {
    /// Parses "2026-11-20T10:00Z", "2026-11-20T10:00:00Z", "2026-11-20T10:00:00.250+09:00" and
    /// "2026-11-20" (midnight UTC) into ms since the epoch.
    public static func parse(_ text: String) -> Int64? {
        let chars = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= chars.count, range.allSatisfy({ chars[$0] >= 48 && chars[$0] <= 57 }) else { return nil }
            return range.reduce(0) { $0 * 10 + Int(chars[$1] - 48) }
        }
        guard chars.count >= 10, let year = number(0..<4), chars[4] == 45, let month = number(5..<7), chars[7] == 45,
              let day = number(8..<10), (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        var ms = daysSinceEpoch(year: year, month: month, day: day) * 86_400_000
        if chars.count == 10 { return ms }
        guard chars[10] == 84 || chars[10] == 32, let hour = number(11..<13), chars.count > 13, chars[13] == 58,
              let minute = number(14..<16), hour < 24, minute < 60
        else { return nil }
        ms += Int64(hour) * 3_600_000 + Int64(minute) * 60_000
        var index = 16
        if index < chars.count, chars[index] == 58 {
            guard let second = number(17..<19), second < 61 else { return nil }
            ms += Int64(second) * 1000
            index = 19
            if index < chars.count, chars[index] == 46 {
                var end = index + 1
                while end < chars.count, chars[end] >= 48, chars[end] <= 57 { end += 1 }
                guard end > index + 1 else { return nil }
                let digits = Array(chars[(index + 1)..<end].prefix(3))
                ms += (0..<3).reduce(Int64(0)) { $0 * 10 + ($1 < digits.count ? Int64(digits[$1] - 48) : 0) }
                index = end
            }
        }
        let zone = String(decoding: chars[index...], as: UTF8.self)
        guard let parsed = BucketTimeZone(zone.isEmpty ? "Z" : zone), case .fixed(let seconds) = parsed else { return nil }
        return ms - Int64(seconds) * 1000
    }

    /// "2026-11-20T10:00:00.000Z".
    public static func format(_ ms: Int64) -> String {
        let days = floorDiv(ms, 86_400_000)
        let (year, month, day) = civilDate(daysSinceEpoch: days)
        let rest = ms - days * 86_400_000
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(Int(rest / 3_600_000), 2)):\(pad(Int(rest % 3_600_000 / 60_000), 2)):"
            + "\(pad(Int(rest % 60_000 / 1000), 2)).\(pad(Int(rest % 1000), 3))Z"
    }
}
