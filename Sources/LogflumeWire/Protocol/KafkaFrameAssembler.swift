public import NIOCore

/// Cuts a stream of reads into Kafka frames (a big-endian int32 size, then that many bytes)
/// without an accumulation buffer. A frame lying wholly inside one read is a zero-copy slice of
/// it; a frame spread over reads is copied once, into a buffer allocated at its full size as soon
/// as its size prefix is seen. (A byte-to-message decoder instead grows one buffer by doubling,
/// copying what it holds each time: for the multi-megabyte responses of a busy fetch that was a
/// tenth of a consumer's CPU.) Sizes are checked against `maxFrameSize` before anything is
/// allocated.
///
/// Sans-IO: feed it each read as it arrives; it calls `emit` with every frame completed.
public struct KafkaFrameAssembler: Sendable {
    public var maxFrameSize: Int
    /// Bytes of a size prefix cut by a read boundary.
    private var prefix: [UInt8] = []
    /// The frame being filled, and how many bytes it still lacks.
    private var frame: ByteBuffer?
    private var missing = 0

    public init(maxFrameSize: Int = KafkaFrameDecoder.defaultMaxFrameSize) {
        self.maxFrameSize = maxFrameSize
    }

    /// Whether a frame or a size prefix is partly received.
    public var isMidFrame: Bool { frame != nil || !prefix.isEmpty }

    public mutating func feed(
        _ input: ByteBuffer, allocator: ByteBufferAllocator, emit: (ByteBuffer) -> Void
    ) throws(KafkaFrameError) {
        var input = input
        while input.readableBytes > 0 {
            if var filling = frame {
                frame = nil  // so `filling` is the only reference and grows in place
                let count = min(missing, input.readableBytes)
                filling.writeImmutableBuffer(input.readSlice(length: count)!)
                missing -= count
                if missing == 0 { emit(filling) } else { frame = filling }
                continue
            }
            let size: Int
            if prefix.isEmpty, let whole = input.getInteger(at: input.readerIndex, as: Int32.self) {
                size = try checked(whole)
                input.moveReaderIndex(forwardBy: 4)
                if input.readableBytes >= size {
                    emit(input.readSlice(length: size)!)
                    continue
                }
            } else {
                while prefix.count < 4, let byte = input.readInteger(as: UInt8.self) { prefix.append(byte) }
                guard prefix.count == 4 else { return }
                let value = prefix.withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }
                prefix = []
                size = try checked(Int32(bigEndian: value))
            }
            if size == 0 {
                emit(allocator.buffer(capacity: 0))
                continue
            }
            frame = allocator.buffer(capacity: size)
            missing = size
        }
    }

    private func checked(_ size: Int32) throws(KafkaFrameError) -> Int {
        try KafkaFrameDecoder.check(size, maxFrameSize: maxFrameSize)
        return Int(size)
    }
}
