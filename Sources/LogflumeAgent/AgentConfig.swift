public import LogflumeClient
public import LogflumeConfig
import LogflumeMetrics
import LogflumeWire

/// Everything `logflume agent` reads from its TOML file. Each key is documented in the schema
/// with its default; `agents/*.toml` list them all.
public struct AgentConfig: Sendable {
    public var brokers: [String] = ["127.0.0.1:9092"]
    public var topic = "logs"
    public var stateDirectory = "/var/lib/logflume-agent"
    /// The `host` header and key; empty in the file means the machine's hostname.
    public var host = ""
    public var metricsListen = ""
    public var scanIntervalMs: Int64 = 1_000
    public var useInotify = true
    public var readChunkBytes = 64 << 10
    public var checkpointIntervalMs: Int64 = 1_000
    public var checkpointExpireAfterMs: Int64 = 86_400_000
    public var rotateWaitMs: Int64 = 5_000
    public var closeInactiveMs: Int64 = 300_000
    public var producer = ProducerConfiguration()
    /// How records pick partitions; kept in the producer's settings, where it takes effect.
    public var partitioner: Partitioning {
        get { producer.partitionerIgnoresKeys ? .sticky : .key }
        set { producer.partitionerIgnoresKeys = newValue == .sticky }
    }
    public var memoryBufferBytes = 8 << 20
    public var whenFull: WhenFull = .block
    public var spoolMaxBytes: Int64 = 1 << 30
    public var spoolAfterMs: Int64 = 5_000
    public var spoolDirectory = ""
    public var inputs: [InputConfig] = []
    /// Where the file was read from, for messages.
    public var file = "<defaults>"

    public enum Partitioning: String, Sendable { case sticky, key }
    public enum WhenFull: String, Sendable { case block, dropNewest = "drop_newest" }

    public init() {
        partitioner = .sticky
        producer.compression = .zstd
        producer.lingerMs = 20
        producer.retryBackoffMaxMs = 10_000
    }

    /// The spool directory in effect.
    public var effectiveSpoolDirectory: String { spoolDirectory.isEmpty ? stateDirectory + "/spool" : spoolDirectory }

    public static let schema = ConfigSchema(
        keys: [
            .init("brokers", .stringArray, default: "127.0.0.1:9092", "Bootstrap brokers, HOST:PORT each (logflume or Apache Kafka)."),
            .init("topic", .string, default: "logs", "Topic records go to unless an input names its own."),
            .init("state_dir", .string, default: "/var/lib/logflume-agent", "Checkpoints, the spool and the status file live here."),
            .init("host", .string, default: "", "The host name put in the `host` header and key; empty: this machine's hostname."),
            .init("metrics.listen", .string, default: "", "HOST:PORT serving Prometheus /metrics and /status; empty: off."),
            .init("scan_interval", .duration, default: "1s", "How often globs are expanded again and, without inotify, files are polled."),
            .init("inotify", .boolean, default: "true", "Watch the inputs' directories with inotify; false: poll every scan_interval."),
            .init("read_chunk_bytes", .size, default: "64KiB", "Most bytes read from one file per pass, so busy files do not starve the rest."),
            .init("rotate_wait", .duration, default: "5s", "A rotated-away or deleted file stays open this long after its last growth."),
            .init("close_inactive", .duration, default: "5m", "A file idle this long is closed; it is opened again when its size changes."),
            .init("checkpoint.interval", .duration, default: "1s", "How often acknowledged positions are written to <state_dir>/checkpoints.json."),
            .init("checkpoint.expire_after", .duration, default: "24h", "Checkpoints of files gone for this long are forgotten."),
            .init("output.compression", .choice(["none", "gzip", "snappy", "lz4", "zstd"]), default: "zstd", "Batch compression."),
            .init("output.acks", .choice(["0", "1", "all"]), default: "all", "Replicas that must have a batch before it counts as shipped."),
            .init("output.idempotence", .boolean, default: "true", "Producer ids and sequences, so retries never duplicate (acks = all only)."),
            .init("output.linger", .duration, default: "20ms", "How long a batch waits for more lines."),
            .init("output.batch_bytes", .size, default: "1MiB", "A batch is sent once it holds this many bytes."),
            .init("output.partitioner", .choice(["sticky", "key"]), default: "sticky", "sticky: one partition per batch, keys or not; key: murmur2 of the record key (keyless records stay sticky)."),
            .init("output.retry_backoff", .duration, default: "100ms", "First wait before a failed batch is retried; doubles per attempt."),
            .init("output.retry_backoff_max", .duration, default: "10s", "Longest wait between retries; retries never stop."),
            .init("output.request_timeout", .duration, default: "30s", "A Produce request unanswered this long is retried."),
            .init("buffer.memory_bytes", .size, default: "8MiB", "Lines awaiting acknowledgement in memory; when full, reading waits (or spools, see spool.after)."),
            .init("buffer.when_full", .choice(["block", "drop_newest"]), default: "block", "When memory and spool are full: pause reading, or drop lines (counted)."),
            .init("spool.max_bytes", .size, default: "1GiB", "On-disk spool for lines the broker has not taken; 0: no spool."),
            .init("spool.after", .duration, default: "5s", "With the memory buffer full, lines go to the spool once the broker has acknowledged nothing for this long."),
            .init("spool.dir", .string, default: "", "Spool directory; empty: <state_dir>/spool."),
        ],
        sections: ["input": InputConfig.schema]
    )

