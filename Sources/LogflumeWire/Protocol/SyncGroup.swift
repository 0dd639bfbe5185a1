public import NIOCore

/// SyncGroup request (key 14), v0-3. v1-2 repeat the layout; v3 adds group_instance_id.
///
/// The leader sends every member's assignment; the other members send an empty array.
public struct SyncGroupRequest: KafkaEncodableMessage {
    public static let apiKey = ApiKey.syncGroup
    public static let versions: ClosedRange<Int16> = 0...3

    public struct SyncGroupRequestAssignment: Equatable, Sendable {
        public var memberId: String
        /// For protocol_type "consumer", a `ConsumerProtocolAssignment`.
        public var assignment: ByteBuffer

        public init(memberId: String, assignment: ByteBuffer = ByteBuffer()) {
            self.memberId = memberId
            self.assignment = assignment
        }
    }

    public var groupId: String
    public var generationId: Int32
    public var memberId: String
    /// v3+.
    public var groupInstanceId: String?
    public var assignments: [SyncGroupRequestAssignment]

    public init(
        groupId: String = "", generationId: Int32 = 0, memberId: String = "", groupInstanceId: String? = nil,
        assignments: [SyncGroupRequestAssignment] = []
    ) {
        self.groupId = groupId
        self.generationId = generationId
        self.memberId = memberId
        self.groupInstanceId = groupInstanceId
        self.assignments = assignments
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
        assignments = try buffer.readKafkaArray("assignments", minElementSize: 6) { (b: inout ByteBuffer) throws(KafkaDecodingError) in
            SyncGroupRequestAssignment(
                memberId: try b.readKafkaString("assignments.member_id"),
                assignment: try b.readKafkaBytes("assignments.assignment")
            )
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
        buffer.writeKafkaArray(assignments) { b, a in
            b.writeKafkaString(a.memberId)
            b.writeKafkaBytes(a.assignment)
        }
    }
}

/// SyncGroup response (key 14), v0-3. v1 adds throttle_time_ms (first field); v2-3 repeat the
/// layout.
public struct SyncGroupResponse: KafkaEncodableMessage {
    public static let apiKey = ApiKey.syncGroup
    public static let versions: ClosedRange<Int16> = 0...3

    /// v1+.
    public var throttleTimeMs: Int32
    public var errorCode: Int16
    /// This member's assignment (empty on error).
    public var assignment: ByteBuffer

    public init(throttleTimeMs: Int32 = 0, errorCode: Int16 = 0, assignment: ByteBuffer = ByteBuffer()) {
        self.throttleTimeMs = throttleTimeMs
        self.errorCode = errorCode
        self.assignment = assignment
    }

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        try Self.checkVersion(version)
        self.init()
        if version >= 1 {
            throttleTimeMs = try buffer.readKafkaInt32("throttle_time_ms")
        }
        errorCode = try buffer.readKafkaInt16("error_code")
        assignment = try buffer.readKafkaBytes("assignment")
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        Self.assertVersion(version)
        if version >= 1 {
            buffer.writeInteger(throttleTimeMs)
        }
        buffer.writeInteger(errorCode)
        buffer.writeKafkaBytes(assignment)
    }
}
