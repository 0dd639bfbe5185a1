public import LogflumeConfig

/// The group coordinator's settings, under Apache Kafka's broker names and with its defaults.
///
/// `schemaKeys` documents them for a configuration file; `init(values:)` reads them from values
/// whose schema includes those keys.
public struct GroupCoordinatorConfig: Equatable, Sendable {
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group waits
    /// for more members, extended by the same delay while members keep arriving (up to the
    /// rebalance timeout), so a starting group rebalances once (KIP-134). Default: 3000.
    public var initialRebalanceDelayMs: Int64 = 3_000
    /// `group.min.session.timeout.ms`: the shortest session timeout a member may ask for;
    /// shorter ones are refused with INVALID_SESSION_TIMEOUT. Default: 6000.
    public var minSessionTimeoutMs: Int32 = 6_000
    /// `group.max.session.timeout.ms`: the longest session timeout a member may ask for.
    /// Default: 1800000 (30 minutes).
    public var maxSessionTimeoutMs: Int32 = 1_800_000
    /// `group.max.size`: members a group may hold; a new member beyond it is refused with
    /// GROUP_MAX_SIZE_REACHED. Default: 2147483647 (Java's Integer.MAX_VALUE: unlimited).
    public var maxSize = Int(Int32.max)
    /// `offsets.retention.minutes`: how long committed offsets are kept after the group became
    /// Empty (or, for a stable consumer group, after the last commit to a topic it no longer
    /// subscribes to; for a group that only commits, after the last commit). Default: 10080 (7 days).
    public var offsetsRetentionMinutes: Int64 = 10_080
    /// `offsets.retention.check.interval.ms`: how often expired offsets and empty groups are
    /// removed. Default: 600000 (10 minutes).
    public var offsetsRetentionCheckIntervalMs: Int64 = 600_000
    /// `offsets.topic.num.partitions`: partitions of `__consumer_offsets`. Default: 50.
    public var offsetsTopicNumPartitions: Int32 = 50
    /// `offset.metadata.max.bytes`: the longest metadata string a commit may carry; longer ones
    /// are refused per partition with OFFSET_METADATA_TOO_LARGE. Default: 4096.
    public var offsetMetadataMaxBytes: Int = 4_096
    /// How long a new member's first JoinGroup may stay parked before the member is dropped
    /// (Kafka's fixed `NewMemberJoinTimeoutMs`, not a setting there). Default: 300000.
    public var newMemberJoinTimeoutMs: Int64 = 300_000

    public init() {}

    /// `offsets.retention.minutes` in milliseconds.
    public var offsetsRetentionMs: Int64 { offsetsRetentionMinutes * 60_000 }

    /// The `__consumer_offsets` partition holding `groupId`'s records (Kafka's
    /// `abs(groupId.hashCode) % offsets.topic.num.partitions`).
    public func partition(forGroup groupId: String) -> Int32 {
        ConsumerOffsetsTopic.partition(forGroup: groupId, partitionCount: offsetsTopicNumPartitions)
    }

    /// The keys of these settings, for a broker configuration schema.
    public static let schemaKeys: [ConfigSchema.Key] = [
        .init("group.initial.rebalance.delay.ms", .duration, default: "3000",
              "How long the first rebalance of an empty group waits for more members (extended while members keep joining)."),
        .init("group.min.session.timeout.ms", .duration, default: "6000", "Shortest session timeout a group member may ask for."),
        .init("group.max.session.timeout.ms", .duration, default: "1800000", "Longest session timeout a group member may ask for."),
        .init("group.max.size", .integer, default: "2147483647", "Members a consumer group may hold."),
        .init("offsets.retention.minutes", .integer, default: "10080",
              "Keep committed offsets this long after the group became empty (or after the last commit for groups without members)."),
        .init("offsets.retention.check.interval.ms", .duration, default: "600000", "How often expired offsets and empty groups are removed."),
        .init("offsets.topic.num.partitions", .integer, default: "50", "Partitions of __consumer_offsets (fixed once the topic exists)."),
        .init("offset.metadata.max.bytes", .size, default: "4096", "Longest metadata string an offset commit may carry."),
    ]

    /// Reads the `schemaKeys` settings (their schema must be part of `values`' schema).
    public init(values: ConfigValues) throws(ConfigError) {
        self.init()
        initialRebalanceDelayMs = values.integer("group.initial.rebalance.delay.ms")
        guard initialRebalanceDelayMs >= 0 else { throw values.invalid("group.initial.rebalance.delay.ms", "must not be negative") }
        guard let minSession = Int32(exactly: values.integer("group.min.session.timeout.ms")), minSession >= 0 else {
            throw values.invalid("group.min.session.timeout.ms", "must be between 0 and 2147483647 ms")
        }
        guard let maxSession = Int32(exactly: values.integer("group.max.session.timeout.ms")), maxSession >= minSession else {
            throw values.invalid("group.max.session.timeout.ms", "must be at least group.min.session.timeout.ms and at most 2147483647 ms")
        }
        minSessionTimeoutMs = minSession
        maxSessionTimeoutMs = maxSession
        maxSize = values.int("group.max.size")
        guard maxSize >= 1 else { throw values.invalid("group.max.size", "must be at least 1") }
        offsetsRetentionMinutes = values.integer("offsets.retention.minutes")
        guard offsetsRetentionMinutes >= 1 else { throw values.invalid("offsets.retention.minutes", "must be at least 1") }
        offsetsRetentionCheckIntervalMs = values.integer("offsets.retention.check.interval.ms")
        guard offsetsRetentionCheckIntervalMs >= 1 else { throw values.invalid("offsets.retention.check.interval.ms", "must be at least 1 ms") }
        guard let partitions = Int32(exactly: values.integer("offsets.topic.num.partitions")), partitions >= 1 else {
            throw values.invalid("offsets.topic.num.partitions", "must be between 1 and 2147483647")
        }
        offsetsTopicNumPartitions = partitions
        offsetMetadataMaxBytes = values.int("offset.metadata.max.bytes")
        guard offsetMetadataMaxBytes >= 0 else { throw values.invalid("offset.metadata.max.bytes", "must not be negative") }
    }
}
