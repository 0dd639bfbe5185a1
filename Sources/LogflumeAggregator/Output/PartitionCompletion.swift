/// What one partition wrote into one bucket (or one late round of it): written after its files
/// are published and before the safe offset moves past them. Its presence says "this partition
/// has closed this bucket"; `lastOffset` is the partition's fence for the bucket.
public struct PartitionCompletion: Codable, Equatable, Sendable {
    public var topic: String
    public var partition: Int32
    public var bucketStart: Int64
    public var bucketEnd: Int64
    /// "main", "late" or "reopen".
    public var kind: String
    /// nil when the partition had no records in the bucket.
    public var firstOffset: Int64?
    public var lastOffset: Int64?
    public var records: Int64
    public var minTimestamp: Int64?
    public var maxTimestamp: Int64?
    public var files: [OutputFile]

    public init(topic: String, partition: Int32, bucket: Bucket, kind: BucketKind, slice: BucketSlice?, files: [OutputFile]) {
        self.topic = topic
        self.partition = partition
        self.bucketStart = bucket.start
        self.bucketEnd = bucket.end
        self.kind = kind.description
        self.firstOffset = slice?.firstOffset
        self.lastOffset = slice?.lastOffset
        self.records = slice?.records ?? 0
        self.minTimestamp = slice?.minTimestamp
        self.maxTimestamp = slice?.maxTimestamp
        self.files = files
    }

    /// The name inside `_partitions/`: `<partition>.json` for the bucket itself, and
    /// `<partition>-<firstOffset>.json` for each late or reopen round.
    public var fileName: String {
        Self.fileName(partition: partition, roundFirstOffset: kind == BucketKind.main.description ? nil : firstOffset)
    }

    public static func fileName(partition: Int32, roundFirstOffset: Int64?) -> String {
        guard let roundFirstOffset else { return "\(partition).json" }
        return "\(partition)-\(pad(Int(roundFirstOffset), 20)).json"
    }
}
