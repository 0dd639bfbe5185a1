/// One span of event time that becomes one output directory, e.g. `dt=2026-11-20/hr=10`.
///
/// `start` is inclusive and `end` exclusive, both in milliseconds since the epoch. In a zone with
/// daylight saving time a local hour can last two hours (the repeated hour in autumn is one bucket,
/// so its label maps to one directory) and a local hour that does not exist has no bucket.
public struct Bucket: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var start: Int64
    public var end: Int64
    public var label: BucketLabel

    public init(start: Int64, end: Int64, label: BucketLabel) {
        self.start = start
        self.end = end
        self.label = label
    }

    public func contains(_ time: Int64) -> Bool { start <= time && time < end }

    public static func < (lhs: Bucket, rhs: Bucket) -> Bool { lhs.start < rhs.start }

    public var description: String { label.path }
}

/// The local date and time a bucket is named after.
public struct BucketLabel: Hashable, Sendable, CustomStringConvertible {
    public var year: Int
    public var month: Int
    public var day: Int
    /// nil for day buckets.
    public var hour: Int?
    /// Set for minute buckets only.
    public var minute: Int?

    public init(year: Int, month: Int, day: Int, hour: Int? = nil, minute: Int? = nil) {
        self.year = year
        self.month = month
        self.day = day
        self.hour = hour
        self.minute = minute
    }

    /// "2026-11-20".
    public var date: String { "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))" }

    /// The directory components below the topic: `dt=2026-11-20`, then `hr=10`, then `min=05`.
    public var pathComponents: [String] {
        var components = ["dt=\(date)"]
        if let hour { components.append("hr=\(pad(hour, 2))") }
        if let minute { components.append("min=\(pad(minute, 2))") }
        return components
    }

    public var path: String { pathComponents.joined(separator: "/") }

    public var description: String { path }
}

func pad(_ value: Int, _ width: Int) -> String {
    let digits = String(value)
    return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
}
