public import NIOCore

/// ListOffsets request (key 2), v0-5. v0 asks for up to max_num_offsets offsets per partition
/// (Kafka's legacy "offsets before" query; Burrow 1.2 still sends it); v1 dropped that for one
/// offset per partition; v2 adds isolation_level; v4 current_leader_epoch; v3 and v5 repeat
/// the layout.
///
/// `timestamp` is a time in ms, or -1 (latest offset), -2 (earliest offset).
public struct ListOffsetsRequest: KafkaEncodableMessage {
    public static let apiKey = ApiKey.listOffsets
    public static let versions: ClosedRange<Int16> = 0...5

    public static let latestTimestamp: Int64 = -1
    public static let earliestTimestamp: Int64 = -2

    public struct Partition: Equatable, Sendable {
        public var partitionIndex: Int32
        /// v4+.
        public var currentLeaderEpoch: Int32
        public var timestamp: Int64
        /// v0 only.
        public var maxNumOffsets: Int32

        public init(partitionIndex: Int32, currentLeaderEpoch: Int32 = -1, timestamp: Int64, maxNumOffsets: Int32 = 1) {
            self.partitionIndex = partitionIndex
            self.currentLeaderEpoch = currentLeaderEpoch
            self.timestamp = timestamp
            self.maxNumOffsets = maxNumOffsets
        }
    }

    public struct Topic: Equatable, Sendable {
        public var name: String
        public var partitions: [Partition]

        public init(name: String, partitions: [Partition]) {
            self.name = name
            self.partitions = partitions
        }
    }

    public var replicaId: Int32
    /// v2+.
    public var isolationLevel: Int8
    public var topics: [Topic]

    public init(replicaId: Int32 = -1, isolationLevel: Int8 = 0, topics: [Topic] = []) {
        self.replicaId = replicaId
        self.isolationLevel = isolationLevel
        self.topics = topics
    }

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        try Self.checkVersion(version)
        self.init()
        replicaId = try buffer.readKafkaInt32("replica_id")
        if version >= 2 {
            isolationLevel = try buffer.readKafkaInt8("isolation_level")
        }
        topics = try buffer.readKafkaArray("topics", minElementSize: 6) { (b: inout ByteBuffer) throws(KafkaDecodingError) in
            let name = try b.readKafkaString("topics.name")
            let partitions = try b.readKafkaArray("topics.partitions", minElementSize: 12) { (p: inout ByteBuffer) throws(KafkaDecodingError) in
                let index = try p.readKafkaInt32("partitions.partition_index")
                var epoch: Int32 = -1
                if version >= 4 {
                    epoch = try p.readKafkaInt32("partitions.current_leader_epoch")
                }
                let timestamp = try p.readKafkaInt64("partitions.timestamp")
                var partition = Partition(partitionIndex: index, currentLeaderEpoch: epoch, timestamp: timestamp)
                if version == 0 {
                    partition.maxNumOffsets = try p.readKafkaInt32("partitions.max_num_offsets")
                }
                return partition
            }
            return Topic(name: name, partitions: partitions)
        }
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        Self.assertVersion(version)
        buffer.writeInteger(replicaId)
        if version >= 2 {
            buffer.writeInteger(isolationLevel)
        }
        buffer.writeKafkaArray(topics) { b, topic in
            b.writeKafkaString(topic.name)
            b.writeKafkaArray(topic.partitions) { p, partition in
                p.writeInteger(partition.partitionIndex)
                if version >= 4 {
                    p.writeInteger(partition.currentLeaderEpoch)
                }
                p.writeInteger(partition.timestamp)
                if version == 0 {
                    p.writeInteger(partition.maxNumOffsets)
                }
            }
        }
    }
}

/// ListOffsets response (key 2), v0-5. v0 answers a list of offsets per partition
/// (old_style_offsets); v1 one timestamp + offset; v2 adds throttle_time_ms; v4 leader_epoch;
/// v5 may return OFFSET_NOT_AVAILABLE.
public struct ListOffsetsResponse: KafkaEncodableMessage {
    public static let apiKey = ApiKey.listOffsets
    public static let versions: ClosedRange<Int16> = 0...5

    public struct Partition: Equatable, Sendable {
        public var partitionIndex: Int32
        public var errorCode: Int16
        public var timestamp: Int64
        public var offset: Int64
        /// v4+.
        public var leaderEpoch: Int32
        /// v0 only, instead of timestamp and offset.
        public var oldStyleOffsets: [Int64]

        public init(
            partitionIndex: Int32, errorCode: Int16 = 0, timestamp: Int64 = -1, offset: Int64 = -1, leaderEpoch: Int32 = -1,
            oldStyleOffsets: [Int64] = []
        ) {
            self.partitionIndex = partitionIndex
            self.errorCode = errorCode
            self.timestamp = timestamp
            self.offset = offset
            self.leaderEpoch = leaderEpoch
            self.oldStyleOffsets = oldStyleOffsets
        }
    }

    public struct Topic: Equatable, Sendable {
        public var name: String
        public var partitions: [Partition]

        public init(name: String, partitions: [Partition]) {
            self.name = name
            self.partitions = partitions
        }
    }

    /// v2+.
    public var throttleTimeMs: Int32
    public var topics: [Topic]

    public init(throttleTimeMs: Int32 = 0, topics: [Topic] = []) {
        self.throttleTimeMs = throttleTimeMs
        self.topics = topics
    }

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        try Self.checkVersion(version)
        self.init()
        if version >= 2 {
            throttleTimeMs = try buffer.readKafkaInt32("throttle_time_ms")
        }
        topics = try buffer.readKafkaArray("topics", minElementSize: 6) { (b: inout ByteBuffer) throws(KafkaDecodingError) in
            let name = try b.readKafkaString("topics.name")
            let partitions = try b.readKafkaArray("topics.partitions", minElementSize: version == 0 ? 10 : 22) { (p: inout ByteBuffer) throws(KafkaDecodingError) in
                if version == 0 {
                    return Partition(
                        partitionIndex: try p.readKafkaInt32("partitions.partition_index"),
                        errorCode: try p.readKafkaInt16("partitions.error_code"),
                        oldStyleOffsets: try p.readKafkaArray("partitions.old_style_offsets", minElementSize: 8) {
                            (o: inout ByteBuffer) throws(KafkaDecodingError) in try o.readKafkaInt64("old_style_offsets")
                        }
                    )
                }
                var partition = Partition(
                    partitionIndex: try p.readKafkaInt32("partitions.partition_index"),
                    errorCode: try p.readKafkaInt16("partitions.error_code"),
                    timestamp: try p.readKafkaInt64("partitions.timestamp"),
                    offset: try p.readKafkaInt64("partitions.offset")
                )
                if version >= 4 {
                    partition.leaderEpoch = try p.readKafkaInt32("partitions.leader_epoch")
                }
                return partition
            }
            return Topic(name: name, partitions: partitions)
        }
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        Self.assertVersion(version)
        if version >= 2 {
            buffer.writeInteger(throttleTimeMs)
        }
        buffer.writeKafkaArray(topics) { b, topic in
            b.writeKafkaString(topic.name)
            b.writeKafkaArray(topic.partitions) { p, partition in
                p.writeInteger(partition.partitionIndex)
                p.writeInteger(partition.errorCode)
                if version == 0 {
                    p.writeKafkaArray(partition.oldStyleOffsets) { o, offset in o.writeInteger(offset) }
                    return
                }
                p.writeInteger(partition.timestamp)
                p.writeInteger(partition.offset)
                if version >= 4 {
                    p.writeInteger(partition.leaderEpoch)
                }
            }
        }
    }
}
