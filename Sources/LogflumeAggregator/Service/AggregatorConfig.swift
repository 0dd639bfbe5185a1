import Foundation
public import LogflumeConfig
import LogflumeMetrics

/// Everything `logflume aggregator` is configured with. `conf/aggregator.toml` lists the same
/// keys with their defaults; an unknown or malformed key is an error naming file, line and key.
public struct AggregatorConfig: Sendable {
    /// Default: "127.0.0.1:9092"; several as "host1:9092,host2:9092".
    public var bootstrapServers = "127.0.0.1:9092"
    /// Default: "hourly-aggregator".
    public var groupId = "hourly-aggregator"
    /// Required: the topics to aggregate.
    public var topics: [String] = []
    /// Default: "logflume-aggregator".
    public var clientId = "logflume-aggregator"
    /// Default: 10 s.
    public var sessionTimeoutMs: Int32 = 10_000
    /// Default: 500.
    public var maxPollRecords = 500
    /// Default: hour.
    public var granularity: BucketGranularity = .hour
    /// Default: UTC.
    public var timeZone: BucketTimeZone = .utc
    public var aggregation = AggregationSettings()
    public var output = OutputSettings()
    /// Default: "./out".
    public var root = "./out"
    /// `output.sink = "s3"`: where in S3 buckets go instead of under `root`. Default: nil (local).
    public var s3: S3SinkConfiguration?
    /// How far back unfinished buckets are looked for (to write their marker after a crash, or
    /// to complete a partition's share of another instance's bucket). Default: 48 h.
    public var markerLookbackMs: Int64 = 172_800_000
    /// How often the watermark is advanced and buckets closed. Default: 1 s.
    public var tickIntervalMs: Int64 = 1000
    /// Default: none.
    public var doneHook: DoneHook?
    /// Default: "info".
    public var logLevel = "info"
    /// HOST:PORT for Prometheus /metrics and /status; empty: off.
    public var metricsListen = ""

    public init() {}

    public static let schema = ConfigSchema(keys: [
        .init("kafka.bootstrap_servers", .string, default: "127.0.0.1:9092", "Brokers to bootstrap from, comma separated."),
        .init("kafka.group_id", .string, default: "hourly-aggregator", "Consumer group shared by every aggregator instance of these topics."),
        .init("kafka.topics", .stringArray, default: "", "Topics to aggregate (required)."),
        .init("kafka.client_id", .string, default: "logflume-aggregator", "Client id sent to the brokers."),
        .init("kafka.session_timeout", .duration, default: "10s", "Group session timeout: a silent instance loses its partitions after this."),
        .init("kafka.max_poll_records", .integer, default: "500", "Records handled per poll at most."),
        .init("buckets.granularity", .choice(["hour", "day", "minute"]), default: "hour", "Bucket width; minute is meant for tests and demos."),
        .init("buckets.timezone", .string, default: "UTC", "Zone of the dt=/hr= labels: UTC, a fixed offset like \"+09:00\", or an IANA name like \"Europe/Berlin\"."),
        .init("buckets.delay", .duration, default: "10m", "A bucket closes once the watermark passes its end plus this."),
        .init("buckets.idle_timeout", .duration, default: "1m", "A caught-up partition without records for this long stops holding the watermark back."),
        .init("buckets.max_open_hours", .integer, default: "12", "Open buckets (and late rounds) at most; beyond it the oldest is closed early (logged and counted)."),
        .init("buckets.max_future_skew", .duration, default: "1h", "Event times further ahead of the clock count as this far ahead for the watermark."),
        .init("output.root", .string, default: "./out", "Directory the <topic>/dt=YYYY-MM-DD/hr=HH/ tree is written under."),
        .init("output.sink", .choice(["local", "s3"]), default: "local", "Where buckets go: local (the filesystem under output.root) or s3 (the [s3] keys)."),
        .init("output.format", .choice(["jsonl", "raw"]), default: "jsonl", "jsonl: one JSON object per record; raw: the record value and a newline."),
        .init("output.codec", .choice(["gzip", "zstd", "none"]), default: "gzip", "Compression of data files."),
        .init("output.gzip_encoder", .choice(GzipEncoder.allCases.map(\.rawValue)), default: "isa-l", "Library writing gzip: isa-l (several times faster) or libdeflate (smaller files)."),
        .init("output.compression_level", .integer, default: "-1", "Codec level; -1 picks the default (gzip 6 with libdeflate, 1 with isa-l; zstd 1: on JSON lines smaller than zstd 3, and cheaper)."),
        .init("output.max_file_bytes", .size, default: "256MiB", "A part file ends once this many bytes (before compression) are in it."),
        .init("output.marker_lookback", .duration, default: "48h", "How far back unfinished buckets are checked for their manifest and marker."),
        .init("late.policy", .choice(["late-dir", "drop", "reopen"]), default: "late-dir", "Records for an already closed bucket: late/ subdirectory, drop (counted), or reopen the bucket."),
        .init("done_hook.command", .string, default: "", "Shell command run once per finished bucket; empty disables it."),
        .init("done_hook.retries", .integer, default: "5", "Retries of a failing done-hook."),
        .init("done_hook.backoff", .duration, default: "1s", "Wait before the first retry, doubling up to a minute."),
        .init("done_hook.timeout", .duration, default: "5m", "A done-hook run taking longer is killed and retried."),
        .init("done_hook.recheck_interval", .duration, default: "10m", "How often owed runs are listed again (at least as long as a run with its retries can take); one owed at two checks in a row runs again."),
        .init("tick_interval", .duration, default: "1s", "How often the watermark advances and buckets close; also at once when a partition turns idle."),
        .init("log_level", .choice(["trace", "debug", "info", "notice", "warning", "error", "critical"]), default: "info", "Log verbosity."),
        .init("metrics_listen", .string, default: "", "HOST:PORT serving Prometheus /metrics and /status; empty: off."),
    ] + S3SinkConfiguration.schemaKeys)

