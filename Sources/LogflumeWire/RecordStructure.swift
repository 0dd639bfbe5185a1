/// What a walk over a records section reports, record by record. The broker's check and the
/// decoder are two visitors of one walker (`RecordStructure.walk`), so they cannot disagree on
/// what a well-formed section is; generic specialisation keeps each as fast as a loop of its own.
protocol RecordVisitor {
    /// Right after the record's deltas: a visitor may refuse the record before its fields are read.
    mutating func recordStarted(index: Int, offsetDelta: Int64) -> RecordBatchError?
    /// A header of the current record, as byte ranges of the section (value nil when null).
    mutating func header(key: Range<Int>, value: Range<Int>?)
    /// The whole record was read; key and value are byte ranges of the section, nil when null.
    mutating func recordFinished(index: Int, timestampDelta: Int64, offsetDelta: Int64, key: Range<Int>?, value: Range<Int>?)
}

enum RecordStructure {
    /// Reads the `count` records of an uncompressed records section, checking every length
    /// against what is left (rather than adding it to a position, so no claimed length can make
    /// the arithmetic trap), and that nothing trails a record or the last one.
    static func walk<Visitor: RecordVisitor>(_ raw: UnsafeRawBufferPointer, count: Int, visitor: inout Visitor) -> RecordBatchError? {
        guard count >= 0 else { return .inconsistent("negative record count \(count)") }
        var position = 0
        /// A key or value: its range, nil for null, or a failure for a bad length.
        func field(_ end: Int, allowsNull: Bool) -> Range<Int>?? {
            guard let length = readVarint(raw, &position, limit: end), length >= (allowsNull ? -1 : 0),
                  length <= Int64(end - position)
            else { return .none }
            if length < 0 { return .some(nil) }
            defer { position += Int(length) }
            return position..<position + Int(length)
        }
        for index in 0..<count {
            guard let length = readVarint(raw, &position), length >= 0, length <= Int64(raw.count - position) else {
                return .corruptRecord(index: index, reason: "record length exceeds the \(raw.count - position) bytes left")
            }
            let end = position + Int(length)
            position += 1  // attributes, unused since magic 2
            guard position <= end, let timestampDelta = readVarlong(raw, &position, limit: end),
                  let offsetDelta = readVarint(raw, &position, limit: end)
            else { return .corruptRecord(index: index, reason: "truncated record fields") }
            if let refusal = visitor.recordStarted(index: index, offsetDelta: offsetDelta) { return refusal }
            guard let key = field(end, allowsNull: true) else { return .corruptRecord(index: index, reason: "bad key length") }
            guard let value = field(end, allowsNull: true) else { return .corruptRecord(index: index, reason: "bad value length") }
            guard let headerCount = readVarint(raw, &position, limit: end), headerCount >= 0, headerCount <= Int64(end - position) else {
                return .corruptRecord(index: index, reason: "bad header count")
            }
            for _ in 0..<headerCount {
                guard let headerKey = field(end, allowsNull: false), let headerKey else {
                    return .corruptRecord(index: index, reason: "bad header key")
                }
                guard let headerValue = field(end, allowsNull: true) else { return .corruptRecord(index: index, reason: "bad header value") }
                visitor.header(key: headerKey, value: headerValue)
            }
            guard position == end else {
                return .corruptRecord(index: index, reason: "\(end - position) trailing bytes inside record")
            }
            visitor.recordFinished(index: index, timestampDelta: timestampDelta, offsetDelta: offsetDelta, key: key, value: value)
        }
        guard position == raw.count else {
            return .inconsistent("\(raw.count - position) bytes after the \(count) declared records")
        }
        return nil
    }

    /// Checks the layout of an uncompressed records section without materialising records:
    /// every length fits, offset deltas run 0, 1, 2, ..., and nothing trails the last record.
    /// This is what a broker must know before it stores a producer's batch; decoding keys,
    /// values and headers into buffers would cost most of the produce path's CPU for nothing.
    static func check(_ raw: UnsafeRawBufferPointer, count: Int, lastOffsetDelta: Int32) -> RecordBatchError? {
        var visitor = ProducedBatchCheck()
        if let problem = walk(raw, count: count, visitor: &visitor) { return problem }
        guard Int64(lastOffsetDelta) == Int64(count - 1) else {
            return .inconsistent("last offset delta \(lastOffsetDelta) but last record has \(count - 1)")
        }
        return nil
    }

    /// A producer numbers its records 0, 1, 2, ... within a batch; only compaction leaves gaps.
    private struct ProducedBatchCheck: RecordVisitor {
        func recordStarted(index: Int, offsetDelta: Int64) -> RecordBatchError? {
            offsetDelta == Int64(index) ? nil : .inconsistent("record \(index) has offset delta \(offsetDelta)")
        }
        func header(key: Range<Int>, value: Range<Int>?) {}
        func recordFinished(index: Int, timestampDelta: Int64, offsetDelta: Int64, key: Range<Int>?, value: Range<Int>?) {}
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
