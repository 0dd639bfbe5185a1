import LogflumeClient
import LogflumeWire
import LogflumeStorage
import Logging

/// Where a test may make the aggregator fail as if it had crashed, between the steps whose
/// order makes it crash-safe.
enum CrashPoint: Sendable, Equatable {
    /// A partition's data files of a closing bucket are about to be published.
    case beforePublish
    /// A partition's completion record was just written; nothing committed yet.
    case afterCompletion
    /// Offsets of a tick were just committed.
    case afterCommit
    /// A bucket's marker was just created; its done-hook is not queued yet.
    case afterMarker
}

/// One membership of the consumer group: from joining to leaving or failing. Runs the state
/// machines' actions; all its state is rebuilt from the group's committed offsets and the sink
/// whenever the generation changes, so a rebalance is handled exactly like a restart.
final class AggregatorSession {
    let config: AggregatorConfig
    let cluster: KafkaCluster
    let sink: any HourSink
    let clock: any WallClock
    let logger: Logger
    let metrics: AggregatorMetrics
    let instance: String
    let hooks: DoneHookQueue?
    /// Where hook runs are owed; nil without a done-hook.
    let journal: DoneHookJournal?
    let faults: (@Sendable (CrashPoint) throws -> Void)?
    let member: GroupConsumer

    private var generation: Int32 = -1
    private var machines: [String: AggregationStateMachine] = [:]
    private var writers: [WriterKey: BucketFileWriter] = [:]
    /// The writer the last record went to; dropped whenever `writers` loses an entry.
    private var lastWriter: (key: WriterKey, writer: BucketFileWriter)?
    private var partitionCounts: [String: Int32] = [:]
    private let publishers: [String: BucketPublisher]
    private var lastTickAt: Int64?
    /// Topics whose partition 0 this instance reads: it alone looks after their owed hook runs.
    private var hookOwnerOf: Set<String> = []
    /// Which owed hook runs to queue again; nil without a done-hook.
    private var owedCheck: OwedHookCheck?

    private struct WriterKey: Hashable {
        var topic: String
        var key: BucketKey
        var partition: Int32
    }

    init(
        config: AggregatorConfig, cluster: KafkaCluster, sink: any HourSink, clock: any WallClock, logger: Logger, metrics: AggregatorMetrics,
        instance: String, hooks: DoneHookQueue?, faults: (@Sendable (CrashPoint) throws -> Void)?
    ) {
        self.config = config
        self.cluster = cluster
        self.sink = sink
        self.clock = clock
        self.logger = logger
        self.metrics = metrics
        self.instance = instance
        self.hooks = hooks
        let journal = hooks == nil ? nil : DoneHookJournal(sink: sink, instance: instance)
        self.journal = journal
        self.faults = faults
        owedCheck = config.doneHook.map(OwedHookCheck.init)
        var groupConfiguration = GroupConsumerConfiguration()
        groupConfiguration.sessionTimeoutMs = config.sessionTimeoutMs
        groupConfiguration.heartbeatIntervalMs = Int64(max(100, config.sessionTimeoutMs / 5))
        groupConfiguration.rebalanceTimeoutMs = max(config.sessionTimeoutMs, 5_000)
        // Positions are not safe offsets: only the state machines decide what to commit.
        groupConfiguration.commitOnRebalance = false
        groupConfiguration.autoOffsetReset = .earliest
        groupConfiguration.consumer.maxPollRecords = config.maxPollRecords
        member = GroupConsumer(cluster: cluster, groupId: config.groupId, topics: config.topics, configuration: groupConfiguration, logger: logger)
        publishers = Dictionary(uniqueKeysWithValues: config.topics.map {
            ($0, BucketPublisher(topic: $0, sink: sink, zone: config.timeZone, instance: instance, journal: journal))
        })
    }

