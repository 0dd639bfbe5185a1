/// How wide one output bucket is: an hour (the default), a day, or a minute (for tests and demos
/// that should not wait an hour).
public enum BucketGranularity: String, Sendable, Equatable, CaseIterable {
    case minute
    case hour
    case day

    /// The nominal width; DST makes local hours and days longer or shorter than this.
    public var nominalMilliseconds: Int64 {
        switch self {
        case .minute: 60_000
        case .hour: 3_600_000
        case .day: 86_400_000
        }
    }
}
