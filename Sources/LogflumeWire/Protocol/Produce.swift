public import NIOCore

/// Produce request (key 0), v0-8. v3 added transactional_id (and record batch v2); v4-8 have the
/// same layout (v7 allows zstd, v8 lets the response carry record errors). v0-2 are advertised
/// because librdkafka before 2.11.1 enables gzip, snappy and lz4 only when Produce v0 is in the
/// broker's range; their layout is v3's without transactional_id.
///
/// `records` is the partition's record-batch bytes as sent, a zero-copy slice of the request
/// frame; `RecordBatch.split` validates it later.
public struct ProduceRequest: KafkaEncodableMessage {
    public static let apiKey = ApiKey.produce
    public static let versions: ClosedRange<Int16> = 0...8

    public struct PartitionData: Equatable, Sendable {
        public var index: Int32
        public var records: ByteBuffer?

        public init(index: Int32, records: ByteBuffer?) {
            self.index = index
            self.records = records
        }
    }

    public struct TopicData: Equatable, Sendable {
        public var name: String
        public var partitionData: [PartitionData]

        public init(name: String, partitionData: [PartitionData]) {
            self.name = name
            self.partitionData = partitionData
        }
    }

    /// v3+; null when the producer is not transactional.
    public var transactionalId: String?
    /// 0 (no response), 1 (leader) or -1 (all in-sync replicas).
    public var acks: Int16
    public var timeoutMs: Int32
    public var topicData: [TopicData]

    public init(transactionalId: String? = nil, acks: Int16 = -1, timeoutMs: Int32 = 30_000, topicData: [TopicData] = []) {
        self.transactionalId = transactionalId
        self.acks = acks
        self.timeoutMs = timeoutMs
        self.topicData = topicData
    }

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        try Self.checkVersion(version)
        self.init()
        if version >= 3 {
            transactionalId = try buffer.readKafkaNullableString("transactional_id")
        }
        acks = try buffer.readKafkaInt16("acks")
        timeoutMs = try buffer.readKafkaInt32("timeout_ms")
        topicData = try buffer.readKafkaArray("topic_data", minElementSize: 6) { (b: inout ByteBuffer) throws(KafkaDecodingError) in
            let name = try b.readKafkaString("topic_data.name")
            let partitions = try b.readKafkaArray("topic_data.partition_data", minElementSize: 8) { (p: inout ByteBuffer) throws(KafkaDecodingError) in
                PartitionData(
                    index: try p.readKafkaInt32("partition_data.index"),
                    records: try p.readKafkaNullableBytes("partition_data.records")
                )
            }
            return TopicData(name: name, partitionData: partitions)
        }
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        Self.assertVersion(version)
        if version >= 3 {
            buffer.writeKafkaNullableString(transactionalId)
        }
        buffer.writeInteger(acks)
        buffer.writeInteger(timeoutMs)
        buffer.writeKafkaArray(topicData) { b, topic in
            b.writeKafkaString(topic.name)
            b.writeKafkaArray(topic.partitionData) { p, partition in
                p.writeInteger(partition.index)
                p.writeKafkaNullableBytes(partition.records)
            }
        }
    }
}

/// Produce response (key 0), v0-8. Note that throttle_time_ms comes last here, after the topics
/// (v1+). v2 adds log_append_time_ms, v5 log_start_offset, v8 record_errors and error_message.
public struct ProduceResponse: KafkaEncodableMessage {
    public static let apiKey = ApiKey.produce
    public static let versions: ClosedRange<Int16> = 0...8

    public struct BatchIndexAndErrorMessage: Equatable, Sendable {
        public var batchIndex: Int32
        public var batchIndexErrorMessage: String?

        public init(batchIndex: Int32, batchIndexErrorMessage: String? = nil) {
            self.batchIndex = batchIndex
            self.batchIndexErrorMessage = batchIndexErrorMessage
        }
    }

