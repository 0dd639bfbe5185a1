public import LogflumeCompression

/// The 16-bit attributes field of a record batch v2.
public struct BatchAttributes: Equatable, Hashable, Sendable {
    public var rawValue: Int16

    public init(rawValue: Int16) { self.rawValue = rawValue }

    public init(
        compression: CompressionCodec = .none,
        timestampType: TimestampType = .createTime,
        isTransactional: Bool = false,
        isControl: Bool = false
    ) {
        var raw = Int16(compression.rawValue) & 0x07
        if timestampType == .logAppendTime { raw |= 0x08 }
        if isTransactional { raw |= 0x10 }
        if isControl { raw |= 0x20 }
        self.rawValue = raw
    }

    /// The compression id (bits 0-2); nil when the id names no known codec.
    public var compression: CompressionCodec? { CompressionCodec(rawValue: Int8(rawValue & 0x07)) }

    public var timestampType: TimestampType {
        get { rawValue & 0x08 != 0 ? .logAppendTime : .createTime }
        set { rawValue = newValue == .logAppendTime ? rawValue | 0x08 : rawValue & ~0x08 }
    }

    public var isTransactional: Bool { rawValue & 0x10 != 0 }
    public var isControl: Bool { rawValue & 0x20 != 0 }
    public var hasDeleteHorizon: Bool { rawValue & 0x40 != 0 }
}

public enum TimestampType: Int8, Sendable, CustomStringConvertible {
    case createTime = 0
    case logAppendTime = 1

    public var description: String { self == .createTime ? "CreateTime" : "LogAppendTime" }
}
