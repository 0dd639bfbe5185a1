public import Logging
import LogflumeWire
import NIOCore
import Synchronization

/// An asynchronous Kafka producer.
///
/// Records are batched per partition (`batchBytes`, `lingerMs`), compressed, and sent to each
/// partition's leader, several partitions of one broker in one Produce request. Retriable
/// errors (leadership changes, lost connections, timeouts) refresh metadata and retry with
/// backoff until `deliveryTimeoutMs`; with idempotence (the default) retries neither duplicate
/// nor reorder records. Every record gets exactly one delivery report.
///
/// Close the producer before the cluster, and the cluster before shutting down its event loop
/// group.
///
/// ```swift
/// let producer = try Producer(cluster: cluster)
/// try await producer.enqueue(ProducerRecord(topic: "logs", key: nil, value: "hello"))
/// let metadata = try await producer.send(ProducerRecord(topic: "logs", key: "k", value: "v"))
/// try await producer.flush()
/// await producer.close()
/// ```
public final class Producer: Sendable {
    public let cluster: KafkaCluster
    public let configuration: ProducerConfiguration
    let logger: Logger

    private struct State {
        var accumulator: RecordAccumulator
        var partitioner = Partitioner()
        var closing = false
        /// Set by `close(abandonAfterMs:)` when time ran out: the sender stops with records undelivered.
        var abandoned = false
        var flushWaiters = 0
        /// Records finished in the accumulator whose callbacks have not all run yet: `flush`
        /// waits for them too, so every report has arrived when it returns.
        var reportingRecords = 0
        var failedRecords = 0
        var firstError: ProducerError?
        var refreshInFlight = false
        var refreshTopics: Set<String> = []
        var lastRefreshAt: Int64 = .min / 2
    }

    private let state: Mutex<State>
    /// Rung when the sender may have work: a new or full batch, a response, a flush.
    private let senderWake: Doorbell
    /// Rung when records complete: frees buffer space, may end a flush.
    private let completed: Doorbell
    private let sender = Mutex<Task<Void, Never>?>(nil)

    /// Starts the producer's sender task, on one of the cluster's event loops; call `close()` to
    /// stop it.
    /// - Throws: `KafkaClientError.invalidArgument` for an invalid configuration.
    public init(cluster: KafkaCluster, configuration: ProducerConfiguration = ProducerConfiguration(), logger: Logger? = nil) throws {
        try configuration.validate()
        self.cluster = cluster
        self.configuration = configuration
        self.logger = logger ?? cluster.logger
        self.state = Mutex(State(accumulator: RecordAccumulator(configuration: .init(configuration))))
        let eventLoop = cluster.group.next()
        self.senderWake = Doorbell(eventLoop: eventLoop)
        self.completed = Doorbell(eventLoop: eventLoop)
        let executor = EventLoopTaskExecutor(eventLoop)
        sender.withLock { $0 = Task(executorPreference: executor) { await self.runSender() } }
    }

    // MARK: Public API

    /// Queues a record for sending and returns as soon as it is in a batch; its outcome goes to
    /// `onDelivery` (and is counted for `flush()`). Waits while the buffer is full or the topic's
    /// metadata is unknown, up to `maxBlockMs`.
    /// - Throws: `ProducerError.closed`, `.enqueueTimedOut`, or a `KafkaClientError` when the
    ///   topic or partition does not exist.
    public func enqueue(_ record: ProducerRecord, onDelivery: DeliveryCallback? = nil) async throws {
        let partitionCount = try await partitionCount(of: record.topic)
        if let partition = record.partition, partition < 0 || partition >= partitionCount {
            throw KafkaClientError.unknownTopicOrPartition(topic: record.topic, partition: partition)
        }
        let size = record.estimatedSize
        let timestamp = record.timestamp ?? ClientClock.wallMs()
        var deadline: Int64?
        while true {
            let now = ClientClock.uptimeMs()
            // Read before looking at the buffer: a completion in between ends the wait below.
            let seen = completed.rings
            let outcome = state.withLock { state -> EnqueueOutcome in
                if state.closing { return .closed }
                let buffered = state.accumulator.bufferedBytes
                if buffered > 0 && buffered + size > configuration.bufferMemoryBytes { return .full }
                return .appended(place(record, partitionCount: partitionCount, timestamp: timestamp, now: now, onDelivery: onDelivery, in: &state))
            }
            switch outcome {
            case .appended(let result):
                if result.batchIsFull || result.createdBatch { senderWake.ring() }
                return
            case .closed:
                throw ProducerError.closed
            case .full:
                let limit = deadline ?? now + configuration.maxBlockMs
                deadline = limit
                guard now < limit else {
                    throw ProducerError.enqueueTimedOut(
                        topic: record.topic, afterMs: configuration.maxBlockMs,
                        reason: "\(configuration.bufferMemoryBytes) bytes of records await delivery (bufferMemoryBytes)"
                    )
                }
                await completed.wait(untilUptimeMs: limit, unlessRungSince: seen)
                try Task.checkCancellation()
            }
        }
    }

