public import LogflumeWire

/// Bucketing, watermark, closing and the dual offsets of one topic, as a value with no I/O.
///
/// The service feeds it runs of records (`recordsReceived`) and clock ticks (`tick`), runs the actions it
/// returns (append to a writer, publish a closed bucket), and commits what `commitPlan` says once
/// the closes have been published. Time is always passed in, so tests drive it without sleeping.
///
/// Two offsets per partition:
/// - the safe offset, committed to the group: the lowest offset not inside a closed bucket (the
///   first offset any open bucket holds, or the next offset to read when none is open);
/// - per closed bucket, a fence: the highest offset written into it. Records re-read after a
///   restart that are at or below their bucket's fence are skipped; that is what makes every
///   closed bucket hold each record exactly once.
///
/// Buckets close in time order and for all partitions of the topic together, so "closed" is one
/// instant per partition (`closedThrough`): every bucket ending at or before it.
public struct AggregationStateMachine: Sendable {
    public let topic: String
    public let calendar: BucketCalendar
    public let settings: AggregationSettings
    /// Monotonic; nil until every partition holding it back has seen a record.
    public private(set) var watermark: Int64?
    /// Empty buckets passed over because a gap exceeded `maxEmptyBucketsPerTick`.
    public private(set) var skippedEmptyBuckets = 0

    private var partitions: [Int32: PartitionProgress] = [:]
    private var open: [BucketKey: OpenBucket] = [:]
    private var lastBucket: Bucket?

    struct PartitionProgress: Sendable {
        /// The next offset expected; the safe offset when no bucket is open.
        var position: Int64?
        /// Highest event time seen, clamped to `now + maxFutureSkew`.
        var maxEventTime: Int64?
        var lastRecordAt: Int64
        var caughtUp = false
        var closedThrough: Int64?
        var fences: [Int64: Int64]
        var committedOffset: Int64?
        var committedMetadata: ProgressMetadata?
    }

    struct OpenBucket: Sendable {
        var bucket: Bucket
        var slices: [Int32: BucketSlice] = [:]
        /// Late rounds close once the watermark passes this.
        var closeAfter: Int64?
    }

    public init(topic: String, calendar: BucketCalendar, settings: AggregationSettings) {
        self.topic = topic
        self.calendar = calendar
        self.settings = settings
    }

    // MARK: Assignment

    /// Starts tracking a partition from what the group and the sink remember about it.
    public mutating func partitionAssigned(_ partition: Int32, recovery: PartitionRecovery, now: Int64) {
        partitions[partition] = PartitionProgress(
            position: recovery.committedOffset, lastRecordAt: now, closedThrough: recovery.progress.closedThrough,
            fences: recovery.progress.fences, committedOffset: recovery.committedOffset,
            committedMetadata: recovery.committedOffset == nil ? nil : recovery.progress
        )
    }

    public var assignedPartitions: [Int32] { partitions.keys.sorted() }

    // MARK: Records

    /// Decides where one record goes. Records of a partition must arrive in offset order.
    public mutating func recordReceived(partition: Int32, offset: Int64, timestamp: Int64, now: Int64) -> RecordAction {
        var progress = takeProgress(of: partition)
        var pending: PendingAppend?
        let action = decide(offset: offset, timestamp: timestamp, partition: partition, progress: &progress, pending: &pending, now: now)
        flush(&pending, partition: partition)
        partitions[partition] = progress
        return action
    }

    /// Decides where each record of a run of one partition goes, exactly as `recordReceived`
    /// would one by one, and hands each with its action to `body`. The partition's progress and
    /// the slice being appended to stay in locals for the run (the slice until the bucket
    /// changes): looked up per record they were four dictionary accesses, the session's largest
    /// cost after decoding and formatting.
    public mutating func recordsReceived(
        partition: Int32, _ records: ArraySlice<Record>, now: Int64, _ body: (Record, RecordAction) throws -> Void
    ) rethrows {
        var progress = takeProgress(of: partition)
        var pending: PendingAppend?
        defer {
            flush(&pending, partition: partition)
            partitions[partition] = progress
        }
        for index in records.indices {
            let action = decide(
                offset: records[index].offset, timestamp: records[index].timestamp, partition: partition, progress: &progress, pending: &pending, now: now
            )
            try body(records[index], action)
        }
    }

