public import Logging
public import LogflumeWire
import NIOCore
import Synchronization
import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// The log of one partition: an ordered list of segments in one directory, appended at the end,
/// read by offset or timestamp, trimmed at the start by retention and rewritten by compaction.
///
/// All mutation happens under one lock; reads take it only to translate offsets to file ranges,
/// and the bytes themselves are read (or sent) after it is released.
public final class PartitionLog: Sendable {
    public let directory: String
    let clock: any WallClock
    let budget: FileDescriptorBudget
    let logger: Logger
    let state: Mutex<State>

    struct State: ~Copyable {
        var config: LogConfig
        var segments: [LogSegment]
        var checkpoint: PartitionCheckpoint
        var logEndOffset: Int64
        var unflushedMessages: Int64 = 0
        var lastFlushTime: Int64
        /// Files renamed to `.deleted`, unlinked once the delay passes.
        var pendingDeletions: [(dueAt: Int64, segment: LogSegment)] = []
        var isClosed = false

        var activeSegment: LogSegment { segments[segments.count - 1] }

        /// Index of the segment holding `offset`: the last one whose base offset is at or below it.
        func segmentIndex(for offset: Int64) -> Int? {
            segments.lastIndex(withKeyAtMost: offset) { $0.baseOffset }
        }
    }

    static let cleanShutdownMarker = ".clean-shutdown"

    private init(directory: String, clock: any WallClock, budget: FileDescriptorBudget, logger: Logger, state: consuming State) {
        self.directory = directory
        self.clock = clock
        self.budget = budget
        self.logger = logger
        self.state = Mutex(state)
    }

    // MARK: Opening and recovery

    /// Opens (or creates) the log in `directory`, recovering it if the last run did not close it cleanly.
    public static func open(
        directory: String,
        config: LogConfig = LogConfig(),
        clock: any WallClock = SystemWallClock(),
        budget: FileDescriptorBudget = .shared,
        logger: Logger = Logger(label: "logflume.log")
    ) throws(LogError) -> PartitionLog {
        var logger = logger
        logger[metadataKey: "partition.dir"] = "\(directory)"
        try makeDirectory(directory)
        let now = clock.nowMilliseconds
        let markerPath = directory + "/" + cleanShutdownMarker
        let wasClean = access(markerPath, F_OK) == 0
        let checkpointPath = directory + "/" + PartitionCheckpoint.fileName
        var checkpoint = PartitionCheckpoint()
        var stored: PartitionCheckpoint?
        if let bytes = try AtomicFile.read(checkpointPath) {
            if let parsed = PartitionCheckpoint(text: String(decoding: bytes, as: UTF8.self)) {
                checkpoint = parsed
                stored = parsed
            } else {
                logger.warning("unreadable checkpoint, recovering every segment", metadata: ["file": "\(checkpointPath)"])
            }
        }

        let baseOffsets = try completeInterruptedMaintenance(in: directory, logger: logger)
        var segments: [LogSegment] = []
        let recoverFrom = wasClean ? Int64.max : (baseOffsets.last(where: { $0 <= checkpoint.recoveryPoint }) ?? Int64.min)
        for (index, baseOffset) in baseOffsets.enumerated() {
            if baseOffset < recoverFrom,
               let segment = try LogSegment.openClean(directory: directory, baseOffset: baseOffset, config: config, budget: budget) {
                segments.append(segment)
                continue
            }
            if baseOffset < recoverFrom {
                logger.warning("rebuilding missing or corrupt indexes", metadata: ["segment": "\(SegmentFileName.stem(baseOffset))"])
            } else {
                logger.info("recovering segment past the recovery point", metadata: ["segment": "\(SegmentFileName.stem(baseOffset))"])
            }
            let (segment, truncatedAt) = try LogSegment.recover(directory: directory, baseOffset: baseOffset, config: config, budget: budget)
            segments.append(segment)
            if let truncatedAt {
                logger.warning("truncated log at the last valid batch", metadata: [
                    "file": "\(segment.log.path)", "position": "\(truncatedAt.position)", "reason": "\(truncatedAt.reason)",
                ])
                for later in baseOffsets[(index + 1)...] {
                    let path = SegmentFileName.path(directory, later, SegmentFileName.log)
                    logger.warning("deleting segment after the truncation point", metadata: ["file": "\(path)"])
                    for suffix in [SegmentFileName.log, SegmentFileName.offsetIndex, SegmentFileName.timeIndex] {
                        unlink(SegmentFileName.path(directory, later, suffix))
                    }
                }
                break
            }
        }
        // Segments that are empty and not last carry nothing; dropping them keeps lookups simple.
        while segments.count > 1, let first = segments.first, first.size == 0, first.nextOffset <= checkpoint.logStartOffset {
            first.deleteFiles()
            segments.removeFirst()
        }
        if segments.isEmpty {
            segments.append(try LogSegment.create(
                directory: directory, baseOffset: checkpoint.logStartOffset, config: config, budget: budget, now: now
            ))
        } else {
            try segments[segments.count - 1].becomeActive()
        }
        let logEndOffset = segments[segments.count - 1].nextOffset
        checkpoint.logStartOffset = min(max(checkpoint.logStartOffset, segments[0].baseOffset), logEndOffset)
        checkpoint.recoveryPoint = wasClean ? logEndOffset : min(checkpoint.recoveryPoint, logEndOffset)
        // A crash from here on must trigger recovery again.
        unlink(markerPath)
        if checkpoint != stored && !(stored == nil && checkpoint == PartitionCheckpoint()) {
            try AtomicFile.write(checkpoint.text, to: checkpointPath)
        }
        let state = State(
            config: config, segments: segments, checkpoint: checkpoint, logEndOffset: logEndOffset, lastFlushTime: now
        )
        logger.debug("opened partition log", metadata: [
            "segments": "\(segments.count)", "log.end.offset": "\(logEndOffset)", "clean": "\(wasClean)",
        ])
        return PartitionLog(directory: directory, clock: clock, budget: budget, logger: logger, state: state)
    }

