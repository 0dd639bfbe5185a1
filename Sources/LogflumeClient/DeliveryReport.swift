public import LogflumeWire
public import NIOCore

/// A record to produce.
public struct ProducerRecord: Sendable {
    public var topic: String
    /// nil: chosen by the partitioner (murmur2 of the key, or sticky for records without a key).
    public var partition: Int32?
    public var key: ByteBuffer?
    public var value: ByteBuffer?
    public var headers: [RecordHeader]
    /// CreateTime in ms since the epoch; nil: the time of `enqueue`.
    public var timestamp: Int64?

    public init(
        topic: String, partition: Int32? = nil, key: ByteBuffer? = nil, value: ByteBuffer?, headers: [RecordHeader] = [],
        timestamp: Int64? = nil
    ) {
        self.topic = topic
        self.partition = partition
        self.key = key
        self.value = value
        self.headers = headers
        self.timestamp = timestamp
    }

    public init(topic: String, partition: Int32? = nil, key: String?, value: String?, headers: [RecordHeader] = [], timestamp: Int64? = nil) {
        self.init(
            topic: topic, partition: partition, key: key.map { ByteBuffer(string: $0) }, value: value.map { ByteBuffer(string: $0) },
            headers: headers, timestamp: timestamp
        )
    }

    /// Upper bound of the record's encoded size inside a batch (varints at their widest).
    public var estimatedSize: Int {
        var size = 21 + (key?.readableBytes ?? 0) + (value?.readableBytes ?? 0)
        for header in headers { size += 10 + header.key.utf8.count + (header.value?.readableBytes ?? 0) }
        return size
    }
}

/// Where a record landed.
public struct RecordMetadata: Equatable, Sendable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32
    /// -1 when unknown: acks=0, or a retried batch the broker reported as a duplicate without
    /// its offset.
    public var offset: Int64
    /// The record's CreateTime, or the broker's time when the topic uses LogAppendTime.
    public var timestamp: Int64

    public init(topic: String, partition: Int32, offset: Int64, timestamp: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.timestamp = timestamp
    }

    public var topicPartition: TopicPartition { TopicPartition(topic, partition) }
    public var description: String { "\(topic)-\(partition)@\(offset)" }
}

/// Why records were not delivered.
public enum ProducerError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `deliveryTimeoutMs` passed before the broker acknowledged the batch; `lastError` is the
    /// last retriable failure, if there was one.
    case deliveryTimedOut(TopicPartition, afterMs: Int64, lastError: String?)
    /// The broker refused the batch with a non-retriable error.
    case rejected(TopicPartition, KafkaErrorCode, message: String?)
    /// The batch could not be encoded (compression failed).
    case encodingFailed(TopicPartition, String)
    /// The producer was closed before the record was enqueued.
    case closed
    /// The record could not be enqueued within `maxBlockMs` (metadata or buffer space).
    case enqueueTimedOut(topic: String, afterMs: Int64, reason: String)
    /// From `flush()`: how many records failed since the previous flush, and the first error.
    case deliveryFailed(failedRecords: Int, firstError: String)

    public var description: String {
        switch self {
        case .deliveryTimedOut(let tp, let ms, let last):
            return "delivery to \(tp) timed out after \(ms) ms\(last.map { " (last error: \($0))" } ?? "")"
        case .rejected(let tp, let code, let message):
            return "\(tp): broker refused the batch: \(code.name)\(message.map { " (\($0))" } ?? "")"
        case .encodingFailed(let tp, let reason): return "\(tp): cannot encode the batch: \(reason)"
        case .closed: return "the producer is closed"
        case .enqueueTimedOut(let topic, let ms, let reason): return "cannot enqueue to \(topic) within \(ms) ms: \(reason)"
        case .deliveryFailed(let count, let first): return "\(count) records were not delivered; first error: \(first)"
        }
    }
}

/// The outcome of one record: where it landed, or why it did not.
public struct DeliveryReport: Sendable {
    public var topicPartition: TopicPartition
    public var result: Result<RecordMetadata, ProducerError>

    public init(topicPartition: TopicPartition, result: Result<RecordMetadata, ProducerError>) {
        self.topicPartition = topicPartition
        self.result = result
    }
}

/// Called once per record with its delivery report, on an event loop thread: keep it short, and
/// never block it waiting for `flush()` or `close()`, which wait for callbacks under way.
public typealias DeliveryCallback = @Sendable (DeliveryReport) -> Void
