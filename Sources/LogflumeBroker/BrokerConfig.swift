public import LogflumeConfig

/// Everything `logflume broker` can be configured with, documented with its default.
/// `conf/broker.toml` holds the same keys as comments; flags on the command line override the file.
public struct BrokerConfig: Sendable {
    public var listen = HostPort(host: "127.0.0.1", port: 9092)
    public var advertisedListener: HostPort?
    public var dataDirectory = "./data"
    public var nodeId: Int32 = 0
    public var socketRequestMaxBytes = 100 << 20
    /// Most record bytes in one fetch answer, whatever the client asks for (KIP-541); the first
    /// batch is whole even if larger.
    public var fetchMaxBytes = 55 << 20
    public var numPartitions: Int32 = 1
    public var autoCreateTopics = true
    public var retentionCheckIntervalMs: Int64 = 300_000
    public var cleanerBackoffMs: Int64 = 15_000
    public var flushSchedulerIntervalMs: Int64 = 1_000
    public var producerIdExpirationMs: Int64 = 86_400_000
    public var metricsListen: HostPort?
    public var logLevel = "info"
    /// Topic config defaults (Kafka's `log.*` broker settings mapped to topic keys).
    public var topicDefaults = TopicConfig.kafkaDefaults
    /// Consumer group coordinator settings (`group.*`, `offsets.*`).
    public var groups = GroupCoordinatorConfig()

    public init() {}

    /// The address clients are told to connect to.
    public var advertised: HostPort {
        if let advertisedListener { return advertisedListener }
        return listen.host == "0.0.0.0" || listen.host == "::" ? HostPort(host: "127.0.0.1", port: listen.port) : listen
    }

    /// The topic config a broker `log.*` key sets the default of, if it is one.
    static func topicKey(forBrokerKey name: String) -> TopicConfig.Key? {
        topicDefaultKeys.first { $0.0 == name }?.1
    }

    static let topicDefaultKeys: [(String, TopicConfig.Key, ConfigSchema.Kind, String)] = [
        ("log.retention.ms", .retentionMs, .duration, "Delete closed segments whose newest record is older than this; -1 keeps forever."),
        ("log.retention.bytes", .retentionBytes, .size, "Delete a partition's oldest closed segments while it is larger; -1 means no limit."),
        ("log.segment.bytes", .segmentBytes, .size, "Roll to a new segment at this size."),
        ("log.segment.ms", .segmentMs, .duration, "Roll once the active segment is this old."),
        ("log.index.interval.bytes", .indexIntervalBytes, .size, "Bytes of log between sparse index entries."),
        ("log.segment.index.bytes", .segmentIndexBytes, .size, "Preallocated index size; a full index rolls the segment."),
        ("log.preallocate", .preallocate, .boolean, "Reserve disk blocks ahead of the active segment's appends, at most its own size and 8 MiB ahead (given back on roll and close); faster appends on ext4."),
        ("log.flush.messages", .flushMessages, .integer, "fsync after this many records (1 = every append, for single-node durability)."),
        ("log.flush.ms", .flushMs, .duration, "fsync when the oldest unflushed append is this old."),
        ("log.cleanup.policy", .cleanupPolicy, .choice(["delete", "compact", "compact,delete"]), "Default cleanup policy."),
        ("log.cleaner.delete.retention.ms", .deleteRetentionMs, .duration, "How long tombstones survive compaction."),
        ("log.cleaner.min.cleanable.ratio", .minCleanableDirtyRatio, .float, "Compact once this share of closed segments is dirty."),
        ("log.segment.delete.delay.ms", .fileDeleteDelayMs, .duration, "Wait before unlinking files of deleted segments."),
        ("message.max.bytes", .maxMessageBytes, .size, "Largest record batch accepted."),
        ("min.insync.replicas", .minInsyncReplicas, .integer, "Replicas that must be in sync for acks=all."),
        ("log.message.timestamp.type", .messageTimestampType, .choice(["CreateTime", "LogAppendTime"]), "Record timestamps from producers or the broker."),
        ("compression.type", .compressionType, .choice(["producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"]), "Recompress batches, or keep the producer's codec."),
    ]

