/// `_manifest.json` of a bucket directory (or of its `late/` directory): every file, with record
/// counts, offset ranges, event-time range and checksums. Built only from the completion records
/// present and encoded with sorted keys, so every instance that writes it writes the same bytes.
public struct BucketManifest: Codable, Equatable, Sendable {
    public struct PartitionRange: Codable, Equatable, Sendable {
        public var partition: Int32
        /// Offsets this directory holds for the partition (nil when it had no records).
        public var firstOffset: Int64?
        public var lastOffset: Int64?
        public var records: Int64
    }

    public var topic: String
    /// e.g. "dt=2026-11-20/hr=10".
    public var bucket: String
    public var bucketStart: String
    public var bucketEnd: String
    public var timeZone: String
    /// 1 for the bucket as first closed; each `reopen` round adds one.
    public var version: Int
    public var records: Int64
    public var minTimestamp: Int64?
    public var maxTimestamp: Int64?
    public var partitions: [PartitionRange]
    public var files: [OutputFile]

    /// Summarizes the completions (main first, then rounds by first offset, per partition).
    public init(topic: String, bucket: Bucket, timeZone: BucketTimeZone, completions: [PartitionCompletion]) {
        let ordered = completions.sorted {
            ($0.partition, $0.kind == "main" ? -1 : ($0.firstOffset ?? 0)) < ($1.partition, $1.kind == "main" ? -1 : ($1.firstOffset ?? 0))
        }
        self.topic = topic
        self.bucket = bucket.label.path
        self.bucketStart = EventTime.format(bucket.start)
        self.bucketEnd = EventTime.format(bucket.end)
        self.timeZone = timeZone.description
        self.version = 1 + ordered.filter { $0.kind == BucketKind.reopen.description }.count
        self.records = ordered.reduce(0) { $0 + $1.records }
        self.minTimestamp = ordered.compactMap(\.minTimestamp).min()
        self.maxTimestamp = ordered.compactMap(\.maxTimestamp).max()
        self.files = ordered.flatMap(\.files)
        var ranges: [Int32: PartitionRange] = [:]
        for completion in ordered {
            var range = ranges[completion.partition] ?? PartitionRange(partition: completion.partition, firstOffset: nil, lastOffset: nil, records: 0)
            if let first = completion.firstOffset { range.firstOffset = min(range.firstOffset ?? first, first) }
            if let last = completion.lastOffset { range.lastOffset = max(range.lastOffset ?? last, last) }
            range.records += completion.records
            ranges[completion.partition] = range
        }
        self.partitions = ranges.keys.sorted().map { ranges[$0]! }
    }
}
