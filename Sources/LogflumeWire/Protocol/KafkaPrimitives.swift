public import NIOCore

/// Kafka's 128-bit UUID (topic ids), kept as the two big-endian halves Kafka writes.
public struct KafkaUUID: Hashable, Sendable, CustomStringConvertible {
    public var mostSignificantBits: UInt64
    public var leastSignificantBits: UInt64

    public init(mostSignificantBits: UInt64, leastSignificantBits: UInt64) {
        self.mostSignificantBits = mostSignificantBits
        self.leastSignificantBits = leastSignificantBits
    }

    /// Kafka's "no topic id".
    public static let zero = KafkaUUID(mostSignificantBits: 0, leastSignificantBits: 0)

    public var description: String {
        func hex(_ v: UInt64, _ digits: Int) -> String {
            let s = String(v, radix: 16)
            return String(repeating: "0", count: max(0, digits - s.count)) + s
        }
        let m = mostSignificantBits, l = leastSignificantBits
        return "\(hex(m >> 32, 8))-\(hex((m >> 16) & 0xFFFF, 4))-\(hex(m & 0xFFFF, 4))-\(hex(l >> 48, 4))-\(hex(l & 0xFFFF_FFFF_FFFF, 12))"
    }
}

/// The primitive types of the Kafka protocol guide, read and written on `ByteBuffer`.
///
/// Every read names the field it reads, so a refusal says where and why; reads never trap and never
/// allocate more than the bytes left could hold. The "compact" forms (flexible versions, KIP-482)
/// are selected with `flexible: true`: lengths become unsigned varints holding length + 1, with 0
/// meaning null.
extension ByteBuffer {
    // MARK: errors

    func kafkaTruncated(_ field: StaticString, needed: Int, at position: Int? = nil) -> KafkaDecodingError {
        .truncated(field: field.description, position: position ?? readerIndex, needed: needed, available: readableBytes)
    }

    // MARK: fixed-width

    public mutating func readKafkaInteger<T: FixedWidthInteger>(_ field: StaticString, as: T.Type = T.self) throws(KafkaDecodingError) -> T {
        guard let value = readInteger(endianness: .big, as: T.self) else {
            throw kafkaTruncated(field, needed: MemoryLayout<T>.size)
        }
        return value
    }

    public mutating func readKafkaInt8(_ field: StaticString) throws(KafkaDecodingError) -> Int8 { try readKafkaInteger(field) }
    public mutating func readKafkaInt16(_ field: StaticString) throws(KafkaDecodingError) -> Int16 { try readKafkaInteger(field) }
    public mutating func readKafkaInt32(_ field: StaticString) throws(KafkaDecodingError) -> Int32 { try readKafkaInteger(field) }
    public mutating func readKafkaInt64(_ field: StaticString) throws(KafkaDecodingError) -> Int64 { try readKafkaInteger(field) }
    public mutating func readKafkaUInt32(_ field: StaticString) throws(KafkaDecodingError) -> UInt32 { try readKafkaInteger(field) }

    /// Kafka reads any non-zero byte as true.
    public mutating func readKafkaBool(_ field: StaticString) throws(KafkaDecodingError) -> Bool {
        try readKafkaInteger(field, as: UInt8.self) != 0
    }

    public mutating func readKafkaUUID(_ field: StaticString) throws(KafkaDecodingError) -> KafkaUUID {
        guard readableBytes >= 16 else { throw kafkaTruncated(field, needed: 16) }
        let high: UInt64 = try readKafkaInteger(field)
        let low: UInt64 = try readKafkaInteger(field)
        return KafkaUUID(mostSignificantBits: high, leastSignificantBits: low)
    }

    public mutating func writeKafkaBool(_ value: Bool) {
        writeInteger(value ? UInt8(1) : UInt8(0))
    }

    public mutating func writeKafkaUUID(_ value: KafkaUUID) {
        writeInteger(value.mostSignificantBits)
        writeInteger(value.leastSignificantBits)
    }

    // MARK: varints

    /// Kafka's unsigned varint is 32 bits wide: at most 5 groups.
    public mutating func readKafkaUnsignedVarint(_ field: StaticString) throws(KafkaDecodingError) -> UInt32 {
        let start = readerIndex
        guard let raw = readUnsignedVarint(maxBytes: 5), raw <= UInt64(UInt32.max) else {
            moveReaderIndex(to: start)
            throw .malformedVarint(field: field.description, position: start)
        }
        return UInt32(raw)
    }

