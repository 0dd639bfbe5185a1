public import NIOCore
import LogflumeCompression

/// One Kafka record batch v2 kept as its wire bytes: the broker stores and serves batches
/// without looking inside, so the header is read in place and records are decoded on demand.
public struct RecordBatch: Sendable {
    /// Exactly the batch: the reader index is at `baseOffset`, `readableBytes` is the batch size.
    public private(set) var bytes: ByteBuffer

    /// Size of the fixed v2 header including the offset and length prefix.
    public static let headerSize = 61
    /// Bytes before the part that `batchLength` counts (baseOffset + batchLength).
    public static let logOverhead = 12
    /// The CRC covers everything from `attributes` to the end of the batch.
    static let crcCoverageStart = 21

    enum Field {
        static let baseOffset = 0
        static let batchLength = 8
        static let partitionLeaderEpoch = 12
        static let magic = 16
        static let crc = 17
        static let attributes = 21
        static let lastOffsetDelta = 23
        static let baseTimestamp = 27
        static let maxTimestamp = 35
        static let producerId = 43
        static let producerEpoch = 51
        static let baseSequence = 53
        static let recordsCount = 57
    }

    /// Wraps bytes already known to hold one well-formed batch (built here or validated before).
    init(uncheckedBytes: ByteBuffer) { self.bytes = uncheckedBytes }

    /// Checks framing, magic and CRC of exactly one batch, as the log does before appending.
    /// - Parameter maxBatchBytes: refuse larger batches before touching their contents.
    public init(validating buffer: ByteBuffer, maxBatchBytes: Int = Int(Int32.max)) throws(RecordBatchError) {
        let result = buffer.withUnsafeReadableBytes { raw in
            Result { () throws(RecordBatchError) in try RecordBatchSummary(validating: raw, maxBatchBytes: maxBatchBytes) }
        }
        let summary = try result.get()
        guard summary.sizeInBytes == buffer.readableBytes else {
            throw .inconsistent("batch length \(summary.sizeInBytes) but \(buffer.readableBytes) bytes supplied")
        }
        self.bytes = buffer
    }

    private func field<T: FixedWidthInteger>(_ offset: Int, as type: T.Type = T.self) -> T {
        bytes.getInteger(at: bytes.readerIndex + offset, as: T.self)!
    }

    public var sizeInBytes: Int { bytes.readableBytes }
    public var baseOffset: Int64 { field(Field.baseOffset) }
    public var batchLength: Int32 { field(Field.batchLength) }
    public var partitionLeaderEpoch: Int32 { field(Field.partitionLeaderEpoch) }
    public var magic: Int8 { field(Field.magic) }
    public var crc: UInt32 { field(Field.crc) }
    public var attributes: BatchAttributes { BatchAttributes(rawValue: field(Field.attributes)) }
    public var lastOffsetDelta: Int32 { field(Field.lastOffsetDelta) }
    public var baseTimestamp: Int64 { field(Field.baseTimestamp) }
    public var maxTimestamp: Int64 { field(Field.maxTimestamp) }
    public var producerId: Int64 { field(Field.producerId) }
    public var producerEpoch: Int16 { field(Field.producerEpoch) }
    public var baseSequence: Int32 { field(Field.baseSequence) }
    public var recordsCount: Int32 { field(Field.recordsCount) }

    public var lastOffset: Int64 { baseOffset &+ Int64(lastOffsetDelta) }
    public var nextOffset: Int64 { lastOffset &+ 1 }
    /// Sequence of the last record, wrapping at Int32.max as the Java client does.
    public var lastSequence: Int32 { summary.lastSequence }
    public var hasProducerId: Bool { producerId >= 0 }

    func computeCRC() -> UInt32 { Self.computeCRC(of: bytes) }

