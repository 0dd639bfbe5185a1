public import NIOCore

/// OffsetFetch request (key 9), v1-5.
///
/// v1 reads offsets from `__consumer_offsets`; v2 lets topics be null, meaning every partition the
/// group has committed; v3-5 repeat the layout.
public struct OffsetFetchRequest: KafkaEncodableMessage {
    public static let apiKey = ApiKey.offsetFetch
    public static let versions: ClosedRange<Int16> = 1...5

    public struct OffsetFetchRequestTopic: Equatable, Sendable {
        public var name: String
        public var partitionIndexes: [Int32]

        public init(name: String, partitionIndexes: [Int32] = []) {
            self.name = name
            self.partitionIndexes = partitionIndexes
        }
    }

    public var groupId: String
    /// nil = every committed partition (v2+). v1 cannot say so: there nil is written as an
    /// empty array.
    public var topics: [OffsetFetchRequestTopic]?

    public init(groupId: String = "", topics: [OffsetFetchRequestTopic]? = []) {
        self.groupId = groupId
        self.topics = topics
    }

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        try Self.checkVersion(version)
        self.init()
        groupId = try buffer.readKafkaString("group_id")
        let readTopic = { (b: inout ByteBuffer) throws(KafkaDecodingError) -> OffsetFetchRequestTopic in
            OffsetFetchRequestTopic(
                name: try b.readKafkaString("topics.name"),
                partitionIndexes: try b.readKafkaInt32Array("topics.partition_indexes")
            )
        }
        if version >= 2 {
            topics = try buffer.readKafkaNullableArray("topics", minElementSize: 6, readTopic)
        } else {
            topics = try buffer.readKafkaArray("topics", minElementSize: 6, readTopic)
        }
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        Self.assertVersion(version)
        buffer.writeKafkaString(groupId)
        let writeTopic = { (b: inout ByteBuffer, topic: OffsetFetchRequestTopic) in
            b.writeKafkaString(topic.name)
            b.writeKafkaInt32Array(topic.partitionIndexes)
        }
        if version >= 2 {
            buffer.writeKafkaNullableArray(topics, writeTopic)
        } else {
            buffer.writeKafkaArray(topics ?? [], writeTopic)
        }
    }
}

/// OffsetFetch response (key 9), v1-5. v2 adds a top-level error_code (last field); v3 adds
/// throttle_time_ms (first field); v4 repeats the layout; v5 adds committed_leader_epoch per
/// partition.
///
/// A partition without a committed offset has offset -1, empty metadata and no error.
public struct OffsetFetchResponse: KafkaEncodableMessage {
    public static let apiKey = ApiKey.offsetFetch
    public static let versions: ClosedRange<Int16> = 1...5

    public struct OffsetFetchResponsePartition: Equatable, Sendable {
        public var partitionIndex: Int32
        public var committedOffset: Int64
        /// v5+; -1 = unknown.
        public var committedLeaderEpoch: Int32
        public var metadata: String?
        public var errorCode: Int16

        public init(partitionIndex: Int32, committedOffset: Int64 = -1, committedLeaderEpoch: Int32 = -1, metadata: String? = "", errorCode: Int16 = 0) {
            self.partitionIndex = partitionIndex
            self.committedOffset = committedOffset
            self.committedLeaderEpoch = committedLeaderEpoch
            self.metadata = metadata
            self.errorCode = errorCode
        }
    }

    public struct OffsetFetchResponseTopic: Equatable, Sendable {
        public var name: String
        public var partitions: [OffsetFetchResponsePartition]

        public init(name: String, partitions: [OffsetFetchResponsePartition] = []) {
            self.name = name
            self.partitions = partitions
        }
    }

    /// v3+.
    public var throttleTimeMs: Int32
    public var topics: [OffsetFetchResponseTopic]
    /// v2+: group-level errors (v1 can report them only per partition).
    public var errorCode: Int16

    public init(throttleTimeMs: Int32 = 0, topics: [OffsetFetchResponseTopic] = [], errorCode: Int16 = 0) {
        self.throttleTimeMs = throttleTimeMs
        self.topics = topics
        self.errorCode = errorCode
    }

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        try Self.checkVersion(version)
        self.init()
        if version >= 3 {
            throttleTimeMs = try buffer.readKafkaInt32("throttle_time_ms")
        }
        topics = try buffer.readKafkaArray("topics", minElementSize: 6) { (b: inout ByteBuffer) throws(KafkaDecodingError) in
            let name = try b.readKafkaString("topics.name")
            let partitions = try b.readKafkaArray("topics.partitions", minElementSize: 16) { (p: inout ByteBuffer) throws(KafkaDecodingError) in
                var partition = OffsetFetchResponsePartition(
                    partitionIndex: try p.readKafkaInt32("partitions.partition_index"),
                    committedOffset: try p.readKafkaInt64("partitions.committed_offset")
                )
                if version >= 5 {
                    partition.committedLeaderEpoch = try p.readKafkaInt32("partitions.committed_leader_epoch")
                }
                partition.metadata = try p.readKafkaNullableString("partitions.metadata")
                partition.errorCode = try p.readKafkaInt16("partitions.error_code")
                return partition
            }
            return OffsetFetchResponseTopic(name: name, partitions: partitions)
        }
        if version >= 2 {
            errorCode = try buffer.readKafkaInt16("error_code")
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
                p.writeInteger(partition.committedOffset)
                if version >= 5 {
                    p.writeInteger(partition.committedLeaderEpoch)
                }
                p.writeKafkaNullableString(partition.metadata)
                p.writeInteger(partition.errorCode)
            }
        }
        if version >= 2 {
            buffer.writeInteger(errorCode)
        }
    }
}
