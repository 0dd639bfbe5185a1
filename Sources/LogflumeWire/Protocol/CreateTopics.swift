public import NIOCore

/// CreateTopics request (key 19), v0-4. v1 adds validate_only; v2-3 repeat the layout; v4 lets
/// num_partitions and replication_factor be -1 (broker defaults) without an assignment.
public struct CreateTopicsRequest: KafkaEncodableMessage {
    public static let apiKey = ApiKey.createTopics
    public static let versions: ClosedRange<Int16> = 0...4

    public struct CreatableReplicaAssignment: Equatable, Sendable {
        public var partitionIndex: Int32
        public var brokerIds: [Int32]

        public init(partitionIndex: Int32, brokerIds: [Int32]) {
            self.partitionIndex = partitionIndex
            self.brokerIds = brokerIds
        }
    }

    public struct CreatableTopicConfig: Equatable, Sendable {
        public var name: String
        public var value: String?

        public init(name: String, value: String?) {
            self.name = name
            self.value = value
        }
    }

    public struct CreatableTopic: Equatable, Sendable {
        public var name: String
        /// -1 = broker default (v4+) or given by `assignments`.
        public var numPartitions: Int32
        /// -1 = broker default (v4+) or given by `assignments`.
        public var replicationFactor: Int16
        public var assignments: [CreatableReplicaAssignment]
        public var configs: [CreatableTopicConfig]

        public init(
            name: String, numPartitions: Int32 = -1, replicationFactor: Int16 = -1,
            assignments: [CreatableReplicaAssignment] = [], configs: [CreatableTopicConfig] = []
        ) {
            self.name = name
            self.numPartitions = numPartitions
            self.replicationFactor = replicationFactor
            self.assignments = assignments
            self.configs = configs
        }
    }

    public var topics: [CreatableTopic]
    public var timeoutMs: Int32
    /// v1+.
    public var validateOnly: Bool

    public init(topics: [CreatableTopic] = [], timeoutMs: Int32 = 60_000, validateOnly: Bool = false) {
        self.topics = topics
        self.timeoutMs = timeoutMs
        self.validateOnly = validateOnly
    }

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        try Self.checkVersion(version)
        self.init()
        topics = try buffer.readKafkaArray("topics", minElementSize: 16) { (b: inout ByteBuffer) throws(KafkaDecodingError) in
            var topic = CreatableTopic(
                name: try b.readKafkaString("topics.name"),
                numPartitions: try b.readKafkaInt32("topics.num_partitions"),
                replicationFactor: try b.readKafkaInt16("topics.replication_factor")
            )
            topic.assignments = try b.readKafkaArray("topics.assignments", minElementSize: 8) { (a: inout ByteBuffer) throws(KafkaDecodingError) in
                CreatableReplicaAssignment(
                    partitionIndex: try a.readKafkaInt32("assignments.partition_index"),
                    brokerIds: try a.readKafkaInt32Array("assignments.broker_ids")
                )
            }
            topic.configs = try b.readKafkaArray("topics.configs", minElementSize: 4) { (c: inout ByteBuffer) throws(KafkaDecodingError) in
                CreatableTopicConfig(
                    name: try c.readKafkaString("configs.name"),
                    value: try c.readKafkaNullableString("configs.value")
                )
            }
            return topic
        }
        timeoutMs = try buffer.readKafkaInt32("timeout_ms")
        if version >= 1 {
            validateOnly = try buffer.readKafkaBool("validate_only")
        }
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        Self.assertVersion(version)
        buffer.writeKafkaArray(topics) { b, topic in
            b.writeKafkaString(topic.name)
            b.writeInteger(topic.numPartitions)
            b.writeInteger(topic.replicationFactor)
            b.writeKafkaArray(topic.assignments) { a, assignment in
                a.writeInteger(assignment.partitionIndex)
                a.writeKafkaInt32Array(assignment.brokerIds)
            }
            b.writeKafkaArray(topic.configs) { c, config in
                c.writeKafkaString(config.name)
                c.writeKafkaNullableString(config.value)
            }
        }
        buffer.writeInteger(timeoutMs)
        if version >= 1 {
            buffer.writeKafkaBool(validateOnly)
        }
    }
}

/// CreateTopics response (key 19), v0-4. v1 adds a per-topic error_message; v2 throttle_time_ms
/// (first field); v3-4 repeat the layout.
public struct CreateTopicsResponse: KafkaEncodableMessage {
    public static let apiKey = ApiKey.createTopics
    public static let versions: ClosedRange<Int16> = 0...4

    public struct CreatableTopicResult: Equatable, Sendable {
        public var name: String
        public var errorCode: Int16
        /// v1+.
        public var errorMessage: String?

        public init(name: String, errorCode: Int16 = 0, errorMessage: String? = nil) {
            self.name = name
            self.errorCode = errorCode
            self.errorMessage = errorMessage
        }
    }

    /// v2+.
    public var throttleTimeMs: Int32
    public var topics: [CreatableTopicResult]

    public init(throttleTimeMs: Int32 = 0, topics: [CreatableTopicResult] = []) {
        self.throttleTimeMs = throttleTimeMs
        self.topics = topics
    }

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        try Self.checkVersion(version)
        self.init()
        if version >= 2 {
            throttleTimeMs = try buffer.readKafkaInt32("throttle_time_ms")
        }
        topics = try buffer.readKafkaArray("topics", minElementSize: 4) { (b: inout ByteBuffer) throws(KafkaDecodingError) in
            var result = CreatableTopicResult(
                name: try b.readKafkaString("topics.name"),
                errorCode: try b.readKafkaInt16("topics.error_code")
            )
            if version >= 1 {
                result.errorMessage = try b.readKafkaNullableString("topics.error_message")
            }
            return result
        }
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        Self.assertVersion(version)
        if version >= 2 {
            buffer.writeInteger(throttleTimeMs)
        }
        buffer.writeKafkaArray(topics) { b, result in
            b.writeKafkaString(result.name)
            b.writeInteger(result.errorCode)
            if version >= 1 {
                b.writeKafkaNullableString(result.errorMessage)
            }
        }
    }
}
