/// Which files of a bucket an open writer produces.
public enum BucketKind: Int, Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The bucket itself, closed once by the watermark.
    case main = 0
    /// A round of late records under `late/` (late policy `late-dir`).
    case late = 1
    /// A round of late records added to the bucket directory (late policy `reopen`).
    case reopen = 2

    public static func < (lhs: BucketKind, rhs: BucketKind) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String {
        switch self {
        case .main: "main"
        case .late: "late"
        case .reopen: "reopen"
        }
    }
}

/// An open bucket of one topic: the bucket's start and whether it collects on-time or late records.
/// At most one late round of a bucket is open at a time.
public struct BucketKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var bucketStart: Int64
    public var kind: BucketKind

    public init(bucketStart: Int64, kind: BucketKind) {
        self.bucketStart = bucketStart
        self.kind = kind
    }

    public static func < (lhs: BucketKey, rhs: BucketKey) -> Bool {
        (lhs.bucketStart, lhs.kind) < (rhs.bucketStart, rhs.kind)
    }

    public var description: String { "\(EventTime.format(bucketStart))/\(kind)" }
}

/// What one partition contributed to one bucket (or late round): the offsets written, so the
/// highest becomes the partition's fence for that bucket.
public struct BucketSlice: Hashable, Sendable {
    public var firstOffset: Int64
    public var lastOffset: Int64
    public var records: Int64
    public var minTimestamp: Int64
    public var maxTimestamp: Int64

    public init(firstOffset: Int64, lastOffset: Int64, records: Int64, minTimestamp: Int64, maxTimestamp: Int64) {
        self.firstOffset = firstOffset
        self.lastOffset = lastOffset
        self.records = records
        self.minTimestamp = minTimestamp
        self.maxTimestamp = maxTimestamp
    }

    init(offset: Int64, timestamp: Int64) {
        self.init(firstOffset: offset, lastOffset: offset, records: 1, minTimestamp: timestamp, maxTimestamp: timestamp)
    }

    /// Takes in the records of `other`, which are not already in this slice.
    mutating func add(_ other: BucketSlice) {
        lastOffset = max(lastOffset, other.lastOffset)
        firstOffset = min(firstOffset, other.firstOffset)
        records += other.records
        minTimestamp = min(minTimestamp, other.minTimestamp)
        maxTimestamp = max(maxTimestamp, other.maxTimestamp)
    }
}
