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
    /// Decodes one record (length-prefixed) from `buffer`; the batch supplies base offset and timestamp.
    /// Throws a reason instead of trapping, because these bytes come from the network or disk.
    static func read(from buffer: inout ByteBuffer, baseOffset: Int64, baseTimestamp: Int64) throws(RecordDecodeFailure) -> Record {
        guard let length = buffer.readVarint() else { throw RecordDecodeFailure("unreadable record length") }
        guard length >= 0, Int(length) <= buffer.readableBytes,
              var body = buffer.readSlice(length: Int(length))
        else { throw RecordDecodeFailure("record length \(length) exceeds the \(buffer.readableBytes) bytes left") }
        guard body.readInteger(as: Int8.self) != nil,
              let timestampDelta = body.readVarlong(),
              let offsetDelta = body.readVarint()
        else { throw RecordDecodeFailure("truncated record fields") }
        guard let key = body.readLengthPrefixedVarintBytes() else { throw RecordDecodeFailure("bad key length") }
        guard let value = body.readLengthPrefixedVarintBytes() else { throw RecordDecodeFailure("bad value length") }
        guard let headerCount = body.readVarint(), headerCount >= 0, Int(headerCount) <= body.readableBytes
        else { throw RecordDecodeFailure("bad header count") }
        var headers: [RecordHeader] = []
        headers.reserveCapacity(Int(headerCount))
        for _ in 0..<headerCount {
            guard let keyBytes = body.readLengthPrefixedVarintBytes(), let keyBytes,
                  let headerKey = keyBytes.getString(at: keyBytes.readerIndex, length: keyBytes.readableBytes)
            else { throw RecordDecodeFailure("bad header key") }
            guard let headerValue = body.readLengthPrefixedVarintBytes() else { throw RecordDecodeFailure("bad header value") }
            headers.append(RecordHeader(key: headerKey, value: headerValue))
        }
        guard body.readableBytes == 0 else { throw RecordDecodeFailure("\(body.readableBytes) trailing bytes inside record") }
        return Record(
            offset: baseOffset &+ Int64(offsetDelta),
            timestamp: baseTimestamp &+ timestampDelta,
            key: key,
            value: value,
            headers: headers
        )
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
    /// The outer optional is nil on malformed input; the inner one is the Kafka null.
    mutating func readLengthPrefixedVarintBytes() -> ByteBuffer?? {
        guard let length = self.readVarint() else { return nil }
        if length == -1 { return .some(nil) }
        guard length >= 0, let slice = self.readSlice(length: Int(length)) else { return nil }
        return .some(slice)
    }

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
