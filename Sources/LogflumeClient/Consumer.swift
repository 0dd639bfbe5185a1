public import Logging
public import LogflumeWire
public import NIOCore

/// Where a consumer starts reading a partition.
public enum StartPosition: Equatable, Sendable, CustomStringConvertible {
    /// The log start offset.
    case earliest
    /// The high watermark: only records produced from now on.
    case latest
    /// This offset; out of range means `autoOffsetReset` applies.
    case offset(Int64)
    /// The first record whose timestamp is at or after this time (ms since the epoch), found
    /// with ListOffsets; when there is none, the end of the partition.
    case timestamp(Int64)

    public var description: String {
        switch self {
        case .earliest: return "earliest"
        case .latest: return "latest"
        case .offset(let offset): return "offset \(offset)"
        case .timestamp(let time): return "time \(time)"
        }
    }
}

/// Consumer settings, with the Java client's defaults.
public struct ConsumerConfiguration: Sendable, Equatable {
    /// What to do when the fetch offset is not in the log (any more).
    public enum OffsetReset: Sendable, Equatable {
        case earliest
        case latest
        /// Report `OFFSET_OUT_OF_RANGE` from `poll` until the caller seeks.
        case none
    }

    /// How long the broker may hold a fetch waiting for `minBytes` (`fetch.max.wait.ms`).
    /// Default: 500.
    public var maxWaitMs: Int32 = 500
    /// Default: 1 (`fetch.min.bytes`).
    public var minBytes: Int32 = 1
    /// Most bytes one fetch response may carry (`fetch.max.bytes`). Default: 50 MiB.
    public var maxBytes: Int32 = 50 << 20
    /// Most bytes per partition in one fetch (`max.partition.fetch.bytes`). Default: 1 MiB. A
    /// larger batch is still read: the consumer asks again with room for it.
    public var partitionMaxBytes: Int32 = 1 << 20
    /// Memory a partition's fetched records may hold before it stops asking for more: batches as
    /// fetched, plus for compressed ones their decompressed records. Fetches overlap with decoding
    /// until this much is buffered (librdkafka's `queued.max.messages.kbytes` idea). Default: 8 MiB.
    public var maxBufferedBytesPerPartition = 8 << 20
    /// Default: `.earliest` (`auto.offset.reset`; the Java default is latest, but a log
    /// shipper should rather re-read than skip).
    public var autoOffsetReset: OffsetReset = .earliest
    /// 0 read uncommitted (default), 1 read committed (`isolation.level`).
    public var isolationLevel: Int8 = 0
    /// Records one `poll` returns at most through `records` (`max.poll.records`). Default: 500.
    public var maxPollRecords: Int = 500
    /// Wait after a failed fetch before asking that partition's leader again
    /// (`retry.backoff.ms`). Default: 100.
    public var retryBackoffMs: Int64 = 100
    /// Default: 30000 (`request.timeout.ms`), on top of `maxWaitMs` for fetches.
    public var requestTimeoutMs: Int64 = 30_000
    /// While every partition a broker leads for this consumer is behind its high watermark, up
    /// to this many fetches go to it at once, each for part of the partitions and none held by
    /// the broker (max wait 0): the broker starts on the next answer while the last one is still
    /// on the wire, instead of idling for a round trip and the client's read of each answer.
    /// Once a partition is caught up, fetches to its leader go back to one long poll at a time,
    /// and no catch-up fetch is queued behind a long poll. 1 keeps one fetch in flight per
    /// broker at all times. Default: 2.
    public var catchUpFetchesPerBroker = 2
    /// Assigned topics are refreshed at least this often (`metadata.max.age.ms`). Default: 300000.
    public var metadataMaxAgeMs: Int64 = 300_000

    public init() {}
}

/// One record as consumed.
public struct ConsumerRecord: Sendable {
    public var topic: String
    public var partition: Int32
    public var offset: Int64
    /// CreateTime, or for LogAppendTime topics the broker's append time (the batch's max
    /// timestamp).
    public var timestamp: Int64
    public var timestampType: TimestampType
    public var key: ByteBuffer?
    public var value: ByteBuffer?
    public var headers: [RecordHeader]

    public init(
        topic: String, partition: Int32, offset: Int64, timestamp: Int64, timestampType: TimestampType, key: ByteBuffer?,
        value: ByteBuffer?, headers: [RecordHeader]
    ) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.timestamp = timestamp
        self.timestampType = timestampType
        self.key = key
        self.value = value
        self.headers = headers
    }

    public var topicPartition: TopicPartition { TopicPartition(topic, partition) }

    public init(_ record: Record, of run: ConsumedRecords) {
        self.init(
            topic: run.topicPartition.topic, partition: run.topicPartition.partition, offset: record.offset, timestamp: record.timestamp,
            timestampType: run.timestampType, key: record.key, value: record.value, headers: record.headers
        )
    }
}

/// Consecutive records of one partition, handed over as its batches decoded them. A reader that
/// goes through many records (the aggregator, `logflume consume`) takes these from `pollRecords`:
/// making a `ConsumerRecord` of each, with its own references to the topic name, key, value and
/// headers, was a tenth of such a reader's CPU.
public struct ConsumedRecords: Sendable {
    public let topicPartition: TopicPartition
    /// How the timestamps were set. For LogAppendTime topics they are already the broker's append
    /// time (the batch's max timestamp).
    public let timestampType: TimestampType
    /// In offset order; never empty. A slice of the batch's records: its indices start at
    /// `records.startIndex`, not 0.
    public let records: ArraySlice<Record>

