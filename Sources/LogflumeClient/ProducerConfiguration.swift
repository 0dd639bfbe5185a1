public import LogflumeWire

/// Producer settings. Defaults follow librdkafka and the Java client; each says which.
public struct ProducerConfiguration: Sendable, Equatable {
    /// How many replicas must have a batch before the broker answers (`acks`).
    public enum Acks: Int16, Sendable, Equatable, CustomStringConvertible {
        /// No response at all; offsets are unknown (-1) and failures after the write go unseen.
        case none = 0
        /// The leader has appended the batch.
        case leader = 1
        /// Every in-sync replica has it.
        case all = -1

        /// Parses `0`, `1`, `all` or `-1`.
        public init?(name: String) {
            switch name.lowercased() {
            case "0", "none": self = .none
            case "1", "leader": self = .leader
            case "all", "-1": self = .all
            default: return nil
            }
        }

        public var description: String { self == .all ? "all" : String(rawValue) }
    }

    /// Default: `.all` (-1), as in Java 3.0+ and librdkafka.
    public var acks: Acks = .all
    /// How long a batch waits for more records before it is sent (`linger.ms`). Default: 5
    /// (librdkafka).
    public var lingerMs: Int64 = 5
    /// A batch is cut once its uncompressed size would pass this (`batch.size`). Default: 1 MiB.
    /// A single larger record still goes out, alone in its batch.
    public var batchBytes: Int = 1 << 20
    /// Codec for the records section of each batch (`compression.type`). Default: `.none`.
    public var compression: CompressionCodec = .none
    /// Producer id and per-partition sequence numbers, so retries never duplicate or reorder
    /// (`enable.idempotence`). Default: true. Only in effect with `acks = .all`; when the
    /// broker cannot hand out producer ids the producer logs a warning and goes on without.
    public var idempotence: Bool = true
    /// Batches per partition awaiting a response (`max.in.flight.requests.per.connection`, per
    /// partition here). Default: 5, the most idempotence allows.
    public var maxInFlightPerPartition: Int = 5
    /// Wait before the first retry of a batch; doubles per attempt up to `retryBackoffMaxMs`
    /// (`retry.backoff.ms`). Default: 100.
    public var retryBackoffMs: Int64 = 100
    /// Default: 1000 (`retry.backoff.max.ms`).
    public var retryBackoffMaxMs: Int64 = 1000
    /// Time from `enqueue` until a record must be acknowledged, retries included; after it the
    /// record fails with `deliveryTimedOut` (`delivery.timeout.ms`). Default: 120000.
    public var deliveryTimeoutMs: Int64 = 120_000
    /// How long to wait for a Produce response before treating the request as failed (it is
    /// then retried) (`request.timeout.ms`). Default: 30000.
    public var requestTimeoutMs: Int64 = 30_000
    /// Records enqueued and not yet acknowledged may hold this many bytes; `enqueue` then waits
    /// (`buffer.memory`). Default: 32 MiB.
    public var bufferMemoryBytes: Int = 32 << 20
    /// How long `enqueue` may wait for topic metadata or buffer space (`max.block.ms`).
    /// Default: 60000.
    public var maxBlockMs: Int64 = 60_000
    /// Largest Produce request; batches for one broker beyond it go in further requests
    /// (`max.request.size` applies to requests there too). Default: 16 MiB.
    public var maxRequestBytes: Int = 16 << 20
    /// Records with a key go to the sticky partition like keyless ones instead of to the
    /// partition their key hashes to (`partitioner.ignore.keys`, KIP-794). Default: false.
    public var partitionerIgnoresKeys = false
    /// Topics in use are refreshed at least this often (`metadata.max.age.ms`). Default: 300000.
    public var metadataMaxAgeMs: Int64 = 300_000

    public init() {}

    /// Checks ranges; `Producer.init` calls it.
    public func validate() throws(KafkaClientError) {
        func check(_ condition: Bool, _ message: String) throws(KafkaClientError) {
            if !condition { throw .invalidArgument("producer configuration: \(message)") }
        }
        try check(lingerMs >= 0, "lingerMs must be >= 0")
        try check(batchBytes >= 64 && batchBytes <= Int(Int32.max), "batchBytes must be between 64 and 2^31-1")
        try check((1...5).contains(maxInFlightPerPartition) || !idempotence, "maxInFlightPerPartition must be 1...5 with idempotence")
        try check(maxInFlightPerPartition >= 1, "maxInFlightPerPartition must be >= 1")
        try check(retryBackoffMs >= 0 && retryBackoffMaxMs >= retryBackoffMs, "retry backoffs must be >= 0, max >= initial")
        try check(deliveryTimeoutMs > 0, "deliveryTimeoutMs must be > 0")
        try check(requestTimeoutMs > 0 && requestTimeoutMs <= Int64(Int32.max), "requestTimeoutMs must be 1...2^31-1")
        try check(bufferMemoryBytes > 0, "bufferMemoryBytes must be > 0")
        try check(maxBlockMs >= 0, "maxBlockMs must be >= 0")
        try check(maxRequestBytes > 0, "maxRequestBytes must be > 0")
    }

    /// Idempotence as it applies: it needs acks=all.
    public var effectiveIdempotence: Bool { idempotence && acks == .all }
}