    /// Consumes until `isStopping` says so; throws on any failure, after which the caller starts
    /// a new session from the committed state (exactly what a restart would do).
    func run(isStopping: () -> Bool) async throws {
        var pollTimeoutMs = min(config.tickIntervalMs, 500)
        while !isStopping() {
            let runs = try await member.pollRecords(maxRecords: config.maxPollRecords, timeoutMs: pollTimeoutMs)
            let current = await member.generationId
            // Not a member right now: the next poll rejoins and reads again from the committed offsets.
            guard current >= 0 else { continue }
            if current != generation { try await rebuild(generation: current) }
            let now = clock.nowMilliseconds
            var tallies: [String: AggregatorMetrics.ActionTally] = [:]
            // The topic's state machine and tally are looked up once per run of a partition's
            // records, not per record (hashing the topic name per record cost ~1% of the CPU).
            for run in runs {
                let topic = run.topicPartition.topic
                guard var machine = machines.removeValue(forKey: topic) else { continue }
                defer { machines[topic] = machine }
                var tally = tallies[topic] ?? .init()
                try machine.recordsReceived(partition: run.topicPartition.partition, run.records, now: now) { record, action in
                    tally.add(action)
                    guard case .append(let key, let bucket) = action else { return }
                    try append(record, of: run.topicPartition, key: key, bucket: bucket)
                }
                tallies[topic] = tally
            }
            for (topic, tally) in tallies { metrics.record(tally, topic: topic) }
            // A poll that found nothing suggests the partitions have caught up: tick again the
            // moment one of them turns idle, so its hour closes then rather than a tick later.
            let idleDeadline = runs.isEmpty ? machines.values.compactMap { $0.nextIdleDeadline(after: lastTickAt ?? .min) }.min() : nil
            if lastTickAt.map({ now - $0 >= config.tickIntervalMs }) ?? true || idleDeadline.map({ now >= $0 }) == true {
                lastTickAt = now
                try await tick(now: now)
            }
            // The clock again: a tick that published files took time of its own.
            let afterTick = clock.nowMilliseconds
            let nextTickAt = min(lastTickAt.map { $0 + config.tickIntervalMs } ?? afterTick, idleDeadline.flatMap { $0 > afterTick ? $0 : nil } ?? .max)
            pollTimeoutMs = max(1, min(nextTickAt - afterTick, config.tickIntervalMs, 500))
            if owedCheck?.isDue(now: afterTick) == true { checkOwedHooksBetweenRebuilds(now: afterTick) }
        }
    }

    /// Drops unpublished files and leaves the group; the committed offsets stay where they are.
    func close() async {
        // Until the next session's rebuild this instance owns nothing, as far as anyone can tell.
        for topic in config.topics where hookOwnerOf.contains(topic) { metrics.hooksOwed(topic: topic, count: 0) }
        abandonWriters()
        await member.close()
    }

    private func abandonWriters() {
        for writer in writers.values { writer.abandon() }
        writers = [:]
        lastWriter = nil
    }

    // MARK: Rebuilding

    private func rebuild(generation current: Int32) async throws {
        abandonWriters()
        let assignment = await member.assignment
        let committed = try await CommittedProgressReader(cluster: cluster, groupId: config.groupId).fetch(assignment)
        for topic in config.topics {
            partitionCounts[topic] = try await cluster.topicMetadata(topic).partitionCount
        }
        let now = clock.nowMilliseconds
        machines = Dictionary(uniqueKeysWithValues: config.topics.map {
            ($0, AggregationStateMachine(topic: $0, calendar: config.calendar, settings: config.aggregation))
        })
        for tp in assignment where machines[tp.topic] != nil {
            let offset = committed[tp]?.offset
            var progress = ProgressMetadata(decoding: committed[tp]?.metadata) ?? ProgressMetadata()
            try adoptCompletions(topic: tp.topic, partition: tp.partition, committedOffset: offset, progress: &progress)
            machines[tp.topic]!.partitionAssigned(tp.partition, recovery: PartitionRecovery(committedOffset: offset, progress: progress), now: now)
        }
        generation = current
        logger.info("partitions assigned", metadata: [
            "group": "\(config.groupId)", "generation": "\(current)", "assignment": "\(assignment.map(\.description).joined(separator: ","))",
        ])
        for topic in config.topics.sorted() { try reconcile(topic: topic) }
        hookOwnerOf = Set(assignment.filter { $0.partition == 0 }.map(\.topic))
        try checkOwedHooks(afterRebuild: true, now: now)
    }

