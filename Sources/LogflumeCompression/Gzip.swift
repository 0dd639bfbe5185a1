import CZlib
import NIOCore

/// gzip as Kafka's Java client uses it: `GZIPOutputStream` when producing, `GZIPInputStream` when
/// consuming. Both sides are zlib underneath, so zlib with a gzip wrapper matches exactly.
enum Gzip {
    /// windowBits for deflateInit2/inflateInit2: +16 writes a gzip wrapper, +32 accepts gzip or
    /// zlib by looking at the header.
    private static let gzipWindowBits = MAX_WBITS + 16
    private static let autoDetectWindowBits = MAX_WBITS + 32
    /// deflate cannot expand data by more than about 1032:1, so a trailer claiming more is a lie.
    private static let maxDeflateRatio = 1032

    static func compress(_ input: ByteBuffer, into output: inout ByteBuffer, level: Int?) throws(CompressionError) {
        let level = level ?? Int(Z_DEFAULT_COMPRESSION)
        guard (-1...9).contains(level) else {
            throw CompressionError(codec: .gzip, reason: .invalidLevel(level))
        }
        try withStream { (stream) throws(CompressionError) in
            let status = deflateInit2_(
                stream, Int32(level), Z_DEFLATED, gzipWindowBits, 8, Z_DEFAULT_STRATEGY,
                ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)
            )
            guard status == Z_OK else { throw libraryError(status, stream) }
            defer { deflateEnd(stream) }

            try input.withReadableBytesNonNil { (source, count) throws(CompressionError) in
                stream.pointee.next_in = UnsafeMutablePointer(mutating: source.assumingMemoryBound(to: Bytef.self))
                // A ByteBuffer holds at most UInt32.max bytes, so the whole input fits in one go.
                stream.pointee.avail_in = uInt(count)
                // With deflateBound bytes of room a single Z_FINISH call completes the stream; the
                // loop is only a safety net.
                var request = Int(deflateBound(stream, uLong(count)))
                while true {
                    var status = Z_OK
                    let written = try output.writeWithUnsafeMutableBytes(
                        minimumWritableBytes: request
                    ) { (space) throws(CompressionError) -> Int in
                        let room = uInt(clamping: space.count)
                        stream.pointee.next_out = space.baseAddress!.assumingMemoryBound(to: Bytef.self)
                        stream.pointee.avail_out = room
                        status = deflate(stream, Z_FINISH)
                        return Int(room - stream.pointee.avail_out)
                    }
                    switch status {
                    case Z_STREAM_END:
                        return
                    case Z_OK, Z_BUF_ERROR:
                        // Out of room, which deflateBound promises won't happen; stop if there is
                        // not even progress.
                        guard written > 0 else { throw libraryError(status, stream) }
                        request = 64 << 10
                    default:
                        throw libraryError(status, stream)
                    }
                }
            }
        }
    }

    /// Unlike `GZIPInputStream`, bytes after the last member that don't form another member are an
    /// error rather than silently dropped: no Kafka client writes them, so they signal corruption.
    static func decompress(_ input: ByteBuffer, into output: inout ByteBuffer, limit: Int) throws(CompressionError) {
        try withStream { (stream) throws(CompressionError) in
            let status = inflateInit2_(stream, autoDetectWindowBits, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
            guard status == Z_OK else { throw libraryError(status, stream) }
            defer { inflateEnd(stream) }

            try input.withReadableBytesNonNil { (source, count) throws(CompressionError) in
                stream.pointee.next_in = UnsafeMutablePointer(mutating: source.assumingMemoryBound(to: Bytef.self))
                stream.pointee.avail_in = uInt(count)
                let hint = sizeHint(UnsafeRawBufferPointer(start: source, count: count))
                try appendStreaming(
                    into: &output, codec: .gzip, limit: limit, sizeHint: hint
                ) { (space) throws(CompressionError) -> StreamStep in
                    let room = uInt(clamping: space.count)
                    stream.pointee.next_out = space.baseAddress!.assumingMemoryBound(to: Bytef.self)
                    stream.pointee.avail_out = room
                    let status = inflate(stream, Z_NO_FLUSH)
                    let written = Int(room - stream.pointee.avail_out)
                    switch status {
                    case Z_OK:
                        // zlib only reports Z_OK when it made progress.
                        return StreamStep(written: written, finished: false)
                    case Z_STREAM_END:
                        if stream.pointee.avail_in == 0 {
                            return StreamStep(written: written, finished: true)
                        }
                        // More input after a member's trailer is another member: GZIPInputStream
                        // reads concatenated members, so some producers rely on it.
                        inflateReset(stream)
                        return StreamStep(written: written, finished: false)
                    case Z_BUF_ERROR:
                        // No progress was possible despite output room: the input ran out early.
                        throw stream.pointee.avail_in == 0
                            ? CompressionError.truncated(.gzip)
                            : CompressionError.corrupt(.gzip, "decoder made no progress")
                    case Z_DATA_ERROR:
                        throw CompressionError.corrupt(.gzip, message(stream) ?? "invalid deflate data")
                    case Z_NEED_DICT:
                        throw CompressionError.corrupt(.gzip, "stream needs a preset dictionary")
                    default:
                        throw libraryError(status, stream)
                    }
                }
            }
        }
    }

    /// The gzip trailer's ISIZE (uncompressed size mod 2^32) of the last member: a good first
    /// guess for the output buffer, used only if deflate could actually produce that much.
    private static func sizeHint(_ bytes: UnsafeRawBufferPointer) -> Int {
        let fallback = bytes.count * 4
        guard bytes.count >= 18 else { return fallback }
        let claimed = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: bytes.count - 4, as: UInt32.self)))
        return claimed <= bytes.count * maxDeflateRatio ? claimed : fallback
    }

    /// zlib keeps a pointer back to the z_stream inside its state, so the stream needs a stable
    /// address for its whole life.
    private static func withStream<T>(
        _ body: (UnsafeMutablePointer<z_stream>) throws(CompressionError) -> T
    ) throws(CompressionError) -> T {
        let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
        stream.initialize(to: z_stream())
        defer {
            stream.deinitialize(count: 1)
            stream.deallocate()
        }
        return try body(stream)
    }

    private static func message(_ stream: UnsafeMutablePointer<z_stream>) -> String? {
        stream.pointee.msg.map { String(cString: $0) }
    }

    private static func libraryError(_ status: Int32, _ stream: UnsafeMutablePointer<z_stream>) -> CompressionError {
        let text = message(stream) ?? zError(status).map { String(cString: $0) } ?? "unknown zlib error"
        return CompressionError(codec: .gzip, reason: .libraryError(code: Int(status), message: text))
    }
}
