public import NIOCore

/// Kafka's variable-length integers: protobuf-style base-128 groups, zig-zag for signed values.
/// Record fields (record batch v2) use the signed forms; flexible API versions use the unsigned ones.
extension ByteBuffer {
    @inlinable
    public mutating func writeUnsignedVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            self.writeInteger(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        self.writeInteger(UInt8(v))
    }

    @inlinable
    public mutating func writeVarint(_ value: Int32) {
        self.writeUnsignedVarint(UInt64(UInt32(bitPattern: (value << 1) ^ (value >> 31))))
    }

    @inlinable
    public mutating func writeVarlong(_ value: Int64) {
        self.writeUnsignedVarint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    /// Reads an unsigned varint of at most `maxBytes` groups; nil when truncated or too long,
    /// so a hostile length can never make the decoder loop past the buffer.
    @inlinable
    public mutating func readUnsignedVarint(maxBytes: Int = 10) -> UInt64? {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        var index = self.readerIndex
        for _ in 0..<maxBytes {
            guard let byte = self.getInteger(at: index, as: UInt8.self) else { return nil }
            index += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 {
                self.moveReaderIndex(to: index)
                return result
            }
            shift += 7
        }
        return nil
    }

    @inlinable
    public mutating func readVarint() -> Int32? {
        guard let raw = self.readUnsignedVarint(maxBytes: 5), raw <= UInt64(UInt32.max) else { return nil }
        let u = UInt32(raw)
        return Int32(bitPattern: (u >> 1) ^ (0 &- (u & 1)))
    }

    @inlinable
    public mutating func readVarlong() -> Int64? {
        guard let u = self.readUnsignedVarint(maxBytes: 10) else { return nil }
        return Int64(bitPattern: (u >> 1) ^ (0 &- (u & 1)))
    }

    /// Bytes needed to encode `value` as an unsigned varint; sizes records before writing them.
    @inlinable
    public static func unsignedVarintSize(_ value: UInt64) -> Int {
        var v = value
        var n = 1
        while v >= 0x80 { v >>= 7; n += 1 }
        return n
    }

    @inlinable
    public static func varintSize(_ value: Int32) -> Int {
        unsignedVarintSize(UInt64(UInt32(bitPattern: (value << 1) ^ (value >> 31))))
    }

    @inlinable
    public static func varlongSize(_ value: Int64) -> Int {
        unsignedVarintSize(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }
}