    static func computeCRC(of bytes: ByteBuffer) -> UInt32 {
        bytes.withUnsafeReadableBytes { raw in
            CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[crcCoverageStart...]))
        }
    }

    /// The records section as stored: compressed when the attributes say so.
    public var recordsSection: ByteBuffer {
        bytes.getSlice(at: bytes.readerIndex + Self.headerSize, length: sizeInBytes - Self.headerSize)!
    }

    // MARK: Stamping

    /// Assigns offsets in place. The CRC does not cover this field, so no recomputation.
    public mutating func setBaseOffset(_ offset: Int64) {
        bytes.setInteger(offset, at: bytes.readerIndex + Field.baseOffset)
    }

    /// Stamps the leader epoch in place; outside the CRC like the base offset.
    public mutating func setPartitionLeaderEpoch(_ epoch: Int32) {
        bytes.setInteger(epoch, at: bytes.readerIndex + Field.partitionLeaderEpoch)
    }

    /// Switches the batch to LogAppendTime with the broker's time. These fields are inside the
    /// CRC, so this one stamp does recompute it.
    public mutating func stampLogAppendTime(_ timestamp: Int64) {
        var attributes = self.attributes
        attributes.timestampType = .logAppendTime
        bytes.setInteger(attributes.rawValue, at: bytes.readerIndex + Field.attributes)
        bytes.setInteger(timestamp, at: bytes.readerIndex + Field.maxTimestamp)
        bytes.setInteger(Self.computeCRC(of: bytes), at: bytes.readerIndex + Field.crc)
    }

    /// The 61-byte header as it will be stored: offsets assigned and, under LogAppendTime, the
    /// broker's time stamped with the CRC recomputed. The records section is not touched, so a
    /// log can write header and records side by side (pwritev) without copying the batch.
    public func stampedHeader(baseOffset: Int64, logAppendTime: Int64? = nil) -> [UInt8] {
        var header = [UInt8](repeating: 0, count: Self.headerSize)
        bytes.withUnsafeReadableBytes { raw in
            header.withUnsafeMutableBytes { out in
                out.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[0..<Self.headerSize]))
                out.storeBytes(of: baseOffset.bigEndian, toByteOffset: Field.baseOffset, as: Int64.self)
                guard let logAppendTime else { return }
                var attributes = self.attributes
                attributes.timestampType = .logAppendTime
                out.storeBytes(of: attributes.rawValue.bigEndian, toByteOffset: Field.attributes, as: Int16.self)
                out.storeBytes(of: logAppendTime.bigEndian, toByteOffset: Field.maxTimestamp, as: Int64.self)
                let headerPart = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: out[Self.crcCoverageStart..<Self.headerSize]))
                let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[Self.headerSize...]), extending: headerPart)
                out.storeBytes(of: crc.bigEndian, toByteOffset: Field.crc, as: UInt32.self)
            }
        }
        return header
    }

    // MARK: Records

    /// The records section decompressed; the uncompressed case is a zero-copy slice.
    public func uncompressedRecords(maxBytes: Int = 256 << 20) throws(RecordBatchError) -> ByteBuffer {
        guard let codec = attributes.compression else {
            throw .unsupportedCompression(Int(attributes.rawValue & 0x07))
        }
        if codec == .none { return recordsSection }
        // Empty: each codec sizes the output from what its frames declare. A guess made here was
        // reallocated, copying every byte of it, whenever logs expanded more than the guess.
        var output = ByteBufferAllocator().buffer(capacity: 0)
        do {
            try codec.decompress(recordsSection, into: &output, maxOutputBytes: maxBytes)
        } catch {
            throw .compression("\(error)")
        }
        return output
    }

    /// Decodes every record. When a timestamp type is LogAppendTime, records carry the batch's
    /// max timestamp, as Kafka consumers expect.
    public func records() throws(RecordBatchError) -> [Record] {
        try decodedRecords().records
    }

    /// `records()`, with the memory of the decompressed copy of the section the records are slices
    /// of (its buffer's capacity; 0 when uncompressed, the records being slices of the batch):
    /// what holding them costs beyond the batch itself, for a consumer that bounds its memory.
    public func decodedRecords() throws(RecordBatchError) -> (records: [Record], decompressedBytes: Int) {
        let section = try uncompressedRecords()
        let logAppendTime = attributes.timestampType == .logAppendTime ? maxTimestamp : nil
        let records = try Record.decodeSection(
            section, count: Int(recordsCount), baseOffset: baseOffset, baseTimestamp: baseTimestamp, timestampOverride: logAppendTime
        )
        return (records, attributes.compression == CompressionCodec.none ? 0 : section.capacity)
    }

    /// Full check a broker does before accepting a producer's batch: every record decodes, the
    /// count and offset deltas agree with the header.
    public func validateRecords() throws(RecordBatchError) {
        let section = try uncompressedRecords()
        let count = Int(recordsCount)
        if count == 0 {
            if !attributes.isControl { throw .inconsistent("batch holds no records") }
            return
        }
        let problem: RecordBatchError? = section.withUnsafeReadableBytes { raw in
            RecordStructure.check(raw, count: count, lastOffsetDelta: lastOffsetDelta)
        }
        if let problem { throw problem }
    }

    /// For control batches (transaction markers): version and type from the single record's key.
    public func controlRecordType() throws(RecordBatchError) -> ControlRecordType? {
        guard attributes.isControl, let first = try records().first, let key = first.key,
              key.readableBytes >= 4, let type = key.getInteger(at: key.readerIndex + 2, as: Int16.self)
        else { return nil }
        return ControlRecordType(rawValue: type) ?? .unknown
    }
}

public enum ControlRecordType: Int16, Sendable {
    case abort = 0
    case commit = 1
    case unknown = -1
}

extension RecordBatch {
    /// Where the next batch in a stream of concatenated batches (a produce request, a log read) ends.
    public enum Framing: Equatable, Sendable {
        /// A whole batch of this many bytes is available.
        case batch(size: Int)
        /// The header says `needed` bytes, fewer are there: a fetch may cut the last batch short.
        case partial(needed: Int)
        case malformed(RecordBatchError)
    }

    /// Reads only the 12-byte prefix at `index` to find the batch's extent.
    public static func framing(of buffer: ByteBuffer, at index: Int, maxBatchBytes: Int = Int(Int32.max)) -> Framing {
        let available = buffer.writerIndex - index
        guard available >= logOverhead,
              let batchLength = buffer.getInteger(at: index + Field.batchLength, as: Int32.self)
        else { return .partial(needed: logOverhead) }
        guard batchLength >= Int32(headerSize - logOverhead), Int(batchLength) + logOverhead <= maxBatchBytes else {
            return .malformed(.invalidBatchLength(batchLength))
        }
        let size = Int(batchLength) + logOverhead
        return size <= available ? .batch(size: size) : .partial(needed: size)
    }

    /// Splits concatenated batches, validating each; a trailing partial batch is an error here
    /// because producers must send whole batches.
    public static func split(_ buffer: ByteBuffer, maxBatchBytes: Int = Int(Int32.max)) throws(RecordBatchError) -> [RecordBatch] {
        var batches: [RecordBatch] = []
        var index = buffer.readerIndex
        while index < buffer.writerIndex {
            switch framing(of: buffer, at: index, maxBatchBytes: maxBatchBytes) {
            case .batch(let size):
                batches.append(try RecordBatch(validating: buffer.getSlice(at: index, length: size)!, maxBatchBytes: maxBatchBytes))
                index += size
            case .partial(let needed):
                throw .truncated(needed: needed, available: buffer.writerIndex - index)
            case .malformed(let error):
                throw error
            }
        }
        return batches
    }
}
