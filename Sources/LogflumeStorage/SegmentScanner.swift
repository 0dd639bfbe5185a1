import LogflumeWire

/// Walks the batches stored in a segment file, validating each one's framing and CRC-32C,
/// reading through a reusable window so that recovery costs one `pread` per few MiB rather
/// than one per batch.
struct SegmentScanner {
    enum Outcome: Equatable {
        /// Every byte up to the limit was a valid batch.
        case complete(end: Int)
        /// A batch at `position` failed validation or was cut short.
        case invalid(position: Int, reason: String)
    }

    let file: OpenFile
    let maxBatchBytes: Int
    private var window: UnsafeMutableRawBufferPointer
    /// File position of window[0], and how many window bytes hold file data.
    private var windowStart = 0
    private var windowFill = 0

    init(file: OpenFile, maxBatchBytes: Int, windowBytes: Int = 4 << 20) {
        self.file = file
        self.maxBatchBytes = maxBatchBytes
        self.window = .allocate(byteCount: windowBytes, alignment: 64)
    }

    func release() { window.deallocate() }

    /// Calls `visit` with each valid batch's summary and file position in `[start, end)`; stops
    /// early when `visit` returns false. `end` is normally the file size.
    mutating func scan(
        from start: Int, to end: Int, visit: (RecordBatchSummary, Int) throws(LogError) -> Bool
    ) throws(LogError) -> Outcome {
        var position = start
        while position < end {
            let remaining = end - position
            guard remaining >= RecordBatch.logOverhead else {
                return .invalid(position: position, reason: "\(remaining) trailing bytes, less than a batch prefix")
            }
            var prefix = try bytes(at: position, count: RecordBatch.logOverhead)
            let batchLength = Int(Int32(bigEndian: prefix.loadUnaligned(fromByteOffset: 8, as: Int32.self)))
            let size = batchLength + RecordBatch.logOverhead
            guard batchLength >= RecordBatch.headerSize - RecordBatch.logOverhead, size <= maxBatchBytes else {
                return .invalid(position: position, reason: "batch length \(batchLength) is impossible")
            }
            guard size <= remaining else {
                return .invalid(position: position, reason: "torn batch: \(size) bytes declared, \(remaining) on disk")
            }
            prefix = try bytes(at: position, count: size)
            let summary: RecordBatchSummary
            do {
                summary = try RecordBatchSummary(validating: prefix, maxBatchBytes: maxBatchBytes)
            } catch {
                return .invalid(position: position, reason: error.description)
            }
            guard try visit(summary, position) else { return .complete(end: position) }
            position += size
        }
        return .complete(end: position)
    }

    /// `count` file bytes at `position`, refilling or growing the window as needed.
    private mutating func bytes(at position: Int, count: Int) throws(LogError) -> UnsafeRawBufferPointer {
        if position < windowStart || position + count > windowStart + windowFill {
            if count > window.count {
                window.deallocate()
                window = .allocate(byteCount: count.roundedUpToPowerOfTwo, alignment: 64)
            }
            windowStart = position
            windowFill = try file.read(into: window, at: Int64(position))
            guard windowFill >= count else {
                throw .corruptSegment(path: file.path, position: position, reason: "file shorter than expected")
            }
        }
        let offset = position - windowStart
        return UnsafeRawBufferPointer(rebasing: window[offset..<offset + count])
    }
}

extension Int {
    var roundedUpToPowerOfTwo: Int {
        self <= 1 ? 1 : 1 << (Int.bitWidth - (self - 1).leadingZeroBitCount)
    }
}
