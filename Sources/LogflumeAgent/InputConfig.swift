public import LogflumeConfig

/// One `[[input]]` section: which files to tail and how to turn their lines into records.
public struct InputConfig: Sendable {
    public var name = ""
    public var paths: [String] = []
    public var exclude = ["*.gz", "*.bz2", "*.xz", "*.zst", "*.zip"]
    public var format: LineFormat = .plain
    public var topic = ""
    public var key: RecordKeySource = .none
    public var value: RecordValueForm = .raw
    public var maxLineBytes = 1 << 20
    public var partialLineTimeoutMs: Int64 = 5_000
    public var startAt: StartAt = .beginning
    public var fingerprintBytes = 1024

    public enum RecordKeySource: String, Sendable { case none, host, remoteAddress = "remote_addr" }
    public enum RecordValueForm: String, Sendable { case raw, json }
    public enum StartAt: String, Sendable { case beginning, end }

    public init(paths: [String]) { self.paths = paths }

    public static let schema = ConfigSchema(keys: [
        .init("name", .string, default: "", "A label for logs and metrics; empty: the first path."),
        .init("paths", .stringArray, default: "", "Glob patterns of files to tail (required), e.g. [\"/var/log/nginx/access.log*\"]."),
        .init("exclude", .stringArray, default: "*.gz,*.bz2,*.xz,*.zst,*.zip", "Glob patterns matched against the file name (and the whole path) to skip."),
        .init("format", .choice(["plain", "nginx_combined", "nginx", "json"]), default: "plain", "How lines are parsed for their event time and fields."),
        .init("log_format", .string, default: "", "The nginx log_format string, for format = \"nginx\"."),
        .init("escape", .choice(["default", "json", "none"]), default: "default", "The log_format's escape= setting."),
        .init("time_field", .string, default: "time", "For format = \"json\": the field holding the event time."),
        .init("topic", .string, default: "", "Topic for this input; empty: the top-level topic."),
        .init("key", .choice(["none", "host", "remote_addr"]), default: "none", "Record key: none, this host's name, or the line's $remote_addr."),
        .init("value", .choice(["raw", "json"]), default: "raw", "Record value: the line's bytes unchanged, or its parsed fields as JSON."),
        .init("max_line_bytes", .size, default: "1MiB", "Longer lines are cut to this size and flagged; never dropped."),
        .init("partial_line_timeout", .duration, default: "5s", "A last line without a newline is shipped (flagged) after this long unchanged."),
        .init("start_at", .choice(["beginning", "end"]), default: "beginning", "Where files without a checkpoint start on the agent's first scan."),
        .init("fingerprint_bytes", .size, default: "1024", "Bytes hashed from the start of a file to tell files apart beside device and inode."),
    ])

    init(values: ConfigValues) throws(ConfigError) {
        paths = values.strings("paths")
        if paths.isEmpty { throw values.invalid("paths", "an [[input]] needs at least one path pattern") }
        for path in paths where !path.hasPrefix("/") {
            throw values.invalid("paths", "'\(path)' is not absolute: the agent may run from any directory")
        }
        name = values.string("name").isEmpty ? paths[0] : values.string("name")
        exclude = values.strings("exclude")
        let escapeName = values.string("escape")
        let escape = NginxEscape(rawValue: escapeName) ?? .default
        switch values.string("format") {
        case "nginx_combined":
            format = .nginx(try Self.compile(Self.combinedFormat, escape: escape, values: values, key: "format"))
        case "nginx":
            let source = values.string("log_format")
            if source.isEmpty { throw values.invalid("log_format", "format = \"nginx\" needs a log_format string") }
            format = .nginx(try Self.compile(source, escape: escape, values: values, key: "log_format"))
        case "json":
            format = .json(timeField: values.string("time_field"))
        default:
            format = .plain
        }
        topic = values.string("topic")
        if !topic.isEmpty && !AgentConfig.isValidTopic(topic) { throw values.invalid("topic", "'\(topic)' is not a valid topic name") }
        key = RecordKeySource(rawValue: values.string("key")) ?? .none
        value = RecordValueForm(rawValue: values.string("value")) ?? .raw
        if case .plain = format, value == .json {
            throw values.invalid("value", "value = \"json\" needs a format with fields (nginx_combined, nginx or json)")
        }
        if key == .remoteAddress {
            guard case .nginx(let compiled) = format, compiled.variables.contains("remote_addr") else {
                throw values.invalid("key", "key = \"remote_addr\" needs an nginx format that logs $remote_addr")
            }
        }
        maxLineBytes = Int(try positive(values, "max_line_bytes"))
        partialLineTimeoutMs = try positive(values, "partial_line_timeout")
        startAt = StartAt(rawValue: values.string("start_at")) ?? .beginning
        fingerprintBytes = Int(try positive(values, "fingerprint_bytes"))
        if fingerprintBytes > 65_536 { throw values.invalid("fingerprint_bytes", "must be at most 64KiB") }
    }

    /// nginx's built-in `combined` log_format.
    static let combinedFormat =
        #"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#

    private static func compile(_ source: String, escape: NginxEscape, values: ConfigValues, key: String) throws(ConfigError) -> NginxLogFormat {
        do {
            return try NginxLogFormat(source, escape: escape)
        } catch {
            throw values.invalid(key, "\(error)")
        }
    }
}