    /// Finishes or undoes what compaction and retention left behind, returning the segment base
    /// offsets present afterwards, in order.
    private static func completeInterruptedMaintenance(in directory: String, logger: Logger) throws(LogError) -> [Int64] {
        let names = try listDirectory(directory)
        for name in names where name.hasSuffix(SegmentFileName.deleted) || name.hasSuffix(SegmentFileName.cleaned) || name.hasSuffix(".tmp") || name.contains(".tmp.") {
            unlink(directory + "/" + name)
        }
        // A `.swap` file is a finished cleaned segment: it replaces the original, whose indexes
        // are dropped so they are rebuilt from the new log.
        for name in names where name.hasSuffix(SegmentFileName.swap) {
            let target = String(name.dropLast(SegmentFileName.swap.count))
            guard rename(directory + "/" + name, directory + "/" + target) == 0 else {
                throw .io(operation: "rename", path: directory + "/" + name, errno: errno)
            }
            logger.info("completed an interrupted compaction swap", metadata: ["file": "\(target)"])
            if let base = SegmentFileName.baseOffset(of: target, suffix: SegmentFileName.log) {
                unlink(SegmentFileName.path(directory, base, SegmentFileName.offsetIndex))
                unlink(SegmentFileName.path(directory, base, SegmentFileName.timeIndex))
            }
        }
        let current = try listDirectory(directory)
        let logs = Set(current.compactMap { SegmentFileName.baseOffset(of: $0, suffix: SegmentFileName.log) })
        for name in current {
            for suffix in [SegmentFileName.offsetIndex, SegmentFileName.timeIndex] {
                if let base = SegmentFileName.baseOffset(of: name, suffix: suffix), !logs.contains(base) {
                    unlink(directory + "/" + name)
                }
            }
        }
        return logs.sorted()
    }

    // MARK: Appending

    /// Appends a validated batch, assigning it the next offsets.
    /// - Parameter logAppendTime: when set, the batch is stamped with this broker time (LogAppendTime).
    @discardableResult
    public func append(_ batch: RecordBatch, logAppendTime: Int64? = nil) throws(LogError) -> LogAppendInfo {
        try append(batch, assignOffsets: true, logAppendTime: logAppendTime)
    }

    /// Appends a batch that already carries its offsets (a replica copying its leader).
    @discardableResult
    public func appendWithAssignedOffsets(_ batch: RecordBatch) throws(LogError) -> LogAppendInfo {
        try append(batch, assignOffsets: false, logAppendTime: nil)
    }