    /// Puts one record in its partition's batch; the caller holds the lock and checked space.
    private func place(
        _ record: ProducerRecord, partitionCount: Int32, timestamp: Int64, now: Int64, onDelivery: DeliveryCallback?, in state: inout State
    ) -> RecordAccumulator.AppendResult {
        let partition: Int32
        if let chosen = record.partition {
            partition = chosen
        } else if let key = record.key, !configuration.partitionerIgnoresKeys {
            partition = Partitioner.partition(forKey: key.readableBytesView, partitionCount: partitionCount)
        } else {
            partition = state.partitioner.stickyPartition(topic: record.topic, partitionCount: partitionCount)
        }
        let result = state.accumulator.append(
            to: TopicPartition(record.topic, partition), key: record.key, value: record.value, headers: record.headers,
            timestamp: timestamp, now: now, delivery: onDelivery
        )
        if result.batchIsFull && record.partition == nil && (record.key == nil || configuration.partitionerIgnoresKeys) {
            state.partitioner.batchCompleted(topic: record.topic, partition: partition, partitionCount: partitionCount)
        }
        return result
    }

    /// Queues records in order without waiting for buffer space, under one lock: for callers
    /// that ship many records at once and bound memory themselves. Every record taken gets
    /// `onDelivery` (one callback shared by all). Waits for metadata like `enqueue`.
    /// - Returns: how many records from the front were taken; fewer than all when the buffer
    ///   filled (`waitForBufferSpace` tells when to offer the rest).
    public func enqueueAvailable(_ records: ArraySlice<ProducerRecord>, onDelivery: DeliveryCallback?) async throws -> Int {
        var partitionCounts: [String: Int32] = [:]
        for record in records where partitionCounts[record.topic] == nil {
            let count = try await partitionCount(of: record.topic)
            if let partition = record.partition, partition < 0 || partition >= count {
                throw KafkaClientError.unknownTopicOrPartition(topic: record.topic, partition: partition)
            }
            partitionCounts[record.topic] = count
        }
        let now = ClientClock.uptimeMs()
        let wallNow = ClientClock.wallMs()
        let (taken, wake) = try state.withLock { state throws(ProducerError) -> (Int, Bool) in
            if state.closing { throw .closed }
            var taken = 0
            var wake = false
            // Records of one call nearly always share a topic: look its partition count up once.
            var lastTopic = ""
            var lastCount: Int32 = 0
            for record in records {
                let buffered = state.accumulator.bufferedBytes
                if buffered > 0 && buffered + record.estimatedSize > configuration.bufferMemoryBytes { break }
                if record.topic != lastTopic {
                    lastTopic = record.topic
                    lastCount = partitionCounts[record.topic]!
                }
                let result = place(
                    record, partitionCount: lastCount, timestamp: record.timestamp ?? wallNow, now: now,
                    onDelivery: onDelivery, in: &state
                )
                wake = wake || result.batchIsFull || result.createdBatch
                taken += 1
            }
            return (taken, wake)
        }
        if wake { senderWake.ring() }
        return taken
    }

    /// Returns once fewer than `bytes` are buffered, or after `timeoutMs`.
    public func waitForBufferSpace(below bytes: Int, timeoutMs: Int64) async {
        await waitForCompletions(untilUptimeMs: ClientClock.uptimeMs() + timeoutMs) { $0.accumulator.bufferedBytes >= bytes }
    }

