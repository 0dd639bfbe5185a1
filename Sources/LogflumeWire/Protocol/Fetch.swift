public import NIOCore

/// Fetch request (key 1), v4-11.
///
/// v4 adds isolation_level; v5 the per-partition log_start_offset; v7 fetch sessions
/// (session_id, session_epoch, forgotten_topics_data); v9 current_leader_epoch; v10 is v9 with
/// zstd allowed; v11 adds rack_id.
public struct FetchRequest: KafkaEncodableMessage {
    public static let apiKey = ApiKey.fetch
    public static let versions: ClosedRange<Int16> = 4...11

    public struct FetchPartition: Equatable, Sendable {
        public var partition: Int32
        /// v9+.
        public var currentLeaderEpoch: Int32
        public var fetchOffset: Int64
        /// v5+; only followers set it.
        public var logStartOffset: Int64
        public var partitionMaxBytes: Int32

        public init(partition: Int32, currentLeaderEpoch: Int32 = -1, fetchOffset: Int64, logStartOffset: Int64 = -1, partitionMaxBytes: Int32) {
            self.partition = partition
            self.currentLeaderEpoch = currentLeaderEpoch
            self.fetchOffset = fetchOffset
            self.logStartOffset = logStartOffset
            self.partitionMaxBytes = partitionMaxBytes
        }
    }

    public struct FetchTopic: Equatable, Sendable {
        public var topic: String
        public var partitions: [FetchPartition]

        public init(topic: String, partitions: [FetchPartition]) {
            self.topic = topic
            self.partitions = partitions
        }
    }

    public struct ForgottenTopic: Equatable, Sendable {
        public var topic: String
        public var partitions: [Int32]

        public init(topic: String, partitions: [Int32]) {
            self.topic = topic
            self.partitions = partitions
        }
    }

    /// -1 for consumers; the broker id for followers.
    public var replicaId: Int32
    public var maxWaitMs: Int32
    public var minBytes: Int32
    public var maxBytes: Int32
    /// 0 read uncommitted, 1 read committed.
    public var isolationLevel: Int8
    /// v7+; 0 = no session.
    public var sessionId: Int32
    /// v7+; -1 = full fetch without a session.
    public var sessionEpoch: Int32
    public var topics: [FetchTopic]
    /// v7+.
    public var forgottenTopicsData: [ForgottenTopic]
    /// v11+.
    public var rackId: String

    public init(
        replicaId: Int32 = -1, maxWaitMs: Int32 = 500, minBytes: Int32 = 1, maxBytes: Int32 = 0x7fff_ffff,
        isolationLevel: Int8 = 0, sessionId: Int32 = 0, sessionEpoch: Int32 = -1, topics: [FetchTopic] = [],
        forgottenTopicsData: [ForgottenTopic] = [], rackId: String = ""
    ) {
        self.replicaId = replicaId
        self.maxWaitMs = maxWaitMs
        self.minBytes = minBytes
        self.maxBytes = maxBytes
        self.isolationLevel = isolationLevel
        self.sessionId = sessionId
        self.sessionEpoch = sessionEpoch
        self.topics = topics
        self.forgottenTopicsData = forgottenTopicsData
        self.rackId = rackId
    }

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        try Self.checkVersion(version)
        self.init()
        replicaId = try buffer.readKafkaInt32("replica_id")
        maxWaitMs = try buffer.readKafkaInt32("max_wait_ms")
        minBytes = try buffer.readKafkaInt32("min_bytes")
        maxBytes = try buffer.readKafkaInt32("max_bytes")
        isolationLevel = try buffer.readKafkaInt8("isolation_level")
        if version >= 7 {
            sessionId = try buffer.readKafkaInt32("session_id")
            sessionEpoch = try buffer.readKafkaInt32("session_epoch")
        }
        topics = try buffer.readKafkaArray("topics", minElementSize: 6) { (b: inout ByteBuffer) throws(KafkaDecodingError) in
            let topic = try b.readKafkaString("topics.topic")
            let partitions = try b.readKafkaArray("topics.partitions", minElementSize: 16) { (p: inout ByteBuffer) throws(KafkaDecodingError) in
                let partition = try p.readKafkaInt32("partitions.partition")
                var currentLeaderEpoch: Int32 = -1
                if version >= 9 {
                    currentLeaderEpoch = try p.readKafkaInt32("partitions.current_leader_epoch")
                }
                let fetchOffset = try p.readKafkaInt64("partitions.fetch_offset")
                var logStartOffset: Int64 = -1
                if version >= 5 {
                    logStartOffset = try p.readKafkaInt64("partitions.log_start_offset")
                }
                let partitionMaxBytes = try p.readKafkaInt32("partitions.partition_max_bytes")
                return FetchPartition(
                    partition: partition, currentLeaderEpoch: currentLeaderEpoch, fetchOffset: fetchOffset,
                    logStartOffset: logStartOffset, partitionMaxBytes: partitionMaxBytes
                )
            }
            return FetchTopic(topic: topic, partitions: partitions)
        }
        if version >= 7 {
            forgottenTopicsData = try buffer.readKafkaArray("forgotten_topics_data", minElementSize: 6) { (b: inout ByteBuffer) throws(KafkaDecodingError) in
                ForgottenTopic(
                    topic: try b.readKafkaString("forgotten_topics_data.topic"),
                    partitions: try b.readKafkaInt32Array("forgotten_topics_data.partitions")
                )
            }
        }
        if version >= 11 {
            rackId = try buffer.readKafkaString("rack_id")
        }
    }

    public func encode(into buffer: inout ByteBuffer, version: Int16) {
        Self.assertVersion(version)
        buffer.writeInteger(replicaId)
        buffer.writeInteger(maxWaitMs)
        buffer.writeInteger(minBytes)
        buffer.writeInteger(maxBytes)
        buffer.writeInteger(isolationLevel)
        if version >= 7 {
            buffer.writeInteger(sessionId)
            buffer.writeInteger(sessionEpoch)
        }
        buffer.writeKafkaArray(topics) { b, topic in
            b.writeKafkaString(topic.topic)
            b.writeKafkaArray(topic.partitions) { p, partition in
                p.writeInteger(partition.partition)
                if version >= 9 {
                    p.writeInteger(partition.currentLeaderEpoch)
                }
                p.writeInteger(partition.fetchOffset)
                if version >= 5 {
                    p.writeInteger(partition.logStartOffset)
                }
                p.writeInteger(partition.partitionMaxBytes)
            }
        }
        if version >= 7 {
            buffer.writeKafkaArray(forgottenTopicsData) { b, forgotten in
                b.writeKafkaString(forgotten.topic)
                b.writeKafkaInt32Array(forgotten.partitions)
            }
        }
        if version >= 11 {
            buffer.writeKafkaString(rackId)
        }
    }
}