    private func append(_ batch: RecordBatch, assignOffsets: Bool, logAppendTime: Int64?) throws(LogError) -> LogAppendInfo {
        let now = clock.nowMilliseconds
        let (rolled, baseOffset): ((segment: LogSegment, upTo: Int64)?, Int64) = try state.withLock { state throws(LogError) in
            guard !state.isClosed else { throw .closed(path: directory) }
            guard batch.sizeInBytes <= state.config.maxMessageBytes else {
                throw .batchTooLarge(size: batch.sizeInBytes, limit: state.config.maxMessageBytes)
            }
            let baseOffset = assignOffsets ? state.logEndOffset : batch.baseOffset
            if baseOffset < state.logEndOffset {
                throw .nonMonotonicOffset(batchBaseOffset: batch.baseOffset, logEndOffset: state.logEndOffset)
            }
            let header = batch.stampedHeader(baseOffset: baseOffset, logAppendTime: logAppendTime)
            let lastOffset = baseOffset + Int64(batch.lastOffsetDelta)
            var rolled: (LogSegment, Int64)?
            if state.activeSegment.needsRoll(batchSize: batch.sizeInBytes, lastOffset: lastOffset, config: state.config, now: now) {
                rolled = (try roll(&state, at: baseOffset, now: now), baseOffset)
            }
            try state.activeSegment.append(header: header, of: batch, now: now)
            state.logEndOffset = lastOffset + 1
            state.unflushedMessages += Int64(batch.recordsCount)
            if state.unflushedMessages >= state.config.flushMessages || now - state.lastFlushTime >= state.config.flushMs {
                try flush(&state, now: now)
                rolled = nil
            }
            return (rolled, baseOffset)
        }
        if let rolled { flushInBackground(rolled.segment, upTo: rolled.upTo) }
        let maxTimestamp = logAppendTime ?? batch.maxTimestamp
        let firstOffset = baseOffset
        return LogAppendInfo(
            firstOffset: firstOffset,
            lastOffset: firstOffset + Int64(batch.lastOffsetDelta),
            maxTimestamp: maxTimestamp,
            logAppendTime: logAppendTime ?? -1,
            recordCount: batch.recordsCount,
            sizeInBytes: batch.sizeInBytes
        )
    }

    /// Starts a new active segment at `offset` and returns the one it replaces, which the caller
    /// fsyncs in the background: recovery after a crash then only scans the newest segment (as in
    /// Kafka), and appends do not wait for the old segment to reach the disk.
    private func roll(_ state: inout State, at offset: Int64, now: Int64) throws(LogError) -> LogSegment {
        let old = state.activeSegment
        try old.becomeInactive()
        let segment = try LogSegment.create(directory: directory, baseOffset: offset, config: state.config, budget: budget, now: now)
        state.segments.append(segment)
        logger.debug("rolled segment", metadata: ["base.offset": "\(offset)"])
        return old
    }

    /// Rolled segments are flushed one at a time, in roll order, off the append path.
    private static let backgroundFlushes = DispatchQueue(label: "logflume.segment-flush")

    private func flushInBackground(_ segment: LogSegment, upTo offset: Int64) {
        Self.backgroundFlushes.async { [self] in
            do {
                let live = state.withLock { state in !state.isClosed && state.segments.contains { $0 === segment } }
                guard live else { return }
                try segment.flush()
                try state.withLock { state throws(LogError) in
                    // The recovery point may only move past this segment if everything before it
                    // is durable too: true when it already reaches the segment's start.
                    guard !state.isClosed, offset > state.checkpoint.recoveryPoint,
                          state.checkpoint.recoveryPoint >= segment.baseOffset
                    else { return }
                    state.checkpoint.recoveryPoint = offset
                    try writeCheckpoint(state.checkpoint)
                }
            } catch {
                logger.error("background flush of a rolled segment failed", metadata: ["segment": "\(segment.log.path)", "error": "\(error)"])
            }
        }
    }

    /// Waits until rolled segments queued for flushing are on disk (tests and benchmarks).
    public func waitForBackgroundFlushes() {
        Self.backgroundFlushes.sync {}
    }

    // MARK: Flushing

    /// fsyncs everything appended so far and advances the recovery point.
    public func flush() throws(LogError) {
        let now = clock.nowMilliseconds
        try state.withLock { state throws(LogError) in try flush(&state, now: now) }
    }

    /// Applies `flush.ms` without an append; a background task calls this periodically.
    public func flushIfDue() throws(LogError) {
        let now = clock.nowMilliseconds
        try state.withLock { state throws(LogError) in
            if state.unflushedMessages > 0, now - state.lastFlushTime >= state.config.flushMs {
                try flush(&state, now: now)
            }
        }
    }

