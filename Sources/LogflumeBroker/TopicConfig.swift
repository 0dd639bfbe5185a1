public import LogflumeStorage
public import LogflumeWire

/// A topic's configuration in Kafka's names and units: the broker's defaults plus per-topic
/// overrides, validated key by key so CreateTopics and AlterConfigs can answer INVALID_CONFIG
/// with the offending key.
public struct TopicConfig: Equatable, Sendable {
    public enum Key: String, CaseIterable, Sendable {
        case cleanupPolicy = "cleanup.policy"
        case compressionType = "compression.type"
        case deleteRetentionMs = "delete.retention.ms"
        case fileDeleteDelayMs = "file.delete.delay.ms"
        case flushMessages = "flush.messages"
        case flushMs = "flush.ms"
        case indexIntervalBytes = "index.interval.bytes"
        case maxMessageBytes = "max.message.bytes"
        case messageTimestampType = "message.timestamp.type"
        case minCleanableDirtyRatio = "min.cleanable.dirty.ratio"
        case minInsyncReplicas = "min.insync.replicas"
        case preallocate = "preallocate"
        case retentionBytes = "retention.bytes"
        case retentionMs = "retention.ms"
        case segmentBytes = "segment.bytes"
        case segmentIndexBytes = "segment.index.bytes"
        case segmentMs = "segment.ms"
        case uncleanLeaderElectionEnable = "unclean.leader.election.enable"
    }

    /// Values every topic starts from: the broker's `log.*` settings.
    public var defaults: [Key: String]
    /// What the topic sets itself.
    public var overrides: [Key: String]

    public static let kafkaDefaults: [Key: String] = [
        .cleanupPolicy: "delete",
        .compressionType: "producer",
        .deleteRetentionMs: "86400000",
        .fileDeleteDelayMs: "60000",
        .flushMessages: "9223372036854775807",
        .flushMs: "9223372036854775807",
        .indexIntervalBytes: "4096",
        .maxMessageBytes: "1048588",
        .messageTimestampType: "CreateTime",
        .minCleanableDirtyRatio: "0.5",
        .minInsyncReplicas: "1",
        // Kafka's default is false (it reserves whole segments); logflume reserves in steps.
        .preallocate: "true",
        .retentionBytes: "-1",
        .retentionMs: "604800000",
        .segmentBytes: "1073741824",
        .segmentIndexBytes: "10485760",
        .segmentMs: "604800000",
        .uncleanLeaderElectionEnable: "false",
    ]

    public init(defaults: [Key: String] = TopicConfig.kafkaDefaults, overrides: [Key: String] = [:]) {
        self.defaults = defaults
        self.overrides = overrides
    }

    /// Builds a config from name/value pairs as a client sends them; throws naming the bad key.
    public init(defaults: [Key: String] = TopicConfig.kafkaDefaults, settings: [(String, String?)]) throws(TopicConfigError) {
        self.init(defaults: defaults)
        for (name, value) in settings {
            guard let key = Key(rawValue: name) else { throw TopicConfigError(key: name, reason: "unknown topic config") }
            guard let value else {
                overrides[key] = nil
                continue
            }
            try Self.validate(key, value)
            overrides[key] = value
        }
    }

    public func value(_ key: Key) -> String { overrides[key] ?? defaults[key] ?? Self.kafkaDefaults[key]! }
    public func isDefault(_ key: Key) -> Bool { overrides[key] == nil }

    private func integer(_ key: Key) -> Int64 { Int64(value(key)) ?? Int64(Self.kafkaDefaults[key]!)! }

    public var minInsyncReplicas: Int { Int(integer(.minInsyncReplicas)) }
    public var timestampType: TimestampType { value(.messageTimestampType) == "LogAppendTime" ? .logAppendTime : .createTime }
    /// nil means "producer": keep what the producer sent.
    public var compression: CompressionCodec? {
        let name = value(.compressionType)
        return name == "producer" ? nil : (name == "uncompressed" ? CompressionCodec.none : CompressionCodec(name: name))
    }

    /// The storage settings this topic implies for each of its partition logs.
    public var logConfig: LogConfig {
        var config = LogConfig()
        config.segmentBytes = Int(integer(.segmentBytes))
        config.segmentMs = integer(.segmentMs)
        config.indexIntervalBytes = Int(integer(.indexIntervalBytes))
        config.segmentIndexBytes = Int(integer(.segmentIndexBytes))
        config.flushMessages = integer(.flushMessages)
        config.flushMs = integer(.flushMs)
        config.retentionMs = integer(.retentionMs)
        config.retentionBytes = integer(.retentionBytes)
        config.cleanupPolicy = LogConfig.CleanupPolicy(kafkaName: value(.cleanupPolicy)) ?? .delete
        config.deleteRetentionMs = integer(.deleteRetentionMs)
        config.minCleanableDirtyRatio = Double(value(.minCleanableDirtyRatio)) ?? 0.5
        config.fileDeleteDelayMs = integer(.fileDeleteDelayMs)
        config.maxMessageBytes = Int(integer(.maxMessageBytes))
        config.preallocate = value(.preallocate) == "true"
        return config
    }

    static func validate(_ key: Key, _ value: String) throws(TopicConfigError) {
        func integer(min: Int64, max: Int64 = .max) throws(TopicConfigError) {
            guard let parsed = Int64(value), parsed >= min, parsed <= max else {
                throw TopicConfigError(key: key.rawValue, reason: "'\(value)' is not an integer in [\(min), \(max)]")
            }
        }
        switch key {
        case .cleanupPolicy:
            guard LogConfig.CleanupPolicy(kafkaName: value) != nil else {
                throw TopicConfigError(key: key.rawValue, reason: "'\(value)' is not delete, compact or compact,delete")
            }
        case .compressionType:
            guard ["producer", "uncompressed", "gzip", "snappy", "lz4", "zstd"].contains(value) else {
                throw TopicConfigError(key: key.rawValue, reason: "'\(value)' is not producer, uncompressed, gzip, snappy, lz4 or zstd")
            }
        case .messageTimestampType:
            guard value == "CreateTime" || value == "LogAppendTime" else {
                throw TopicConfigError(key: key.rawValue, reason: "'\(value)' is not CreateTime or LogAppendTime")
            }
        case .uncleanLeaderElectionEnable, .preallocate:
            guard value == "true" || value == "false" else { throw TopicConfigError(key: key.rawValue, reason: "'\(value)' is not true or false") }
        case .minCleanableDirtyRatio:
            guard let ratio = Double(value), ratio >= 0, ratio <= 1 else {
                throw TopicConfigError(key: key.rawValue, reason: "'\(value)' is not a ratio in [0, 1]")
            }
        case .retentionMs, .retentionBytes: try integer(min: -1)
        case .segmentBytes: try integer(min: 14, max: Int64(Int32.max))
        case .segmentIndexBytes: try integer(min: 8, max: Int64(Int32.max))
        case .indexIntervalBytes, .deleteRetentionMs, .fileDeleteDelayMs: try integer(min: 0)
        case .segmentMs, .flushMessages, .flushMs: try integer(min: 1)
        case .maxMessageBytes: try integer(min: 0, max: Int64(Int32.max))
        case .minInsyncReplicas: try integer(min: 1, max: 1000)
        }
    }
}

public struct TopicConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    public var key: String
    public var reason: String
    public var description: String { "invalid value for \(key): \(reason)" }
}