    /// Waits for completions while `condition` holds (checked under the lock) and `deadline`
    /// (uptime ms) is ahead. The ring count is read before each check: other tasks wait on
    /// `completed` too, and a ring that wakes them between the check and the wait must still
    /// end this wait, or a wait without deadline would sleep on.
    /// - Returns: false when `stopsOnCancellation` and the task was cancelled while the
    ///   condition still held.
    @discardableResult
    private func waitForCompletions(
        untilUptimeMs deadline: Int64? = nil, stopsOnCancellation: Bool = false, while condition: (State) -> Bool
    ) async -> Bool {
        while true {
            let seen = completed.rings
            guard state.withLock({ condition($0) }), deadline.map({ ClientClock.uptimeMs() < $0 }) ?? true else { return true }
            if stopsOnCancellation && Task.isCancelled { return false }
            await completed.wait(untilUptimeMs: deadline, unlessRungSince: seen)
        }
    }

    private enum EnqueueOutcome {
        case appended(RecordAccumulator.AppendResult)
        case full
        case closed
    }

    /// Sends one record and waits for its delivery.
    @discardableResult
    public func send(_ record: ProducerRecord) async throws -> RecordMetadata {
        let (reports, continuation) = AsyncStream.makeStream(of: DeliveryReport.self, bufferingPolicy: .unbounded)
        try await enqueue(record) { report in
            continuation.yield(report)
            continuation.finish()
        }
        for await report in reports { return try report.result.get() }
        throw ProducerError.closed
    }

    /// Sends everything queued now without waiting for linger, and waits until every record
    /// enqueued so far (and any enqueued meanwhile) has its delivery report.
    /// - Throws: `ProducerError.deliveryFailed` when records failed since the previous flush.
    public func flush() async throws {
        state.withLock { $0.flushWaiters += 1 }
        defer { state.withLock { $0.flushWaiters -= 1 } }
        senderWake.ring()
        let finished = await waitForCompletions(stopsOnCancellation: true) { $0.accumulator.pendingRecords > 0 || $0.reportingRecords > 0 }
        guard finished else { throw CancellationError() }
        let failure = state.withLock { state -> ProducerError? in
            defer {
                state.failedRecords = 0
                state.firstError = nil
            }
            guard state.failedRecords > 0 else { return nil }
            return .deliveryFailed(failedRecords: state.failedRecords, firstError: state.firstError?.description ?? "unknown")
        }
        if let failure { throw failure }
    }

    /// Stops taking records, delivers (or times out) everything queued, and stops the sender.
    /// Does not close the cluster, which others may share. Call it before the cluster's event
    /// loop group shuts down: the sender runs on one of its loops, and a loop that is gone
    /// cannot run it to its end.
    public func close() async {
        state.withLock { $0.closing = true }
        senderWake.ring()
        let task = sender.withLock { $0 }
        await task?.value
        await callbacksFinished()
    }

    /// Waits for delivery callbacks already under way (the sender is done, but a response's
    /// reports may still be running), so none arrives after `close` returns. Callbacks are
    /// short (see `DeliveryCallback`).
    private func callbacksFinished() async {
        await waitForCompletions { $0.reportingRecords > 0 }
    }

    /// Like `close()`, but gives up after `abandonAfterMs`: records still undelivered then get no
    /// report. For callers that keep their own record of what was acknowledged (the agent's
    /// checkpoints) and must stop even while the broker is away.
    /// - Returns: whether everything was delivered.
    @discardableResult
    public func close(abandonAfterMs: Int64) async -> Bool {
        state.withLock { $0.closing = true }
        senderWake.ring()
        await waitForCompletions(untilUptimeMs: ClientClock.uptimeMs() + abandonAfterMs) { !$0.accumulator.isEmpty }
        let delivered = state.withLock { state -> Bool in
            if !state.accumulator.isEmpty { state.abandoned = true }
            return !state.abandoned
        }
        senderWake.ring()
        let task = sender.withLock { $0 }
        await task?.value
        await callbacksFinished()
        return delivered
    }

    /// Records enqueued and not yet reported.
    public var pendingRecords: Int { state.withLock { $0.accumulator.pendingRecords } }

    /// Bytes of records enqueued and not yet reported (bounded by `bufferMemoryBytes`).
    public var bufferedBytes: Int { state.withLock { $0.accumulator.bufferedBytes } }

    /// Time from sending the last answered Produce request to its response, in nanoseconds.
    public var lastRoundTripNanoseconds: Int64 { lastRoundTripNanos.load(ordering: .relaxed) }
    private let lastRoundTripNanos = Atomic<Int64>(0)

