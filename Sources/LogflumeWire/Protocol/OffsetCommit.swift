public import NIOCore

/// OffsetCommit request (key 8), v2-7.
///
/// v2-4 carry retention_time_ms (-1 = the broker's offsets.retention.minutes); v5 removes it;
/// v6 adds committed_leader_epoch per partition; v7 adds group_instance_id. A commit outside a
/// group (a consumer using `assign`) sends generation -1 and an empty member id.
public struct OffsetCommitRequest: KafkaEncodableMessage {
    public static let apiKey = ApiKey.offsetCommit
    public static let versions: ClosedRange<Int16> = 2...7

    /// retention_time_ms meaning "the broker's default retention".
    public static let defaultRetentionTime: Int64 = -1

    public struct OffsetCommitRequestPartition: Equatable, Sendable {
        public var partitionIndex: Int32
        public var committedOffset: Int64
        /// v6+; -1 = unknown.
        public var committedLeaderEpoch: Int32
        public var committedMetadata: String?

        public init(partitionIndex: Int32, committedOffset: Int64, committedLeaderEpoch: Int32 = -1, committedMetadata: String? = nil) {
            self.partitionIndex = partitionIndex
            self.committedOffset = committedOffset
            self.committedLeaderEpoch = committedLeaderEpoch
            self.committedMetadata = committedMetadata
        }
    }

    public struct OffsetCommitRequestTopic: Equatable, Sendable {
        public var name: String
        public var partitions: [OffsetCommitRequestPartition]

        public init(name: String, partitions: [OffsetCommitRequestPartition] = []) {
            self.name = name
            self.partitions = partitions
        }
    }

    public var groupId: String
    /// The generation of the group, or -1 for a commit from outside the group (the schema of
    /// Kafka 4 calls it generation_id_or_member_epoch).
    public var generationId: Int32
    public var memberId: String
    /// v7+.
    public var groupInstanceId: String?
    /// v2-4 only.
    public var retentionTimeMs: Int64
    public var topics: [OffsetCommitRequestTopic]

    public init(
        groupId: String = "", generationId: Int32 = -1, memberId: String = "", groupInstanceId: String? = nil,
        retentionTimeMs: Int64 = OffsetCommitRequest.defaultRetentionTime, topics: [OffsetCommitRequestTopic] = []
    ) {
        self.groupId = groupId
        self.generationId = generationId
        self.memberId = memberId
        self.groupInstanceId = groupInstanceId
        self.retentionTimeMs = retentionTimeMs
        self.topics = topics
    }

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        try Self.checkVersion(version)
        self.init()
        groupId = try buffer.readKafkaString("group_id")
        generationId = try buffer.readKafkaInt32("generation_id")
        memberId = try buffer.readKafkaString("member_id")
        if version >= 7 {
            groupInstanceId = try buffer.readKafkaNullableString("group_instance_id")
        }
        if version <= 4 {
            retentionTimeMs = try buffer.readKafkaInt64("retention_time_ms")
        }
        topics = try buffer.readKafkaArray("topics", minElementSize: 6) { (b: inout ByteBuffer) throws(KafkaDecodingError) in
            let name = try b.readKafkaString("topics.name")
            let partitions = try b.readKafkaArray("topics.partitions", minElementSize: 14) { (p: inout ByteBuffer) throws(KafkaDecodingError) in
                var partition = OffsetCommitRequestPartition(
                    partitionIndex: try p.readKafkaInt32("partitions.partition_index"),
                    committedOffset: try p.readKafkaInt64("partitions.committed_offset")
                )
                if version >= 6 {
                    partition.committedLeaderEpoch = try p.readKafkaInt32("partitions.committed_leader_epoch")
                }
                partition.committedMetadata = try p.readKafkaNullableString("partitions.committed_metadata")
                return partition
            }
            return OffsetCommitRequestTopic(name: name, partitions: partitions)
        }
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        Self.assertVersion(version)
        buffer.writeKafkaString(groupId)
        buffer.writeInteger(generationId)
        buffer.writeKafkaString(memberId)
        if version >= 7 {
            buffer.writeKafkaNullableString(groupInstanceId)
        }
        if version <= 4 {
            buffer.writeInteger(retentionTimeMs)
        }
        buffer.writeKafkaArray(topics) { b, topic in
            b.writeKafkaString(topic.name)
            b.writeKafkaArray(topic.partitions) { p, partition in
                p.writeInteger(partition.partitionIndex)
                p.writeInteger(partition.committedOffset)
                if version >= 6 {
                    p.writeInteger(partition.committedLeaderEpoch)
                }
                p.writeKafkaNullableString(partition.committedMetadata)
            }
        }
    }
}

/// OffsetCommit response (key 8), v2-7. v3 adds throttle_time_ms (first field); v4-7 repeat the
/// layout.
public struct OffsetCommitResponse: KafkaEncodableMessage {
    public static let apiKey = ApiKey.offsetCommit
    public static let versions: ClosedRange<Int16> = 2...7

    public struct OffsetCommitResponsePartition: Equatable, Sendable {
        public var partitionIndex: Int32
        public var errorCode: Int16

        public init(partitionIndex: Int32, errorCode: Int16 = 0) {
            self.partitionIndex = partitionIndex
            self.errorCode = errorCode
        }
    }

    public struct OffsetCommitResponseTopic: Equatable, Sendable {
        public var name: String
        public var partitions: [OffsetCommitResponsePartition]

        public init(name: String, partitions: [OffsetCommitResponsePartition] = []) {
            self.name = name
            self.partitions = partitions
        }
    }

    /// v3+.
    public var throttleTimeMs: Int32
    public var topics: [OffsetCommitResponseTopic]

    public init(throttleTimeMs: Int32 = 0, topics: [OffsetCommitResponseTopic] = []) {
        self.throttleTimeMs = throttleTimeMs
        self.topics = topics
    }

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        try Self.checkVersion(version)
        self.init()
        if version >= 3 {
            throttleTimeMs = try buffer.readKafkaInt32("throttle_time_ms")
        }
        topics = try buffer.readKafkaArray("topics", minElementSize: 6) { (b: inout ByteBuffer) throws(KafkaDecodingError) in
            let name = try b.readKafkaString("topics.name")
            let partitions = try b.readKafkaArray("topics.partitions", minElementSize: 6) { (p: inout ByteBuffer) throws(KafkaDecodingError) in
                OffsetCommitResponsePartition(
                    partitionIndex: try p.readKafkaInt32("partitions.partition_index"),
                    errorCode: try p.readKafkaInt16("partitions.error_code")
                )
            }
            return OffsetCommitResponseTopic(name: name, partitions: partitions)
        }
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        Self.assertVersion(version)
        if version >= 3 {
            buffer.writeInteger(throttleTimeMs)
        }
        buffer.writeKafkaArray(topics) { b, topic in
            b.writeKafkaString(topic.name)
            b.writeKafkaArray(topic.partitions) { p, partition in
                p.writeInteger(partition.partitionIndex)
                p.writeInteger(partition.errorCode)
            }
        }
    }
}
