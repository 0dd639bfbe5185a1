public import NIOCore

/// DeleteTopics request (key 20), v0-3: topic names and a timeout (the same in every version).
public struct DeleteTopicsRequest: KafkaEncodableMessage {
    public static let apiKey = ApiKey.deleteTopics
    public static let versions: ClosedRange<Int16> = 0...3

    public var topicNames: [String]
    public var timeoutMs: Int32

    public init(topicNames: [String] = [], timeoutMs: Int32 = 30_000) {
        self.topicNames = topicNames
        self.timeoutMs = timeoutMs
    }

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        try Self.checkVersion(version)
        topicNames = try buffer.readKafkaStringArray("topic_names")
        timeoutMs = try buffer.readKafkaInt32("timeout_ms")
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        Self.assertVersion(version)
        buffer.writeKafkaStringArray(topicNames)
        buffer.writeInteger(timeoutMs)
    }
}

/// DeleteTopics response (key 20), v0-3. v1 adds throttle_time_ms; v3 may return
/// TOPIC_DELETION_DISABLED.
public struct DeleteTopicsResponse: KafkaEncodableMessage {
    public static let apiKey = ApiKey.deleteTopics
    public static let versions: ClosedRange<Int16> = 0...3

    public struct DeletableTopicResult: Equatable, Sendable {
        public var name: String
        public var errorCode: Int16

        public init(name: String, errorCode: Int16 = 0) {
            self.name = name
            self.errorCode = errorCode
        }
    }

    /// v1+.
    public var throttleTimeMs: Int32
    public var responses: [DeletableTopicResult]

    public init(throttleTimeMs: Int32 = 0, responses: [DeletableTopicResult] = []) {
        self.throttleTimeMs = throttleTimeMs
        self.responses = responses
    }

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        try Self.checkVersion(version)
        self.init()
        if version >= 1 {
            throttleTimeMs = try buffer.readKafkaInt32("throttle_time_ms")
        }
        responses = try buffer.readKafkaArray("responses", minElementSize: 4) { (b: inout ByteBuffer) throws(KafkaDecodingError) in
            DeletableTopicResult(
                name: try b.readKafkaString("responses.name"),
                errorCode: try b.readKafkaInt16("responses.error_code")
            )
        }
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        Self.assertVersion(version)
        if version >= 1 {
            buffer.writeInteger(throttleTimeMs)
        }
        buffer.writeKafkaArray(responses) { b, result in
            b.writeKafkaString(result.name)
            b.writeInteger(result.errorCode)
        }
    }
}