    // MARK: Metadata

    private func partitionCount(of topic: String) async throws -> Int32 {
        if let count = cluster.partitionCount(of: topic) { return count }
        let deadline = ClientClock.uptimeMs() + configuration.maxBlockMs
        var attempt: Int64 = 0
        var lastError: String = "no metadata yet"
        while true {
            do {
                let metadata = try await cluster.refreshMetadata(topics: [topic], allowAutoTopicCreation: true)
                if let count = metadata.partitionCount(of: topic) { return count }
                let code = metadata.topics[topic]?.error ?? .unknownTopicOrPartition
                if code != .none && !code.isRetriable {
                    throw KafkaClientError.broker(code, message: nil, context: "metadata for topic '\(topic)'")
                }
                lastError = code.name
            } catch let error as KafkaClientError where error.isRetriable {
                lastError = "\(error)"
            }
            attempt += 1
            let now = ClientClock.uptimeMs()
            if now >= deadline {
                throw ProducerError.enqueueTimedOut(topic: topic, afterMs: configuration.maxBlockMs, reason: "no metadata: \(lastError)")
            }
            let backoff = min(configuration.retryBackoffMs << min(attempt - 1, 20), configuration.retryBackoffMaxMs, deadline - now)
            try await Task.sleep(nanoseconds: UInt64(max(backoff, 1)) * 1_000_000)
        }
    }

    /// Starts one metadata refresh in the background unless one is running or ran within the
    /// retry backoff; topics asked for meanwhile go into the next one.
    private func requestMetadataRefresh(_ topics: some Sequence<String>, force: Bool = false) {
        let now = ClientClock.uptimeMs()
        let start = state.withLock { state -> [String]? in
            state.refreshTopics.formUnion(topics)
            guard !state.refreshInFlight, !state.refreshTopics.isEmpty,
                  force || now - state.lastRefreshAt >= configuration.retryBackoffMs
            else { return nil }
            state.refreshInFlight = true
            state.lastRefreshAt = now
            defer { state.refreshTopics = [] }
            return state.refreshTopics.sorted()
        }
        guard let start else { return }
        Task {
            do {
                try await cluster.refreshMetadata(topics: start, allowAutoTopicCreation: true)
            } catch {
                logger.debug("metadata refresh failed", metadata: ["topics": "\(start)", "error": "\(error)"])
            }
            state.withLock { $0.refreshInFlight = false }
            senderWake.ring()
        }
    }

    // MARK: Sender

    private func runSender() async {
        var lastPeriodicRefresh = ClientClock.uptimeMs()
        while true {
            let now = ClientClock.uptimeMs()
            let metadata = cluster.metadata
            let (drained, finished) = state.withLock { state -> (RecordAccumulator.DrainResult, Bool) in
                state.accumulator.flushing = state.flushWaiters > 0 || state.closing
                let drained = state.accumulator.drain(now: now) { metadata.leader(for: $0) != nil }
                for batch in drained.ready where batch.attempts == 1 {
                    let tp = batch.topicPartition
                    state.partitioner.batchCompleted(topic: tp.topic, partition: tp.partition, partitionCount: metadata.partitionCount(of: tp.topic) ?? 1)
                }
                for completion in drained.failed { Self.count(completion, in: &state) }
                return (drained, state.closing && (state.accumulator.isEmpty || state.abandoned))
            }
            report(drained.failed)
            if finished { return }

            var wakeAt = drained.nextDrainAt
            if drained.needsProducerId {
                if await acquireProducerId() { continue }
                wakeAt = earliest(wakeAt, now + configuration.retryBackoffMs)
            }
            if !drained.topicsWithoutLeader.isEmpty {
                requestMetadataRefresh(drained.topicsWithoutLeader)
                wakeAt = earliest(wakeAt, now + configuration.retryBackoffMs)
            }
            if !drained.ready.isEmpty {
                await dispatch(drained.ready, metadata: metadata)
            }
            if now - lastPeriodicRefresh >= configuration.metadataMaxAgeMs {
                lastPeriodicRefresh = now
                let topics = Set(state.withLock { $0.accumulator.activePartitions }.map(\.topic))
                if !topics.isEmpty { requestMetadataRefresh(topics, force: true) }
            }
            await senderWake.wait(untilUptimeMs: earliest(wakeAt, lastPeriodicRefresh + configuration.metadataMaxAgeMs))
        }
    }