    public mutating func readKafkaVarint(_ field: StaticString) throws(KafkaDecodingError) -> Int32 {
        let start = readerIndex
        guard let value = readVarint() else { throw .malformedVarint(field: field.description, position: start) }
        return value
    }

    public mutating func readKafkaVarlong(_ field: StaticString) throws(KafkaDecodingError) -> Int64 {
        let start = readerIndex
        guard let value = readVarlong() else { throw .malformedVarint(field: field.description, position: start) }
        return value
    }

    public mutating func writeKafkaUnsignedVarint(_ value: UInt32) {
        writeUnsignedVarint(UInt64(value))
    }

    // MARK: strings

    /// A length or count prefix: a signed `T` where -1 means null, or in flexible versions an
    /// unsigned varint holding n + 1 where 0 means null. Negative lengths other than -1 throw.
    private mutating func readKafkaNullableLength<T: FixedWidthInteger & SignedInteger>(
        _ field: StaticString, flexible: Bool, as: T.Type
    ) throws(KafkaDecodingError) -> Int? {
        let start = readerIndex
        if flexible {
            let raw = try readKafkaUnsignedVarint(field)
            return raw == 0 ? nil : Int(raw) - 1
        }
        let raw: T = try readKafkaInteger(field)
        if raw == -1 { return nil }
        guard raw >= 0 else {
            moveReaderIndex(to: start)
            throw .invalidLength(field: field.description, position: start, length: Int64(raw))
        }
        return Int(raw)
    }

    /// The byte length of a string field, or nil for null. Checks the bytes are there.
    private mutating func readKafkaStringLength(_ field: StaticString, flexible: Bool) throws(KafkaDecodingError) -> Int? {
        let start = readerIndex
        guard let length = try readKafkaNullableLength(field, flexible: flexible, as: Int16.self) else { return nil }
        // Kafka caps compact strings at the same 32767 bytes as the int16-prefixed form.
        guard length <= Int(Int16.max) else {
            moveReaderIndex(to: start)
            throw .invalidLength(field: field.description, position: start, length: Int64(length))
        }
        guard length <= readableBytes else {
            let error = kafkaTruncated(field, needed: length)
            moveReaderIndex(to: start)
            throw error
        }
        return length
    }

    public mutating func readKafkaNullableString(_ field: StaticString, flexible: Bool = false) throws(KafkaDecodingError) -> String? {
        guard let length = try readKafkaStringLength(field, flexible: flexible) else { return nil }
        // Like the Java client, malformed UTF-8 is repaired rather than refused.
        return readString(length: length)!
    }

    public mutating func readKafkaString(_ field: StaticString, flexible: Bool = false) throws(KafkaDecodingError) -> String {
        let start = readerIndex
        guard let value = try readKafkaNullableString(field, flexible: flexible) else {
            moveReaderIndex(to: start)
            throw .unexpectedNull(field: field.description, position: start)
        }
        return value
    }

    public mutating func writeKafkaString(_ value: String, flexible: Bool = false) {
        let count = value.utf8.count
        precondition(count <= Int(Int16.max), "a Kafka string holds at most 32767 bytes, got \(count)")
        if flexible {
            writeUnsignedVarint(UInt64(count) + 1)
        } else {
            writeInteger(Int16(count))
        }
        writeString(value)
    }

    public mutating func writeKafkaNullableString(_ value: String?, flexible: Bool = false) {
        guard let value else {
            if flexible { writeInteger(UInt8(0)) } else { writeInteger(Int16(-1)) }
            return
        }
        writeKafkaString(value, flexible: flexible)
    }

    /// Bytes a string field takes on the wire.
    public static func kafkaStringSize(_ value: String?, flexible: Bool = false) -> Int {
        guard let value else { return flexible ? 1 : 2 }
        let count = value.utf8.count
        return (flexible ? ByteBuffer.unsignedVarintSize(UInt64(count) + 1) : 2) + count
    }

    // MARK: bytes

