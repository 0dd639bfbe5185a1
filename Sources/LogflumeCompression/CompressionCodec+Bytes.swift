import NIOCore

/// Array conveniences for callers without a `ByteBuffer` at hand (tests, tools). The hot path
/// should use the `ByteBuffer` versions, which append without intermediate copies.
extension CompressionCodec {
    public func compress(_ input: [UInt8], level: Int? = nil) throws -> [UInt8] {
        var output = ByteBuffer()
        try self.compress(ByteBuffer(bytes: input), into: &output, level: level)
        return Array(output.readableBytesView)
    }

    public func decompress(_ input: [UInt8], maxOutputBytes: Int = 256 << 20) throws -> [UInt8] {
        var output = ByteBuffer()
        try self.decompress(ByteBuffer(bytes: input), into: &output, maxOutputBytes: maxOutputBytes)
        return Array(output.readableBytesView)
    }
}
