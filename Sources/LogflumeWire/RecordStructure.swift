/// Checks the layout of an uncompressed records section without materialising records: every
/// length fits, offset deltas run 0, 1, 2, ..., and nothing trails the last record. This is what
/// a broker must know before it stores a producer's batch; decoding keys, values and headers
/// into buffers would cost most of the produce path's CPU for nothing.
enum RecordStructure {
    static func check(_ raw: UnsafeRawBufferPointer, count: Int, lastOffsetDelta: Int32) -> RecordBatchError? {
        var position = 0
        for index in 0..<count {
            // Lengths are compared with what is left rather than added to a position, so no
            // claimed length can make the arithmetic trap.
            guard let length = readVarint(raw, &position), length >= 0, length <= Int64(raw.count - position) else {
                return .corruptRecord(index: index, reason: "record length overruns the records section")
            }
            let end = position + Int(length)
            position += 1  // attributes
            guard position <= end, readVarlong(raw, &position, limit: end) != nil,
                  let offsetDelta = readVarint(raw, &position, limit: end)
            else { return .corruptRecord(index: index, reason: "truncated record fields") }
            guard offsetDelta == Int64(index) else {
                return .inconsistent("record \(index) has offset delta \(offsetDelta)")
            }
            for field in ["key", "value"] {
                guard let fieldLength = readVarint(raw, &position, limit: end), fieldLength >= -1,
                      fieldLength <= Int64(end - position)
                else { return .corruptRecord(index: index, reason: "bad \(field) length") }
                position += max(0, Int(fieldLength))
            }
            guard let headers = readVarint(raw, &position, limit: end), headers >= 0, headers <= Int64(end - position) else {
                return .corruptRecord(index: index, reason: "bad header count")
            }
            for _ in 0..<headers {
                guard let keyLength = readVarint(raw, &position, limit: end), keyLength >= 0, keyLength <= Int64(end - position) else {
                    return .corruptRecord(index: index, reason: "bad header key")
                }
                position += Int(keyLength)
                guard let valueLength = readVarint(raw, &position, limit: end), valueLength >= -1,
                      valueLength <= Int64(end - position)
                else { return .corruptRecord(index: index, reason: "bad header value") }
                position += max(0, Int(valueLength))
            }
            guard position == end else {
                return .corruptRecord(index: index, reason: "\(end - position) trailing bytes inside record")
            }
        }
        guard position == raw.count else {
            return .inconsistent("\(raw.count - position) bytes after the \(count) declared records")
        }
        guard Int64(lastOffsetDelta) == Int64(count - 1) else {
            return .inconsistent("last offset delta \(lastOffsetDelta) but last record has \(count - 1)")
        }
        return nil
    }

    /// A zig-zag varint (a 32-bit field: at most 5 bytes, as Kafka reads them) before `limit`;
    /// nil when malformed or longer.
    @inline(__always)
    static func readVarint(_ raw: UnsafeRawBufferPointer, _ position: inout Int, limit: Int? = nil) -> Int64? {
        guard let zigzag = readUnsigned(raw, &position, limit: limit, maxBytes: 5), zigzag <= UInt64(UInt32.max) else { return nil }
        return Int64(bitPattern: (zigzag >> 1) ^ (0 &- (zigzag & 1)))
    }

    /// A zig-zag varlong (a 64-bit field, the timestamp delta: at most 10 bytes) before `limit`.
    @inline(__always)
    static func readVarlong(_ raw: UnsafeRawBufferPointer, _ position: inout Int, limit: Int? = nil) -> Int64? {
        guard let zigzag = readUnsigned(raw, &position, limit: limit, maxBytes: 10) else { return nil }
        return Int64(bitPattern: (zigzag >> 1) ^ (0 &- (zigzag & 1)))
    }

    @inline(__always)
    private static func readUnsigned(_ raw: UnsafeRawBufferPointer, _ position: inout Int, limit: Int?, maxBytes: Int) -> UInt64? {
        let end = min(limit ?? raw.count, raw.count, position + maxBytes)
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while position < end {
            let byte = raw[position]
            position += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
        return nil
    }
}