    private func flush(_ state: inout State, now: Int64) throws(LogError) {
        try flushSegments(&state, upTo: state.logEndOffset)
        state.unflushedMessages = 0
        state.lastFlushTime = now
    }

    private func flushSegments(_ state: inout State, upTo offset: Int64) throws(LogError) {
        let recoveryPoint = state.checkpoint.recoveryPoint
        for segment in state.segments where segment.nextOffset > recoveryPoint && segment.baseOffset < offset {
            try segment.flush()
        }
        if offset > recoveryPoint {
            state.checkpoint.recoveryPoint = offset
            try writeCheckpoint(state.checkpoint)
        }
    }

    func writeCheckpoint(_ checkpoint: PartitionCheckpoint) throws(LogError) {
        try AtomicFile.write(checkpoint.text, to: directory + "/" + PartitionCheckpoint.fileName)
    }

    /// Flushes, trims the active segment's indexes and leaves the marker that lets the next open
    /// skip recovery.
    public func close() throws(LogError) {
        let now = clock.nowMilliseconds
        try state.withLock { state throws(LogError) in
            guard !state.isClosed else { return }
            try flush(&state, now: now)
            try state.activeSegment.becomeInactive()
            try state.activeSegment.flush()
            try writeCheckpoint(state.checkpoint)
            try AtomicFile.write("", to: directory + "/" + Self.cleanShutdownMarker)
            for pending in state.pendingDeletions { pending.segment.deleteFiles() }
            state.pendingDeletions.removeAll()
            for segment in state.segments { segment.files.forEach { $0.release() } }
            state.isClosed = true
        }
    }

    // MARK: Reading

    public var logEndOffset: Int64 { state.withLock { $0.logEndOffset } }
    public var logStartOffset: Int64 { state.withLock { $0.checkpoint.logStartOffset } }
    public var recoveryPoint: Int64 { state.withLock { $0.checkpoint.recoveryPoint } }
    public var segmentCount: Int { state.withLock { $0.segments.count } }
    public var segmentBaseOffsets: [Int64] { state.withLock { $0.segments.map(\.baseOffset) } }
    public var sizeInBytes: Int { state.withLock { $0.segments.reduce(0) { $0 + $1.size } } }
    public var config: LogConfig {
        get { state.withLock { $0.config } }
    }

    /// Changes settings for later appends and maintenance (topic config updates).
    public func updateConfig(_ config: LogConfig) {
        state.withLock { $0.config = config }
    }

    /// File ranges holding offsets from `offset` on, at most `maxBytes` long except that the first
    /// batch is always whole (a consumer must be able to progress past a large batch).
    /// - Parameter upperBound: offsets at or above it are not returned (the high watermark).
    public func read(
        from offset: Int64, maxBytes: Int, upperBound: Int64? = nil, minOneBatch: Bool = true
    ) throws(LogError) -> LogReadResult {
        try state.withLock { state throws(LogError) -> LogReadResult in
            let start = state.checkpoint.logStartOffset
            let end = state.logEndOffset
            guard !state.isClosed else { throw .closed(path: directory) }
            guard offset >= start, offset <= end else {
                throw .offsetOutOfRange(requested: offset, logStartOffset: start, logEndOffset: end)
            }
            let limit = min(upperBound ?? end, end)
            var result = LogReadResult.empty(logStartOffset: start, logEndOffset: end)
            guard offset < limit, var index = state.segmentIndex(for: offset) else { return result }
            var remaining = maxBytes
            var from = offset
            while index < state.segments.count, from < limit {
                let segment = state.segments[index]
                let file = try segment.log.acquire()
                guard let (position, header) = try segment.locate(offset: from, in: file) else {
                    index += 1
                    continue
                }
                let maxPosition = limit < segment.nextOffset ? try segment.position(of: limit, in: file) : segment.size
                if maxPosition <= position { break }
                var length = min(maxPosition - position, remaining)
                if result.ranges.isEmpty && minOneBatch { length = max(length, min(header.sizeInBytes, maxPosition - position)) }
                if length <= 0 { break }
                let valid = try segment.verify(upTo: position + length, in: file, logger: logger)
                if valid <= position {
                    if result.ranges.isEmpty {
                        throw .corruptSegment(path: file.path, position: position, reason: "batch failed its checksum")
                    }
                    break
                }
                length = valid - position
                result.ranges.append(FileRange(file: file, position: Int64(position), length: length))
                remaining -= length
                if remaining <= 0 || valid < maxPosition { break }
                from = segment.nextOffset
                index += 1
            }
            return result
        }
    }