    /// Groups batches by leader and writes one Produce request per broker (more when a
    /// partition has several batches ready or the request would pass `maxRequestBytes`).
    private func dispatch(_ batches: [ProducerBatch], metadata: ClusterMetadata) async {
        var requestsByBroker: [Int32: [[ProducerBatch]]] = [:]
        var brokerOrder: [Int32] = []
        for batch in batches {
            let leader = metadata.leader(for: batch.topicPartition)?.leader ?? -1
            if requestsByBroker[leader] == nil { brokerOrder.append(leader) }
            var requests = requestsByBroker[leader] ?? []
            let slot = requests.firstIndex { request in
                !request.contains { $0.topicPartition == batch.topicPartition }
                    && request.reduce(0) { $0 + $1.estimatedBytes } + batch.estimatedBytes <= configuration.maxRequestBytes
            }
            if let slot { requests[slot].append(batch) } else { requests.append([batch]) }
            requestsByBroker[leader] = requests
        }
        for brokerId in brokerOrder {
            let requests = requestsByBroker[brokerId]!
            let connection: BrokerConnection
            let version: Int16
            do {
                connection = try await cluster.connection(to: brokerId)
                version = try connection.version(for: .produce)
            } catch let error as KafkaClientError where !error.isRetriable {
                for batch in requests.joined() { apply([(.error(.unsupportedVersion, message: "\(error)"), batch)]) }
                continue
            } catch {
                apply(requests.joined().map { (.transportFailure("\(error)"), $0) })
                continue
            }
            for (index, request) in requests.enumerated() {
                // Compressing runs on the sender's event loop: between requests, let the loop
                // read answers and serve timers, so a drain of many compressed batches does not
                // hold it for their whole time.
                if index > 0 && configuration.compression != .none { await Task.yield() }
                var encoded: [ProducerBatch] = []
                var failed: [(RecordAccumulator.BatchResponse, ProducerBatch)] = []
                for var batch in request {
                    do {
                        try batch.encode()
                        encoded.append(batch)
                    } catch {
                        failed.append((.encodingFailure("\(error)"), batch))
                    }
                }
                apply(failed)
                guard !encoded.isEmpty else { continue }
                var topics: [String: [ProduceRequest.PartitionData]] = [:]
                var topicOrder: [String] = []
                for batch in encoded {
                    let tp = batch.topicPartition
                    if topics[tp.topic] == nil { topicOrder.append(tp.topic) }
                    topics[tp.topic, default: []].append(.init(index: tp.partition, records: batch.records!.bytes))
                }
                let produce = ProduceRequest(
                    transactionalId: nil, acks: configuration.acks.rawValue, timeoutMs: Int32(configuration.requestTimeoutMs),
                    topicData: topicOrder.map { ProduceRequest.TopicData(name: $0, partitionData: topics[$0]!) }
                )
                let response = connection.writeOrdered(
                    produce, version: version, expectResponse: configuration.acks != .none, timeoutMs: configuration.requestTimeoutMs
                )
                let sent = encoded
                let sentAt = ClientClock.uptimeNanos()
                response.whenComplete { result in
                    if case .success = result { self.lastRoundTripNanos.store(ClientClock.uptimeNanos() - sentAt, ordering: .relaxed) }
                    self.handle(result, batches: sent, version: version, broker: connection.address)
                }
            }
        }
    }

    private func handle(_ result: Result<ByteBuffer?, any Error>, batches: [ProducerBatch], version: Int16, broker: String) {
        switch result {
        case .failure(let error):
            apply(batches.map { (.transportFailure("\(error)"), $0) })
        case .success(nil):
            apply(batches.map { (.appended(baseOffset: -1, logAppendTime: -1), $0) })
        case .success(let body?):
            let response: ProduceResponse
            do {
                response = try ProduceResponse.decodeExactly(body, version: version)
            } catch {
                apply(batches.map { (.transportFailure("unreadable Produce response from \(broker): \(error)"), $0) })
                return
            }
            var answers: [TopicPartition: ProduceResponse.PartitionResponse] = [:]
            for topic in response.responses {
                for partition in topic.partitionResponses { answers[TopicPartition(topic.name, partition.index)] = partition }
            }
            apply(batches.map { batch in
                guard let answer = answers[batch.topicPartition] else {
                    return (.transportFailure("\(broker) did not answer for \(batch.topicPartition)"), batch)
                }
                let code = KafkaErrorCode(code: answer.errorCode)
                if code == .none { return (.appended(baseOffset: answer.baseOffset, logAppendTime: answer.logAppendTimeMs), batch) }
                return (.error(code, message: answer.errorMessage), batch)
            })
        }
    }