    /// Reads and checks a config file; errors name the file, line and key.
    public static func load(file path: String) throws(ConfigError) -> AgentConfig {
        try AgentConfig(values: schema.load(file: path))
    }

    public init(values: ConfigValues) throws(ConfigError) {
        self.init()
        file = values.file
        brokers = values.strings("brokers")
        if brokers.isEmpty { throw values.invalid("brokers", "needs at least one HOST:PORT") }
        for broker in brokers where BrokerAddress(broker) == nil {
            throw values.invalid("brokers", "'\(broker)' is not HOST:PORT")
        }
        topic = values.string("topic")
        if !Self.isValidTopic(topic) { throw values.invalid("topic", "'\(topic)' is not a valid topic name") }
        stateDirectory = values.string("state_dir")
        if stateDirectory.isEmpty { throw values.invalid("state_dir", "must not be empty") }
        host = values.string("host")
        metricsListen = values.string("metrics.listen")
        if !metricsListen.isEmpty && MetricsEndpoint.parseListen(metricsListen) == nil {
            throw values.invalid("metrics.listen", "'\(metricsListen)' is not HOST:PORT")
        }
        scanIntervalMs = try positive(values, "scan_interval")
        useInotify = values.boolean("inotify")
        readChunkBytes = Int(try positive(values, "read_chunk_bytes"))
        rotateWaitMs = values.integer("rotate_wait")
        closeInactiveMs = try positive(values, "close_inactive")
        checkpointIntervalMs = try positive(values, "checkpoint.interval")
        checkpointExpireAfterMs = try positive(values, "checkpoint.expire_after")
        producer.compression = CompressionCodec(name: values.string("output.compression")) ?? .zstd
        producer.acks = ProducerConfiguration.Acks(name: values.string("output.acks")) ?? .all
        producer.idempotence = values.boolean("output.idempotence")
        producer.lingerMs = values.integer("output.linger")
        producer.batchBytes = values.int("output.batch_bytes")
        if producer.batchBytes < 1024 { throw values.invalid("output.batch_bytes", "must be at least 1KiB") }
        partitioner = Partitioning(rawValue: values.string("output.partitioner")) ?? .sticky
        producer.retryBackoffMs = try positive(values, "output.retry_backoff")
        producer.retryBackoffMaxMs = try positive(values, "output.retry_backoff_max")
        if producer.retryBackoffMaxMs < producer.retryBackoffMs {
            throw values.invalid("output.retry_backoff_max", "must not be below output.retry_backoff")
        }
        producer.requestTimeoutMs = try positive(values, "output.request_timeout")
        memoryBufferBytes = Int(try positive(values, "buffer.memory_bytes"))
        whenFull = WhenFull(rawValue: values.string("buffer.when_full")) ?? .block
        spoolMaxBytes = values.integer("spool.max_bytes")
        if spoolMaxBytes < 0 { throw values.invalid("spool.max_bytes", "must be >= 0") }
        spoolAfterMs = values.integer("spool.after")
        spoolDirectory = values.string("spool.dir")
        inputs = try (values.sections["input"] ?? []).map { (section) throws(ConfigError) in try InputConfig(values: section) }
        if inputs.isEmpty {
            throw ConfigError(file: values.file, line: 0, key: "[[input]]", message: "at least one [[input]] section with paths is needed")
        }
    }

    static func isValidTopic(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 249 && name != "." && name != ".."
            && name.utf8.allSatisfy { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") || ($0 >= 48 && $0 <= 57) || ($0 | 0x20 >= 97 && $0 | 0x20 <= 122) }
    }
}

func positive(_ values: ConfigValues, _ key: String) throws(ConfigError) -> Int64 {
    let value = values.integer(key)
    if value <= 0 { throw values.invalid(key, "must be greater than 0") }
    return value
}