    public init(topicPartition: TopicPartition, timestampType: TimestampType, records: ArraySlice<Record>) {
        self.topicPartition = topicPartition
        self.timestampType = timestampType
        self.records = records
    }
}

extension Array where Element == ConsumedRecords {
    /// One `ConsumerRecord` per record, in order.
    public var consumerRecords: [ConsumerRecord] {
        var out: [ConsumerRecord] = []
        out.reserveCapacity(reduce(0) { $0 + $1.records.count })
        for run in self {
            for record in run.records { out.append(ConsumerRecord(record, of: run)) }
        }
        return out
    }
}

/// Reads assigned partitions (no consumer group): the caller says which partitions and where
/// to start. Fetches stay in flight while the caller works through what the last one returned,
/// so reading and processing overlap: one long poll per broker, or, while every partition it
/// leads is behind, `catchUpFetchesPerBroker` fetches that the broker answers back to back.
/// Call `poll` (or iterate `records`) from one task at a time, and close the consumer before
/// the cluster.
///
/// ```swift
/// let consumer = Consumer(cluster: cluster)
/// try await consumer.assign([TopicPartition("logs", 0): .earliest])
/// let end = try await consumer.endOffsets()
/// for try await record in consumer.records { ... }
/// ```
public actor Consumer {
    public nonisolated let cluster: KafkaCluster
    public nonisolated let configuration: ConsumerConfiguration
    nonisolated let logger: Logger
    private nonisolated let dataArrived: Doorbell

    private struct PartitionState {
        /// Next offset to fetch; -1 until the start position is known. It moves as soon as an
        /// answer's batch headers are read, ahead of `appendedOffset`, so the next fetch is on
        /// the wire while the last answer is still being checked and decoded.
        var fetchOffset: Int64 = -1
        /// The end of what `batches` holds (or held): where the next decoded answer continues.
        var appendedOffset: Int64 = -1
        /// Next offset to hand to the caller.
        var position: Int64 = -1
        var pendingStart: StartPosition?
        /// Changes on every seek, so answers to fetches sent before it are dropped.
        var generation: UInt64
        var fetching = false
        var retryAt: Int64 = 0
        var batches = CircularBuffer<FetchedBatch>()
        var bufferedBytes = 0
        /// Bytes of answers being decoded; they count against the buffer limit too.
        var decodingBytes = 0
        /// Answers are numbered when their headers are read and appended in that order, whichever
        /// decode finishes first.
        var nextTicket: UInt64 = 0
        var nextToAppend: UInt64 = 0
        var decodedAhead: [UInt64: (records: PreparedRecords, framedBytes: Int)] = [:]
        var records: [Record] = []
        var recordIndex = 0
        var timestampType: TimestampType = .createTime
        /// The end of the batch `records` came from, -1 when there is none.
        var currentBatchEnd: Int64 = -1
        var highWatermark: Int64 = -1
        /// Where read committed stops (the first offset of an open transaction).
        var lastStableOffset: Int64 = -1
        var logStartOffset: Int64 = -1
        /// The last answer for this partition carried no records although it was behind, or
        /// left it out: it is not fetched as catching up again until records come, or the broker
        /// would answer at once, empty, over and over.
        var answeredEmpty = false
        /// Set when a batch did not fit `partitionMaxBytes`: room for it next time.
        var maxBytesOverride: Int32?
        /// Not fetched and not returned by `poll` until resumed; what is buffered stays.
        var paused = false

        init(generation: UInt64, start: StartPosition) {
            self.generation = generation
            if case .offset(let offset) = start, offset >= 0 {
                fetchOffset = offset
                appendedOffset = offset
                position = offset
            } else {
                pendingStart = start
            }
        }

        /// The broker's last answer said there is more to read beyond `fetchOffset`.
        func isBehind(readCommitted: Bool) -> Bool {
            !answeredEmpty && (readCommitted ? lastStableOffset : highWatermark) > fetchOffset
        }
    }

    private struct FetchItem: Sendable {
        var topicPartition: TopicPartition
        var offset: Int64
        var leaderEpoch: Int32
        var maxBytes: Int32
        var generation: UInt64
        /// The partition's last answer said there is more beyond `offset`.
        var catchingUp: Bool
    }

    private struct FetchesInFlight {
        var longPoll = false
        var catchUp = 0

        mutating func begin(catchUp isCatchUp: Bool) {
            if isCatchUp { catchUp += 1 } else { longPoll = true }
        }

        mutating func end(catchUp isCatchUp: Bool) {
            if isCatchUp { catchUp -= 1 } else { longPoll = false }
        }
    }

    private var partitions: [TopicPartition: PartitionState] = [:]
    private var order: [TopicPartition] = []
    private var roundRobin = 0
    private var generations: UInt64 = 0
    /// Fetches in flight per broker: one long poll alone, or catch-up fetches.
    private var fetchesInFlight: [Int32: FetchesInFlight] = [:]
    /// Fetches sent since the consumer was made, all and catch-up ones, for tests and
    /// diagnostics.
    public private(set) var fetchesSent = 0
    public private(set) var catchUpFetchesSent = 0
    private var pendingError: (any Error)?
    private var closed = false
    private var refreshing = false
    private var lastRefreshAt = ClientClock.uptimeMs()
    private var nextRetryAt: Int64?

    public init(cluster: KafkaCluster, configuration: ConsumerConfiguration = ConsumerConfiguration(), logger: Logger? = nil) {
        self.cluster = cluster
        self.configuration = configuration
        self.logger = logger ?? cluster.logger
        self.dataArrived = Doorbell(eventLoop: cluster.group.next())
    }

    // MARK: Assignment

    /// Replaces the assignment and finds each partition's start offset (ListOffsets for
    /// earliest, latest and timestamps).
    /// - Throws: `KafkaClientError.unknownTopicOrPartition` for partitions that do not exist.
    public func assign(_ assignments: [TopicPartition: StartPosition]) async throws {
        partitions = [:]
        order = []
        roundRobin = 0
        pendingError = nil
        try await incrementalAssign(assignments)
    }

    /// Adds partitions to the assignment, keeping the others' positions and buffered records
    /// (the cooperative protocol's "assigned" step). A partition already assigned is left as is.
    public func incrementalAssign(_ additions: [TopicPartition: StartPosition]) async throws {
        for (tp, start) in additions where partitions[tp] == nil {
            partitions[tp] = PartitionState(generation: nextGeneration(), start: start)
        }
        order = partitions.keys.sorted()
        try await resolvePositions()
        startFetches()
    }

    /// Removes partitions from the assignment; answers to fetches already sent for them are
    /// dropped when they arrive.
    public func incrementalUnassign(_ removals: [TopicPartition]) {
        for tp in removals { partitions[tp] = nil }
        order = partitions.keys.sorted()
        roundRobin = 0
    }

    /// The assigned partitions.
    public var assignment: [TopicPartition] { order }

    /// Stops fetching these assigned partitions and returning their records, until `resume`;
    /// positions and buffered records stay (flow control: a slow sink pauses what it cannot
    /// take yet, without leaving the group).
    public func pause(_ topicPartitions: [TopicPartition]) {
        for tp in topicPartitions { partitions[tp]?.paused = true }
    }

    public func resume(_ topicPartitions: [TopicPartition]) {
        for tp in topicPartitions { partitions[tp]?.paused = false }
        startFetches()
        dataArrived.ring()
    }

    /// The assigned partitions that are paused.
    public var paused: [TopicPartition] { order.filter { partitions[$0]?.paused == true } }

    /// Moves an assigned partition; records buffered for it are dropped.
    public func seek(_ topicPartition: TopicPartition, to start: StartPosition) async throws {
        guard let current = partitions[topicPartition] else {
            throw KafkaClientError.invalidArgument("\(topicPartition) is not assigned to this consumer")
        }
        var state = PartitionState(generation: nextGeneration(), start: start)
        state.highWatermark = current.highWatermark
        state.logStartOffset = current.logStartOffset
        state.paused = current.paused
        partitions[topicPartition] = state
        try await resolvePositions()
        startFetches()
    }

    /// The offset of the next record `poll` returns for the partition, nil while unknown.
    public func position(of topicPartition: TopicPartition) -> Int64? {
        guard let state = partitions[topicPartition], state.position >= 0 else { return nil }
        return state.position
    }

    /// The high watermark from the partition's latest fetch, nil before the first.
    public func highWatermark(of topicPartition: TopicPartition) -> Int64? {
        guard let state = partitions[topicPartition], state.highWatermark >= 0 else { return nil }
        return state.highWatermark
    }

    /// The high watermarks now (ListOffsets latest), for the given or all assigned partitions:
    /// a caller that wants to stop at the end reads until its positions reach these.
    public func endOffsets(_ topicPartitions: [TopicPartition]? = nil) async throws -> [TopicPartition: Int64] {
        try await listOffsets(topicPartitions ?? order, timestamp: ListOffsetsRequest.latestTimestamp)
    }

    /// The log start offsets now, for the given or all assigned partitions.
    public func beginningOffsets(_ topicPartitions: [TopicPartition]? = nil) async throws -> [TopicPartition: Int64] {
        try await listOffsets(topicPartitions ?? order, timestamp: ListOffsetsRequest.earliestTimestamp)
    }

    private func listOffsets(_ topicPartitions: [TopicPartition], timestamp: Int64) async throws -> [TopicPartition: Int64] {
        guard !topicPartitions.isEmpty else { return [:] }
        let query = Dictionary(topicPartitions.map { ($0, timestamp) }, uniquingKeysWith: { a, _ in a })
        let answers = try await cluster.listOffsets(query, isolationLevel: configuration.isolationLevel, retryBackoffMs: configuration.retryBackoffMs)
        return answers.mapValues(\.offset)
    }

    /// Stops fetching; `poll` returns nothing from now on.
    public func close() {
        closed = true
        partitions = [:]
        order = []
        dataArrived.ring()
    }

    public var isClosed: Bool { closed }

    // MARK: Polling

    /// Up to `maxRecords` records from the assigned partitions, waiting up to `timeoutMs` for
    /// the first; an empty array when none arrived in time.
    /// - Throws: fetch errors that retrying cannot fix (corrupt data, authorization, an
    ///   out-of-range offset with `autoOffsetReset = .none`), each once.
    public func poll(maxRecords: Int = 500, timeoutMs: Int64 = 1000) async throws -> [ConsumerRecord] {
        try await pollRecords(maxRecords: maxRecords, timeoutMs: timeoutMs).consumerRecords
    }

    /// `poll`, with the records in runs per partition, as decoded.
    public func pollRecords(maxRecords: Int = 500, timeoutMs: Int64 = 1000) async throws -> [ConsumedRecords] {
        let deadline = ClientClock.uptimeMs() + max(0, timeoutMs)
        while true {
            if let error = pendingError {
                pendingError = nil
                throw error
            }
            if closed { return [] }
            try Task.checkCancellation()
            if partitions.values.contains(where: { $0.pendingStart != nil }) {
                do {
                    try await resolvePositions()
                } catch let error as KafkaClientError where error.isRetriable {
                    logger.warning("cannot look up start offsets yet", metadata: ["error": "\(error)"])
                }
            }
            let records = try takeRecords(max: max(1, maxRecords))
            startFetches()
            if !records.isEmpty { return records }
            let now = ClientClock.uptimeMs()
            if now >= deadline { return [] }
            var wake = deadline
            if let retry = nextRetryAt { wake = min(wake, max(retry, now + 1)) }
            await dataArrived.wait(untilUptimeMs: wake)
        }
    }

    /// Every record, polling as needed; ends when the consumer is closed or the task cancelled.
    public nonisolated var records: ConsumerRecordSequence { ConsumerRecordSequence(consumer: self) }

    private func takeRecords(max: Int) throws -> [ConsumedRecords] {
        var out: [ConsumedRecords] = []
        guard !order.isEmpty else { return out }
        let count = order.count
        var taken = 0
        for step in 0..<count where taken < max {
            let tp = order[(roundRobin + step) % count]
            guard partitions[tp]?.paused == false, var state = partitions.removeValue(forKey: tp) else { continue }
            defer { partitions[tp] = state }
            do {
                try take(from: &state, topicPartition: tp, into: &out, taken: &taken, max: max)
            } catch where !out.isEmpty {
                // Positions already moved past what `out` holds: deliver it, report the error next.
                pendingError = error
                break
            }
        }
        roundRobin = (roundRobin + 1) % count
        return out
    }

    private func take(
        from state: inout PartitionState, topicPartition tp: TopicPartition, into out: inout [ConsumedRecords], taken: inout Int, max: Int
    ) throws {
        while taken < max {
            if state.recordIndex < state.records.count {
                // A fetch starts at the batch holding the offset asked for: skip what is before it.
                while state.recordIndex < state.records.count, state.records[state.recordIndex].offset < state.position {
                    state.recordIndex += 1
                }
                let end = min(state.records.count, state.recordIndex + (max - taken))
                if end > state.recordIndex {
                    let run = state.records[state.recordIndex..<end]
                    out.append(ConsumedRecords(topicPartition: tp, timestampType: state.timestampType, records: run))
                    taken += run.count
                    state.position = Swift.max(state.position, run[end - 1].offset + 1)
                    state.recordIndex = end
                }
                continue
            }
            if state.currentBatchEnd >= 0 {
                // Offsets compaction removed still count as consumed.
                state.position = Swift.max(state.position, state.currentBatchEnd)
                state.currentBatchEnd = -1
                state.records = []
                state.recordIndex = 0
            }
            guard let fetched = state.batches.popFirst() else { return }
            let batch = fetched.batch
            state.bufferedBytes -= fetched.heldBytes
            if batch.nextOffset <= state.position { continue }
            if batch.attributes.isControl {
                state.position = Swift.max(state.position, batch.nextOffset)
                continue
            }
            do {
                state.records = try fetched.records.get()
            } catch {
                state.position = Swift.max(state.position, batch.nextOffset)
                throw KafkaClientError.protocolViolation(
                    broker: "fetch", reason: "\(tp): cannot decode the batch at offset \(batch.baseOffset): \(error)"
                )
            }
            state.recordIndex = 0
            state.timestampType = batch.attributes.timestampType
            state.currentBatchEnd = batch.nextOffset
        }
    }

    // MARK: Start positions

    private func nextGeneration() -> UInt64 {
        generations += 1
        return generations
    }

    /// ListOffsets for every partition waiting for its start offset.
    private func resolvePositions() async throws {
        let pending = partitions.compactMap { tp, state in state.pendingStart.map { (tp, $0, state.generation) } }
        guard !pending.isEmpty else { return }
        var query: [TopicPartition: Int64] = [:]
        for (tp, start, _) in pending {
            switch start {
            case .earliest: query[tp] = ListOffsetsRequest.earliestTimestamp
            case .latest: query[tp] = ListOffsetsRequest.latestTimestamp
            case .timestamp(let time): query[tp] = time
            case .offset: query[tp] = ListOffsetsRequest.earliestTimestamp  // a negative offset: from the start
            }
        }
        let isolation = configuration.isolationLevel
        var answers = try await cluster.listOffsets(query, isolationLevel: isolation, retryBackoffMs: configuration.retryBackoffMs)
        // A time after the last record has no offset: start at the end, where records with
        // later timestamps will arrive.
        let afterLast = answers.filter { $0.value.offset < 0 }.map(\.key)
        if !afterLast.isEmpty {
            let ends = try await cluster.listOffsets(
                Dictionary(afterLast.map { ($0, ListOffsetsRequest.latestTimestamp) }, uniquingKeysWith: { a, _ in a }),
                isolationLevel: isolation, retryBackoffMs: configuration.retryBackoffMs
            )
            for (tp, end) in ends { answers[tp] = end }
        }
        for (tp, start, generation) in pending {
            guard var state = partitions[tp], state.generation == generation, state.pendingStart == start,
                  let answer = answers[tp], answer.offset >= 0
            else { continue }
            state.pendingStart = nil
            state.fetchOffset = answer.offset
            state.appendedOffset = answer.offset
            state.position = answer.offset
            partitions[tp] = state
            logger.debug("start position", metadata: ["partition": "\(tp)", "start": "\(start)", "offset": "\(answer.offset)"])
        }
    }

    // MARK: Fetching

    /// Sends fetches for the partitions whose buffers have room: to a leader with none in
    /// flight, one long poll for them all, or, when every one of them is behind its high
    /// watermark, catch-up fetches that split them between `catchUpFetchesPerBroker` slots.
    private func startFetches() {
        guard !closed else { return }
        let metadata = cluster.metadata
        let now = ClientClock.uptimeMs()
        var perBroker: [Int32: [FetchItem]] = [:]
        var withoutLeader: Set<String> = []
        var retryAt: Int64?
        for tp in order {
            guard let state = partitions[tp], state.fetchOffset >= 0, state.pendingStart == nil, !state.fetching, !state.paused,
                  state.bufferedBytes + state.decodingBytes < configuration.maxBufferedBytesPerPartition
            else { continue }
            if state.retryAt > now {
                retryAt = min(retryAt ?? .max, state.retryAt)
                continue
            }
            guard let leader = metadata.leader(for: tp) else {
                withoutLeader.insert(tp.topic)
                retryAt = min(retryAt ?? .max, now + configuration.retryBackoffMs)
                continue
            }
            perBroker[leader.leader, default: []].append(FetchItem(
                topicPartition: tp, offset: state.fetchOffset, leaderEpoch: leader.leaderEpoch,
                maxBytes: state.maxBytesOverride ?? configuration.partitionMaxBytes, generation: state.generation,
                catchingUp: state.isBehind(readCommitted: configuration.isolationLevel == 1)
            ))
        }
        nextRetryAt = retryAt
        if !withoutLeader.isEmpty || (now - lastRefreshAt >= configuration.metadataMaxAgeMs && !order.isEmpty) {
            refreshMetadata(withoutLeader.isEmpty ? Set(order.map(\.topic)) : withoutLeader)
        }
        for (broker, items) in perBroker {
            let flight = fetchesInFlight[broker] ?? FetchesInFlight()
            let catchingUp = items.allSatisfy(\.catchingUp)
            let slots = max(1, configuration.catchUpFetchesPerBroker) - flight.catchUp
            if flight.longPoll || slots <= 0 || (flight.catchUp > 0 && !catchingUp) { continue }
            guard catchingUp else {
                send(items, to: broker, catchUp: false)
                continue
            }
            // Split so each free slot gets a share; the answers then arrive back to back.
            let groups = min(slots, items.count)
            let share = (items.count + groups - 1) / groups
            for start in stride(from: 0, to: items.count, by: share) {
                send(Array(items[start..<min(start + share, items.count)]), to: broker, catchUp: true)
            }
        }
    }

    private func send(_ items: [FetchItem], to broker: Int32, catchUp: Bool) {
        fetchesInFlight[broker, default: FetchesInFlight()].begin(catchUp: catchUp)
        fetchesSent += 1
        if catchUp { catchUpFetchesSent += 1 }
        for item in items { partitions[item.topicPartition]?.fetching = true }
        Task { await self.runFetch(broker: broker, items: items, catchUp: catchUp) }
    }

    private func refreshMetadata(_ topics: Set<String>) {
        let now = ClientClock.uptimeMs()
        guard !closed, !refreshing, now - lastRefreshAt >= configuration.retryBackoffMs else { return }
        refreshing = true
        lastRefreshAt = now
        let cluster = self.cluster
        let logger = self.logger
        Task {
            do {
                try await cluster.refreshMetadata(topics: topics.sorted())
            } catch {
                logger.debug("metadata refresh failed", metadata: ["error": "\(error)"])
            }
            self.refreshed()
        }
    }

    private func refreshed() {
        refreshing = false
        startFetches()
        dataArrived.ring()
    }

    private func runFetch(broker: Int32, items: [FetchItem], catchUp: Bool) async {
        let outcome: Result<FetchAnswer, any Error>
        do {
            let connection = try await cluster.connection(to: broker)
            let version = try connection.version(for: .fetch)
            var topics: [FetchRequest.FetchTopic] = []
            for item in items {
                let partition = FetchRequest.FetchPartition(
                    partition: item.topicPartition.partition, currentLeaderEpoch: item.leaderEpoch, fetchOffset: item.offset,
                    partitionMaxBytes: item.maxBytes
                )
                if let index = topics.firstIndex(where: { $0.topic == item.topicPartition.topic }) {
                    topics[index].partitions.append(partition)
                } else {
                    topics.append(FetchRequest.FetchTopic(topic: item.topicPartition.topic, partitions: [partition]))
                }
            }
            let maxWaitMs = catchUp ? 0 : configuration.maxWaitMs
            let request = FetchRequest(
                replicaId: -1, maxWaitMs: maxWaitMs, minBytes: configuration.minBytes, maxBytes: configuration.maxBytes,
                isolationLevel: configuration.isolationLevel, sessionId: 0, sessionEpoch: -1, topics: topics
            )
            // Written here, on the actor, so nothing is written after `close()`.
            guard !closed else { throw KafkaClientError.connectionClosed(broker: connection.address) }
            let answer = connection.writeOrdered(
                request, version: version, expectResponse: true, timeoutMs: configuration.requestTimeoutMs + Int64(maxWaitMs)
            )
            outcome = .success(try await Self.receive(answer, version: version, address: connection.address))
        } catch {
            outcome = .failure(error)
        }
        let jobs = fetched(broker: broker, items: items, catchUp: catchUp, outcome: outcome)
        guard !jobs.isEmpty else { return }
        decoded(await Self.decode(jobs), for: jobs)
    }

    /// A Fetch answer with each partition's records cut into batches by their headers.
    private struct FetchAnswer: Sendable {
        var response: FetchResponse
        var address: String
        var framed: [TopicPartition: FramedRecords]
    }

    /// An answer's batches to check and decode, and where their records go once decoded.
    private struct DecodeJob: Sendable {
        var topicPartition: TopicPartition
        var generation: UInt64
        var ticket: UInt64
        var broker: String
        var framed: FramedRecords
    }

    /// Checksums, decompression and record decoding, away from the actor: in parallel with the
    /// next fetch (already sent) and with the caller working through earlier records.
    private nonisolated static func decode(_ jobs: [DecodeJob]) async -> [PreparedRecords] {
        jobs.map { PreparedRecords($0.framed) }
    }

    /// Waits for the answer and reads it away from the actor down to batch boundaries, which
    /// is all the next fetch needs to know.
    private nonisolated static func receive(_ answer: EventLoopFuture<ByteBuffer?>, version: Int16, address: String) async throws -> FetchAnswer {
        guard let body = try await answer.get() else {
            throw KafkaClientError.protocolViolation(broker: address, reason: "missing Fetch response")
        }
        let response: FetchResponse
        do {
            response = try FetchResponse.decodeExactly(body, version: version)
        } catch {
            throw KafkaClientError.protocolViolation(broker: address, reason: "Fetch v\(version) response: \(error)")
        }
        var framed: [TopicPartition: FramedRecords] = [:]
        for topic in response.responses {
            for data in topic.partitions {
                guard case .bytes(let bytes?) = data.records, bytes.readableBytes > 0 else { continue }
                framed[TopicPartition(topic.topic, data.partitionIndex)] = FramedRecords(bytes)
            }
        }
        return FetchAnswer(response: response, address: address, framed: framed)
    }

    /// Takes in an answer's offsets and errors and sends the next fetches; returns the batches
    /// left to decode.
    private func fetched(broker: Int32, items: [FetchItem], catchUp: Bool, outcome: Result<FetchAnswer, any Error>) -> [DecodeJob] {
        fetchesInFlight[broker]?.end(catchUp: catchUp)
        let now = ClientClock.uptimeMs()
        var failure: String?
        var jobs: [DecodeJob] = []
        switch outcome {
        case .failure(let error):
            failure = "\(error)"
        case .success(let answer):
            let response = answer.response
            let address = answer.address
            let code = KafkaErrorCode(code: response.errorCode)
            if code != .none {
                failure = "fetch from \(address): \(code.name)"
                break
            }
            var byPartition: [TopicPartition: FetchItem] = [:]
            for item in items { byPartition[item.topicPartition] = item }
            for topic in response.responses {
                for data in topic.partitions {
                    let tp = TopicPartition(topic.topic, data.partitionIndex)
                    guard let item = byPartition.removeValue(forKey: tp) else { continue }
                    if let job = handle(data, framed: answer.framed[tp], for: item, broker: address, now: now) { jobs.append(job) }
                }
            }
            // Partitions the broker left out of its answer are asked again, by a long poll.
            for item in byPartition.values where partitions[item.topicPartition]?.generation == item.generation {
                partitions[item.topicPartition]?.fetching = false
                partitions[item.topicPartition]?.answeredEmpty = true
            }
        }
        if let failure {
            logger.debug("fetch failed", metadata: ["broker": "\(broker)", "error": "\(failure)"])
            for item in items where partitions[item.topicPartition]?.generation == item.generation {
                partitions[item.topicPartition]?.fetching = false
                partitions[item.topicPartition]?.retryAt = now + configuration.retryBackoffMs
            }
            refreshMetadata(Set(items.map(\.topicPartition.topic)))
        }
        dataArrived.ring()
        startFetches()
        return jobs
    }

    private func handle(_ data: FetchResponse.PartitionData, framed: FramedRecords?, for item: FetchItem, broker: String, now: Int64) -> DecodeJob? {
        let tp = item.topicPartition
        guard var state = partitions.removeValue(forKey: tp) else { return nil }
        defer { partitions[tp] = state }
        guard state.generation == item.generation else { return nil }
        state.fetching = false
        let code = KafkaErrorCode(code: data.errorCode)
        switch code {
        case .none:
            state.highWatermark = data.highWatermark
            state.lastStableOffset = data.lastStableOffset
            state.logStartOffset = data.logStartOffset
            state.answeredEmpty = framed == nil
            guard let framed else { return nil }
            return advance(over: framed, state: &state, item: item, broker: broker)
        case .offsetOutOfRange:
            if item.offset != state.appendedOffset || state.nextToAppend < state.nextTicket {
                // Asked for on unchecked batch headers: if they were corrupt, the decode rewinds
                // and this offset was never real; if not, the retry finds it out of range again.
                state.retryAt = now + configuration.retryBackoffMs
                return nil
            }
            let reset: StartPosition
            switch configuration.autoOffsetReset {
            case .earliest: reset = .earliest
            case .latest: reset = .latest
            case .none:
                pendingError = KafkaClientError.broker(.offsetOutOfRange, message: "offset \(item.offset)", context: "fetch \(tp)")
                state.retryAt = now + configuration.retryBackoffMs
                return nil
            }
            logger.warning("fetch offset out of range; resetting", metadata: [
                "partition": "\(tp)", "offset": "\(item.offset)", "reset": "\(reset)",
                "log_start_offset": "\(data.logStartOffset)", "high_watermark": "\(data.highWatermark)",
            ])
            let paused = state.paused
            state = PartitionState(generation: nextGeneration(), start: reset)
            state.paused = paused
        default:
            state.retryAt = now + configuration.retryBackoffMs
            if code.isRetriable {
                logger.debug("fetch: retriable error", metadata: ["partition": "\(tp)", "error": "\(code.name)"])
                if RecordAccumulator.refreshesMetadata(code) { refreshMetadata([tp.topic]) }
            } else {
                pendingError = KafkaClientError.broker(code, message: nil, context: "fetch \(tp) at offset \(item.offset) from \(broker)")
            }
        }
        return nil
    }

    /// Moves the fetch offset past an answer's whole batches (a cut-off last batch is fetched
    /// again) and numbers the answer for decoding.
    private func advance(over framed: FramedRecords, state: inout PartitionState, item: FetchItem, broker: String) -> DecodeJob? {
        let tp = item.topicPartition
        var ahead = false
        if let next = framed.nextOffset, next > state.fetchOffset {
            state.fetchOffset = next
            ahead = true
        }
        switch framed.stop {
        case nil:
            break
        case .partial(let needed):
            if !ahead && needed > Int(item.maxBytes) { state.maxBytesOverride = Int32(clamping: needed) }
        case let stop?:
            // Asking again at once would get the same bytes: the partition waits a backoff, so
            // a log that cannot be read costs a fetch per backoff, not a busy loop.
            pendingError = KafkaClientError.protocolViolation(broker: broker, reason: "\(tp): \(stop.reason)")
            state.retryAt = ClientClock.uptimeMs() + configuration.retryBackoffMs
        }
        if !ahead && !framed.batches.isEmpty {
            // Whole batches that all end at or before the offset asked for: a broker bug or
            // corrupt headers. Asking again at once would loop.
            pendingError = KafkaClientError.protocolViolation(broker: broker, reason: "\(tp): the answer for offset \(item.offset) holds no batch past it")
            state.retryAt = ClientClock.uptimeMs() + configuration.retryBackoffMs
        }
        guard ahead else { return nil }
        state.maxBytesOverride = nil
        state.decodingBytes += framed.byteCount
        defer { state.nextTicket += 1 }
        return DecodeJob(topicPartition: tp, generation: state.generation, ticket: state.nextTicket, broker: broker, framed: framed)
    }

    /// Buffers decoded answers (`prepared[i]` is `jobs[i]`'s) in the order they were numbered.
    private func decoded(_ prepared: [PreparedRecords], for jobs: [DecodeJob]) {
        for (job, prepared) in zip(jobs, prepared) {
            let tp = job.topicPartition
            guard var state = partitions.removeValue(forKey: tp) else { continue }
            defer { partitions[tp] = state }
            guard state.generation == job.generation else { continue }
            state.decodedAhead[job.ticket] = (prepared, job.framed.byteCount)
            while state.generation == job.generation, let next = state.decodedAhead.removeValue(forKey: state.nextToAppend) {
                state.nextToAppend += 1
                // Counted as decoding until appended, so answers waiting for an earlier one's
                // decode still hold back further fetches.
                state.decodingBytes -= next.framedBytes
                append(next.records, to: &state, topicPartition: tp, broker: job.broker)
            }
        }
        dataArrived.ring()
        startFetches()
    }

    /// Keeps the checked batches of an answer; at a corrupt one, drops what was fetched after it
    /// and fetches from there again after the backoff.
    private func append(_ prepared: PreparedRecords, to state: inout PartitionState, topicPartition tp: TopicPartition, broker: String) {
        for fetched in prepared.batches where fetched.batch.nextOffset > state.appendedOffset {
            state.batches.append(fetched)
            state.bufferedBytes += fetched.heldBytes
            state.appendedOffset = fetched.batch.nextOffset
        }
        guard let reason = prepared.corrupt else { return }
        pendingError = KafkaClientError.protocolViolation(broker: broker, reason: "\(tp): corrupt batch near offset \(state.appendedOffset): \(reason)")
        state.generation = nextGeneration()
        state.fetchOffset = state.appendedOffset
        state.fetching = false
        state.decodingBytes = 0
        state.decodedAhead = [:]
        state.nextTicket = 0
        state.nextToAppend = 0
        state.retryAt = ClientClock.uptimeMs() + configuration.retryBackoffMs
    }
}

