public import NIOCore

/// The embedded protocol of protocol_type "consumer": what a consumer puts in the metadata bytes
/// of each JoinGroup protocol (`ConsumerProtocolSubscription`) and what the leader puts in each
/// member's SyncGroup assignment bytes (`ConsumerProtocolAssignment`).
///
/// Both start with an int16 version. Like Kafka, a reader takes a version newer than it knows
/// to be its own newest layout followed by fields it does not know: it reads the fields it
/// knows and ignores whatever bytes follow them (new versions may only append fields). A
/// negative version is refused.
public enum ConsumerProtocol {
    /// The protocol_type of consumer groups.
    public static let protocolType = "consumer"

    /// One topic and some of its partitions (the schemas' TopicPartition).
    public struct TopicPartition: Equatable, Sendable {
        public var topic: String
        public var partitions: [Int32]

        public init(topic: String, partitions: [Int32] = []) {
            self.topic = topic
            self.partitions = partitions
        }
    }

    /// Reads the version prefix: `known` clamps it to the newest layout this codec knows.
    static func readVersion(_ buffer: inout ByteBuffer, known: ClosedRange<Int16>) throws(KafkaDecodingError) -> Int16 {
        let start = buffer.readerIndex
        let version = try buffer.readKafkaInt16("version")
        guard version >= known.lowerBound else {
            buffer.moveReaderIndex(to: start)
            throw .invalidValue(field: "version", position: start, reason: "unsupported consumer protocol version \(version)")
        }
        return min(version, known.upperBound)
    }

    static func readTopicPartitions(_ buffer: inout ByteBuffer, _ field: StaticString) throws(KafkaDecodingError) -> [TopicPartition] {
        try buffer.readKafkaArray(field, minElementSize: 6) { (b: inout ByteBuffer) throws(KafkaDecodingError) in
            TopicPartition(topic: try b.readKafkaString("topic"), partitions: try b.readKafkaInt32Array("partitions"))
        }
    }

    static func writeTopicPartitions(_ buffer: inout ByteBuffer, _ elements: [TopicPartition]) {
        buffer.writeKafkaArray(elements) { b, e in
            b.writeKafkaString(e.topic)
            b.writeKafkaInt32Array(e.partitions)
        }
    }
}

/// ConsumerProtocolSubscription v0-3: version, topics, user_data (nullable); v1 adds
/// owned_partitions (the cooperative protocol), v2 generation_id (KIP-792: which claim to trust
/// when two members say they own one partition), v3 rack_id (nullable).
public struct ConsumerProtocolSubscription: Equatable, Sendable {
    public static let versions: ClosedRange<Int16> = 0...3

    public var topics: [String]
    public var userData: ByteBuffer?
    /// v1+.
    public var ownedPartitions: [ConsumerProtocol.TopicPartition]
    /// v2+: the generation in which the member owned `ownedPartitions`; -1 when unknown.
    public var generationId: Int32
    /// v3+.
    public var rackId: String?

    public init(
        topics: [String] = [], userData: ByteBuffer? = nil, ownedPartitions: [ConsumerProtocol.TopicPartition] = [],
        generationId: Int32 = -1, rackId: String? = nil
    ) {
        self.topics = topics
        self.userData = userData
        self.ownedPartitions = ownedPartitions
        self.generationId = generationId
        self.rackId = rackId
    }

    /// Decodes the whole metadata bytes of a JoinGroup protocol, ignoring bytes after the last
    /// field the version has that this codec knows.
    public init(from bytes: ByteBuffer) throws(KafkaDecodingError) {
        var buffer = bytes
        let version = try ConsumerProtocol.readVersion(&buffer, known: Self.versions)
        self.init()
        topics = try buffer.readKafkaStringArray("topics")
        userData = try buffer.readKafkaNullableBytes("user_data")
        if version >= 1 {
            ownedPartitions = try ConsumerProtocol.readTopicPartitions(&buffer, "owned_partitions")
        }
        if version >= 2 {
            generationId = try buffer.readKafkaInt32("generation_id")
        }
        if version >= 3 {
            rackId = try buffer.readKafkaNullableString("rack_id")
        }
    }

    /// Appends the version and the fields of `version`.
    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        assert(Self.versions.contains(version), "ConsumerProtocolSubscription v\(version) is outside \(Self.versions)")
        buffer.writeInteger(version)
        buffer.writeKafkaStringArray(topics)
        buffer.writeKafkaNullableBytes(userData)
        if version >= 1 {
            ConsumerProtocol.writeTopicPartitions(&buffer, ownedPartitions)
        }
        if version >= 2 {
            buffer.writeInteger(generationId)
        }
        if version >= 3 {
            buffer.writeKafkaNullableString(rackId)
        }
    }

    public func encoded(version: Int16) -> ByteBuffer {
        var buffer = ByteBuffer()
        encode(into: &buffer, version: version)
        return buffer
    }
}

/// ConsumerProtocolAssignment v0-1: version, assigned_partitions, user_data (nullable). v1 (the
/// cooperative protocol) repeats the layout; so do v2-3.
public struct ConsumerProtocolAssignment: Equatable, Sendable {
    public static let versions: ClosedRange<Int16> = 0...1

    public var assignedPartitions: [ConsumerProtocol.TopicPartition]
    public var userData: ByteBuffer?

    public init(assignedPartitions: [ConsumerProtocol.TopicPartition] = [], userData: ByteBuffer? = nil) {
        self.assignedPartitions = assignedPartitions
        self.userData = userData
    }

    /// Decodes the whole assignment bytes of a SyncGroup request or response, ignoring bytes after
    /// the fields this codec knows.
    public init(from bytes: ByteBuffer) throws(KafkaDecodingError) {
        var buffer = bytes
        _ = try ConsumerProtocol.readVersion(&buffer, known: Self.versions)
        self.init()
        assignedPartitions = try ConsumerProtocol.readTopicPartitions(&buffer, "assigned_partitions")
        userData = try buffer.readKafkaNullableBytes("user_data")
    }

    /// Appends the version and the fields of `version`.
    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        assert(Self.versions.contains(version), "ConsumerProtocolAssignment v\(version) is outside \(Self.versions)")
        buffer.writeInteger(version)
        ConsumerProtocol.writeTopicPartitions(&buffer, assignedPartitions)
        buffer.writeKafkaNullableBytes(userData)
    }

    public func encoded(version: Int16) -> ByteBuffer {
        var buffer = ByteBuffer()
        encode(into: &buffer, version: version)
        return buffer
    }
}