    /// Records of one partition appended to one bucket since the last flush.
    private struct PendingAppend {
        var key: BucketKey
        var bucket: Bucket
        var closeAfter: Int64?
        var slice: BucketSlice
    }

    /// Moved out rather than copied, so its fences are not retained and copied on write.
    private mutating func takeProgress(of partition: Int32) -> PartitionProgress {
        guard let progress = partitions.removeValue(forKey: partition) else {
            preconditionFailure("record of \(topic)-\(partition), which is not assigned")
        }
        return progress
    }

    private mutating func decide(
        offset: Int64, timestamp: Int64, partition: Int32, progress: inout PartitionProgress, pending: inout PendingAppend?, now: Int64
    ) -> RecordAction {
        let bucket = bucket(containing: timestamp)
        progress.position = offset + 1
        progress.lastRecordAt = now
        let counted = min(timestamp, now + settings.maxFutureSkewMs)
        progress.maxEventTime = max(progress.maxEventTime ?? counted, counted)

        var key = BucketKey(bucketStart: bucket.start, kind: .main)
        var closeAfter: Int64?
        if let closed = progress.closedThrough, bucket.end <= closed {
            if let fence = progress.fences[bucket.start], offset <= fence { return .skipBelowFence(bucket, fence: fence) }
            switch settings.latePolicy {
            case .drop:
                return .dropLate(bucket)
            case .lateDirectory, .reopen:
                key = BucketKey(bucketStart: bucket.start, kind: settings.latePolicy == .reopen ? .reopen : .late)
                closeAfter = (watermark.map { self.bucket(containing: $0).end } ?? bucket.end) + settings.delayMs
            }
        }
        if pending?.key == key {
            pending!.slice.add(BucketSlice(offset: offset, timestamp: timestamp))
        } else {
            flush(&pending, partition: partition)
            pending = PendingAppend(key: key, bucket: bucket, closeAfter: closeAfter, slice: BucketSlice(offset: offset, timestamp: timestamp))
        }
        return .append(key, bucket)
    }

    private mutating func flush(_ pending: inout PendingAppend?, partition: Int32) {
        guard let append = pending else { return }
        pending = nil
        // In place: the bucket's slices are not copied.
        Self.add(append.slice, partition: partition, to: &open[append.key, default: OpenBucket(bucket: append.bucket, closeAfter: append.closeAfter)].slices)
    }

    private static func add(_ slice: BucketSlice, partition: Int32, to slices: inout [Int32: BucketSlice]) {
        if slices[partition] == nil {
            slices[partition] = slice
        } else {
            slices[partition]!.add(slice)
        }
    }

    private mutating func bucket(containing time: Int64) -> Bucket {
        if let lastBucket, lastBucket.contains(time) { return lastBucket }
        let found = calendar.bucket(containing: time)
        lastBucket = found
        return found
    }

    // MARK: Closing

    /// Advances the watermark and returns the buckets to close, oldest first.
    /// - Parameters:
    ///   - now: the wall clock, which stands in for idle partitions.
    ///   - caughtUp: the partitions whose position has reached their high watermark.
    public mutating func tick(now: Int64, caughtUp: Set<Int32>) -> [BucketClose] {
        for partition in partitions.keys { partitions[partition]!.caughtUp = caughtUp.contains(partition) }
        advanceWatermark(now: now)
        var closes: [BucketClose] = []
        if let watermark {
            initializeUnclosedPartitions(watermark: watermark)
            let delay = settings.delayMs
            closeMainBuckets(reason: .watermark, into: &closes) { $0.end + delay < watermark }
            for key in open.keys.sorted() where key.kind != .main {
                if let closeAfter = open[key]?.closeAfter, closeAfter < watermark { closeRound(key, reason: .lateRound, into: &closes) }
            }
        }
        while open.count > settings.maxOpenBuckets, let oldest = open.keys.min() {
            close(oldest, reason: .maxOpenBuckets, into: &closes)
        }
        for partition in partitions.keys.sorted() {
            while fencesAboveSafeOffset(partition) > settings.maxFencesPerPartition, let holding = bucketHoldingSafeOffset(partition) {
                close(holding, reason: .fenceLimit, into: &closes)
            }
        }
        return closes
    }