/// One record batch of a fetch answer with its records decoded (nothing to decode for control
/// batches: their records are empty here and never delivered).
struct FetchedBatch: Sendable {
    var batch: RecordBatch
    var records: Result<[Record], RecordBatchError>
    /// Memory the batch holds until it is consumed: its bytes, a decompressed copy of its records
    /// section, and the decoded records. Compressed log lines expand about tenfold, so counting
    /// only fetched bytes let a reader of zstd batches hold hundreds of megabytes, every page of
    /// it fresh (a tenth of the aggregator's CPU went to page faults).
    var heldBytes: Int

    init(_ batch: RecordBatch) {
        self.batch = batch
        heldBytes = batch.sizeInBytes
        guard !batch.attributes.isControl else {
            records = .success([])
            return
        }
        do throws(RecordBatchError) {
            let decoded = try batch.decodedRecords()
            records = .success(decoded.records)
            heldBytes += decoded.decompressedBytes + decoded.records.count * MemoryLayout<Record>.stride
        } catch {
            records = .failure(error)
        }
    }
}

/// A partition's record bytes from a Fetch answer cut into whole batches by their length
/// fields alone: what the next fetch needs, before any checksum is computed.
struct FramedRecords: Sendable {
    enum Stop: Sendable {
        /// The last batch is cut off; the whole batch needs this many bytes.
        case partial(needed: Int)
        case oldFormat(magic: Int8)
        case malformed(String)

