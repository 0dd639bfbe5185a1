public import NIOCore

/// JoinGroup request (key 11), v0-5.
///
/// v1 adds rebalance_timeout_ms (a v0 member's rebalance timeout is its session timeout); v2-3
/// repeat the layout; v4 repeats it too, but a member that joins with an empty member_id is
/// answered MEMBER_ID_REQUIRED with its new id and must join again with it (KIP-394); v5 adds
/// group_instance_id for static membership (KIP-345).
public struct JoinGroupRequest: KafkaEncodableMessage {
    public static let apiKey = ApiKey.joinGroup
    public static let versions: ClosedRange<Int16> = 0...5

    /// The member id of a member's first join.
    public static let unknownMemberId = ""

    public struct JoinGroupRequestProtocol: Equatable, Sendable {
        /// The assignor's name ("range", "roundrobin", "cooperative-sticky", ...).
        public var name: String
        /// For protocol_type "consumer", a `ConsumerProtocolSubscription`.
        public var metadata: ByteBuffer

        public init(name: String, metadata: ByteBuffer = ByteBuffer()) {
            self.name = name
            self.metadata = metadata
        }
    }

    public var groupId: String
    public var sessionTimeoutMs: Int32
    /// v1+; -1 before v1.
    public var rebalanceTimeoutMs: Int32
    public var memberId: String
    /// v5+; nil = a dynamic member.
    public var groupInstanceId: String?
    public var protocolType: String
    public var protocols: [JoinGroupRequestProtocol]

    public init(
        groupId: String = "", sessionTimeoutMs: Int32 = 0, rebalanceTimeoutMs: Int32 = -1,
        memberId: String = JoinGroupRequest.unknownMemberId, groupInstanceId: String? = nil,
        protocolType: String = "", protocols: [JoinGroupRequestProtocol] = []
    ) {
        self.groupId = groupId
        self.sessionTimeoutMs = sessionTimeoutMs
        self.rebalanceTimeoutMs = rebalanceTimeoutMs
        self.memberId = memberId
        self.groupInstanceId = groupInstanceId
        self.protocolType = protocolType
        self.protocols = protocols
    }

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        try Self.checkVersion(version)
        self.init()
        groupId = try buffer.readKafkaString("group_id")
        sessionTimeoutMs = try buffer.readKafkaInt32("session_timeout_ms")
        if version >= 1 {
            rebalanceTimeoutMs = try buffer.readKafkaInt32("rebalance_timeout_ms")
        }
        memberId = try buffer.readKafkaString("member_id")
        if version >= 5 {
            groupInstanceId = try buffer.readKafkaNullableString("group_instance_id")
        }
        protocolType = try buffer.readKafkaString("protocol_type")
        protocols = try buffer.readKafkaArray("protocols", minElementSize: 6) { (b: inout ByteBuffer) throws(KafkaDecodingError) in
            JoinGroupRequestProtocol(
                name: try b.readKafkaString("protocols.name"),
                metadata: try b.readKafkaBytes("protocols.metadata")
            )
        }
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        Self.assertVersion(version)
        buffer.writeKafkaString(groupId)
        buffer.writeInteger(sessionTimeoutMs)
        if version >= 1 {
            buffer.writeInteger(rebalanceTimeoutMs)
        }
        buffer.writeKafkaString(memberId)
        if version >= 5 {
            buffer.writeKafkaNullableString(groupInstanceId)
        }
        buffer.writeKafkaString(protocolType)
        buffer.writeKafkaArray(protocols) { b, p in
            b.writeKafkaString(p.name)
            b.writeKafkaBytes(p.metadata)
        }
    }
}

/// JoinGroup response (key 11), v0-5. v2 adds throttle_time_ms (first field); v3-4 repeat the
/// layout (v4 may answer MEMBER_ID_REQUIRED); v5 adds the members' group_instance_id.
///
/// Only the leader gets `members`; every other member gets an empty array.
public struct JoinGroupResponse: KafkaEncodableMessage {
    public static let apiKey = ApiKey.joinGroup
    public static let versions: ClosedRange<Int16> = 0...5

    public struct JoinGroupResponseMember: Equatable, Sendable {
        public var memberId: String
        /// v5+.
        public var groupInstanceId: String?
        /// The member's metadata for the chosen protocol.
        public var metadata: ByteBuffer

        public init(memberId: String, groupInstanceId: String? = nil, metadata: ByteBuffer = ByteBuffer()) {
            self.memberId = memberId
            self.groupInstanceId = groupInstanceId
            self.metadata = metadata
        }
    }

    /// v2+.
    public var throttleTimeMs: Int32
    public var errorCode: Int16
    public var generationId: Int32
    /// The chosen protocol (not nullable before v7).
    public var protocolName: String
    public var leader: String
    public var memberId: String
    public var members: [JoinGroupResponseMember]

    public init(
        throttleTimeMs: Int32 = 0, errorCode: Int16 = 0, generationId: Int32 = -1, protocolName: String = "",
        leader: String = "", memberId: String = "", members: [JoinGroupResponseMember] = []
    ) {
        self.throttleTimeMs = throttleTimeMs
        self.errorCode = errorCode
        self.generationId = generationId
        self.protocolName = protocolName
        self.leader = leader
        self.memberId = memberId
        self.members = members
    }

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        try Self.checkVersion(version)
        self.init()
        if version >= 2 {
            throttleTimeMs = try buffer.readKafkaInt32("throttle_time_ms")
        }
        errorCode = try buffer.readKafkaInt16("error_code")
        generationId = try buffer.readKafkaInt32("generation_id")
        protocolName = try buffer.readKafkaString("protocol_name")
        leader = try buffer.readKafkaString("leader")
        memberId = try buffer.readKafkaString("member_id")
        members = try buffer.readKafkaArray("members", minElementSize: 6) { (b: inout ByteBuffer) throws(KafkaDecodingError) in
            var member = JoinGroupResponseMember(memberId: try b.readKafkaString("members.member_id"))
            if version >= 5 {
                member.groupInstanceId = try b.readKafkaNullableString("members.group_instance_id")
            }
            member.metadata = try b.readKafkaBytes("members.metadata")
            return member
        }
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        Self.assertVersion(version)
        if version >= 2 {
            buffer.writeInteger(throttleTimeMs)
        }
        buffer.writeInteger(errorCode)
        buffer.writeInteger(generationId)
        buffer.writeKafkaString(protocolName)
        buffer.writeKafkaString(leader)
        buffer.writeKafkaString(memberId)
        buffer.writeKafkaArray(members) { b, member in
            b.writeKafkaString(member.memberId)
            if version >= 5 {
                b.writeKafkaNullableString(member.groupInstanceId)
            }
            b.writeKafkaBytes(member.metadata)
        }
    }
}
