/// The header facts of a validated batch, read straight from raw bytes so that log recovery can
/// scan segment files without building buffers per batch.
public struct RecordBatchSummary: Equatable, Sendable {
    public var baseOffset: Int64
    public var sizeInBytes: Int
    public var lastOffsetDelta: Int32
    public var baseTimestamp: Int64
    public var maxTimestamp: Int64
    public var attributes: BatchAttributes
    public var producerId: Int64
    public var producerEpoch: Int16
    public var baseSequence: Int32
    public var recordsCount: Int32
    public var partitionLeaderEpoch: Int32

    /// Wrapping: headers read without validation (`init(uncheckedHeader:)`) may hold any base
    /// offset, and a corrupt one must give a wrong answer that later checks refuse, not a trap.
    public var lastOffset: Int64 { baseOffset &+ Int64(lastOffsetDelta) }
    public var nextOffset: Int64 { lastOffset &+ 1 }

    /// Whether the last offset delta is not negative and the base offset leaves room for it and
    /// for a next offset: `lastOffset` and `nextOffset` then hold without wrapping.
    public var offsetsFit: Bool {
        lastOffsetDelta >= 0 && baseOffset <= Int64.max - 1 - Int64(lastOffsetDelta)
    }

    /// Validates framing, magic, CRC and header consistency of the batch at the start of `raw`.
    /// `raw` may hold more bytes than the batch (a scan window); the summary says how many it used.
    public init(validating raw: UnsafeRawBufferPointer, maxBatchBytes: Int = Int(Int32.max)) throws(RecordBatchError) {
        typealias Field = RecordBatch.Field
        guard raw.count >= RecordBatch.headerSize else {
            throw .truncated(needed: RecordBatch.headerSize, available: raw.count)
        }
        func load<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
            T(bigEndian: raw.loadUnaligned(fromByteOffset: offset, as: T.self))
        }
        let batchLength = load(Field.batchLength, Int32.self)
        guard batchLength >= Int32(RecordBatch.headerSize - RecordBatch.logOverhead),
              Int(batchLength) + RecordBatch.logOverhead <= maxBatchBytes
        else { throw .invalidBatchLength(batchLength) }
        let size = Int(batchLength) + RecordBatch.logOverhead
        guard size <= raw.count else { throw .truncated(needed: size, available: raw.count) }
        let magic = load(Field.magic, Int8.self)
        guard magic == 2 else { throw .invalidMagic(magic) }
        let stored = load(Field.crc, UInt32.self)
        let computed = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[RecordBatch.crcCoverageStart..<size]))
        guard stored == computed else { throw .crcMismatch(stored: stored, computed: computed) }
        self.init(uncheckedHeader: raw)

        guard recordsCount >= 0 else { throw .inconsistent("negative record count \(recordsCount)") }
        guard lastOffsetDelta >= 0 else { throw .inconsistent("negative last offset delta \(lastOffsetDelta)") }
        // The base offset is outside the CRC: one that leaves no room for the batch's offsets is corruption.
        guard baseOffset >= 0, offsetsFit else {
            throw .inconsistent("base offset \(baseOffset) with last offset delta \(lastOffsetDelta)")
        }
        guard recordsCount == 0 || Int64(lastOffsetDelta) >= Int64(recordsCount) - 1 else {
            throw .inconsistent("\(recordsCount) records but last offset delta \(lastOffsetDelta)")
        }
        guard attributes.compression != nil else {
            throw .unsupportedCompression(Int(attributes.rawValue & 0x07))
        }
    }
}

extension RecordBatchSummary {
    /// Loads the header fields with no checks; callers guarantee `raw` holds a whole header.
    public init(uncheckedHeader raw: UnsafeRawBufferPointer) {
        typealias Field = RecordBatch.Field
        func load<T: FixedWidthInteger>(_ offset: Int, _: T.Type) -> T {
            T(bigEndian: raw.loadUnaligned(fromByteOffset: offset, as: T.self))
        }
        self.baseOffset = load(Field.baseOffset, Int64.self)
        self.sizeInBytes = Int(load(Field.batchLength, Int32.self)) + RecordBatch.logOverhead
        self.partitionLeaderEpoch = load(Field.partitionLeaderEpoch, Int32.self)
        self.attributes = BatchAttributes(rawValue: load(Field.attributes, Int16.self))
        self.lastOffsetDelta = load(Field.lastOffsetDelta, Int32.self)
        self.baseTimestamp = load(Field.baseTimestamp, Int64.self)
        self.maxTimestamp = load(Field.maxTimestamp, Int64.self)
        self.producerId = load(Field.producerId, Int64.self)
        self.producerEpoch = load(Field.producerEpoch, Int16.self)
        self.baseSequence = load(Field.baseSequence, Int32.self)
        self.recordsCount = load(Field.recordsCount, Int32.self)
    }
}

extension RecordBatch {
    /// Header facts without re-validating: RecordBatch values only come from validated or built bytes.
    public var summary: RecordBatchSummary {
        bytes.withUnsafeReadableBytes { RecordBatchSummary(uncheckedHeader: $0) }
    }
}
