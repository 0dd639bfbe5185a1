/// The knobs of bucketing and closing, taken from `[buckets]` and `[late]` in the config file.
public struct AggregationSettings: Sendable, Equatable {
    /// How long past a bucket's end the watermark must be before it closes. Default: 10 minutes.
    public var delayMs: Int64 = 600_000
    /// A partition caught up with its high watermark and without records for this long no longer
    /// holds the watermark back; the wall clock stands in for it. Default: 1 minute.
    public var idleTimeoutMs: Int64 = 60_000
    /// Open buckets (on-time and late rounds) beyond this force the oldest closed. Default: 4.
    public var maxOpenBuckets = 12
    /// Event times further than this ahead of the wall clock count as this far ahead for the
    /// watermark, so one record from a host with a wrong clock cannot close hours early. Default: 1 hour.
    public var maxFutureSkewMs: Int64 = 3_600_000
    /// Default: `late-dir`.
    public var latePolicy: LatePolicy = .lateDirectory
    /// Empty buckets closed in one tick at most; a longer gap (an aggregator down for weeks) is
    /// skipped rather than filled with completion records. Default: 168.
    public var maxEmptyBucketsPerTick = 168
    /// Fences one partition may need above its safe offset before the open bucket holding that
    /// offset back is closed early, which keeps the commit metadata under 4096 bytes. Default: 100.
    public var maxFencesPerPartition = 100

    public init() {}
}
