/// What a partition's committed offset carries in its OffsetCommit metadata string: how far its
/// buckets are closed and the fences still needed above the committed (safe) offset.
///
/// Committing the safe offset and these fences in one OffsetCommit makes them atomic: after a
/// crash the group holds either the old pair or the new one. Text form:
/// `lf1 c=<closedThroughMs> f=<bucketStartMs>:<fence>,...` (fields optional).
public struct ProgressMetadata: Equatable, Sendable {
    /// Every bucket ending at or before this instant is closed for the partition.
    public var closedThrough: Int64?
    /// Per closed bucket (by start), the highest offset written into it or its late rounds; only
    /// fences at or above the committed offset are kept, since lower offsets are never re-read.
    public var fences: [Int64: Int64]

    /// Brokers refuse longer metadata (Kafka's `offset.metadata.max.bytes` default is 4096).
    public static let maxBytes = 4096

    public init(closedThrough: Int64? = nil, fences: [Int64: Int64] = [:]) {
        self.closedThrough = closedThrough
        self.fences = fences
    }

    public var encoded: String {
        var text = "lf1"
        if let closedThrough { text += " c=\(closedThrough)" }
        if !fences.isEmpty {
            text += " f=" + fences.keys.sorted().map { "\($0):\(fences[$0]!)" }.joined(separator: ",")
        }
        return text
    }

    /// nil for metadata this aggregator did not write (empty, or another tool's).
    public init?(decoding text: String?) {
        guard let text, text.hasPrefix("lf1") else { return nil }
        var closedThrough: Int64?
        var fences: [Int64: Int64] = [:]
        for field in text.split(separator: " ").dropFirst() {
            if field.hasPrefix("c=") {
                guard let value = Int64(field.dropFirst(2)) else { return nil }
                closedThrough = value
            } else if field.hasPrefix("f=") {
                for pair in field.dropFirst(2).split(separator: ",") {
                    let parts = pair.split(separator: ":")
                    guard parts.count == 2, let start = Int64(parts[0]), let fence = Int64(parts[1]) else { return nil }
                    fences[start] = fence
                }
            } else {
                return nil
            }
        }
        self.init(closedThrough: closedThrough, fences: fences)
    }
}