/// The records of one partition in a Fetch response: bytes the codec holds (always, when
/// decoded), or `length` bytes the broker splices in from a file under its own `token`.
public enum FetchRecords: Equatable, Sendable {
    case bytes(ByteBuffer?)
    case external(length: Int, token: Int)

    /// Bytes of record data (0 for null).
    public var length: Int {
        switch self {
        case .bytes(let buffer): return buffer?.readableBytes ?? 0
        case .external(let length, _): return length
        }
    }
}

/// Fetch response (key 1), v4-11.
///
/// v4 adds last_stable_offset and aborted_transactions; v5 log_start_offset; v7 the top-level
/// error_code and session_id; v11 preferred_read_replica. Encoding produces `[ResponseChunk]` so
/// the broker can write file regions (sendfile) for the records between the codec's bytes.
public struct FetchResponse: KafkaMessage {
    public static let apiKey = ApiKey.fetch
    public static let versions: ClosedRange<Int16> = 4...11

    public struct AbortedTransaction: Equatable, Sendable {
        public var producerId: Int64
        public var firstOffset: Int64

        public init(producerId: Int64, firstOffset: Int64) {
            self.producerId = producerId
            self.firstOffset = firstOffset
        }
    }

    public struct PartitionData: Equatable, Sendable {
        public var partitionIndex: Int32
        public var errorCode: Int16
        public var highWatermark: Int64
        public var lastStableOffset: Int64
        /// v5+.
        public var logStartOffset: Int64
        /// nil = none (null on the wire).
        public var abortedTransactions: [AbortedTransaction]?
        /// v11+; -1 = fetch from the leader.
        public var preferredReadReplica: Int32
        public var records: FetchRecords

        public init(
            partitionIndex: Int32, errorCode: Int16 = 0, highWatermark: Int64 = -1, lastStableOffset: Int64 = -1,
            logStartOffset: Int64 = -1, abortedTransactions: [AbortedTransaction]? = nil, preferredReadReplica: Int32 = -1,
            records: FetchRecords = .bytes(nil)
        ) {
            self.partitionIndex = partitionIndex
            self.errorCode = errorCode
            self.highWatermark = highWatermark
            self.lastStableOffset = lastStableOffset
            self.logStartOffset = logStartOffset
            self.abortedTransactions = abortedTransactions
            self.preferredReadReplica = preferredReadReplica
            self.records = records
        }
    }

    public struct FetchableTopicResponse: Equatable, Sendable {
        public var topic: String
        public var partitions: [PartitionData]

        public init(topic: String, partitions: [PartitionData]) {
            self.topic = topic
            self.partitions = partitions
        }
    }

    public var throttleTimeMs: Int32
    /// v7+.
    public var errorCode: Int16
    /// v7+.
    public var sessionId: Int32
    public var responses: [FetchableTopicResponse]

