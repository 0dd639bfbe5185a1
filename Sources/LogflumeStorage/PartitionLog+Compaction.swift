import LogflumeWire
import NIOCore

/// What one compaction pass did.
public struct CompactionResult: Equatable, Sendable {
    public var segmentsRewritten = 0
    public var recordsRemoved = 0
    public var tombstonesRemoved = 0
    public var bytesBefore = 0
    public var bytesAfter = 0
    /// False when the dirty ratio was below `min.cleanable.dirty.ratio` and nothing was tried.
    public var ran = false
}

/// Compaction for `cleanup.policy=compact`: closed segments keep only the latest record of each
/// key, at its original offset. Tombstones (null values) outlive `delete.retention.ms` so that
/// consumers catching up see the deletion, then go too.
///
/// Crash safety follows Kafka: a segment is rewritten under `.cleaned` names, renamed to `.swap`
/// once complete and fsynced, then the original is renamed `.deleted` and the swap takes its
/// name. Recovery deletes `.cleaned` leftovers and completes any `.swap`.
extension PartitionLog {
    @discardableResult
    public func compact(force: Bool = false) throws(LogError) -> CompactionResult {
        let now = clock.nowMilliseconds
        let plan: (closed: [LogSegment], config: LogConfig, logStart: Int64, activeBase: Int64)? = state.withLock { state in
            guard !state.isClosed, state.config.cleanupPolicy.contains(.compact), state.segments.count > 1 else { return nil }
            let closed = Array(state.segments.dropLast())
            let total = closed.reduce(0) { $0 + $1.size }
            let dirty = closed.filter { $0.nextOffset > state.checkpoint.cleanedUpTo }.reduce(0) { $0 + $1.size }
            guard total > 0, force || Double(dirty) / Double(total) >= state.config.minCleanableDirtyRatio else { return nil }
            return (closed, state.config, state.checkpoint.logStartOffset, state.activeSegment.baseOffset)
        }
        guard let plan else { return CompactionResult() }
        var result = CompactionResult(ran: true)

        // Closed segments never change, so the key map and the rewrites happen outside the lock.
        var latest: [ByteBuffer: Int64] = [:]
        try withLogErrors {
            try forEachRecord(from: plan.logStart, to: plan.activeBase) { record, _ in
                if let key = record.key { latest[key] = record.offset }
            }
        }

        for segment in plan.closed {
            result.bytesBefore += segment.size
            let tombstonesExpire = segment.maxTimestamp >= 0 && now - segment.maxTimestamp > plan.config.deleteRetentionMs
            var kept: [RecordBatch] = []
            var removed = 0
            var tombstones = 0
            for batch in try readBatches(from: max(segment.baseOffset, plan.logStart), maxBytes: Int.max, upperBound: segment.nextOffset) {
                if batch.attributes.isControl {
                    kept.append(batch)
                    continue
                }
                let records: [Record]
                do { records = try batch.records() } catch {
                    throw .corruptSegment(path: segment.log.path, position: -1, reason: error.description)
                }
                let survivors = records.filter { record in
                    guard let key = record.key else { return true }
                    guard latest[key] == record.offset else { return false }
                    if record.value == nil && tombstonesExpire {
                        tombstones += 1
                        return false
                    }
                    return true
                }
                removed += records.count - survivors.count
                if survivors.count == records.count {
                    kept.append(batch)
                } else if !survivors.isEmpty {
                    kept.append(try rebuild(batch, keeping: survivors))
                }
            }
            guard removed > 0 else {
                result.bytesAfter += segment.size
                continue
            }
            let cleaned = try writeCleanedSegment(segment, batches: kept, config: plan.config, now: now)
            try swap(segment, for: cleaned, now: now)
            result.segmentsRewritten += 1
            result.recordsRemoved += removed
            result.tombstonesRemoved += tombstones
            result.bytesAfter += cleaned.size
        }
        try state.withLock { state throws(LogError) in
            state.checkpoint.cleanedUpTo = max(state.checkpoint.cleanedUpTo, plan.activeBase)
            try writeCheckpoint(state.checkpoint)
        }
        logger.info("compacted log", metadata: [
            "segments.rewritten": "\(result.segmentsRewritten)", "records.removed": "\(result.recordsRemoved)",
            "bytes.before": "\(result.bytesBefore)", "bytes.after": "\(result.bytesAfter)",
        ])
        return result
    }

    /// The same batch with fewer records: offsets, producer fields and last offset preserved.
    private func rebuild(_ batch: RecordBatch, keeping records: [Record]) throws(LogError) -> RecordBatch {
        var builder = RecordBatchBuilder(
            baseOffset: batch.baseOffset,
            compression: batch.attributes.compression ?? .none,
            timestampType: batch.attributes.timestampType,
            producerId: batch.producerId,
            producerEpoch: batch.producerEpoch,
            baseSequence: batch.baseSequence,
            partitionLeaderEpoch: batch.partitionLeaderEpoch,
            isTransactional: batch.attributes.isTransactional,
            capacity: batch.sizeInBytes
        )
        builder.retainedLastOffsetDelta = batch.lastOffsetDelta
        for record in records { builder.appendRetaining(record) }
        do { return try builder.build() } catch { throw .invalidBatch(error) }
    }

    private func writeCleanedSegment(_ original: LogSegment, batches: [RecordBatch], config: LogConfig, now: Int64) throws(LogError) -> LogSegment {
        var segmentConfig = config
        segmentConfig.segmentIndexBytes = max(config.segmentIndexBytes, 8 * (original.offsetIndex.entries.count + 2))
        let cleaned = try LogSegment.create(
            directory: directory, baseOffset: original.baseOffset, config: segmentConfig, budget: budget, now: now,
            suffix: SegmentFileName.cleaned
        )
        for batch in batches { try cleaned.append(batch, now: now) }
        try cleaned.becomeInactive()
        try cleaned.flush()
        try cleaned.renameFiles(replacingSuffix: SegmentFileName.cleaned, with: SegmentFileName.swap)
        try AtomicFile.syncDirectory(containing: cleaned.log.path)
        return cleaned
    }

    /// Puts the cleaned segment in the original's place, unless retention removed it meanwhile.
    private func swap(_ original: LogSegment, for cleaned: LogSegment, now: Int64) throws(LogError) {
        try state.withLock { state throws(LogError) in
            guard let index = state.segments.firstIndex(where: { $0 === original }) else {
                cleaned.deleteFiles()
                return
            }
            try retire(original, &state, now: now)
            try cleaned.renameFiles(replacingSuffix: SegmentFileName.swap, with: "")
            try AtomicFile.syncDirectory(containing: cleaned.log.path)
            state.segments[index] = cleaned
        }
    }
}
