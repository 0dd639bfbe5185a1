public import NIOCore

/// InitProducerId request (key 22), v0-1 (v1 is v0 with throttling before the response). An
/// idempotent producer sends a null transactional id.
public struct InitProducerIdRequest: KafkaEncodableMessage {
    public static let apiKey = ApiKey.initProducerId
    public static let versions: ClosedRange<Int16> = 0...1

    public var transactionalId: String?
    public var transactionTimeoutMs: Int32

    public init(transactionalId: String? = nil, transactionTimeoutMs: Int32 = 60_000) {
        self.transactionalId = transactionalId
        self.transactionTimeoutMs = transactionTimeoutMs
    }

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        try Self.checkVersion(version)
        transactionalId = try buffer.readKafkaNullableString("transactional_id")
        transactionTimeoutMs = try buffer.readKafkaInt32("transaction_timeout_ms")
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        Self.assertVersion(version)
        buffer.writeKafkaNullableString(transactionalId)
        buffer.writeInteger(transactionTimeoutMs)
    }
}

/// InitProducerId response (key 22), v0-1: throttle time, error, producer id and epoch.
public struct InitProducerIdResponse: KafkaEncodableMessage {
    public static let apiKey = ApiKey.initProducerId
    public static let versions: ClosedRange<Int16> = 0...1

    public var throttleTimeMs: Int32
    public var errorCode: Int16
    public var producerId: Int64
    public var producerEpoch: Int16

    public init(throttleTimeMs: Int32 = 0, errorCode: Int16 = 0, producerId: Int64 = -1, producerEpoch: Int16 = 0) {
        self.throttleTimeMs = throttleTimeMs
        self.errorCode = errorCode
        self.producerId = producerId
        self.producerEpoch = producerEpoch
    }

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        try Self.checkVersion(version)
        throttleTimeMs = try buffer.readKafkaInt32("throttle_time_ms")
        errorCode = try buffer.readKafkaInt16("error_code")
        producerId = try buffer.readKafkaInt64("producer_id")
        producerEpoch = try buffer.readKafkaInt16("producer_epoch")
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        Self.assertVersion(version)
        buffer.writeInteger(throttleTimeMs)
        buffer.writeInteger(errorCode)
        buffer.writeInteger(producerId)
        buffer.writeInteger(producerEpoch)
    }
}