    /// The first moment after `time` at which a partition has been without records for the
    /// idle timeout. If it has caught up by then, a tick at that moment lets the watermark
    /// move (and hours close) without waiting for the next regular tick.
    public func nextIdleDeadline(after time: Int64) -> Int64? {
        // A huge idle timeout (meaning "never") must not overflow: such deadlines never come.
        partitions.values.lazy.compactMap { progress -> Int64? in
            let (deadline, overflow) = progress.lastRecordAt.addingReportingOverflow(settings.idleTimeoutMs)
            return overflow ? nil : deadline
        }.filter { $0 > time }.min()
    }

    private mutating func advanceWatermark(now: Int64) {
        guard !partitions.isEmpty else { return }
        let active = partitions.values.filter { !($0.caughtUp && now - $0.lastRecordAt >= settings.idleTimeoutMs) }
        let candidate: Int64?
        if active.isEmpty {
            candidate = now
        } else if active.contains(where: { $0.maxEventTime == nil }) {
            candidate = nil
        } else {
            candidate = active.compactMap(\.maxEventTime).min()
        }
        if let candidate { watermark = max(watermark ?? candidate, candidate) }
    }

    /// A partition that has never closed a bucket starts closing with the oldest open bucket, or,
    /// having nothing open (an idle partition), at the newest bucket the watermark could close.
    private mutating func initializeUnclosedPartitions(watermark: Int64) {
        let newestClosable = calendar.bucket(containing: watermark - settings.delayMs).start
        let oldestOpen = open.keys.filter { $0.kind == .main }.min()?.bucketStart
        for partition in partitions.keys where partitions[partition]!.closedThrough == nil {
            let hasRecordsOpen = open.values.contains { $0.slices[partition] != nil }
            if let oldestOpen {
                partitions[partition]!.closedThrough = min(oldestOpen, newestClosable)
            } else if !hasRecordsOpen {
                partitions[partition]!.closedThrough = newestClosable
            }
        }
    }

    private mutating func close(_ key: BucketKey, reason: CloseReason, into closes: inout [BucketClose]) {
        if key.kind == .main {
            closeMainBuckets(reason: reason, into: &closes) { $0.start <= key.bucketStart }
        } else {
            closeRound(key, reason: reason, into: &closes)
        }
    }

    /// Closes on-time buckets in time order while `shouldClose` says so, including empty ones, so
    /// every partition's closed range stays contiguous.
    private mutating func closeMainBuckets(reason: CloseReason, into closes: inout [BucketClose], while shouldClose: (Bucket) -> Bool) {
        var emptyClosed = 0
        while let next = nextMainBucket(), shouldClose(next) {
            let key = BucketKey(bucketStart: next.start, kind: .main)
            let entry = open.removeValue(forKey: key)
            let closing = partitions.keys.filter { partitions[$0]!.closedThrough.map { $0 <= next.start } ?? (entry?.slices[$0] != nil) }.sorted()
            let slices = entry?.slices ?? [:]
            if entry == nil && emptyClosed >= settings.maxEmptyBucketsPerTick {
                // A long gap: jump to the next bucket with records (or the newest closable one)
                // instead of walking it bucket by bucket.
                let oldestOpen = open.keys.filter { $0.kind == .main }.min()?.bucketStart
                let newestClosable = watermark.map { bucket(containing: $0 - settings.delayMs).start }
                let target = max([oldestOpen, newestClosable].compactMap { $0 }.min() ?? next.end, next.end)
                for partition in partitions.keys {
                    if let closed = partitions[partition]!.closedThrough, closed < target { partitions[partition]!.closedThrough = target }
                }
                skippedEmptyBuckets += 1
                continue
            }
            if entry == nil { emptyClosed += 1 }
            closes.append(BucketClose(key: key, bucket: entry?.bucket ?? next, reason: reason, partitions: closing, slices: slices))
            for partition in closing {
                partitions[partition]!.closedThrough = next.end
                if let slice = slices[partition] { raiseFence(partition, bucketStart: next.start, to: slice.lastOffset) }
            }
        }
    }

