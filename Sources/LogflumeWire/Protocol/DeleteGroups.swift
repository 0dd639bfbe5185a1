public import NIOCore

/// DeleteGroups request (key 42), v0-1: the group names (the same in both versions).
public struct DeleteGroupsRequest: KafkaEncodableMessage {
    public static let apiKey = ApiKey.deleteGroups
    public static let versions: ClosedRange<Int16> = 0...1

    /// The groups to delete (the schema spells it groups_names).
    public var groupsNames: [String]

    public init(groupsNames: [String] = []) {
        self.groupsNames = groupsNames
    }

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        try Self.checkVersion(version)
        groupsNames = try buffer.readKafkaStringArray("groups_names")
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        Self.assertVersion(version)
        buffer.writeKafkaStringArray(groupsNames)
    }
}

/// DeleteGroups response (key 42), v0-1: throttle_time_ms (present from v0) and one result per
/// group. v1 repeats the layout (the broker answers before throttling).
public struct DeleteGroupsResponse: KafkaEncodableMessage {
    public static let apiKey = ApiKey.deleteGroups
    public static let versions: ClosedRange<Int16> = 0...1

    public struct DeletableGroupResult: Equatable, Sendable {
        public var groupId: String
        public var errorCode: Int16

        public init(groupId: String, errorCode: Int16 = 0) {
            self.groupId = groupId
            self.errorCode = errorCode
        }
    }

    public var throttleTimeMs: Int32
    public var results: [DeletableGroupResult]

    public init(throttleTimeMs: Int32 = 0, results: [DeletableGroupResult] = []) {
        self.throttleTimeMs = throttleTimeMs
        self.results = results
    }

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        try Self.checkVersion(version)
        self.init()
        throttleTimeMs = try buffer.readKafkaInt32("throttle_time_ms")
        results = try buffer.readKafkaArray("results", minElementSize: 4) { (b: inout ByteBuffer) throws(KafkaDecodingError) in
            DeletableGroupResult(
                groupId: try b.readKafkaString("results.group_id"),
                errorCode: try b.readKafkaInt16("results.error_code")
            )
        }
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        Self.assertVersion(version)
        buffer.writeInteger(throttleTimeMs)
        buffer.writeKafkaArray(results) { b, result in
            b.writeKafkaString(result.groupId)
            b.writeInteger(result.errorCode)
        }
    }
}