    /// Done-hook runs the journal says may not have happened, queued again by the owner of the
    /// topic's partition 0 alone; `OwedHookCheck` decides which.
    private func checkOwedHooks(afterRebuild: Bool, now: Int64) throws {
        guard let hooks, let journal, var check = owedCheck else { return }
        let layout = BucketLayout()
        var owed: [DoneHook.Job] = []
        for topic in config.topics.sorted() {
            let before = owed.count
            if hookOwnerOf.contains(topic) {
                for (bucket, version) in try journal.owed(topic: topic, calendar: config.calendar)
                where sink.exists(layout.markerPath(topic: topic, bucket: bucket)) {
                    let location = sink.location(of: layout.directory(topic: topic, bucket: bucket))
                    owed.append(DoneHook.Job(topic: topic, bucket: bucket, location: location, manifestVersion: version))
                }
            }
            metrics.hooksOwed(topic: topic, count: owed.count - before)
        }
        let queue = check.check(owed: Set(owed.map(\.identity)), afterRebuild: afterRebuild, now: now)
        owedCheck = check
        // Oldest bucket first, as listed.
        for job in owed where queue.contains(job.identity) {
            guard hooks.enqueue(job) else { continue }
            logger.info(afterRebuild ? "done-hook owed from before a restart or rebalance; running it" : "done-hook still owed; running it again", metadata: [
                "topic": "\(job.topic)", "bucket": "\(job.bucket)", "manifest.version": "\(job.manifestVersion)",
            ])
        }
    }

    /// The periodic check is housekeeping, not part of writing buckets: a failed listing is
    /// logged and counted, and tried again an interval later, rather than ending the session
    /// (whose rebuild would queue every owed run at once, even those still running elsewhere).
    private func checkOwedHooksBetweenRebuilds(now: Int64) {
        do {
            try checkOwedHooks(afterRebuild: false, now: now)
        } catch {
            owedCheck?.failed(now: now)
            metrics.sinkError()
            logger.warning("could not list the done-hook journal; trying again at the next check", metadata: ["error": "\(error)"])
        }
    }

    /// Buckets closed after the last commit (the process died before committing) still have
    /// their completion records on the sink: treat them as closed again, with their fences,
    /// rather than rebuilding a bucket that may already carry its done-marker.
    private func adoptCompletions(topic: String, partition: Int32, committedOffset: Int64?, progress: inout ProgressMetadata) throws {
        guard let closedThrough = progress.closedThrough, let publisher = publishers[topic] else { return }
        let calendar = config.calendar
        var cursor = calendar.bucket(containing: closedThrough)
        for _ in 0..<10_000 {
            guard let completion = try publisher.mainCompletion(bucket: cursor, partition: partition) else { return }
            try publisher.sweepAdopted(completion, bucket: cursor)
            progress.closedThrough = completion.bucketEnd
            if let last = completion.lastOffset, last >= committedOffset ?? 0 {
                progress.fences[cursor.start] = max(progress.fences[cursor.start] ?? last, last)
            }
            cursor = calendar.bucket(after: cursor)
        }
    }

    // MARK: Records

    private func append(_ record: Record, of tp: TopicPartition, key: BucketKey, bucket: Bucket) throws {
        let writerKey = WriterKey(topic: tp.topic, key: key, partition: tp.partition)
        // Consecutive records mostly go to the same file: compare with the last key before
        // hashing one (hashing the topic name per record was a tenth of the aggregator's CPU).
        if let last = lastWriter, last.key == writerKey {
            try last.writer.append(record)
            return
        }
        let writer: BucketFileWriter
        if let existing = writers[writerKey] {
            writer = existing
        } else {
            writer = BucketFileWriter(
                topic: tp.topic, partition: tp.partition, directory: BucketLayout().directory(topic: tp.topic, bucket: bucket, kind: key.kind),
                settings: config.output, sink: sink, instance: instance
            )
            writers[writerKey] = writer
        }
        lastWriter = (writerKey, writer)
        try writer.append(record)
    }

    // MARK: Ticks

    private func tick(now: Int64) async throws {
        let caughtUp = await caughtUpPartitions()
        for topic in machines.keys.sorted() {
            let closes = machines[topic]!.tick(now: now, caughtUp: caughtUp[topic] ?? [])
            for close in closes { try publish(close, topic: topic) }
            try await commit(machines[topic]!.commitPlan(), topic: topic)
            if !closes.isEmpty { try reconcile(topic: topic) }
            metrics.state(topic: topic, openBuckets: machines[topic]!.openBuckets.count, watermark: machines[topic]!.watermark, now: now)
        }
    }

    /// Partitions whose position has reached the high watermark of their last fetch response.
    /// Asking the broker instead (ListOffsets) would queue behind the consumer's long-polling
    /// Fetch on the same connection and stall this loop for up to max.wait.ms every tick.
    private func caughtUpPartitions() async -> [String: Set<Int32>] {
        var result: [String: Set<Int32>] = [:]
        for machine in machines.values {
            for partition in machine.assignedPartitions {
                let tp = TopicPartition(machine.topic, partition)
                if let position = await member.position(of: tp), let end = await member.highWatermark(of: tp), position >= end {
                    result[tp.topic, default: []].insert(tp.partition)
                }
            }
        }
        return result
    }

