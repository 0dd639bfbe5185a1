/// What a full verification pass over a log found.
public struct LogVerification: Equatable, Sendable {
    public var segments = 0
    public var batches = 0
    public var records: Int64 = 0
    public var bytes = 0
    /// Problems in the segment files or indexes, each naming the file and what disagrees.
    public var problems: [String] = []

    public var isConsistent: Bool { problems.isEmpty }
}

/// A read-only check of every stored byte: each batch's checksum, offsets increasing across
/// batches and segments, and every index entry pointing at a real batch boundary — what a
/// crash test needs to prove that "indexes agree with the log".
extension PartitionLog {
    public func verify() throws(LogError) -> LogVerification {
        let segments = state.withLock { $0.segments }
        var report = LogVerification()
        var previousNext: Int64?
        for segment in segments {
            report.segments += 1
            let file = try segment.log.acquire()
            var starts: [Int: RecordBatchSummaryLite] = [:]
            var scanner = SegmentScanner(file: file, maxBatchBytes: Int(Int32.max))
            defer { scanner.release() }
            let outcome = try scanner.scan(from: 0, to: segment.size) { summary, position in
                if let previousNext, summary.baseOffset < previousNext {
                    report.problems.append("\(file.path): batch at \(position) starts at offset \(summary.baseOffset), below \(previousNext)")
                }
                previousNext = summary.nextOffset
                starts[position] = RecordBatchSummaryLite(lastOffset: summary.lastOffset, maxTimestamp: summary.maxTimestamp)
                report.batches += 1
                report.records += Int64(summary.recordsCount)
                report.bytes += summary.sizeInBytes
                return true
            }
            if case .invalid(let position, let reason) = outcome {
                report.problems.append("\(file.path): invalid batch at \(position): \(reason)")
            }
            for entry in segment.offsetIndex.entries {
                let offset = segment.baseOffset + Int64(entry.relativeOffset)
                guard let batch = starts[Int(entry.position)] else {
                    report.problems.append("\(segment.offsetIndex.file.path): entry \(offset) -> \(entry.position) is not a batch start")
                    continue
                }
                if batch.lastOffset != offset {
                    report.problems.append("\(segment.offsetIndex.file.path): entry \(offset) -> \(entry.position) but that batch ends at \(batch.lastOffset)")
                }
            }
            let maxTimestamp = starts.values.map(\.maxTimestamp).max() ?? -1
            for entry in segment.timeIndex.entries where entry.timestamp > maxTimestamp {
                report.problems.append("\(segment.timeIndex.file.path): timestamp \(entry.timestamp) above the segment's newest \(maxTimestamp)")
            }
            if segment.maxTimestamp != maxTimestamp && !starts.isEmpty {
                report.problems.append("\(file.path): max timestamp \(segment.maxTimestamp) in memory, \(maxTimestamp) on disk")
            }
        }
        return report
    }
}

private struct RecordBatchSummaryLite {
    var lastOffset: Int64
    var maxTimestamp: Int64
}
