import CSnappy
import NIOCore

/// Snappy as Kafka carries it.
///
/// Kafka's Java producer wraps snappy in snappy-java's own stream framing ("xerial"), which is
/// unrelated to Google's framing format; its consumer also accepts a bare snappy block because
/// snappy-java falls back to one when the header is missing, and librdkafka relies on that. So we
/// write xerial and read both.
enum Snappy {
    /// The magic is followed by two big-endian int32s: the format version and the oldest version
    /// able to read it, both 1.
    static let xerialMagic: [UInt8] = [0x82, 0x53, 0x4E, 0x41, 0x50, 0x50, 0x59, 0x00]
    static let xerialHeader: [UInt8] = xerialMagic + [0, 0, 0, 1, 0, 0, 0, 1]
    /// snappy-java's default block size, which Kafka's producer uses.
    static let xerialBlockSize = 32 << 10
    /// The first four magic bytes read as a block length; snappy-java treats that as the start of
    /// another concatenated stream rather than a (negative) length.
    private static let magicAsLength: UInt32 = 0x8253_4E41
    /// `xerialMagic` as one big-endian word, for a cheap comparison.
    private static let magicWord: UInt64 = 0x8253_4E41_5050_5900
    /// A snappy element can expand at most 3 input bytes into 64 output bytes, so a block whose
    /// header claims more than this many times its size is corrupt, and is rejected before
    /// allocating for it.
    private static let maxExpansion = 22

    static func compress(_ input: ByteBuffer, into output: inout ByteBuffer) throws(CompressionError) {
        try input.withReadableBytesNonNil { (source, count) throws(CompressionError) in
            let fullBlocks = count / xerialBlockSize
            let tail = count % xerialBlockSize
            var bound = xerialHeader.count + fullBlocks * (4 + snappy_max_compressed_length(xerialBlockSize))
            if tail > 0 {
                bound += 4 + snappy_max_compressed_length(tail)
            }
            output.reserveCapacity(minimumWritableBytes: bound)
            output.writeBytes(xerialHeader)

            var offset = 0
            while offset < count {
                let length = min(xerialBlockSize, count - offset)
                let blockBound = 4 + snappy_max_compressed_length(length)
                try output.writeWithUnsafeMutableBytes(
                    minimumWritableBytes: blockBound
                ) { (space) throws(CompressionError) -> Int in
                    var compressedLength = space.count - 4
                    let status = snappy_compress(
                        (source + offset).assumingMemoryBound(to: CChar.self), length,
                        (space.baseAddress! + 4).assumingMemoryBound(to: CChar.self), &compressedLength
                    )
                    guard status == SNAPPY_OK else {
                        throw CompressionError(
                            codec: .snappy,
                            reason: .libraryError(code: Int(status.rawValue), message: "snappy_compress failed")
                        )
                    }
                    space.storeBytes(of: UInt32(compressedLength).bigEndian, toByteOffset: 0, as: UInt32.self)
                    return 4 + compressedLength
                }
                offset += length
            }
        }
    }

    static func decompress(_ input: ByteBuffer, into output: inout ByteBuffer, limit: Int) throws(CompressionError) {
        try input.withReadableBytesNonNil { (source, count) throws(CompressionError) in
            let bytes = UnsafeRawBufferPointer(start: source, count: count)
            // A raw block can't start with the magic: 0x82 0x53 is a length varint and the next
            // byte, 'N', would be a back-reference with nothing before it to refer to.
            if startsWithMagic(bytes, at: 0) {
                try decodeXerial(bytes, into: &output, limit: limit)
            } else {
                _ = try decodeRawBlock(bytes, into: &output, limit: limit, produced: 0)
            }
        }
    }

    private static func startsWithMagic(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> Bool {
        guard bytes.count - offset >= 8 else { return false }
        return UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) == magicWord
    }

    /// Checks the header at `offset` (already known to start with the magic) the way snappy-java
    /// does: only the version matters, and it must be at least 1.
    private static func checkHeader(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(CompressionError) {
        guard bytes.count - offset >= xerialHeader.count else {
            throw CompressionError.truncated(.snappy)
        }
        let version = Int32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset + 8, as: Int32.self))
        guard version >= 1 else {
            throw CompressionError.corrupt(.snappy, "unsupported snappy-java stream version \(version)")
        }
    }

    private static func decodeXerial(
        _ bytes: UnsafeRawBufferPointer, into output: inout ByteBuffer, limit: Int
    ) throws(CompressionError) {
        try checkHeader(bytes, at: 0)
        var offset = xerialHeader.count
        var produced = 0
        while offset < bytes.count {
            guard bytes.count - offset >= 4 else { throw CompressionError.truncated(.snappy) }
            let length = UInt32(bigEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
            if length == magicAsLength && startsWithMagic(bytes, at: offset) {
                try checkHeader(bytes, at: offset)
                offset += xerialHeader.count
                continue
            }
            guard length <= Int32.max else {
                throw CompressionError.corrupt(.snappy, "negative block length")
            }
            let blockStart = offset + 4
            guard Int(length) <= bytes.count - blockStart else { throw CompressionError.truncated(.snappy) }
            let block = UnsafeRawBufferPointer(rebasing: bytes[blockStart..<(blockStart + Int(length))])
            produced += try decodeRawBlock(block, into: &output, limit: limit, produced: produced)
            offset = blockStart + Int(length)
        }
    }

    /// Decodes one raw snappy block straight into `output`. Its header states the exact output
    /// size, so the limit is checked before any work is done.
    private static func decodeRawBlock(
        _ block: UnsafeRawBufferPointer, into output: inout ByteBuffer, limit: Int, produced: Int
    ) throws(CompressionError) -> Int {
        guard let base = block.baseAddress, !block.isEmpty else {
            throw CompressionError.corrupt(.snappy, "empty block")
        }
        let compressed = base.assumingMemoryBound(to: CChar.self)
        var expected = 0
        guard snappy_uncompressed_length(compressed, block.count, &expected) == SNAPPY_OK else {
            throw CompressionError.corrupt(.snappy, "invalid block length header")
        }
        guard expected <= limit - produced else {
            throw CompressionError(codec: .snappy, reason: .outputLimitExceeded(limit: limit))
        }
        guard expected <= block.count * maxExpansion else {
            throw CompressionError.corrupt(
                .snappy, "block of \(block.count) bytes claims \(expected) bytes of output"
            )
        }
        return try output.writeWithUnsafeMutableBytes(
            minimumWritableBytes: max(expected, 1)
        ) { (space) throws(CompressionError) -> Int in
            var length = expected
            let status = snappy_uncompress(
                compressed, block.count, space.baseAddress!.assumingMemoryBound(to: CChar.self), &length
            )
            guard status == SNAPPY_OK, length == expected else {
                throw CompressionError.corrupt(.snappy, "invalid block data")
            }
            return length
        }
    }
}