    /// Reads `path` through the schema.
    public static func load(file path: String) throws(ConfigError) -> AggregatorConfig {
        try AggregatorConfig(values: schema.load(file: path))
    }

    public init(values: ConfigValues) throws(ConfigError) {
        bootstrapServers = values.string("kafka.bootstrap_servers")
        groupId = values.string("kafka.group_id")
        guard !groupId.isEmpty else { throw values.invalid("kafka.group_id", "must not be empty") }
        topics = values.strings("kafka.topics")
        guard !topics.isEmpty else { throw values.invalid("kafka.topics", "name at least one topic") }
        clientId = values.string("kafka.client_id")
        sessionTimeoutMs = Int32(clamping: values.integer("kafka.session_timeout"))
        maxPollRecords = values.int("kafka.max_poll_records")
        guard maxPollRecords >= 1 else { throw values.invalid("kafka.max_poll_records", "must be at least 1") }
        granularity = BucketGranularity(rawValue: values.string("buckets.granularity"))!
        let zoneText = values.string("buckets.timezone")
        guard let zone = BucketTimeZone(zoneText) else {
            throw values.invalid("buckets.timezone", "'\(zoneText)' is neither UTC, a fixed offset like +09:00, nor a known IANA zone")
        }
        if case .named = zone, granularity == .minute {
            throw values.invalid("buckets.timezone", "minute buckets need UTC or a fixed offset (local minutes repeat when clocks go back)")
        }
        timeZone = zone
        aggregation.delayMs = values.integer("buckets.delay")
        aggregation.idleTimeoutMs = values.integer("buckets.idle_timeout")
        aggregation.maxOpenBuckets = values.int("buckets.max_open_hours")
        guard aggregation.maxOpenBuckets >= 1 else { throw values.invalid("buckets.max_open_hours", "must be at least 1") }
        aggregation.maxFutureSkewMs = values.integer("buckets.max_future_skew")
        aggregation.latePolicy = LatePolicy(rawValue: values.string("late.policy"))!
        root = values.string("output.root")
        guard !root.isEmpty else { throw values.invalid("output.root", "must not be empty") }
        output.format = OutputFormat(rawValue: values.string("output.format"))!
        output.codec = OutputCodec(rawValue: values.string("output.codec"))!
        output.gzipEncoder = GzipEncoder(rawValue: values.string("output.gzip_encoder"))!
        let level = values.int("output.compression_level")
        let levels = output.codec == .gzip ? output.gzipEncoder.levels : 1...19
        switch (output.codec, level) {
        case (_, -1), (.none, _): output.compressionLevel = nil
        case (_, levels): output.compressionLevel = level
        default:
            let codec = output.codec == .gzip ? "gzip with \(output.gzipEncoder.rawValue)" : output.codec.rawValue
            // isa-l became the default encoder; a level only libdeflate has most likely predates that.
            let hint = output.codec == .gzip && output.gzipEncoder == .isal && GzipEncoder.libdeflate.levels.contains(level)
                ? "; isa-l is the default gzip_encoder: set output.gzip_encoder = \"libdeflate\" for levels up to 9" : ""
            throw values.invalid("output.compression_level", "\(level) is out of range for \(codec) (\(levels.lowerBound)-\(levels.upperBound), or -1)\(hint)")
        }
        output.maxFileBytes = values.integer("output.max_file_bytes")
        guard output.maxFileBytes >= 1 else { throw values.invalid("output.max_file_bytes", "must be positive") }
        markerLookbackMs = values.integer("output.marker_lookback")
        if values.string("output.sink") == "s3" {
            s3 = try S3SinkConfiguration(values: values, environment: ProcessInfo.processInfo.environment)
            // S3 objects end at 5 TiB; a part file can pass max_file_bytes by one record.
            guard output.maxFileBytes <= 4 << 40 else { throw values.invalid("output.max_file_bytes", "at most 4TiB with sink = \"s3\" (S3 objects end at 5TiB)") }
        }
        let command = values.string("done_hook.command")
        if !command.isEmpty {
            var hook = DoneHook(command: command)
            hook.retries = max(0, values.int("done_hook.retries"))
            hook.backoffMs = max(1, values.integer("done_hook.backoff"))
            hook.timeoutMs = max(1, values.integer("done_hook.timeout"))
            hook.recheckMs = max(1000, values.integer("done_hook.recheck_interval"))
            doneHook = hook
        }
        tickIntervalMs = max(10, values.integer("tick_interval"))
        logLevel = values.string("log_level")
        metricsListen = values.string("metrics_listen")
        if !metricsListen.isEmpty && MetricsEndpoint.parseListen(metricsListen) == nil {
            throw values.invalid("metrics_listen", "'\(metricsListen)' is not HOST:PORT")
        }
    }

    public var calendar: BucketCalendar { BucketCalendar(granularity: granularity, zone: timeZone) }
}