    /// A nullable bytes (or records) field as a zero-copy slice of this buffer.
    public mutating func readKafkaNullableBytes(_ field: StaticString, flexible: Bool = false) throws(KafkaDecodingError) -> ByteBuffer? {
        let start = readerIndex
        guard let length = try readKafkaNullableLength(field, flexible: flexible, as: Int32.self) else { return nil }
        guard let slice = readSlice(length: length) else {
            let error = kafkaTruncated(field, needed: length)
            moveReaderIndex(to: start)
            throw error
        }
        return slice
    }

    public mutating func readKafkaBytes(_ field: StaticString, flexible: Bool = false) throws(KafkaDecodingError) -> ByteBuffer {
        let start = readerIndex
        guard let value = try readKafkaNullableBytes(field, flexible: flexible) else {
            moveReaderIndex(to: start)
            throw .unexpectedNull(field: field.description, position: start)
        }
        return value
    }

    /// Writes the length prefix of a bytes field whose content follows (or is spliced in later).
    public mutating func writeKafkaBytesLength(_ length: Int?, flexible: Bool = false) {
        guard let length else {
            if flexible { writeInteger(UInt8(0)) } else { writeInteger(Int32(-1)) }
            return
        }
        precondition(length >= 0 && length <= Int(Int32.max), "bytes field length \(length) out of range")
        if flexible {
            writeUnsignedVarint(UInt64(length) + 1)
        } else {
            writeInteger(Int32(length))
        }
    }

    public mutating func writeKafkaNullableBytes(_ value: ByteBuffer?, flexible: Bool = false) {
        writeKafkaBytesLength(value?.readableBytes, flexible: flexible)
        if var value { writeBuffer(&value) }
    }

    public mutating func writeKafkaBytes(_ value: ByteBuffer, flexible: Bool = false) {
        writeKafkaNullableBytes(value, flexible: flexible)
    }

    // MARK: arrays

    /// The element count of an array field, or nil for null. Refuses counts that the bytes left
    /// cannot hold at `minElementSize` bytes per element, so a hostile count cannot make the
    /// decoder reserve memory.
    public mutating func readKafkaArrayCount(_ field: StaticString, flexible: Bool = false, minElementSize: Int = 1) throws(KafkaDecodingError) -> Int? {
        let start = readerIndex
        guard let count = try readKafkaNullableLength(field, flexible: flexible, as: Int32.self) else { return nil }
        guard count <= readableBytes / max(1, minElementSize) else {
            moveReaderIndex(to: start)
            throw .invalidLength(field: field.description, position: start, length: Int64(count))
        }
        return count
    }

    public mutating func readKafkaNullableArray<T>(
        _ field: StaticString, flexible: Bool = false, minElementSize: Int = 1,
        _ element: (inout ByteBuffer) throws(KafkaDecodingError) -> T
    ) throws(KafkaDecodingError) -> [T]? {
        guard let count = try readKafkaArrayCount(field, flexible: flexible, minElementSize: minElementSize) else { return nil }
        var result: [T] = []
        result.reserveCapacity(count)
        for _ in 0..<count { result.append(try element(&self)) }
        return result
    }

    public mutating func readKafkaArray<T>(
        _ field: StaticString, flexible: Bool = false, minElementSize: Int = 1,
        _ element: (inout ByteBuffer) throws(KafkaDecodingError) -> T
    ) throws(KafkaDecodingError) -> [T] {
        let start = readerIndex
        guard let result = try readKafkaNullableArray(field, flexible: flexible, minElementSize: minElementSize, element) else {
            moveReaderIndex(to: start)
            throw .unexpectedNull(field: field.description, position: start)
        }
        return result
    }

    public mutating func readKafkaInt32Array(_ field: StaticString, flexible: Bool = false) throws(KafkaDecodingError) -> [Int32] {
        try readKafkaArray(field, flexible: flexible, minElementSize: 4) { (b: inout ByteBuffer) throws(KafkaDecodingError) in
            try b.readKafkaInt32(field)
        }
    }

    public mutating func readKafkaStringArray(_ field: StaticString, flexible: Bool = false) throws(KafkaDecodingError) -> [String] {
        try readKafkaArray(field, flexible: flexible, minElementSize: flexible ? 1 : 2) { (b: inout ByteBuffer) throws(KafkaDecodingError) in
            try b.readKafkaString(field, flexible: flexible)
        }
    }

