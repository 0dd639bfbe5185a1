public import NIOCore

/// Why the byte stream was refused as Kafka frames. The connection cannot be resynchronised
/// after either, so the broker closes it (as Kafka does with InvalidReceiveException).
public enum KafkaFrameError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The size prefix declared more than `socket.request.max.bytes`.
    case frameTooLarge(declaredSize: Int32, maxFrameSize: Int)
    /// The size prefix was negative.
    case negativeSize(Int32)

    public var description: String {
        switch self {
        case .frameTooLarge(let size, let max):
            return "frame of \(size) bytes exceeds the \(max)-byte limit (socket.request.max.bytes)"
        case .negativeSize(let size):
            return "invalid frame size \(size)"
        }
    }
}

/// Splits a byte stream into Kafka frames: a big-endian int32 size, then that many bytes. Yields
/// each frame (without its prefix) as a zero-copy slice. The size is checked against
/// `maxFrameSize` as soon as the 4-byte prefix is readable, before any of the body is buffered.
///
/// Sans-IO: call `decode(buffer:)` with accumulated bytes until it returns nil, or use it as a
/// NIO `ByteToMessageHandler` decoder.
public struct KafkaFrameDecoder: NIOSingleStepByteToMessageDecoder, Sendable {
    public typealias InboundOut = ByteBuffer

    /// Kafka's default socket.request.max.bytes: 100 MiB.
    public static let defaultMaxFrameSize = 104_857_600

    public var maxFrameSize: Int

    public init(maxFrameSize: Int = KafkaFrameDecoder.defaultMaxFrameSize) {
        self.maxFrameSize = maxFrameSize
    }

    /// The next whole frame, or nil when more bytes are needed.
    public mutating func decode(buffer: inout ByteBuffer) throws(KafkaFrameError) -> ByteBuffer? {
        guard let size = buffer.getInteger(at: buffer.readerIndex, as: Int32.self) else { return nil }
        try Self.check(size, maxFrameSize: maxFrameSize)
        guard buffer.readableBytes - 4 >= Int(size) else { return nil }
        buffer.moveReaderIndex(forwardBy: 4)
        return buffer.readSlice(length: Int(size))
    }

    /// A declared frame size that may be buffered: not negative, at most `maxFrameSize`.
    static func check(_ size: Int32, maxFrameSize: Int) throws(KafkaFrameError) {
        guard size >= 0 else { throw .negativeSize(size) }
        guard Int(size) <= maxFrameSize else { throw .frameTooLarge(declaredSize: size, maxFrameSize: maxFrameSize) }
    }

    /// At end of stream: the remaining whole frames; a partial frame is left in the buffer.
    public mutating func decodeLast(buffer: inout ByteBuffer, seenEOF: Bool) throws(KafkaFrameError) -> ByteBuffer? {
        try decode(buffer: &buffer)
    }
}
