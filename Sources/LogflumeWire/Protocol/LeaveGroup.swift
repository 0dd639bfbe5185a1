public import NIOCore

/// LeaveGroup request (key 13), v0-3.
///
/// v0-2: one member leaves, named by member_id (v1-2 repeat the layout). v3 (KIP-345) replaces
/// member_id with a members array of (member_id, group_instance_id), so one request can remove
/// several (static) members.
public struct LeaveGroupRequest: KafkaEncodableMessage {
    public static let apiKey = ApiKey.leaveGroup
    public static let versions: ClosedRange<Int16> = 0...3

    public struct MemberIdentity: Equatable, Sendable {
        public var memberId: String
        public var groupInstanceId: String?

        public init(memberId: String, groupInstanceId: String? = nil) {
            self.memberId = memberId
            self.groupInstanceId = groupInstanceId
        }
    }

    public var groupId: String
    /// v0-2 only.
    public var memberId: String
    /// v3+.
    public var members: [MemberIdentity]

    public init(groupId: String = "", memberId: String = "", members: [MemberIdentity] = []) {
        self.groupId = groupId
        self.memberId = memberId
        self.members = members
    }

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        try Self.checkVersion(version)
        self.init()
        groupId = try buffer.readKafkaString("group_id")
        if version <= 2 {
            memberId = try buffer.readKafkaString("member_id")
        }
        if version >= 3 {
            members = try buffer.readKafkaArray("members", minElementSize: 4) { (b: inout ByteBuffer) throws(KafkaDecodingError) in
                MemberIdentity(
                    memberId: try b.readKafkaString("members.member_id"),
                    groupInstanceId: try b.readKafkaNullableString("members.group_instance_id")
                )
            }
        }
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        Self.assertVersion(version)
        buffer.writeKafkaString(groupId)
        if version <= 2 {
            buffer.writeKafkaString(memberId)
        }
        if version >= 3 {
            buffer.writeKafkaArray(members) { b, member in
                b.writeKafkaString(member.memberId)
                b.writeKafkaNullableString(member.groupInstanceId)
            }
        }
    }
}

/// LeaveGroup response (key 13), v0-3. v1 adds throttle_time_ms (first field); v2 repeats the
/// layout; v3 adds a result per leaving member after the top-level error code.
public struct LeaveGroupResponse: KafkaEncodableMessage {
    public static let apiKey = ApiKey.leaveGroup
    public static let versions: ClosedRange<Int16> = 0...3

    public struct MemberResponse: Equatable, Sendable {
        public var memberId: String
        public var groupInstanceId: String?
        public var errorCode: Int16

        public init(memberId: String, groupInstanceId: String? = nil, errorCode: Int16 = 0) {
            self.memberId = memberId
            self.groupInstanceId = groupInstanceId
            self.errorCode = errorCode
        }
    }

    /// v1+.
    public var throttleTimeMs: Int32
    public var errorCode: Int16
    /// v3+.
    public var members: [MemberResponse]

    public init(throttleTimeMs: Int32 = 0, errorCode: Int16 = 0, members: [MemberResponse] = []) {
        self.throttleTimeMs = throttleTimeMs
        self.errorCode = errorCode
        self.members = members
    }

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        try Self.checkVersion(version)
        self.init()
        if version >= 1 {
            throttleTimeMs = try buffer.readKafkaInt32("throttle_time_ms")
        }
        errorCode = try buffer.readKafkaInt16("error_code")
        if version >= 3 {
            members = try buffer.readKafkaArray("members", minElementSize: 6) { (b: inout ByteBuffer) throws(KafkaDecodingError) in
                MemberResponse(
                    memberId: try b.readKafkaString("members.member_id"),
                    groupInstanceId: try b.readKafkaNullableString("members.group_instance_id"),
                    errorCode: try b.readKafkaInt16("members.error_code")
                )
            }
        }
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        Self.assertVersion(version)
        if version >= 1 {
            buffer.writeInteger(throttleTimeMs)
        }
        buffer.writeInteger(errorCode)
        if version >= 3 {
            buffer.writeKafkaArray(members) { b, member in
                b.writeKafkaString(member.memberId)
                b.writeKafkaNullableString(member.groupInstanceId)
                b.writeInteger(member.errorCode)
            }
        }
    }
}
