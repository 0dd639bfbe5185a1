public import NIOCore

/// ListGroups request (key 16), v0-2: an empty body in every one of these versions (the states
/// and types filters arrive in v4 and v5).
public struct ListGroupsRequest: KafkaEncodableMessage {
    public static let apiKey = ApiKey.listGroups
    public static let versions: ClosedRange<Int16> = 0...2

    public init() {}

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        try Self.checkVersion(version)
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        Self.assertVersion(version)
    }
}

/// ListGroups response (key 16), v0-2. v1 adds throttle_time_ms (first field); v2 repeats the
/// layout.
public struct ListGroupsResponse: KafkaEncodableMessage {
    public static let apiKey = ApiKey.listGroups
    public static let versions: ClosedRange<Int16> = 0...2

    public struct ListedGroup: Equatable, Sendable {
        public var groupId: String
        public var protocolType: String

        public init(groupId: String, protocolType: String = "") {
            self.groupId = groupId
            self.protocolType = protocolType
        }
    }

    /// v1+.
    public var throttleTimeMs: Int32
    public var errorCode: Int16
    public var groups: [ListedGroup]

    public init(throttleTimeMs: Int32 = 0, errorCode: Int16 = 0, groups: [ListedGroup] = []) {
        self.throttleTimeMs = throttleTimeMs
        self.errorCode = errorCode
        self.groups = groups
    }

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        try Self.checkVersion(version)
        self.init()
        if version >= 1 {
            throttleTimeMs = try buffer.readKafkaInt32("throttle_time_ms")
        }
        errorCode = try buffer.readKafkaInt16("error_code")
        groups = try buffer.readKafkaArray("groups", minElementSize: 4) { (b: inout ByteBuffer) throws(KafkaDecodingError) in
            ListedGroup(
                groupId: try b.readKafkaString("groups.group_id"),
                protocolType: try b.readKafkaString("groups.protocol_type")
            )
        }
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        Self.assertVersion(version)
        if version >= 1 {
            buffer.writeInteger(throttleTimeMs)
        }
        buffer.writeInteger(errorCode)
        buffer.writeKafkaArray(groups) { b, group in
            b.writeKafkaString(group.groupId)
            b.writeKafkaString(group.protocolType)
        }
    }
}