    /// Reads whole batches into memory (for internal consumers such as compaction, replicas
    /// of the aggregator's replay); a batch cut by the byte limit is left out.
    public func readBatches(from offset: Int64, maxBytes: Int, upperBound: Int64? = nil) throws(LogError) -> [RecordBatch] {
        let result = try read(from: offset, maxBytes: maxBytes, upperBound: upperBound)
        var batches: [RecordBatch] = []
        for range in result.ranges {
            var buffer = ByteBufferAllocator().buffer(capacity: range.length)
            let read = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: range.length) { raw throws(LogError) in
                try range.file.read(into: UnsafeMutableRawBufferPointer(rebasing: raw[0..<range.length]), at: range.position)
            }
            var index = buffer.readerIndex
            while index < buffer.writerIndex, read > 0 {
                guard case .batch(let size) = RecordBatch.framing(of: buffer, at: index) else { break }
                do {
                    batches.append(try RecordBatch(validating: buffer.getSlice(at: index, length: size)!))
                } catch {
                    throw .corruptSegment(path: range.file.path, position: Int(range.position) + index, reason: error.description)
                }
                index += size
            }
        }
        return batches
    }

    /// The first offset whose record timestamp is at or above `timestamp`, found through the time
    /// index; nil when every record is older.
    public func offset(forTimestamp timestamp: Int64) throws(LogError) -> TimestampAndOffset? {
        let candidate: (segment: LogSegment, from: Int64)? = state.withLock { state in
            guard let segment = state.segments.first(where: { $0.maxTimestamp >= timestamp }) else { return nil }
            // Records up to an entry whose timestamp is below the target are all older than it.
            let from = segment.timeIndex.lower(timestamp).map { segment.baseOffset + Int64($0.relativeOffset) + 1 } ?? segment.baseOffset
            return (segment, max(from, state.checkpoint.logStartOffset))
        }
        guard let candidate else { return nil }
        var from = candidate.from
        while true {
            let batches = try readBatches(from: from, maxBytes: 1 << 20)
            guard !batches.isEmpty else { return nil }
            for batch in batches where batch.maxTimestamp >= timestamp {
                let records: [Record]
                do { records = try batch.records() } catch {
                    throw .corruptSegment(path: directory, position: -1, reason: error.description)
                }
                if let record = records.first(where: { $0.timestamp >= timestamp && $0.offset >= from }) {
                    return TimestampAndOffset(timestamp: record.timestamp, offset: record.offset)
                }
            }
            from = batches[batches.count - 1].nextOffset
        }
    }

    // MARK: Truncation

    /// Removes every batch holding `offset` or later (a replica diverging from its new leader).
    public func truncate(to offset: Int64) throws(LogError) {
        try state.withLock { state throws(LogError) in
            guard offset < state.logEndOffset else { return }
            while state.segments.count > 1, state.activeSegment.baseOffset >= offset {
                let segment = state.segments.removeLast()
                segment.deleteFiles()
            }
            try state.activeSegment.truncate(to: max(offset, state.activeSegment.baseOffset))
            state.logEndOffset = state.activeSegment.nextOffset
            state.checkpoint.recoveryPoint = min(state.checkpoint.recoveryPoint, state.logEndOffset)
            state.checkpoint.logStartOffset = min(state.checkpoint.logStartOffset, state.logEndOffset)
            try writeCheckpoint(state.checkpoint)
        }
    }

    /// Deletes the partition's directory and all its files.
    public func delete() throws(LogError) {
        state.withLock { state in
            for segment in state.segments { segment.deleteFiles() }
            for pending in state.pendingDeletions { pending.segment.deleteFiles() }
            state.segments.removeAll(keepingCapacity: false)
            state.isClosed = true
        }
        for name in (try? Self.listDirectory(directory)) ?? [] { unlink(directory + "/" + name) }
        rmdir(directory)
    }

    // MARK: Directory helpers

    static func makeDirectory(_ path: String) throws(LogError) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o755) != 0 && errno != EEXIST {
                throw .io(operation: "mkdir", path: current, errno: errno)
            }
        }
    }

    static func listDirectory(_ path: String) throws(LogError) -> [String] {
        guard let dir = opendir(path) else { throw .io(operation: "opendir", path: path, errno: errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}
