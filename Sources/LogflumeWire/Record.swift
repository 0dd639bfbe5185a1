public import NIOCore
#if canImport(Glibc)
import Glibc
#endif

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
        var decoder = SectionDecoder(
            section: section, baseOffset: baseOffset, baseTimestamp: baseTimestamp, timestampOverride: timestampOverride
        )
        decoder.records.reserveCapacity(min(count, section.readableBytes))
        let failure = section.withUnsafeReadableBytes { raw in
            decoder.raw = raw
            defer { decoder.raw = nil }
            return RecordStructure.walk(raw, count: count, visitor: &decoder)
        }
        if let failure { throw failure }
        return decoder.records
    }

    /// Builds records from the walker's ranges; header keys are read while the raw bytes are in reach.
    private struct SectionDecoder: RecordVisitor {
        let section: ByteBuffer
        let baseOffset: Int64
        let baseTimestamp: Int64
        let timestampOverride: Int64?
        var raw: UnsafeRawBufferPointer?
        var records: [Record] = []
        /// Byte ranges of the current record's headers (the array is reused from record to record).
        var headerRanges: [HeaderRanges] = []
        /// The last headers built, and their ranges. Log shippers put the same headers (host, file)
        /// on every record of a batch: a record whose header bytes match shares that array instead
        /// of allocating its own, with a string and a slice per header (a tenth of the aggregator's
        /// CPU went to such allocations and their reference counts).
        var previousHeaderRanges: [HeaderRanges] = []
        var previousHeaders: [RecordHeader] = []
        /// Compaction leaves gaps, but offsets within a batch only ever rise; consumers hand out
        /// runs of records and move their position to a run's last offset.
        var previousOffsetDelta: Int64 = -1

        init(section: ByteBuffer, baseOffset: Int64, baseTimestamp: Int64, timestampOverride: Int64?) {
            self.section = section
            self.baseOffset = baseOffset
            self.baseTimestamp = baseTimestamp
            self.timestampOverride = timestampOverride
        }

        private func slice(_ range: Range<Int>?) -> ByteBuffer? {
            range.map { section.getSlice(at: section.readerIndex + $0.lowerBound, length: $0.count)! }
        }

        mutating func recordStarted(index: Int, offsetDelta: Int64) -> RecordBatchError? {
            guard offsetDelta > previousOffsetDelta else {
                return .inconsistent("record \(index) has offset delta \(offsetDelta), not above the previous record's \(previousOffsetDelta)")
            }
            previousOffsetDelta = offsetDelta
            return nil
        }

        mutating func header(key: Range<Int>, value: Range<Int>?) {
            headerRanges.append(HeaderRanges(key: key, value: value))
        }

        mutating func recordFinished(index: Int, timestampDelta: Int64, offsetDelta: Int64, key: Range<Int>?, value: Range<Int>?) {
            records.append(Record(
                offset: baseOffset &+ offsetDelta,
                timestamp: timestampOverride ?? (baseTimestamp &+ timestampDelta),
                key: slice(key), value: slice(value), headers: currentHeaders()
            ))
            headerRanges.removeAll(keepingCapacity: true)
        }

        private mutating func currentHeaders() -> [RecordHeader] {
            if headerRanges.isEmpty { return [] }
            if headerRanges.count == previousHeaderRanges.count,
               zip(headerRanges, previousHeaderRanges).allSatisfy({ sameBytes($0.key, $1.key) && sameBytes($0.value, $1.value) }) {
                return previousHeaders
            }
            // Values are copied, not sliced: a shared array lives on in whoever keeps the last
            // one (the aggregator's line encoder does, per open hour), and a slice would keep the
            // whole section or fetch response it points into alive with it.
            previousHeaders = headerRanges.map { ranges in
                RecordHeader(
                    key: String(decoding: UnsafeRawBufferPointer(rebasing: raw![ranges.key]), as: UTF8.self),
                    value: ranges.value.map { ByteBuffer(bytes: UnsafeRawBufferPointer(rebasing: raw![$0])) }
                )
            }
            swap(&previousHeaderRanges, &headerRanges)
            return previousHeaders
        }

        /// Whether two ranges of the section hold the same bytes (or are both null). memcmp, not
        /// `elementsEqual`, which compares a byte per step.
        private func sameBytes(_ a: Range<Int>?, _ b: Range<Int>?) -> Bool {
            guard let a, let b else { return a == nil && b == nil }
            guard a.count == b.count else { return false }
            guard a.count > 0 else { return true }
            let base = raw!.baseAddress!
            return memcmp(base + a.lowerBound, base + b.lowerBound, a.count) == 0
        }
    }

    /// A header's key and value (nil when null) as byte ranges of the section.
    struct HeaderRanges {
        var key: Range<Int>
        var value: Range<Int>?
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
