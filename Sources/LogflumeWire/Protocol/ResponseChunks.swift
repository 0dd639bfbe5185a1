public import NIOCore

/// One piece of an encoded response, in wire order: bytes the codec produced, or a run of bytes
/// the codec does not hold (a file region the broker splices in with sendfile), identified by an
/// opaque token the broker chose.
public enum ResponseChunk: Equatable, Sendable {
    case bytes(ByteBuffer)
    case external(token: Int, length: Int)

    public var length: Int {
        switch self {
        case .bytes(let buffer): return buffer.readableBytes
        case .external(_, let length): return length
        }
    }
}

extension Collection where Element == ResponseChunk {
    /// Bytes the chunks put on the wire, for a frame's size prefix.
    public var totalLength: Int { reduce(0) { $0 + $1.length } }
}

/// An append-only builder of `[ResponseChunk]`: encoders write into `buffer` and splice in
/// external regions (or large buffers they do not want to copy) in between. All `.bytes` chunks
/// are slices of one storage, so building costs one growing allocation.
public struct ResponseChunks: Sendable {
    /// Where encoders write. Append only: do not move its reader index or rewrite earlier bytes
    /// other than through `setFrameLength`.
    public var buffer: ByteBuffer
    private var splices: [(at: Int, chunk: ResponseChunk)] = []
    private var splicedLength = 0

    /// Buffers at least this long are spliced rather than copied by `appendBytes`.
    public static let copyThreshold = 4096

    public init(buffer: ByteBuffer = ByteBuffer()) {
        self.buffer = buffer
    }

    /// Bytes written or spliced so far.
    public var totalLength: Int { buffer.readableBytes + splicedLength }

    /// Splices a region the codec does not hold, to be written by the broker at this point.
    public mutating func appendExternal(token: Int, length: Int) {
        precondition(length >= 0, "negative external length \(length)")
        splices.append((buffer.writerIndex, .external(token: token, length: length)))
        splicedLength += length
    }

    /// Appends bytes, splicing large buffers in without copying them.
    public mutating func appendBytes(_ bytes: ByteBuffer) {
        if bytes.readableBytes >= Self.copyThreshold {
            splices.append((buffer.writerIndex, .bytes(bytes)))
            splicedLength += bytes.readableBytes
        } else {
            var bytes = bytes
            buffer.writeBuffer(&bytes)
        }
    }

    /// Writes `totalLength - 4 - (position - readerIndex)` as the int32 at `position`: the size
    /// prefix of a frame whose 4-byte placeholder was written there.
    public mutating func setFrameLength(at position: Int) {
        let before = position - buffer.readerIndex
        let length = totalLength - before - 4
        precondition(length >= 0 && length <= Int(Int32.max), "frame length \(length) does not fit a Kafka frame")
        buffer.setInteger(Int32(length), at: position)
    }

    /// The chunks in wire order; empty byte runs are left out.
    public var chunks: [ResponseChunk] {
        var result: [ResponseChunk] = []
        result.reserveCapacity(splices.count * 2 + 1)
        var from = buffer.readerIndex
        for (at, chunk) in splices {
            if at > from, let slice = buffer.getSlice(at: from, length: at - from) { result.append(.bytes(slice)) }
            switch chunk {
            case .bytes(let bytes) where bytes.readableBytes == 0: break
            default: result.append(chunk)  // external regions are kept even when empty
            }
            from = at
        }
        if buffer.writerIndex > from, let slice = buffer.getSlice(at: from, length: buffer.writerIndex - from) {
            result.append(.bytes(slice))
        }
        return result
    }
}

/// Size-prefixed response frames: int32 size, response header, body.
public enum KafkaResponseFrame {
    /// A whole frame for a body the caller writes into `chunks` (the Fetch response splices
    /// external records; other responses just write bytes).
    public static func encode(
        correlationId: Int32, headerVersion: Int16, initialCapacity: Int = 256,
        body: (inout ResponseChunks) -> Void
    ) -> [ResponseChunk] {
        var chunks = ResponseChunks(buffer: ByteBuffer())
        chunks.buffer.reserveCapacity(initialCapacity)
        let sizeAt = chunks.buffer.writerIndex
        chunks.buffer.writeInteger(Int32(0))
        ResponseHeader(correlationId: correlationId).encode(into: &chunks.buffer, headerVersion: headerVersion)
        body(&chunks)
        chunks.setFrameLength(at: sizeAt)
        return chunks.chunks
    }

    /// A whole frame for a response that encodes into one buffer.
    public static func encode<M: KafkaEncodableMessage>(_ message: M, version: Int16, correlationId: Int32) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(Int32(0))
        ResponseHeader(correlationId: correlationId).encode(into: &buffer, headerVersion: M.apiKey.responseHeaderVersion(version))
        message.encode(into: &buffer, version: version)
        buffer.setInteger(Int32(buffer.readableBytes - 4), at: buffer.readerIndex)
        return buffer
    }
}

/// Size-prefixed request frames, for the client: int32 size, request header, body.
public enum KafkaRequestFrame {
    public static func encode<M: KafkaEncodableMessage>(_ message: M, version: Int16, correlationId: Int32, clientId: String?) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeInteger(Int32(0))
        RequestHeader(apiKey: M.apiKey, apiVersion: version, correlationId: correlationId, clientId: clientId).encode(into: &buffer)
        message.encode(into: &buffer, version: version)
        buffer.setInteger(Int32(buffer.readableBytes - 4), at: buffer.readerIndex)
        return buffer
    }
}
