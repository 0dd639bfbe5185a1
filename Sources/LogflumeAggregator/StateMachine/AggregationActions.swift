/// What to do with one consumed record.
public enum RecordAction: Equatable, Sendable {
    /// Write it into the partition's writer for this open bucket (a late round when the key's kind
    /// is not `.main`).
    case append(BucketKey, Bucket)
    /// It is at or below the fence of a closed bucket: already written before a restart or
    /// rebalance, so skip it.
    case skipBelowFence(Bucket, fence: Int64)
    /// Late, and the late policy is `drop`.
    case dropLate(Bucket)
}

/// Why a bucket closes.
public enum CloseReason: String, Equatable, Sendable {
    /// The watermark passed its end plus the delay.
    case watermark
    /// Too many open buckets; the oldest goes.
    case maxOpenBuckets
    /// The open bucket held the safe offset back while too many fences piled up above it.
    case fenceLimit
    /// A late round's time is up.
    case lateRound
}

/// One bucket (or late round) to finish: publish the partitions' files, then write a completion
/// record per partition listed, then commit.
public struct BucketClose: Equatable, Sendable {
    public var key: BucketKey
    public var bucket: Bucket
    public var reason: CloseReason
    /// The partitions for which this closes the bucket, sorted. For `.main`, every partition
    /// whose closed range it extends, with or without records (an empty completion still counts
    /// towards the done-marker); for late rounds, the partitions with records in the round.
    public var partitions: [Int32]
    /// What each partition wrote; absent for partitions without records.
    public var slices: [Int32: BucketSlice]

    public init(key: BucketKey, bucket: Bucket, reason: CloseReason, partitions: [Int32], slices: [Int32: BucketSlice]) {
        self.key = key
        self.bucket = bucket
        self.reason = reason
        self.partitions = partitions
        self.slices = slices
    }
}

/// An OffsetCommit to send for one partition: the safe offset and the metadata that goes with it.
public struct SafeCommit: Equatable, Sendable {
    public var partition: Int32
    public var offset: Int64
    public var metadata: ProgressMetadata

    public init(partition: Int32, offset: Int64, metadata: ProgressMetadata) {
        self.partition = partition
        self.offset = offset
        self.metadata = metadata
    }
}

/// What the group and sink said about a partition when it was assigned.
public struct PartitionRecovery: Equatable, Sendable {
    /// The group's committed offset: where reading starts again. nil when nothing was committed.
    public var committedOffset: Int64?
    /// From the commit metadata, extended by completion records found on the sink for buckets
    /// closed after that commit.
    public var progress: ProgressMetadata

    public init(committedOffset: Int64? = nil, progress: ProgressMetadata = ProgressMetadata()) {
        self.committedOffset = committedOffset
        self.progress = progress
    }
}
