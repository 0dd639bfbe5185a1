/// Retention: whole closed segments leave the log by age (`retention.ms`, judged by the newest
/// timestamp inside) or by total size (`retention.bytes`). The active segment always stays.
extension PartitionLog {
    /// Deletes segments past retention and unlinks files whose delay expired. Returns the base
    /// offsets of the segments removed.
    @discardableResult
    public func applyRetention() throws(LogError) -> [Int64] {
        let now = clock.nowMilliseconds
        return try state.withLock { state throws(LogError) -> [Int64] in
            guard !state.isClosed else { return [] }
            unlinkDueFiles(&state, now: now)
            guard state.config.cleanupPolicy.contains(.delete) else { return [] }
            var total = state.segments.reduce(0) { $0 + Int64($1.size) }
            var expired = 0
            for segment in state.segments.dropLast() {
                let tooOld = state.config.retentionMs >= 0 && segment.maxTimestamp >= 0
                    && now - segment.maxTimestamp > state.config.retentionMs
                let tooBig = state.config.retentionBytes >= 0 && total - Int64(segment.size) >= state.config.retentionBytes
                guard tooOld || tooBig else { break }
                total -= Int64(segment.size)
                expired += 1
            }
            guard expired > 0 else { return [] }
            return try removeOldestSegments(&state, count: expired, now: now)
        }
    }

    /// Moves the log start forward to `offset` (a DeleteRecords request or a retention decision
    /// made elsewhere), deleting segments that lie wholly below it.
    public func advanceLogStartOffset(to offset: Int64) throws(LogError) {
        let now = clock.nowMilliseconds
        try state.withLock { state throws(LogError) in
            let target = min(offset, state.logEndOffset)
            guard target > state.checkpoint.logStartOffset else { return }
            let removable = state.segments.dropLast().prefix(while: { $0.nextOffset <= target }).count
            _ = try removeOldestSegments(&state, count: removable, now: now)
            state.checkpoint.logStartOffset = max(state.checkpoint.logStartOffset, target)
            try writeCheckpoint(state.checkpoint)
        }
    }

    /// Renames the oldest segments to `.deleted`, drops them from the log and schedules the unlink;
    /// readers still holding their descriptors finish undisturbed.
    private func removeOldestSegments(_ state: inout State, count: Int, now: Int64) throws(LogError) -> [Int64] {
        var removed: [Int64] = []
        for _ in 0..<count {
            let segment = state.segments.removeFirst()
            try retire(segment, &state, now: now)
            removed.append(segment.baseOffset)
        }
        state.checkpoint.logStartOffset = max(state.checkpoint.logStartOffset, state.segments[0].baseOffset)
        try writeCheckpoint(state.checkpoint)
        logger.info("deleted segments past retention", metadata: [
            "segments": "\(removed.map { SegmentFileName.stem($0) })",
            "log.start.offset": "\(state.checkpoint.logStartOffset)",
        ])
        unlinkDueFiles(&state, now: now)
        return removed
    }

    /// Renames a segment that left the log to `.deleted` and schedules its unlink after
    /// `file.delete.delay.ms`, so readers holding its files finish undisturbed.
    func retire(_ segment: LogSegment, _ state: inout State, now: Int64) throws(LogError) {
        try segment.renameFiles(appending: SegmentFileName.deleted)
        state.pendingDeletions.append((now + state.config.fileDeleteDelayMs, segment))
    }

    func unlinkDueFiles(_ state: inout State, now: Int64) {
        state.pendingDeletions.removeAll { pending in
            guard pending.dueAt <= now else { return false }
            pending.segment.deleteFiles()
            return true
        }
    }

    /// Number of segments renamed `.deleted` and not yet unlinked.
    public var pendingDeletionCount: Int { state.withLock { $0.pendingDeletions.count } }
}
