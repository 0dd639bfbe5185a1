/// A value from a configuration file, with the line it came from.
public enum ConfigValue: Equatable, Sendable {
    case string(String)
    case integer(Int64)
    case float(Double)
    case boolean(Bool)
    case array([ConfigValue])

    var typeName: String {
        switch self {
        case .string: "a string"
        case .integer: "an integer"
        case .float: "a number"
        case .boolean: "a boolean"
        case .array: "an array"
        }
    }
}

/// One `key = value` line, with its key flattened to a dotted path (`[log]` + `retention.ms`
/// becomes `log.retention.ms`), so Kafka-style names read naturally.
public struct ConfigEntry: Equatable, Sendable {
    public var key: String
    public var value: ConfigValue
    public var line: Int
}
