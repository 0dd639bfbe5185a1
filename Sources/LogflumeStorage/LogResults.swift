import LogflumeWire

/// What an append did: the offsets it assigned and the timestamps the broker reports back.
public struct LogAppendInfo: Equatable, Sendable {
    public var firstOffset: Int64
    public var lastOffset: Int64
    public var maxTimestamp: Int64
    /// The broker time stamped into the batch under LogAppendTime; -1 under CreateTime.
    public var logAppendTime: Int64
    public var recordCount: Int32
    public var sizeInBytes: Int
}

/// A byte range of a segment file that a socket can `sendfile` without copying into user space.
/// It holds the descriptor open until released, even if the segment is deleted meanwhile.
public struct FileRange: Sendable {
    public let file: OpenFile
    public let position: Int64
    public let length: Int
}

/// The result of a read: whole batches, except that the last range may end inside a batch when
/// the byte limit cuts it (as Kafka's fetch does; clients drop the partial batch).
public struct LogReadResult: Sendable {
    public var ranges: [FileRange]
    public var logStartOffset: Int64
    public var logEndOffset: Int64
    public var byteCount: Int { ranges.reduce(0) { $0 + $1.length } }

    public static func empty(logStartOffset: Int64, logEndOffset: Int64) -> LogReadResult {
        LogReadResult(ranges: [], logStartOffset: logStartOffset, logEndOffset: logEndOffset)
    }
}

/// The first record at or after a timestamp, as ListOffsets reports it.
public struct TimestampAndOffset: Equatable, Sendable {
    public var timestamp: Int64
    public var offset: Int64

    public init(timestamp: Int64, offset: Int64) {
        self.timestamp = timestamp
        self.offset = offset
    }
}
