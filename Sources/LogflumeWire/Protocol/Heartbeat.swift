public import NIOCore

/// Heartbeat request (key 12), v0-3. v1-2 repeat the layout; v3 adds group_instance_id.
public struct HeartbeatRequest: KafkaEncodableMessage {
    public static let apiKey = ApiKey.heartbeat
    public static let versions: ClosedRange<Int16> = 0...3

    public var groupId: String
    public var generationId: Int32
    public var memberId: String
    /// v3+.
    public var groupInstanceId: String?

    public init(groupId: String = "", generationId: Int32 = 0, memberId: String = "", groupInstanceId: String? = nil) {
        self.groupId = groupId
        self.generationId = generationId
        self.memberId = memberId
        self.groupInstanceId = groupInstanceId
    }

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        try Self.checkVersion(version)
        self.init()
        groupId = try buffer.readKafkaString("group_id")
        generationId = try buffer.readKafkaInt32("generation_id")
        memberId = try buffer.readKafkaString("member_id")
        if version >= 3 {
            groupInstanceId = try buffer.readKafkaNullableString("group_instance_id")
        }
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        Self.assertVersion(version)
        buffer.writeKafkaString(groupId)
        buffer.writeInteger(generationId)
        buffer.writeKafkaString(memberId)
        if version >= 3 {
            buffer.writeKafkaNullableString(groupInstanceId)
        }
    }
}

/// Heartbeat response (key 12), v0-3. v1 adds throttle_time_ms (first field); v2-3 repeat the
/// layout.
public struct HeartbeatResponse: KafkaEncodableMessage {
    public static let apiKey = ApiKey.heartbeat
    public static let versions: ClosedRange<Int16> = 0...3

    /// v1+.
    public var throttleTimeMs: Int32
    public var errorCode: Int16

    public init(throttleTimeMs: Int32 = 0, errorCode: Int16 = 0) {
        self.throttleTimeMs = throttleTimeMs
        self.errorCode = errorCode
    }

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        try Self.checkVersion(version)
        self.init()
        if version >= 1 {
            throttleTimeMs = try buffer.readKafkaInt32("throttle_time_ms")
        }
        errorCode = try buffer.readKafkaInt16("error_code")
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        Self.assertVersion(version)
        if version >= 1 {
            buffer.writeInteger(throttleTimeMs)
        }
        buffer.writeInteger(errorCode)
    }
}
