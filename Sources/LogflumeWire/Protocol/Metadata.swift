public import NIOCore

/// Metadata request (key 3), v0-8.
///
/// v0: topics is a plain array and an empty array means "all topics". v1+: topics is nullable;
/// null means all topics and empty means none. v4 adds allow_auto_topic_creation; v8 adds the two
/// include_*_authorized_operations flags.
public struct MetadataRequest: KafkaEncodableMessage {
    public static let apiKey = ApiKey.metadata
    public static let versions: ClosedRange<Int16> = 0...8

    public struct Topic: Equatable, Sendable {
        public var name: String
        public init(name: String) { self.name = name }
    }

    /// nil = every topic. At v0 an empty array on the wire also means every topic, so it decodes
    /// as nil, and both nil and [] encode as an empty array (v0 cannot ask for no topics).
    public var topics: [Topic]?
    /// v4+; before v4 the broker applies its own auto-creation setting, as if true.
    public var allowAutoTopicCreation: Bool
    /// v8 only (v8-10 in the schema).
    public var includeClusterAuthorizedOperations: Bool
    /// v8+.
    public var includeTopicAuthorizedOperations: Bool

    public init(
        topics: [Topic]? = nil, allowAutoTopicCreation: Bool = true,
        includeClusterAuthorizedOperations: Bool = false, includeTopicAuthorizedOperations: Bool = false
    ) {
        self.topics = topics
        self.allowAutoTopicCreation = allowAutoTopicCreation
        self.includeClusterAuthorizedOperations = includeClusterAuthorizedOperations
        self.includeTopicAuthorizedOperations = includeTopicAuthorizedOperations
    }

    public init(topicNames: [String]?, allowAutoTopicCreation: Bool = true) {
        self.init(topics: topicNames?.map(Topic.init(name:)), allowAutoTopicCreation: allowAutoTopicCreation)
    }

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        try Self.checkVersion(version)
        self.init()
        let readTopic = { (b: inout ByteBuffer) throws(KafkaDecodingError) -> Topic in
            Topic(name: try b.readKafkaString("topics.name"))
        }
        if version == 0 {
            let list = try buffer.readKafkaArray("topics", minElementSize: 2, readTopic)
            topics = list.isEmpty ? nil : list
        } else {
            topics = try buffer.readKafkaNullableArray("topics", minElementSize: 2, readTopic)
        }
        if version >= 4 {
            allowAutoTopicCreation = try buffer.readKafkaBool("allow_auto_topic_creation")
        }
        if version >= 8 {
            includeClusterAuthorizedOperations = try buffer.readKafkaBool("include_cluster_authorized_operations")
            includeTopicAuthorizedOperations = try buffer.readKafkaBool("include_topic_authorized_operations")
        }
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        Self.assertVersion(version)
        let writeTopic = { (b: inout ByteBuffer, t: Topic) in b.writeKafkaString(t.name) }
        if version == 0 {
            buffer.writeKafkaArray(topics ?? [], writeTopic)
        } else {
            buffer.writeKafkaNullableArray(topics, writeTopic)
        }
        if version >= 4 {
            buffer.writeKafkaBool(allowAutoTopicCreation)
        }
        if version >= 8 {
            buffer.writeKafkaBool(includeClusterAuthorizedOperations)
            buffer.writeKafkaBool(includeTopicAuthorizedOperations)
        }
    }
}

/// Metadata response (key 3), v0-8.
///
/// v1 adds broker rack, controller_id and topic is_internal; v2 cluster_id; v3 throttle_time_ms
/// (first field); v5 per-partition offline_replicas; v7 leader_epoch; v8 topic and cluster
/// authorized operations.
public struct MetadataResponse: KafkaEncodableMessage {
    public static let apiKey = ApiKey.metadata
    public static let versions: ClosedRange<Int16> = 0...8

    /// The "not requested" value of the authorized-operations bit fields.
    public static let authorizedOperationsOmitted = Int32.min

    public struct Broker: Equatable, Sendable {
        public var nodeId: Int32
        public var host: String
        public var port: Int32
        /// v1+.
        public var rack: String?

        public init(nodeId: Int32, host: String, port: Int32, rack: String? = nil) {
            self.nodeId = nodeId
            self.host = host
            self.port = port
            self.rack = rack
        }
    }

    public struct Partition: Equatable, Sendable {
        public var errorCode: Int16
        public var partitionIndex: Int32
        public var leaderId: Int32
        /// v7+.
        public var leaderEpoch: Int32
        public var replicaNodes: [Int32]
        public var isrNodes: [Int32]
        /// v5+.
        public var offlineReplicas: [Int32]

        public init(
            errorCode: Int16 = 0, partitionIndex: Int32, leaderId: Int32, leaderEpoch: Int32 = -1,
            replicaNodes: [Int32] = [], isrNodes: [Int32] = [], offlineReplicas: [Int32] = []
        ) {
            self.errorCode = errorCode
            self.partitionIndex = partitionIndex
            self.leaderId = leaderId
            self.leaderEpoch = leaderEpoch
            self.replicaNodes = replicaNodes
            self.isrNodes = isrNodes
            self.offlineReplicas = offlineReplicas
        }
    }

    public struct Topic: Equatable, Sendable {
        public var errorCode: Int16
        public var name: String
        /// v1+.
        public var isInternal: Bool
        public var partitions: [Partition]
        /// v8+.
        public var topicAuthorizedOperations: Int32

