public import NIOCore

/// DescribeGroups request (key 15), v0-4. v1-2 repeat the layout; v3 adds
/// include_authorized_operations; v4 repeats the layout (its response adds group_instance_id).
public struct DescribeGroupsRequest: KafkaEncodableMessage {
    public static let apiKey = ApiKey.describeGroups
    public static let versions: ClosedRange<Int16> = 0...4

    public var groups: [String]
    /// v3+.
    public var includeAuthorizedOperations: Bool

    public init(groups: [String] = [], includeAuthorizedOperations: Bool = false) {
        self.groups = groups
        self.includeAuthorizedOperations = includeAuthorizedOperations
    }

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        try Self.checkVersion(version)
        self.init()
        groups = try buffer.readKafkaStringArray("groups")
        if version >= 3 {
            includeAuthorizedOperations = try buffer.readKafkaBool("include_authorized_operations")
        }
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        Self.assertVersion(version)
        buffer.writeKafkaStringArray(groups)
        if version >= 3 {
            buffer.writeKafkaBool(includeAuthorizedOperations)
        }
    }
}

/// DescribeGroups response (key 15), v0-4. v1 adds throttle_time_ms (first field); v2 repeats
/// the layout; v3 adds authorized_operations per group; v4 adds group_instance_id per member.
///
/// An unknown group is described, without error, in state "Dead" with no members. Member
/// metadata and assignment are filled in only while the group is Stable.
public struct DescribeGroupsResponse: KafkaEncodableMessage {
    public static let apiKey = ApiKey.describeGroups
    public static let versions: ClosedRange<Int16> = 0...4

    /// The "not requested" value of authorized_operations.
    public static let authorizedOperationsOmitted = Int32.min

    public struct DescribedGroupMember: Equatable, Sendable {
        public var memberId: String
        /// v4+.
        public var groupInstanceId: String?
        public var clientId: String
        public var clientHost: String
        public var memberMetadata: ByteBuffer
        public var memberAssignment: ByteBuffer

        public init(
            memberId: String, groupInstanceId: String? = nil, clientId: String = "", clientHost: String = "",
            memberMetadata: ByteBuffer = ByteBuffer(), memberAssignment: ByteBuffer = ByteBuffer()
        ) {
            self.memberId = memberId
            self.groupInstanceId = groupInstanceId
            self.clientId = clientId
            self.clientHost = clientHost
            self.memberMetadata = memberMetadata
            self.memberAssignment = memberAssignment
        }
    }

    public struct DescribedGroup: Equatable, Sendable {
        public var errorCode: Int16
        public var groupId: String
        /// "Empty", "PreparingRebalance", "CompletingRebalance", "Stable", "Dead", or "".
        public var groupState: String
        public var protocolType: String
        /// The chosen protocol while Stable, else "".
        public var protocolData: String
        public var members: [DescribedGroupMember]
        /// v3+.
        public var authorizedOperations: Int32

        public init(
            errorCode: Int16 = 0, groupId: String, groupState: String = "", protocolType: String = "", protocolData: String = "",
            members: [DescribedGroupMember] = [], authorizedOperations: Int32 = DescribeGroupsResponse.authorizedOperationsOmitted
        ) {
            self.errorCode = errorCode
            self.groupId = groupId
            self.groupState = groupState
            self.protocolType = protocolType
            self.protocolData = protocolData
            self.members = members
            self.authorizedOperations = authorizedOperations
        }
    }

    /// v1+.
    public var throttleTimeMs: Int32
    public var groups: [DescribedGroup]

    public init(throttleTimeMs: Int32 = 0, groups: [DescribedGroup] = []) {
        self.throttleTimeMs = throttleTimeMs
        self.groups = groups
    }

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        try Self.checkVersion(version)
        self.init()
        if version >= 1 {
            throttleTimeMs = try buffer.readKafkaInt32("throttle_time_ms")
        }
        groups = try buffer.readKafkaArray("groups", minElementSize: 14) { (b: inout ByteBuffer) throws(KafkaDecodingError) in
            let errorCode = try b.readKafkaInt16("groups.error_code")
            var group = DescribedGroup(
                errorCode: errorCode,
                groupId: try b.readKafkaString("groups.group_id"),
                groupState: try b.readKafkaString("groups.group_state"),
                protocolType: try b.readKafkaString("groups.protocol_type"),
                protocolData: try b.readKafkaString("groups.protocol_data")
            )
            group.members = try b.readKafkaArray("groups.members", minElementSize: 14) { (m: inout ByteBuffer) throws(KafkaDecodingError) in
                var member = DescribedGroupMember(memberId: try m.readKafkaString("members.member_id"))
                if version >= 4 {
                    member.groupInstanceId = try m.readKafkaNullableString("members.group_instance_id")
                }
                member.clientId = try m.readKafkaString("members.client_id")
                member.clientHost = try m.readKafkaString("members.client_host")
                member.memberMetadata = try m.readKafkaBytes("members.member_metadata")
                member.memberAssignment = try m.readKafkaBytes("members.member_assignment")
                return member
            }
            if version >= 3 {
                group.authorizedOperations = try b.readKafkaInt32("groups.authorized_operations")
            }
            return group
        }
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        Self.assertVersion(version)
        if version >= 1 {
            buffer.writeInteger(throttleTimeMs)
        }
        buffer.writeKafkaArray(groups) { b, group in
            b.writeInteger(group.errorCode)
            b.writeKafkaString(group.groupId)
            b.writeKafkaString(group.groupState)
            b.writeKafkaString(group.protocolType)
            b.writeKafkaString(group.protocolData)
            b.writeKafkaArray(group.members) { m, member in
                m.writeKafkaString(member.memberId)
                if version >= 4 {
                    m.writeKafkaNullableString(member.groupInstanceId)
                }
                m.writeKafkaString(member.clientId)
                m.writeKafkaString(member.clientHost)
                m.writeKafkaBytes(member.memberMetadata)
                m.writeKafkaBytes(member.memberAssignment)
            }
            if version >= 3 {
                b.writeInteger(group.authorizedOperations)
            }
        }
    }
}
