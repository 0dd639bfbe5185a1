/// Where a topic's buckets live below the sink root:
///
/// ```
/// <topic>/dt=2026-11-20/hr=10/<topic>-<partition>-<firstOffset>.jsonl.gz   data files
/// <topic>/dt=2026-11-20/hr=10/_partitions/<partition>.json                 completion records
/// <topic>/dt=2026-11-20/hr=10/_manifest.json                               once every partition completed
/// <topic>/dt=2026-11-20/hr=10/_SUCCESS                                     the done-marker, last
/// <topic>/dt=2026-11-20/hr=10/late/...                                     late rounds, same layout
/// ```
///
/// Everything that is not data starts with "_" or ".", which Hadoop and Spark skip.
public struct BucketLayout: Sendable, Equatable {
    public static let completionDirectory = "_partitions"
    public static let manifestName = "_manifest.json"
    public static let markerName = "_SUCCESS"
    public static let lateDirectory = "late"

    public init() {}

    public func topicDirectory(_ topic: String) -> String { topic }

    /// The directory of a bucket, or of its late rounds.
    public func directory(topic: String, bucket: Bucket, kind: BucketKind = .main) -> String {
        let base = topic + "/" + bucket.label.path
        return kind == .late ? base + "/" + Self.lateDirectory : base
    }

    public func completionDirectory(topic: String, bucket: Bucket, kind: BucketKind = .main) -> String {
        directory(topic: topic, bucket: bucket, kind: kind) + "/" + Self.completionDirectory
    }

    public func manifestPath(topic: String, bucket: Bucket, kind: BucketKind = .main) -> String {
        directory(topic: topic, bucket: bucket, kind: kind) + "/" + Self.manifestName
    }

    public func markerPath(topic: String, bucket: Bucket, kind: BucketKind = .main) -> String {
        directory(topic: topic, bucket: bucket, kind: kind) + "/" + Self.markerName
    }
}