    public mutating func readKafkaNullableStringArray(_ field: StaticString, flexible: Bool = false) throws(KafkaDecodingError) -> [String]? {
        try readKafkaNullableArray(field, flexible: flexible, minElementSize: flexible ? 1 : 2) { (b: inout ByteBuffer) throws(KafkaDecodingError) in
            try b.readKafkaString(field, flexible: flexible)
        }
    }

    /// Writes an array count; nil writes the null marker.
    public mutating func writeKafkaArrayCount(_ count: Int?, flexible: Bool = false) {
        guard let count else {
            if flexible { writeInteger(UInt8(0)) } else { writeInteger(Int32(-1)) }
            return
        }
        precondition(count >= 0 && count < Int(Int32.max), "array count \(count) out of range")
        if flexible {
            writeUnsignedVarint(UInt64(count) + 1)
        } else {
            writeInteger(Int32(count))
        }
    }

    public mutating func writeKafkaArray<C: Collection>(_ elements: C, flexible: Bool = false, _ element: (inout ByteBuffer, C.Element) -> Void) {
        writeKafkaArrayCount(elements.count, flexible: flexible)
        for e in elements { element(&self, e) }
    }

    public mutating func writeKafkaNullableArray<C: Collection>(_ elements: C?, flexible: Bool = false, _ element: (inout ByteBuffer, C.Element) -> Void) {
        guard let elements else {
            writeKafkaArrayCount(nil, flexible: flexible)
            return
        }
        writeKafkaArray(elements, flexible: flexible, element)
    }

    public mutating func writeKafkaInt32Array(_ elements: [Int32], flexible: Bool = false) {
        writeKafkaArray(elements, flexible: flexible) { b, e in b.writeInteger(e) }
    }

    public mutating func writeKafkaStringArray(_ elements: [String], flexible: Bool = false) {
        writeKafkaArray(elements, flexible: flexible) { b, e in b.writeKafkaString(e, flexible: flexible) }
    }

    public mutating func writeKafkaNullableStringArray(_ elements: [String]?, flexible: Bool = false) {
        writeKafkaNullableArray(elements, flexible: flexible) { b, e in b.writeKafkaString(e, flexible: flexible) }
    }

    // MARK: tagged fields

    /// Reads a tagged-field section (flexible versions): a count, then per field a tag, a size and
    /// that many bytes. `handler` gets each field's bytes as a slice; tags it does not know it
    /// simply ignores, which skips them, as the protocol requires.
    public mutating func readKafkaTaggedFields(
        _ field: StaticString,
        _ handler: (_ tag: UInt32, _ data: inout ByteBuffer) throws(KafkaDecodingError) -> Void
    ) throws(KafkaDecodingError) {
        let start = readerIndex
        let count = try readKafkaUnsignedVarint(field)
        // Each tagged field takes at least two bytes (tag and size).
        guard Int(count) <= readableBytes / 2 else {
            moveReaderIndex(to: start)
            throw .invalidLength(field: field.description, position: start, length: Int64(count))
        }
        for _ in 0..<count {
            let tag = try readKafkaUnsignedVarint(field)
            let sizeAt = readerIndex
            let size = Int(try readKafkaUnsignedVarint(field))
            guard var data = readSlice(length: size) else {
                throw kafkaTruncated(field, needed: size, at: sizeAt)
            }
            try handler(tag, &data)
        }
    }

    /// Reads and discards a tagged-field section.
    public mutating func skipKafkaTaggedFields(_ field: StaticString = "tagged fields") throws(KafkaDecodingError) {
        try readKafkaTaggedFields(field) { (_: UInt32, _: inout ByteBuffer) throws(KafkaDecodingError) in }
    }

    /// An empty tagged-field section: a single zero byte.
    public mutating func writeKafkaEmptyTaggedFields() {
        writeInteger(UInt8(0))
    }

    /// Writes a tagged-field section from (tag, payload) pairs, which must be in ascending tag order.
    public mutating func writeKafkaTaggedFields(_ fields: [(tag: UInt32, payload: ByteBuffer)]) {
        writeUnsignedVarint(UInt64(fields.count))
        var previous: Int64 = -1
        for (tag, payload) in fields {
            precondition(Int64(tag) > previous, "tagged fields must be written in ascending tag order")
            previous = Int64(tag)
            writeUnsignedVarint(UInt64(tag))
            writeUnsignedVarint(UInt64(payload.readableBytes))
            var payload = payload
            writeBuffer(&payload)
        }
    }
}
