public import NIOCore

/// One record inside a batch, with its deltas resolved against the batch header.
public struct Record: Equatable, Sendable {
    public var offset: Int64
    public var timestamp: Int64
    public var key: ByteBuffer?
    public var value: ByteBuffer?
    public var headers: [RecordHeader]

    public init(offset: Int64, timestamp: Int64, key: ByteBuffer?, value: ByteBuffer?, headers: [RecordHeader] = []) {
        self.offset = offset
        self.timestamp = timestamp
        self.key = key
        self.value = value
        self.headers = headers
    }
}

public struct RecordHeader: Equatable, Sendable {
    public var key: String
    public var value: ByteBuffer?

    public init(key: String, value: ByteBuffer?) {
        self.key = key
        self.value = value
    }
}

extension Record {
    /// Decodes the `count` records of an uncompressed records section. Lengths and varints are
    /// read through one raw pointer and only keys, values and header values become slices of
    /// `section`: going through `ByteBuffer` accessors per field (a bounds check and a copy of the
    /// buffer for every slice) was most of a consumer's CPU per record.
    /// Throws a reason instead of trapping, because these bytes come from the network or disk.
    static func decodeSection(
        _ section: ByteBuffer, count: Int, baseOffset: Int64, baseTimestamp: Int64, timestampOverride: Int64?
    ) throws(RecordBatchError) -> [Record] {
        var records: [Record] = []
        records.reserveCapacity(min(count, section.readableBytes))
        let base = section.readerIndex
        let failure: RecordBatchError? = section.withUnsafeReadableBytes { raw -> RecordBatchError? in
            var position = 0
            func field(_ end: Int) -> (start: Int, length: Int)?? {
                // Compared with what is left rather than added to the position, so no claimed
                // length can make the arithmetic trap.
                guard let length = RecordStructure.readVarint(raw, &position, limit: end), length >= -1,
                      length <= Int64(end - position)
                else { return .none }
                if length < 0 { return .some(nil) }
                defer { position += Int(length) }
                return (position, Int(length))
            }
            func slice(_ range: (start: Int, length: Int)?) -> ByteBuffer? {
                range.map { section.getSlice(at: base + $0.start, length: $0.length)! }
            }
            for index in 0..<count {
                guard let length = RecordStructure.readVarint(raw, &position), length >= 0, length <= Int64(raw.count - position) else {
                    return .corruptRecord(index: index, reason: "record length exceeds the \(raw.count - position) bytes left")
                }
                let end = position + Int(length)
                position += 1  // attributes, unused since magic 2
                guard position <= end, let timestampDelta = RecordStructure.readVarlong(raw, &position, limit: end),
                      let offsetDelta = RecordStructure.readVarint(raw, &position, limit: end)
                else { return .corruptRecord(index: index, reason: "truncated record fields") }
                guard let key = field(end) else { return .corruptRecord(index: index, reason: "bad key length") }
                guard let value = field(end) else { return .corruptRecord(index: index, reason: "bad value length") }
                guard let headerCount = RecordStructure.readVarint(raw, &position, limit: end), headerCount >= 0,
                      headerCount <= Int64(end - position)
                else { return .corruptRecord(index: index, reason: "bad header count") }
                var headers: [RecordHeader] = []
                if headerCount > 0 {
                    headers.reserveCapacity(Int(headerCount))
                    for _ in 0..<headerCount {
                        guard let keyRange = field(end), let keyRange else { return .corruptRecord(index: index, reason: "bad header key") }
                        let headerKey = String(decoding: UnsafeRawBufferPointer(rebasing: raw[keyRange.start..<keyRange.start + keyRange.length]), as: UTF8.self)
                        guard let headerValue = field(end) else { return .corruptRecord(index: index, reason: "bad header value") }
                        headers.append(RecordHeader(key: headerKey, value: slice(headerValue)))
                    }
                }
                guard position == end else {
                    return .corruptRecord(index: index, reason: "\(end - position) trailing bytes inside record")
                }
                records.append(Record(
                    offset: baseOffset &+ offsetDelta,
                    timestamp: timestampOverride ?? (baseTimestamp &+ timestampDelta),
                    key: slice(key), value: slice(value), headers: headers
                ))
            }
            guard position == raw.count else { return .inconsistent("\(raw.count - position) bytes after the \(count) declared records") }
            return nil
        }
        if let failure { throw failure }
        return records
    }

    /// Encodes the record body with its length prefix, relative to the batch's base values.
    static func write(
        into buffer: inout ByteBuffer,
        offsetDelta: Int32,
        timestampDelta: Int64,
        key: ByteBuffer?,
        value: ByteBuffer?,
        headers: [RecordHeader]
    ) {
        var bodySize = 1 + ByteBuffer.varlongSize(timestampDelta) + ByteBuffer.varintSize(offsetDelta)
        bodySize += Self.fieldSize(key) + Self.fieldSize(value)
        bodySize += ByteBuffer.varintSize(Int32(headers.count))
        for header in headers {
            let keyLength = header.key.utf8.count
            bodySize += ByteBuffer.varintSize(Int32(keyLength)) + keyLength + Self.fieldSize(header.value)
        }
        buffer.reserveCapacity(minimumWritableBytes: bodySize + 5)
        buffer.writeVarint(Int32(bodySize))
        buffer.writeInteger(Int8(0))
        buffer.writeVarlong(timestampDelta)
        buffer.writeVarint(offsetDelta)
        buffer.writeLengthPrefixedVarintBytes(key)
        buffer.writeLengthPrefixedVarintBytes(value)
        buffer.writeVarint(Int32(headers.count))
        for header in headers {
            buffer.writeVarint(Int32(header.key.utf8.count))
            buffer.writeString(header.key)
            buffer.writeLengthPrefixedVarintBytes(header.value)
        }
    }

    private static func fieldSize(_ bytes: ByteBuffer?) -> Int {
        guard let bytes else { return 1 }
        return ByteBuffer.varintSize(Int32(bytes.readableBytes)) + bytes.readableBytes
    }
}

extension ByteBuffer {
    /// A varint length (-1 for null) followed by that many bytes, as record keys, values and headers use.
    mutating func writeLengthPrefixedVarintBytes(_ bytes: ByteBuffer?) {
        guard let bytes else {
            self.writeVarint(-1)
            return
        }
        self.writeVarint(Int32(bytes.readableBytes))
        self.writeImmutableBuffer(bytes)
    }
}

/// Why one record could not be decoded; the batch adds the record's index.
struct RecordDecodeFailure: Error {
    let reason: String
    init(_ reason: String) { self.reason = reason }
}