    public static let schema = ConfigSchema(keys: [
        .init("listen", .string, default: "127.0.0.1:9092", "HOST:PORT to accept Kafka clients on."),
        .init("advertised.listener", .string, default: "", "HOST:PORT clients are told to connect to (default: listen, or 127.0.0.1 when listening on 0.0.0.0)."),
        .init("data.dir", .string, default: "./data", "Directory holding topic partitions and cluster metadata."),
        .init("node.id", .integer, default: "0", "This broker's id."),
        .init("socket.request.max.bytes", .size, default: "100MiB", "Largest request frame accepted; bigger ones close the connection before being buffered."),
        .init("fetch.max.bytes", .size, default: "55MiB", "Most record bytes in one fetch answer, whatever the client asks for (the first batch is whole even if larger)."),
        .init("num.partitions", .integer, default: "1", "Partitions of auto-created topics."),
        .init("auto.create.topics.enable", .boolean, default: "true", "Create a topic when a client asks for its metadata."),
        .init("log.retention.check.interval.ms", .duration, default: "5m", "How often retention runs."),
        .init("log.cleaner.backoff.ms", .duration, default: "15s", "How often compaction looks for dirty logs."),
        .init("log.flush.scheduler.interval.ms", .duration, default: "1s", "How often flush.ms deadlines are checked and producer state is snapshotted."),
        .init("producer.id.expiration.ms", .duration, default: "1d", "Forget idle idempotent producers after this long."),
        .init("metrics.listen", .string, default: "", "HOST:PORT for Prometheus /metrics (requests, failures, bytes and times per API; connections) and /status; empty disables it."),
        .init("log.level", .choice(["trace", "debug", "info", "notice", "warning", "error", "critical"]), default: "info", "Log verbosity."),
    ] + GroupCoordinatorConfig.schemaKeys + topicDefaultKeys.map { name, key, kind, doc in
        ConfigSchema.Key(name, kind, default: displayDefault(TopicConfig.kafkaDefaults[key]!, kind), doc)
    })

    private static func displayDefault(_ value: String, _ kind: ConfigSchema.Kind) -> String {
        value == String(Int64.max) ? "9223372036854775807" : value
    }

    /// Reads `path` through the schema; unknown or malformed keys are errors naming file, line and key.
    public static func load(file path: String) throws(ConfigError) -> BrokerConfig {
        try BrokerConfig(values: schema.load(file: path))
    }

    public init(values: ConfigValues) throws(ConfigError) {
        func hostPort(_ key: String) throws(ConfigError) -> HostPort? {
            let text = values.string(key)
            if text.isEmpty { return nil }
            guard let parsed = HostPort(text) else { throw values.invalid(key, "'\(text)' is not HOST:PORT") }
            return parsed
        }
        listen = try hostPort("listen") ?? listen
        advertisedListener = try hostPort("advertised.listener")
        dataDirectory = values.string("data.dir")
        nodeId = Int32(clamping: values.integer("node.id"))
        socketRequestMaxBytes = values.int("socket.request.max.bytes")
        fetchMaxBytes = values.int("fetch.max.bytes")
        guard fetchMaxBytes >= 1024 else { throw values.invalid("fetch.max.bytes", "must be at least 1KiB") }
        numPartitions = Int32(clamping: values.integer("num.partitions"))
        guard numPartitions >= 1 else { throw values.invalid("num.partitions", "must be at least 1") }
        autoCreateTopics = values.boolean("auto.create.topics.enable")
        retentionCheckIntervalMs = values.integer("log.retention.check.interval.ms")
        cleanerBackoffMs = values.integer("log.cleaner.backoff.ms")
        flushSchedulerIntervalMs = values.integer("log.flush.scheduler.interval.ms")
        producerIdExpirationMs = values.integer("producer.id.expiration.ms")
        metricsListen = try hostPort("metrics.listen")
        logLevel = values.string("log.level")
        groups = try GroupCoordinatorConfig(values: values)
        for (name, key, kind, _) in Self.topicDefaultKeys where values.isSet(name) {
            let text: String
            switch kind {
            case .float: text = String(values.float(name))
            case .choice, .string: text = values.string(name)
            default: text = String(values.integer(name))
            }
            do { try TopicConfig.validate(key, text) } catch { throw values.invalid(name, error.reason) }
            topicDefaults[key] = text
        }
    }
}

/// `host:port`, with IPv6 hosts in brackets.
public struct HostPort: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            return nil
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.host = host
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