    /// Feeds outcomes to the accumulator, reports finished records, and wakes the sender.
    private func apply(_ outcomes: [(RecordAccumulator.BatchResponse, ProducerBatch)]) {
        guard !outcomes.isEmpty else { return }
        let now = ClientClock.uptimeMs()
        var completions: [RecordAccumulator.Completion] = []
        var refresh: Set<String> = []
        state.withLock { state in
            for (response, batch) in outcomes {
                let outcome = state.accumulator.receive(response, for: batch, now: now)
                if let completion = outcome.completion {
                    Self.count(completion, in: &state)
                    completions.append(completion)
                }
                if outcome.refreshMetadata { refresh.insert(batch.topicPartition.topic) }
                if outcome.willRetry {
                    logger.debug("retrying batch", metadata: [
                        "partition": "\(batch.topicPartition)", "attempt": "\(batch.attempts)", "reason": "\(batch.lastError ?? "\(response)")",
                    ])
                }
            }
        }
        if !refresh.isEmpty { requestMetadataRefresh(refresh) }
        report(completions)
        senderWake.ring()
    }

    private static func count(_ completion: RecordAccumulator.Completion, in state: inout State) {
        state.reportingRecords += Int(completion.batch.recordCount)
        guard case .failure(let error) = completion.result else { return }
        state.failedRecords += Int(completion.batch.recordCount)
        if state.firstError == nil { state.firstError = error }
    }

    /// Delivery reports for finished batches; wakes `flush` and `enqueue` waiters.
    private func report(_ completions: [RecordAccumulator.Completion]) {
        guard !completions.isEmpty else { return }
        for completion in completions {
            let batch = completion.batch
            if case .failure(let error) = completion.result {
                logger.debug("batch failed", metadata: ["partition": "\(batch.topicPartition)", "records": "\(batch.recordCount)", "error": "\(error)"])
            }
            for delivery in batch.deliveries {
                let result = completion.result.map { ack in
                    RecordMetadata(
                        topic: batch.topicPartition.topic, partition: batch.topicPartition.partition,
                        offset: ack.baseOffset >= 0 ? ack.baseOffset + Int64(delivery.index) : -1,
                        timestamp: ack.logAppendTime >= 0 ? ack.logAppendTime : delivery.timestamp
                    )
                }
                delivery.callback(DeliveryReport(topicPartition: batch.topicPartition, result: result))
            }
        }
        let reported = completions.reduce(0) { $0 + Int($1.batch.recordCount) }
        state.withLock { $0.reportingRecords -= reported }
        completed.ring()
    }

    /// InitProducerId; false when it should be tried again after a backoff.
    private func acquireProducerId() async -> Bool {
        do {
            let connection = try await cluster.anyConnection()
            guard connection.versions[.initProducerId] != nil else {
                logger.warning("the broker has no InitProducerId; producing without idempotence", metadata: ["broker": "\(connection.address)"])
                state.withLock { $0.accumulator.disableIdempotence() }
                return true
            }
            let response = try await connection.send(
                InitProducerIdRequest(transactionalId: nil, transactionTimeoutMs: 60_000), version: try connection.version(for: .initProducerId),
                as: InitProducerIdResponse.self, timeoutMs: configuration.requestTimeoutMs
            )
            let code = KafkaErrorCode(code: response.errorCode)
            if code == .none {
                logger.debug("producer id", metadata: ["id": "\(response.producerId)", "epoch": "\(response.producerEpoch)"])
                state.withLock { $0.accumulator.setProducerId(response.producerId, epoch: response.producerEpoch) }
                return true
            }
            if code.isRetriable { return false }
            logger.warning("InitProducerId refused; producing without idempotence", metadata: ["error": "\(code.name)"])
            state.withLock { $0.accumulator.disableIdempotence() }
            return true
        } catch {
            logger.debug("InitProducerId failed", metadata: ["error": "\(error)"])
            return false
        }
    }

    private func earliest(_ a: Int64?, _ b: Int64) -> Int64 { a.map { min($0, b) } ?? b }
}
