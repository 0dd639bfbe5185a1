public import NIOCore

/// FindCoordinator request (key 10), v0-2. v1 adds key_type (0 group, 1 transaction); v2 repeats
/// the layout.
public struct FindCoordinatorRequest: KafkaEncodableMessage {
    public static let apiKey = ApiKey.findCoordinator
    public static let versions: ClosedRange<Int16> = 0...2

    public static let groupKeyType: Int8 = 0
    public static let transactionKeyType: Int8 = 1

    public var key: String
    /// v1+.
    public var keyType: Int8

    public init(key: String = "", keyType: Int8 = 0) {
        self.key = key
        self.keyType = keyType
    }

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        try Self.checkVersion(version)
        self.init()
        key = try buffer.readKafkaString("key")
        if version >= 1 {
            keyType = try buffer.readKafkaInt8("key_type")
        }
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        Self.assertVersion(version)
        buffer.writeKafkaString(key)
        if version >= 1 {
            buffer.writeInteger(keyType)
        }
    }
}

/// FindCoordinator response (key 10), v0-2. v1 adds throttle_time_ms (first) and error_message.
public struct FindCoordinatorResponse: KafkaEncodableMessage {
    public static let apiKey = ApiKey.findCoordinator
    public static let versions: ClosedRange<Int16> = 0...2

    /// v1+.
    public var throttleTimeMs: Int32
    public var errorCode: Int16
    /// v1+.
    public var errorMessage: String?
    public var nodeId: Int32
    public var host: String
    public var port: Int32

    public init(throttleTimeMs: Int32 = 0, errorCode: Int16 = 0, errorMessage: String? = nil, nodeId: Int32 = -1, host: String = "", port: Int32 = -1) {
        self.throttleTimeMs = throttleTimeMs
        self.errorCode = errorCode
        self.errorMessage = errorMessage
        self.nodeId = nodeId
        self.host = host
        self.port = port
    }

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        try Self.checkVersion(version)
        self.init()
        if version >= 1 {
            throttleTimeMs = try buffer.readKafkaInt32("throttle_time_ms")
        }
        errorCode = try buffer.readKafkaInt16("error_code")
        if version >= 1 {
            errorMessage = try buffer.readKafkaNullableString("error_message")
        }
        nodeId = try buffer.readKafkaInt32("node_id")
        host = try buffer.readKafkaString("host")
        port = try buffer.readKafkaInt32("port")
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        Self.assertVersion(version)
        if version >= 1 {
            buffer.writeInteger(throttleTimeMs)
        }
        buffer.writeInteger(errorCode)
        if version >= 1 {
            buffer.writeKafkaNullableString(errorMessage)
        }
        buffer.writeInteger(nodeId)
        buffer.writeKafkaString(host)
        buffer.writeInteger(port)
    }
}
