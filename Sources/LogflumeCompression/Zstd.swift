import CZstd
import NIOCore

/// Zstandard frames, as Kafka has used since 2.1.
enum Zstd {
    /// zstd's own default, and what Kafka uses unless `compression.zstd.level` is set.
    static let defaultLevel = 3
    /// How far a frame's declared content size is trusted when sizing the first output chunk. A
    /// 20-byte header can claim gigabytes; beyond this the buffer grows only as data really arrives.
    private static let trustedExpansion = 256

    static func compress(_ input: ByteBuffer, into output: inout ByteBuffer, level: Int?) throws(CompressionError) {
        let level = level ?? defaultLevel
        guard (Int(ZSTD_minCLevel())...Int(ZSTD_maxCLevel())).contains(level) else {
            throw CompressionError(codec: .zstd, reason: .invalidLevel(level))
        }
        try input.withReadableBytesNonNil { (source, count) throws(CompressionError) in
            let bound = ZSTD_compressBound(count)
            guard ZSTD_isError(bound) == 0 else { throw libraryError(bound) }
            try output.writeWithUnsafeMutableBytes(
                minimumWritableBytes: bound
            ) { (space) throws(CompressionError) -> Int in
                let result = ZSTD_compress(space.baseAddress, space.count, source, count, Int32(level))
                guard ZSTD_isError(result) == 0 else { throw libraryError(result) }
                return result
            }
        }
    }

    /// Uses the streaming decoder because producers that stream (zstd-jni's output stream,
    /// librdkafka) don't record the content size, and because it reads concatenated frames.
    static func decompress(_ input: ByteBuffer, into output: inout ByteBuffer, limit: Int) throws(CompressionError) {
        guard let stream = ZSTD_createDStream() else {
            throw CompressionError(codec: .zstd, reason: .libraryError(code: 0, message: "cannot allocate a decoder"))
        }
        defer { ZSTD_freeDStream(stream) }

        try input.withReadableBytesNonNil { (source, count) throws(CompressionError) in
            var position = 0
            try appendStreaming(
                into: &output, codec: .zstd, limit: limit, sizeHint: sizeHint(source, count)
            ) { (space) throws(CompressionError) -> StreamStep in
                var inBuffer = ZSTD_inBuffer(src: source, size: count, pos: position)
                var outBuffer = ZSTD_outBuffer(dst: space.baseAddress, size: space.count, pos: 0)
                let result = ZSTD_decompressStream(stream, &outBuffer, &inBuffer)
                guard ZSTD_isError(result) == 0 else {
                    let code = ZSTD_getErrorCode(result)
                    if code == ZSTD_error_memory_allocation {
                        throw libraryError(result)
                    }
                    throw CompressionError.corrupt(
                        .zstd, "\(String(cString: ZSTD_getErrorName(result))) (code \(code.rawValue))"
                    )
                }
                let consumed = inBuffer.pos - position
                position = inBuffer.pos
                if result == 0 {
                    // A frame ended and is fully flushed; the stream starts on the next frame, if
                    // any, at the next call.
                    return StreamStep(written: outBuffer.pos, finished: position == count)
                }
                if consumed == 0 && outBuffer.pos == 0 {
                    throw position == count
                        ? CompressionError.truncated(.zstd)
                        : CompressionError.corrupt(.zstd, "decoder made no progress")
                }
                return StreamStep(written: outBuffer.pos, finished: false)
            }
        }
    }

    /// The first frame's declared content size, when present and plausible. An output buffer at
    /// least that large also lets zstd decode the frame in a single pass, straight into it.
    private static func sizeHint(_ source: UnsafeRawPointer, _ count: Int) -> Int {
        let fallback = count * 4
        let declared = ZSTD_getFrameContentSize(source, count)
        // UInt64.max and UInt64.max - 1 are ZSTD_CONTENTSIZE_UNKNOWN and ZSTD_CONTENTSIZE_ERROR.
        guard declared < UInt64.max - 1 else { return fallback }
        let ceiling = count * trustedExpansion + (64 << 10)
        return declared <= UInt64(ceiling) ? Int(declared) : fallback
    }

    private static func libraryError(_ result: Int) -> CompressionError {
        CompressionError(
            codec: .zstd,
            reason: .libraryError(
                code: Int(ZSTD_getErrorCode(result).rawValue),
                message: String(cString: ZSTD_getErrorName(result))
            )
        )
    }
}
