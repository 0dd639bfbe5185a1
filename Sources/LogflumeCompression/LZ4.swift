import CLZ4
import NIOCore

/// LZ4 in the standard frame format, which Kafka uses for v1 and v2 batches.
enum LZ4 {
    static func compress(_ input: ByteBuffer, into output: inout ByteBuffer, level: Int?) throws(CompressionError) {
        // Default to lz4's fast mode: it is why people pick lz4 and keeps produce latency low.
        let level = level ?? 0
        guard let level32 = Int32(exactly: level) else {
            throw CompressionError(codec: .lz4, reason: .invalidLevel(level))
        }
        // Mirror the frames Kafka's Java writer (Lz4BlockOutputStream) produces: its reader rejects
        // linked blocks outright, and older releases also choke on a content size or content
        // checksum, so leave those out and use 64 KiB independent blocks.
        var preferences = LZ4F_preferences_t()
        preferences.frameInfo.blockSizeID = LZ4F_max64KB
        preferences.frameInfo.blockMode = LZ4F_blockIndependent
        preferences.frameInfo.contentChecksumFlag = LZ4F_noContentChecksum
        preferences.frameInfo.blockChecksumFlag = LZ4F_noBlockChecksum
        preferences.frameInfo.contentSize = 0
        preferences.compressionLevel = level32

        try input.withReadableBytesNonNil { (source, count) throws(CompressionError) in
            let bound = LZ4F_compressFrameBound(count, &preferences)
            try output.writeWithUnsafeMutableBytes(
                minimumWritableBytes: bound
            ) { (space) throws(CompressionError) -> Int in
                let result = LZ4F_compressFrame(space.baseAddress, space.count, source, count, &preferences)
                guard LZ4F_isError(result) == 0 else {
                    throw CompressionError(
                        codec: .lz4,
                        reason: .libraryError(code: -result, message: String(cString: LZ4F_getErrorName(result)))
                    )
                }
                return result
            }
        }
    }

    /// Uses the streaming decoder because Kafka's frames don't carry the content size, and because
    /// it reads several concatenated frames in a row.
    static func decompress(_ input: ByteBuffer, into output: inout ByteBuffer, limit: Int) throws(CompressionError) {
        var context: OpaquePointer?
        let created = LZ4F_createDecompressionContext(&context, UInt32(LZ4F_VERSION))
        guard LZ4F_isError(created) == 0, let context else {
            throw CompressionError(
                codec: .lz4,
                reason: .libraryError(code: -created, message: String(cString: LZ4F_getErrorName(created)))
            )
        }
        defer { LZ4F_freeDecompressionContext(context) }

        try input.withReadableBytesNonNil { (source, count) throws(CompressionError) in
            var position = 0
            // lz4 typically shrinks log data 2-4x.
            try appendStreaming(
                into: &output, codec: .lz4, limit: limit, sizeHint: count * 3
            ) { (space) throws(CompressionError) -> StreamStep in
                var written = space.count
                var consumed = count - position
                let result = LZ4F_decompress(context, space.baseAddress, &written, source + position, &consumed, nil)
                guard LZ4F_isError(result) == 0 else {
                    throw CompressionError.corrupt(.lz4, String(cString: LZ4F_getErrorName(result)))
                }
                position += consumed
                if result == 0 {
                    // A frame ended and everything is flushed; anything left is the next frame,
                    // which the context (reset automatically) starts on at the next call.
                    return StreamStep(written: written, finished: position == count)
                }
                if consumed == 0 && written == 0 {
                    throw position == count
                        ? CompressionError.truncated(.lz4)
                        : CompressionError.corrupt(.lz4, "decoder made no progress")
                }
                return StreamStep(written: written, finished: false)
            }
        }
    }
}