    private func publish(_ close: BucketClose, topic: String) throws {
        metrics.bucketClosed(close, topic: topic)
        if close.reason == .maxOpenBuckets || close.reason == .fenceLimit {
            logger.warning("bucket closed before the watermark passed it", metadata: [
                "topic": "\(topic)", "bucket": "\(close.bucket)", "kind": "\(close.key.kind)", "reason": "\(close.reason.rawValue)",
            ])
        }
        let publisher = publishers[topic]!
        for partition in close.partitions {
            let writer = writers.removeValue(forKey: WriterKey(topic: topic, key: close.key, partition: partition))
            lastWriter = nil
            try faults?(.beforePublish)
            _ = try publisher.complete(close, partition: partition, writer: writer)
            try faults?(.afterCompletion)
        }
        let count = partitionCounts[topic] ?? 0
        switch close.key.kind {
        case .main: try announce(try publisher.finishMain(bucket: close.bucket, partitionCount: count), topic: topic, bucket: close.bucket)
        case .reopen: try announce(try publisher.finishReopen(bucket: close.bucket, partitionCount: count), topic: topic, bucket: close.bucket)
        case .late: _ = try publisher.finishLate(bucket: close.bucket)
        }
        logger.debug("bucket closed", metadata: [
            "topic": "\(topic)", "bucket": "\(close.bucket)", "kind": "\(close.key.kind)", "partitions": "\(close.partitions)",
            "records": "\(close.slices.values.reduce(0) { $0 + $1.records })",
        ])
    }

    private func announce(_ outcome: MarkerOutcome, topic: String, bucket: Bucket) throws {
        let version: Int
        switch outcome {
        case .incomplete, .alreadyDone: return
        case .created(let v): version = v
        case .reopened(let v): version = v
        }
        metrics.markerCreated(topic: topic)
        let location = sink.location(of: BucketLayout().directory(topic: topic, bucket: bucket))
        logger.info("bucket done", metadata: ["topic": "\(topic)", "bucket": "\(bucket)", "manifest.version": "\(version)", "location": "\(location)"])
        try faults?(.afterMarker)
        hooks?.enqueue(DoneHook.Job(topic: topic, bucket: bucket, location: location, manifestVersion: version))
    }

    private func commit(_ commits: [SafeCommit], topic: String) async throws {
        guard !commits.isEmpty else { return }
        for commit in commits {
            let metadata = commit.metadata.encoded
            if metadata.utf8.count > ProgressMetadata.maxBytes {
                logger.error("commit metadata too long; the broker will refuse it", metadata: ["topic": "\(topic)", "partition": "\(commit.partition)"])
            }
            do {
                try await member.commit(offsets: [TopicPartition(topic, commit.partition): commit.offset], metadata: metadata)
            } catch {
                // Most likely a rebalance; the next poll rejoins and rebuilds from what did commit.
                logger.warning("offset commit failed", metadata: ["topic": "\(topic)", "partition": "\(commit.partition)", "error": "\(error)"])
                return
            }
            machines[topic]!.committed([commit])
        }
        try faults?(.afterCommit)
    }

    // MARK: Done-markers of unfinished buckets

    /// Looks back over recent buckets that have files but no marker: completes this instance's
    /// share where its partitions are already past them (a partition that joined later, or an
    /// empty gap), and writes manifest and marker once all partitions completed. This also
    /// finishes a bucket whose marker a crash prevented.
    private func reconcile(topic: String) throws {
        guard let machine = machines[topic], let publisher = publishers[topic] else { return }
        let mine = machine.assignedPartitions
        let closed = mine.compactMap { machine.closedThrough(of: $0) }
        guard let newest = closed.max(), let oldest = closed.min() else { return }
        let layout = BucketLayout()
        for bucket in config.calendar.buckets(from: oldest - config.markerLookbackMs, to: newest) where bucket.end <= newest {
            guard sink.exists(layout.directory(topic: topic, bucket: bucket)), !sink.exists(layout.markerPath(topic: topic, bucket: bucket)) else { continue }
            for partition in mine {
                guard let through = machine.closedThrough(of: partition), through >= bucket.end else { continue }
                if try publisher.mainCompletion(bucket: bucket, partition: partition) == nil {
                    try publisher.completeEmpty(bucket: bucket, partition: partition)
                }
            }
            try announce(try publisher.finishMain(bucket: bucket, partitionCount: partitionCounts[topic] ?? 0), topic: topic, bucket: bucket)
        }
    }
}