    public init(throttleTimeMs: Int32 = 0, errorCode: Int16 = 0, sessionId: Int32 = 0, responses: [FetchableTopicResponse] = []) {
        self.throttleTimeMs = throttleTimeMs
        self.errorCode = errorCode
        self.sessionId = sessionId
        self.responses = responses
    }

    public init(from buffer: inout ByteBuffer, version: Int16) throws(KafkaDecodingError) {
        try Self.checkVersion(version)
        self.init()
        throttleTimeMs = try buffer.readKafkaInt32("throttle_time_ms")
        if version >= 7 {
            errorCode = try buffer.readKafkaInt16("error_code")
            sessionId = try buffer.readKafkaInt32("session_id")
        }
        responses = try buffer.readKafkaArray("responses", minElementSize: 6) { (b: inout ByteBuffer) throws(KafkaDecodingError) in
            let topic = try b.readKafkaString("responses.topic")
            let partitions = try b.readKafkaArray("responses.partitions", minElementSize: 30) { (p: inout ByteBuffer) throws(KafkaDecodingError) in
                var partition = PartitionData(
                    partitionIndex: try p.readKafkaInt32("partitions.partition_index"),
                    errorCode: try p.readKafkaInt16("partitions.error_code"),
                    highWatermark: try p.readKafkaInt64("partitions.high_watermark"),
                    lastStableOffset: try p.readKafkaInt64("partitions.last_stable_offset")
                )
                if version >= 5 {
                    partition.logStartOffset = try p.readKafkaInt64("partitions.log_start_offset")
                }
                partition.abortedTransactions = try p.readKafkaNullableArray("partitions.aborted_transactions", minElementSize: 16) { (a: inout ByteBuffer) throws(KafkaDecodingError) in
                    AbortedTransaction(
                        producerId: try a.readKafkaInt64("aborted_transactions.producer_id"),
                        firstOffset: try a.readKafkaInt64("aborted_transactions.first_offset")
                    )
                }
                if version >= 11 {
                    partition.preferredReadReplica = try p.readKafkaInt32("partitions.preferred_read_replica")
                }
                partition.records = .bytes(try p.readKafkaNullableBytes("partitions.records"))
                return partition
            }
            return FetchableTopicResponse(topic: topic, partitions: partitions)
        }
    }

    /// Appends the body to `chunks`: the codec's bytes, with each partition's records (after
    /// their int32 size prefix) either copied, spliced (large buffers), or left as an external
    /// region for the broker.
    public func encode(into chunks: inout ResponseChunks, version: Int16) {
        Self.assertVersion(version)
        chunks.buffer.writeInteger(throttleTimeMs)
        if version >= 7 {
            chunks.buffer.writeInteger(errorCode)
            chunks.buffer.writeInteger(sessionId)
        }
        chunks.buffer.writeKafkaArrayCount(responses.count)
        for topic in responses {
            chunks.buffer.writeKafkaString(topic.topic)
            chunks.buffer.writeKafkaArrayCount(topic.partitions.count)
            for partition in topic.partitions {
                chunks.buffer.writeInteger(partition.partitionIndex)
                chunks.buffer.writeInteger(partition.errorCode)
                chunks.buffer.writeInteger(partition.highWatermark)
                chunks.buffer.writeInteger(partition.lastStableOffset)
                if version >= 5 {
                    chunks.buffer.writeInteger(partition.logStartOffset)
                }
                chunks.buffer.writeKafkaNullableArray(partition.abortedTransactions) { a, t in
                    a.writeInteger(t.producerId)
                    a.writeInteger(t.firstOffset)
                }
                if version >= 11 {
                    chunks.buffer.writeInteger(partition.preferredReadReplica)
                }
                switch partition.records {
                case .bytes(nil):
                    chunks.buffer.writeKafkaBytesLength(nil)
                case .bytes(let bytes?):
                    chunks.buffer.writeKafkaBytesLength(bytes.readableBytes)
                    chunks.appendBytes(bytes)
                case .external(let length, let token):
                    chunks.buffer.writeKafkaBytesLength(length)
                    chunks.appendExternal(token: token, length: length)
                }
            }
        }
    }

    /// The body as chunks in wire order (no frame prefix, no header).
    public func encode(version: Int16) -> [ResponseChunk] {
        var chunks = ResponseChunks()
        encode(into: &chunks, version: version)
        return chunks.chunks
    }

    /// Bytes the body takes on the wire, external records included; with the header and the
    /// 4-byte prefix this gives the frame length before anything is written.
    public func encodedLength(version: Int16) -> Int {
        var total = 4 + (version >= 7 ? 6 : 0) + 4
        for topic in responses {
            total += ByteBuffer.kafkaStringSize(topic.topic) + 4
            for partition in topic.partitions {
                total += 4 + 2 + 8 + 8 + (version >= 5 ? 8 : 0)
                total += 4 + (partition.abortedTransactions?.count ?? 0) * 16
                total += version >= 11 ? 4 : 0
                total += 4 + partition.records.length
            }
        }
        return total
    }
}
