public import NIOCore
public import LogflumeCompression

/// Accumulates records and produces one record batch v2, compressed and checksummed.
public struct RecordBatchBuilder: Sendable {
    public var baseOffset: Int64
    public var compression: CompressionCodec
    public var timestampType: TimestampType
    public var producerId: Int64
    public var producerEpoch: Int16
    public var baseSequence: Int32
    public var partitionLeaderEpoch: Int32
    public var isTransactional: Bool
    public var isControl: Bool

    private var section: ByteBuffer
    private var baseTimestamp: Int64?
    private var maxTimestamp: Int64 = -1
    private var lastOffsetDelta: Int32 = -1
    public private(set) var recordCount: Int32 = 0
    /// Compaction keeps a batch's last offset even when its last records are removed, so producer
    /// sequence state stays valid; set this to the original batch's last offset delta.
    public var retainedLastOffsetDelta: Int32 = 0

    public init(
        baseOffset: Int64 = 0,
        compression: CompressionCodec = .none,
        timestampType: TimestampType = .createTime,
        producerId: Int64 = -1,
        producerEpoch: Int16 = -1,
        baseSequence: Int32 = -1,
        partitionLeaderEpoch: Int32 = -1,
        isTransactional: Bool = false,
        isControl: Bool = false,
        capacity: Int = 16 * 1024
    ) {
        self.baseOffset = baseOffset
        self.compression = compression
        self.timestampType = timestampType
        self.producerId = producerId
        self.producerEpoch = producerEpoch
        self.baseSequence = baseSequence
        self.partitionLeaderEpoch = partitionLeaderEpoch
        self.isTransactional = isTransactional
        self.isControl = isControl
        self.section = ByteBufferAllocator().buffer(capacity: capacity)
    }

    public var isEmpty: Bool { recordCount == 0 }
    /// Uncompressed size the batch would have now; producers use it to cut batches by size.
    public var estimatedSizeInBytes: Int { RecordBatch.headerSize + section.readableBytes }

    public mutating func append(key: ByteBuffer?, value: ByteBuffer?, headers: [RecordHeader] = [], timestamp: Int64) {
        append(offsetDelta: lastOffsetDelta + 1, key: key, value: value, headers: headers, timestamp: timestamp)
    }

    /// Re-encodes a record at its original offset, leaving gaps where compaction removed records.
    /// The record's offset must be above every offset already in the builder.
    public mutating func appendRetaining(_ record: Record) {
        precondition(record.offset > baseOffset + Int64(lastOffsetDelta), "records must be appended in offset order")
        append(
            offsetDelta: Int32(record.offset - baseOffset),
            key: record.key, value: record.value, headers: record.headers, timestamp: record.timestamp
        )
    }

    private mutating func append(
        offsetDelta: Int32, key: ByteBuffer?, value: ByteBuffer?, headers: [RecordHeader], timestamp: Int64
    ) {
        let base = baseTimestamp ?? timestamp
        if baseTimestamp == nil { baseTimestamp = timestamp }
        lastOffsetDelta = offsetDelta
        Record.write(
            into: &section,
            offsetDelta: offsetDelta,
            timestampDelta: timestamp - base,
            key: key,
            value: value,
            headers: headers
        )
        maxTimestamp = max(maxTimestamp, timestamp)
        recordCount += 1
    }

    public mutating func append(key: [UInt8]?, value: [UInt8]?, headers: [RecordHeader] = [], timestamp: Int64) {
        append(
            key: key.map { ByteBuffer(bytes: $0) },
            value: value.map { ByteBuffer(bytes: $0) },
            headers: headers,
            timestamp: timestamp
        )
    }

    /// Encodes the batch. Throws only when the codec fails.
    public func build() throws(RecordBatchError) -> RecordBatch {
        var records = section
        if compression != .none {
            var compressed = ByteBufferAllocator().buffer(capacity: section.readableBytes / 2 + 64)
            do {
                try compression.compress(section, into: &compressed)
            } catch {
                throw .compression("\(error)")
            }
            records = compressed
        }
        var out = ByteBufferAllocator().buffer(capacity: RecordBatch.headerSize + records.readableBytes)
        let attributes = BatchAttributes(
            compression: compression,
            timestampType: timestampType,
            isTransactional: isTransactional,
            isControl: isControl
        )
        out.writeInteger(baseOffset)
        out.writeInteger(Int32(RecordBatch.headerSize - RecordBatch.logOverhead + records.readableBytes))
        out.writeInteger(partitionLeaderEpoch)
        out.writeInteger(Int8(2))
        out.writeInteger(UInt32(0))
        out.writeInteger(attributes.rawValue)
        out.writeInteger(max(lastOffsetDelta, retainedLastOffsetDelta, 0))
        out.writeInteger(baseTimestamp ?? -1)
        out.writeInteger(maxTimestamp)
        out.writeInteger(producerId)
        out.writeInteger(producerEpoch)
        out.writeInteger(baseSequence)
        out.writeInteger(recordCount)
        out.writeImmutableBuffer(records)
        out.setInteger(RecordBatch.computeCRC(of: out), at: out.readerIndex + RecordBatch.Field.crc)
        return RecordBatch(uncheckedBytes: out)
    }

    /// A transaction marker batch (abort or commit) as a coordinator would write it.
    public static func controlBatch(
        type: ControlRecordType, producerId: Int64, producerEpoch: Int16, coordinatorEpoch: Int32, timestamp: Int64
    ) throws(RecordBatchError) -> RecordBatch {
        var builder = RecordBatchBuilder(
            producerId: producerId, producerEpoch: producerEpoch, isTransactional: true, isControl: true, capacity: 64
        )
        var key = ByteBuffer()
        key.writeInteger(Int16(0))
        key.writeInteger(type.rawValue)
        var value = ByteBuffer()
        value.writeInteger(Int16(0))
        value.writeInteger(coordinatorEpoch)
        builder.append(key: key, value: value, timestamp: timestamp)
        return try builder.build()
    }
}
