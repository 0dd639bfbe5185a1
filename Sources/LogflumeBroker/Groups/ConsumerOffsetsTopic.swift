public import LogflumeWire
public import NIOCore

/// The internal compacted topic where the group coordinator keeps committed offsets and group
/// metadata, in Apache Kafka's record layout (`GroupMetadataRecord`) and partitioning, so tools
/// that read Kafka's `__consumer_offsets` (Burrow) read ours.
public enum ConsumerOffsetsTopic {
    public static let name = "__consumer_offsets"

    /// The partition holding `groupId`'s records: Kafka's
    /// `Utils.abs(groupId.hashCode) % offsets.topic.num.partitions`, where `Utils.abs` maps
    /// `Int.MIN_VALUE` to 0.
    public static func partition(forGroup groupId: String, partitionCount: Int32) -> Int32 {
        precondition(partitionCount > 0, "__consumer_offsets needs at least one partition")
        let hash = javaStringHashCode(groupId)
        let magnitude = hash == .min ? 0 : abs(hash)
        return magnitude % partitionCount
    }

    /// Java's `String.hashCode()`: `s[0]*31^(n-1) + ... + s[n-1]` over the UTF-16 code units,
    /// in wrapping 32-bit arithmetic.
    public static func javaStringHashCode(_ string: String) -> Int32 {
        var hash: Int32 = 0
        for unit in string.utf16 {
            hash = hash &* 31 &+ Int32(unit)
        }
        return hash
    }

    /// A record's key and value bytes (nil value = tombstone), at the versions Kafka writes:
    /// offset values v1 when they carry an expire timestamp and v3 otherwise, group values v3.
    public static func encode(_ record: GroupMetadataRecord) -> (key: ByteBuffer, value: ByteBuffer?) {
        switch record {
        case .offsetCommit(let key, let value):
            return (GroupMetadataRecordKey.offsetCommit(key).encoded(), value?.encoded())
        case .groupMetadata(let key, let value):
            return (GroupMetadataRecordKey.groupMetadata(key).encoded(), value?.encoded())
        }
    }
}