    /// The oldest bucket some partition has not closed yet.
    private mutating func nextMainBucket() -> Bucket? {
        var earliest: Int64?
        for progress in partitions.values {
            if let closed = progress.closedThrough { earliest = min(earliest ?? closed, closed) }
        }
        if let oldestOpen = open.keys.filter({ $0.kind == .main }).min()?.bucketStart {
            earliest = min(earliest ?? oldestOpen, oldestOpen)
        }
        return earliest.map { bucket(containing: $0) }
    }

    private mutating func closeRound(_ key: BucketKey, reason: CloseReason, into closes: inout [BucketClose]) {
        guard let entry = open.removeValue(forKey: key) else { return }
        for (partition, slice) in entry.slices { raiseFence(partition, bucketStart: key.bucketStart, to: slice.lastOffset) }
        closes.append(BucketClose(key: key, bucket: entry.bucket, reason: reason, partitions: entry.slices.keys.sorted(), slices: entry.slices))
    }

    private mutating func raiseFence(_ partition: Int32, bucketStart: Int64, to offset: Int64) {
        let current = partitions[partition]!.fences[bucketStart]
        partitions[partition]!.fences[bucketStart] = max(current ?? offset, offset)
    }

    // MARK: Offsets

    /// The lowest offset of the partition not inside a closed bucket; nil before anything is known.
    public func safeOffset(of partition: Int32) -> Int64? {
        guard let progress = partitions[partition] else { return nil }
        var safe = progress.position
        for entry in open.values {
            if let slice = entry.slices[partition] { safe = min(safe ?? slice.firstOffset, slice.firstOffset) }
        }
        return safe
    }

    private func fencesAboveSafeOffset(_ partition: Int32) -> Int {
        guard let safe = safeOffset(of: partition), let progress = partitions[partition] else { return 0 }
        return progress.fences.values.filter { $0 >= safe }.count
    }

    private func bucketHoldingSafeOffset(_ partition: Int32) -> BucketKey? {
        open.filter { $0.value.slices[partition] != nil }.min { $0.value.slices[partition]!.firstOffset < $1.value.slices[partition]!.firstOffset }?.key
    }

    /// The commits that would move the group forward: partitions whose safe offset or metadata
    /// changed since the last commit. Send them only after every close returned so far is published.
    public func commitPlan() -> [SafeCommit] {
        partitions.keys.sorted().compactMap { partition in
            let progress = partitions[partition]!
            guard let safe = safeOffset(of: partition) else { return nil }
            let metadata = ProgressMetadata(closedThrough: progress.closedThrough, fences: progress.fences.filter { $0.value >= safe })
            guard safe != progress.committedOffset || metadata != progress.committedMetadata else { return nil }
            return SafeCommit(partition: partition, offset: safe, metadata: metadata)
        }
    }

    /// Records that these commits succeeded; fences below the new safe offsets are forgotten.
    public mutating func committed(_ commits: [SafeCommit]) {
        for commit in commits where partitions[commit.partition] != nil {
            partitions[commit.partition]!.committedOffset = commit.offset
            partitions[commit.partition]!.committedMetadata = commit.metadata
            partitions[commit.partition]!.fences = partitions[commit.partition]!.fences.filter { $0.value >= commit.offset }
        }
    }

    // MARK: Inspection

    /// Open buckets and late rounds, oldest first.
    public var openBuckets: [BucketKey] { open.keys.sorted() }

    public func closedThrough(of partition: Int32) -> Int64? { partitions[partition]?.closedThrough }

    public func fences(of partition: Int32) -> [Int64: Int64] { partitions[partition]?.fences ?? [:] }

    /// The slice a partition has in an open bucket so far.
    public func openSlice(_ key: BucketKey, partition: Int32) -> BucketSlice? { open[key]?.slices[partition] }
}