        var reason: String {
            switch self {
            case .partial(let needed): "the last batch is cut off (\(needed) bytes)"
            case .oldFormat(let magic): "message format before v2 (magic \(magic)) is not supported"
            case .malformed(let reason): reason
            }
        }
    }

    var batches: [ByteBuffer] = []
    var byteCount = 0
    /// After the last whole batch, by the headers (checksums come when the batches are decoded;
    /// headers that cannot be right stop the scan here).
    var nextOffset: Int64?
    var stop: Stop?

    init(_ bytes: ByteBuffer) {
        var index = bytes.readerIndex
        scan: while index < bytes.writerIndex {
            switch RecordBatch.framing(of: bytes, at: index) {
            case .batch(let size):
                let slice = bytes.getSlice(at: index, length: size)!
                index += size
                let header = slice.withUnsafeReadableBytes { RecordBatchSummary(uncheckedHeader: $0) }
                let magic = slice.getInteger(at: slice.readerIndex + 16, as: Int8.self) ?? -1  // the magic byte
                guard magic == 2 else {
                    stop = .oldFormat(magic: magic)
                    break scan
                }
                // Offsets are outside the CRC: they must be representable and move forward.
                guard header.offsetsFit, header.baseOffset >= (nextOffset ?? Int64.min) else {
                    stop = .malformed("batch header at offset \(header.baseOffset) (last offset delta \(header.lastOffsetDelta)) does not follow offset \(nextOffset.map { "\($0 - 1)" } ?? "-")")
                    break scan
                }
                batches.append(slice)
                byteCount += size
                nextOffset = header.nextOffset
            case .partial(let needed):
                stop = .partial(needed: needed)
                break scan
            case .malformed(let error):
                stop = .malformed("\(error)")
                break scan
            }
        }
    }
}

/// A partition's framed batches checked and decoded: the whole batches in order, then why
/// decoding stopped early, if it did.
struct PreparedRecords: Sendable {
    var batches: [FetchedBatch] = []
    var corrupt: String?

    init(_ framed: FramedRecords) {
        for slice in framed.batches {
            let batch: RecordBatch
            do {
                batch = try RecordBatch(validating: slice)
            } catch {
                corrupt = "\(error)"
                return
            }
            batches.append(FetchedBatch(batch))
        }
    }
}

/// `Consumer.records`: every record in fetch order per partition.
public struct ConsumerRecordSequence: AsyncSequence, Sendable {
    public typealias Element = ConsumerRecord
    let consumer: Consumer

    public struct AsyncIterator: AsyncIteratorProtocol {
        let consumer: Consumer
        var buffer: [ConsumerRecord] = []
        var index = 0

        public mutating func next() async throws -> ConsumerRecord? {
            while index >= buffer.count {
                if Task.isCancelled { return nil }
                if await consumer.isClosed { return nil }
                buffer = try await consumer.poll(maxRecords: consumer.configuration.maxPollRecords, timeoutMs: 1000)
                index = 0
            }
            defer { index += 1 }
            return buffer[index]
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(consumer: consumer) }
}