        public init(
            errorCode: Int16 = 0, name: String, isInternal: Bool = false, partitions: [Partition] = [],
            topicAuthorizedOperations: Int32 = MetadataResponse.authorizedOperationsOmitted
        ) {
            self.errorCode = errorCode
            self.name = name
            self.isInternal = isInternal
            self.partitions = partitions
            self.topicAuthorizedOperations = topicAuthorizedOperations
        }
    }

    /// v3+.
    public var throttleTimeMs: Int32
    public var brokers: [Broker]
    /// v2+.
    public var clusterId: String?
    /// v1+; -1 = none.
    public var controllerId: Int32
    public var topics: [Topic]
    /// v8+.
    public var clusterAuthorizedOperations: Int32

    public init(
        throttleTimeMs: Int32 = 0, brokers: [Broker] = [], clusterId: String? = nil, controllerId: Int32 = -1,
        topics: [Topic] = [], clusterAuthorizedOperations: Int32 = MetadataResponse.authorizedOperationsOmitted
    ) {
        self.throttleTimeMs = throttleTimeMs
        self.brokers = brokers
        self.clusterId = clusterId
        self.controllerId = controllerId
        self.topics = topics
        self.clusterAuthorizedOperations = clusterAuthorizedOperations
    }

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        try Self.checkVersion(version)
        self.init()
        if version >= 3 {
            throttleTimeMs = try buffer.readKafkaInt32("throttle_time_ms")
        }
        brokers = try buffer.readKafkaArray("brokers", minElementSize: 10) { (b: inout ByteBuffer) throws(KafkaDecodingError) in
            var broker = Broker(
                nodeId: try b.readKafkaInt32("brokers.node_id"),
                host: try b.readKafkaString("brokers.host"),
                port: try b.readKafkaInt32("brokers.port")
            )
            if version >= 1 {
                broker.rack = try b.readKafkaNullableString("brokers.rack")
            }
            return broker
        }
        if version >= 2 {
            clusterId = try buffer.readKafkaNullableString("cluster_id")
        }
        if version >= 1 {
            controllerId = try buffer.readKafkaInt32("controller_id")
        }
        topics = try buffer.readKafkaArray("topics", minElementSize: 8) { (b: inout ByteBuffer) throws(KafkaDecodingError) in
            let errorCode = try b.readKafkaInt16("topics.error_code")
            var topic = Topic(errorCode: errorCode, name: try b.readKafkaString("topics.name"))
            if version >= 1 {
                topic.isInternal = try b.readKafkaBool("topics.is_internal")
            }
            topic.partitions = try b.readKafkaArray("topics.partitions", minElementSize: 18) { (p: inout ByteBuffer) throws(KafkaDecodingError) in
                let errorCode = try p.readKafkaInt16("partitions.error_code")
                let index = try p.readKafkaInt32("partitions.partition_index")
                let leader = try p.readKafkaInt32("partitions.leader_id")
                var partition = Partition(errorCode: errorCode, partitionIndex: index, leaderId: leader)
                if version >= 7 {
                    partition.leaderEpoch = try p.readKafkaInt32("partitions.leader_epoch")
                }
                partition.replicaNodes = try p.readKafkaInt32Array("partitions.replica_nodes")
                partition.isrNodes = try p.readKafkaInt32Array("partitions.isr_nodes")
                if version >= 5 {
                    partition.offlineReplicas = try p.readKafkaInt32Array("partitions.offline_replicas")
                }
                return partition
            }
            if version >= 8 {
                topic.topicAuthorizedOperations = try b.readKafkaInt32("topics.topic_authorized_operations")
            }
            return topic
        }
        if version >= 8 {
            clusterAuthorizedOperations = try buffer.readKafkaInt32("cluster_authorized_operations")
        }
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        Self.assertVersion(version)
        if version >= 3 {
            buffer.writeInteger(throttleTimeMs)
        }
        buffer.writeKafkaArray(brokers) { b, broker in
            b.writeInteger(broker.nodeId)
            b.writeKafkaString(broker.host)
            b.writeInteger(broker.port)
            if version >= 1 {
                b.writeKafkaNullableString(broker.rack)
            }
        }
        if version >= 2 {
            buffer.writeKafkaNullableString(clusterId)
        }
        if version >= 1 {
            buffer.writeInteger(controllerId)
        }
        buffer.writeKafkaArray(topics) { b, topic in
            b.writeInteger(topic.errorCode)
            b.writeKafkaString(topic.name)
            if version >= 1 {
                b.writeKafkaBool(topic.isInternal)
            }
            b.writeKafkaArray(topic.partitions) { p, partition in
                p.writeInteger(partition.errorCode)
                p.writeInteger(partition.partitionIndex)
                p.writeInteger(partition.leaderId)
                if version >= 7 {
                    p.writeInteger(partition.leaderEpoch)
                }
                p.writeKafkaInt32Array(partition.replicaNodes)
                p.writeKafkaInt32Array(partition.isrNodes)
                if version >= 5 {
                    p.writeKafkaInt32Array(partition.offlineReplicas)
                }
            }
            if version >= 8 {
                b.writeInteger(topic.topicAuthorizedOperations)
            }
        }
        if version >= 8 {
            buffer.writeInteger(clusterAuthorizedOperations)
        }
    }
}