    public struct PartitionResponse: Equatable, Sendable {
        public var index: Int32
        public var errorCode: Int16
        public var baseOffset: Int64
        /// -1 unless the topic uses LogAppendTime.
        public var logAppendTimeMs: Int64
        /// v5+.
        public var logStartOffset: Int64
        /// v8+.
        public var recordErrors: [BatchIndexAndErrorMessage]
        /// v8+.
        public var errorMessage: String?

        public init(
            index: Int32, errorCode: Int16 = 0, baseOffset: Int64 = -1, logAppendTimeMs: Int64 = -1,
            logStartOffset: Int64 = -1, recordErrors: [BatchIndexAndErrorMessage] = [], errorMessage: String? = nil
        ) {
            self.index = index
            self.errorCode = errorCode
            self.baseOffset = baseOffset
            self.logAppendTimeMs = logAppendTimeMs
            self.logStartOffset = logStartOffset
            self.recordErrors = recordErrors
            self.errorMessage = errorMessage
        }
    }

    public struct TopicResponse: Equatable, Sendable {
        public var name: String
        public var partitionResponses: [PartitionResponse]

        public init(name: String, partitionResponses: [PartitionResponse]) {
            self.name = name
            self.partitionResponses = partitionResponses
        }
    }

    public var responses: [TopicResponse]
    public var throttleTimeMs: Int32

    public init(responses: [TopicResponse] = [], throttleTimeMs: Int32 = 0) {
        self.responses = responses
        self.throttleTimeMs = throttleTimeMs
    }

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        try Self.checkVersion(version)
        self.init()
        responses = try buffer.readKafkaArray("responses", minElementSize: 6) { (b: inout ByteBuffer) throws(KafkaDecodingError) in
            let name = try b.readKafkaString("responses.name")
            let partitions = try b.readKafkaArray("responses.partition_responses", minElementSize: 14) { (p: inout ByteBuffer) throws(KafkaDecodingError) in
                var partition = PartitionResponse(
                    index: try p.readKafkaInt32("partition_responses.index"),
                    errorCode: try p.readKafkaInt16("partition_responses.error_code"),
                    baseOffset: try p.readKafkaInt64("partition_responses.base_offset")
                )
                if version >= 2 {
                    partition.logAppendTimeMs = try p.readKafkaInt64("partition_responses.log_append_time_ms")
                }
                if version >= 5 {
                    partition.logStartOffset = try p.readKafkaInt64("partition_responses.log_start_offset")
                }
                if version >= 8 {
                    partition.recordErrors = try p.readKafkaArray("partition_responses.record_errors", minElementSize: 6) { (r: inout ByteBuffer) throws(KafkaDecodingError) in
                        BatchIndexAndErrorMessage(
                            batchIndex: try r.readKafkaInt32("record_errors.batch_index"),
                            batchIndexErrorMessage: try r.readKafkaNullableString("record_errors.batch_index_error_message")
                        )
                    }
                    partition.errorMessage = try p.readKafkaNullableString("partition_responses.error_message")
                }
                return partition
            }
            return TopicResponse(name: name, partitionResponses: partitions)
        }
        if version >= 1 {
            throttleTimeMs = try buffer.readKafkaInt32("throttle_time_ms")
        }
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        Self.assertVersion(version)
        buffer.writeKafkaArray(responses) { b, topic in
            b.writeKafkaString(topic.name)
            b.writeKafkaArray(topic.partitionResponses) { p, partition in
                p.writeInteger(partition.index)
                p.writeInteger(partition.errorCode)
                p.writeInteger(partition.baseOffset)
                if version >= 2 {
                    p.writeInteger(partition.logAppendTimeMs)
                }
                if version >= 5 {
                    p.writeInteger(partition.logStartOffset)
                }
                if version >= 8 {
                    p.writeKafkaArray(partition.recordErrors) { r, e in
                        r.writeInteger(e.batchIndex)
                        r.writeKafkaNullableString(e.batchIndexErrorMessage)
                    }
                    p.writeKafkaNullableString(partition.errorMessage)
                }
            }
        }
        if version >= 1 {
            buffer.writeInteger(throttleTimeMs)
        }
    }
}
