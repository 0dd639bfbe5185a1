public import LogflumeWire
public import NIOCore

/// The producer's state machine, without sockets or clocks: records go into one open batch per
/// partition; `drain` hands out the batches to send now (full, or lingered long enough) with
/// their sequence numbers; `receive` takes each batch's outcome and says whether it is done,
/// retried (in sequence order, after a backoff) or failed. The `Producer` runs it under a lock
/// and does the I/O.
///
/// With idempotence every partition numbers its records from 0 under one producer id, a batch
/// keeps its sequence across retries, at most `maxInFlightPerPartition` batches per partition
/// await an answer, and while a partition has batches to retry they go out one at a time, in
/// sequence order, before anything new. A batch whose fate is unknown when it fails for good
/// (delivery timeout) or that leaves a gap (a refused batch) makes the producer fetch a new
/// producer id once nothing is in flight, renumbering what is still queued.
public struct RecordAccumulator: Sendable {
    public struct Configuration: Sendable, Equatable {
        public var batchBytes: Int
        public var lingerMs: Int64
        public var compression: CompressionCodec
        public var idempotent: Bool
        public var maxInFlightPerPartition: Int
        public var retryBackoffMs: Int64
        public var retryBackoffMaxMs: Int64
        public var deliveryTimeoutMs: Int64

        public init(
            batchBytes: Int = 1 << 20, lingerMs: Int64 = 5, compression: CompressionCodec = .none, idempotent: Bool = true,
            maxInFlightPerPartition: Int = 5, retryBackoffMs: Int64 = 100, retryBackoffMaxMs: Int64 = 1000,
            deliveryTimeoutMs: Int64 = 120_000
        ) {
            self.batchBytes = batchBytes
            self.lingerMs = lingerMs
            self.compression = compression
            self.idempotent = idempotent
            self.maxInFlightPerPartition = maxInFlightPerPartition
            self.retryBackoffMs = retryBackoffMs
            self.retryBackoffMaxMs = retryBackoffMaxMs
            self.deliveryTimeoutMs = deliveryTimeoutMs
        }

        public init(_ producer: ProducerConfiguration) {
            self.init(
                batchBytes: producer.batchBytes, lingerMs: producer.lingerMs, compression: producer.compression,
                idempotent: producer.effectiveIdempotence, maxInFlightPerPartition: producer.maxInFlightPerPartition,
                retryBackoffMs: producer.retryBackoffMs, retryBackoffMaxMs: producer.retryBackoffMaxMs,
                deliveryTimeoutMs: producer.deliveryTimeoutMs
            )
        }
    }

    public struct AppendResult: Equatable, Sendable {
        /// A batch of the partition filled up and can be sent now.
        public var batchIsFull: Bool
        /// The record opened a new batch; its linger time starts now.
        public var createdBatch: Bool

        public init(batchIsFull: Bool, createdBatch: Bool) {
            self.batchIsFull = batchIsFull
            self.createdBatch = createdBatch
        }
    }

    /// What happened to one batch that was sent.
    public enum BatchResponse: Equatable, Sendable {
        /// The partition's answer had no error (`baseOffset` -1 with acks=0).
        case appended(baseOffset: Int64, logAppendTime: Int64)
        /// The partition's answer carried an error.
        case error(KafkaErrorCode, message: String?)
        /// No answer: the connection failed, timed out, or the response was unreadable.
        case transportFailure(String)
        /// The batch could not be encoded before sending.
        case encodingFailure(String)
    }

    public struct Acknowledgement: Equatable, Sendable {
        /// Offset of the batch's first record; -1 when unknown.
        public var baseOffset: Int64
        /// The broker's time when the topic uses LogAppendTime, else -1.
        public var logAppendTime: Int64
    }

    /// A batch that is done, one way or the other.
    public struct Completion: Sendable {
        public var batch: ProducerBatch
        public var result: Result<Acknowledgement, ProducerError>
    }

    public struct ReceiveOutcome: Sendable {
        public var completion: Completion?
        /// The error suggests stale leadership: refresh metadata before the retry.
        public var refreshMetadata = false
        /// The batch went back to the queue.
        public var willRetry = false
    }

    public struct DrainResult: Sendable {
        /// Send these now. Several batches of one partition are in sequence order and must go
        /// in separate requests, written in this order.
        public var ready: [ProducerBatch] = []
        /// Batches that expired while queued.
        public var failed: [Completion] = []
        /// Topics with batches waiting for a partition leader.
        public var topicsWithoutLeader: Set<String> = []
        /// The earliest time something becomes ready without any other event (linger, backoff).
        public var nextDrainAt: Int64?
        /// Ask the broker for a producer id (InitProducerId) and call `setProducerId`.
        public var needsProducerId = false
    }

    public let configuration: Configuration
    public private(set) var idempotent: Bool
    public private(set) var producerId: Int64 = -1
    public private(set) var producerEpoch: Int16 = -1
    /// Records enqueued and not yet completed, and their estimated bytes.
    public private(set) var pendingRecords = 0
    public private(set) var bufferedBytes = 0
    public private(set) var inFlightCount = 0
    /// While set, batches are ready without waiting for linger (flush, close).
    public var flushing = false

    private var partitions: [TopicPartition: PartitionQueue] = [:]
    private var nextBatchId: UInt64 = 1
    private var producerIdResetPending = false

    public init(configuration: Configuration) {
        self.configuration = configuration
        self.idempotent = configuration.idempotent
    }

    /// Nothing queued, lingering, awaiting retry or in flight.
    public var isEmpty: Bool { pendingRecords == 0 && inFlightCount == 0 }

    /// Partitions that hold records in any state.
    public var activePartitions: [TopicPartition] { partitions.filter { !$0.value.isIdle }.map(\.key) }

    /// The next sequence number the partition's next new batch gets.
    public func nextSequence(for topicPartition: TopicPartition) -> Int32 {
        partitions[topicPartition]?.nextSequence ?? 0
    }

    // MARK: Appending

    /// Adds a record to the partition's open batch, first closing that batch when the record
    /// would take it past `batchBytes`.
    @discardableResult
    public mutating func append(
        to topicPartition: TopicPartition, key: ByteBuffer?, value: ByteBuffer?, headers: [RecordHeader] = [],
        timestamp: Int64, now: Int64, delivery: DeliveryCallback? = nil
    ) -> AppendResult {
        var size = 21 + (key?.readableBytes ?? 0) + (value?.readableBytes ?? 0)
        for header in headers { size += 10 + header.key.utf8.count + (header.value?.readableBytes ?? 0) }
        pendingRecords += 1
        bufferedBytes += size
        let configuration = self.configuration
        return partitions[topicPartition, default: PartitionQueue()].append(
            key: key, value: value, headers: headers, timestamp: timestamp, size: size, now: now, delivery: delivery,
            configuration: configuration
        )
    }

    // MARK: Draining

    /// The batches to send now, given which partitions currently have a reachable leader.
    public mutating func drain(now: Int64, hasLeader: (TopicPartition) -> Bool) -> DrainResult {
        var result = DrainResult()
        let waitingForProducerId = idempotent && (producerId < 0 || producerIdResetPending)
        for topicPartition in Array(partitions.keys) {
            var queue = partitions.removeValue(forKey: topicPartition)!
            defer { partitions[topicPartition] = queue }
            expire(&queue, topicPartition: topicPartition, now: now, into: &result)
            if waitingForProducerId || !queue.hasWork { continue }
            guard hasLeader(topicPartition) else {
                result.topicsWithoutLeader.insert(topicPartition.topic)
                continue
            }
            if !queue.retries.isEmpty {
                // Retries go out one at a time, lowest sequence first, before anything new.
                guard queue.inFlight.isEmpty else { continue }
                if queue.retries[0].retryAt <= now {
                    var batch = queue.retries.removeFirst()
                    batch.attempts += 1
                    queue.inFlight.append(batch.id)
                    inFlightCount += 1
                    result.ready.append(batch)
                } else {
                    result.nextDrainAt = earliest(result.nextDrainAt, queue.retries[0].retryAt)
                }
                continue
            }
            while queue.inFlight.count < configuration.maxInFlightPerPartition {
                let pending: PendingBatch
                if !queue.sealed.isEmpty {
                    pending = queue.sealed.removeFirst()
                } else if let open = queue.open, flushing || now - open.createdAt >= configuration.lingerMs {
                    pending = open
                    queue.open = nil
                } else {
                    if let open = queue.open { result.nextDrainAt = earliest(result.nextDrainAt, open.createdAt + configuration.lingerMs) }
                    break
                }
                var builder = pending.builder
                var sequence: Int32 = -1
                if idempotent {
                    sequence = queue.nextSequence
                    builder.producerId = producerId
                    builder.producerEpoch = producerEpoch
                    builder.baseSequence = sequence
                    queue.nextSequence = ProducerSequence.advance(sequence, by: builder.recordCount)
                }
                let batch = ProducerBatch(
                    id: takeBatchId(), topicPartition: topicPartition, recordCount: builder.recordCount, baseSequence: sequence,
                    createdAt: pending.createdAt, estimatedBytes: pending.estimatedBytes, deliveries: pending.deliveries,
                    payload: .unbuilt(builder)
                )
                queue.inFlight.append(batch.id)
                inFlightCount += 1
                result.ready.append(batch)
            }
        }
        if waitingForProducerId && inFlightCount == 0 && pendingRecords > 0 { result.needsProducerId = true }
        return result
    }

    private mutating func expire(_ queue: inout PartitionQueue, topicPartition: TopicPartition, now: Int64, into result: inout DrainResult) {
        let timeout = configuration.deliveryTimeoutMs
        func expired(_ createdAt: Int64) -> Bool { now - createdAt >= timeout }
        var unsent: [PendingBatch] = []
        while let first = queue.sealed.first, expired(first.createdAt) { unsent.append(queue.sealed.removeFirst()) }
        if queue.sealed.isEmpty, let open = queue.open, expired(open.createdAt) {
            unsent.append(open)
            queue.open = nil
        }
        for pending in unsent {
            let batch = ProducerBatch(
                id: takeBatchId(), topicPartition: topicPartition, recordCount: pending.builder.recordCount, baseSequence: -1,
                createdAt: pending.createdAt, estimatedBytes: pending.estimatedBytes, deliveries: pending.deliveries,
                payload: .unbuilt(pending.builder)
            )
            result.failed.append(complete(batch, .failure(.deliveryTimedOut(topicPartition, afterMs: timeout, lastError: nil))))
        }
        while let first = queue.retries.first, expired(first.createdAt) {
            let batch = queue.retries.removeFirst()
            // It may or may not be in the log; the sequence gap needs a new producer id.
            if idempotent && batch.baseSequence >= 0 { producerIdResetPending = true }
            result.failed.append(complete(batch, .failure(.deliveryTimedOut(topicPartition, afterMs: timeout, lastError: batch.lastError))))
        }
    }

    // MARK: Responses

    /// Applies the outcome of a batch `drain` handed out.
    public mutating func receive(_ response: BatchResponse, for batch: ProducerBatch, now: Int64) -> ReceiveOutcome {
        let topicPartition = batch.topicPartition
        guard var queue = partitions.removeValue(forKey: topicPartition) else { return ReceiveOutcome() }
        defer { partitions[topicPartition] = queue }
        guard let index = queue.inFlight.firstIndex(of: batch.id) else { return ReceiveOutcome() }
        queue.inFlight.remove(at: index)
        inFlightCount -= 1
        var batch = batch
        let sequenced = idempotent && batch.baseSequence >= 0
        switch response {
        case .appended(let baseOffset, let logAppendTime):
            return ReceiveOutcome(completion: complete(batch, .success(Acknowledgement(baseOffset: baseOffset, logAppendTime: logAppendTime))))
        case .error(.none, _):
            return ReceiveOutcome(completion: complete(batch, .success(Acknowledgement(baseOffset: -1, logAppendTime: -1))))
        case .error(.duplicateSequenceNumber, _):
            // The broker has this batch already, from an earlier attempt.
            return ReceiveOutcome(completion: complete(batch, .success(Acknowledgement(baseOffset: -1, logAppendTime: -1))))
        case .error(let code, let message):
            let reason = code.name + (message.map { ": \($0)" } ?? "")
            if sequenced && (code == .outOfOrderSequenceNumber || code == .unknownProducerId) {
                // Expected while an earlier batch of the partition is being retried; otherwise
                // the broker lost our sequence state and a new producer id restarts it.
                let earlierOutstanding = queue.inFlight.contains { $0 < batch.id } || queue.retries.contains { $0.id < batch.id }
                if !earlierOutstanding { producerIdResetPending = true }
                return retry(&batch, in: &queue, reason: reason, now: now, refreshMetadata: false)
            }
            if code.isRetriable {
                return retry(&batch, in: &queue, reason: reason, now: now, refreshMetadata: Self.refreshesMetadata(code))
            }
            if sequenced { producerIdResetPending = true }
            return ReceiveOutcome(completion: complete(batch, .failure(.rejected(topicPartition, code, message: message))))
        case .transportFailure(let reason):
            return retry(&batch, in: &queue, reason: reason, now: now, refreshMetadata: true)
        case .encodingFailure(let reason):
            if sequenced { producerIdResetPending = true }
            return ReceiveOutcome(completion: complete(batch, .failure(.encodingFailed(topicPartition, reason))))
        }
    }

    private mutating func retry(
        _ batch: inout ProducerBatch, in queue: inout PartitionQueue, reason: String, now: Int64, refreshMetadata: Bool
    ) -> ReceiveOutcome {
        batch.lastError = reason
        if now - batch.createdAt >= configuration.deliveryTimeoutMs {
            if idempotent && batch.baseSequence >= 0 { producerIdResetPending = true }
            let error = ProducerError.deliveryTimedOut(batch.topicPartition, afterMs: configuration.deliveryTimeoutMs, lastError: reason)
            return ReceiveOutcome(completion: complete(batch, .failure(error)), refreshMetadata: refreshMetadata)
        }
        let doublings = Int64(min(max(batch.attempts - 1, 0), 20))
        batch.retryAt = now + min(configuration.retryBackoffMs << doublings, configuration.retryBackoffMaxMs)
        let position = queue.retries.firstIndex { $0.id > batch.id } ?? queue.retries.endIndex
        queue.retries.insert(batch, at: position)
        return ReceiveOutcome(completion: nil, refreshMetadata: refreshMetadata, willRetry: true)
    }

    static func refreshesMetadata(_ code: KafkaErrorCode) -> Bool {
        switch code {
        case .notLeaderOrFollower, .unknownTopicOrPartition, .leaderNotAvailable, .fencedLeaderEpoch, .unknownLeaderEpoch,
             .kafkaStorageError, .notEnoughReplicas, .replicaNotAvailable, .brokerNotAvailable:
            return true
        default:
            return false
        }
    }

    // MARK: Producer id

    /// Installs a producer id from InitProducerId and renumbers the batches waiting for a retry
    /// from sequence 0, in order.
    public mutating func setProducerId(_ id: Int64, epoch: Int16) {
        producerId = id
        producerEpoch = epoch
        producerIdResetPending = false
        guard idempotent else { return }
        for topicPartition in Array(partitions.keys) {
            var queue = partitions.removeValue(forKey: topicPartition)!
            var sequence: Int32 = 0
            for index in queue.retries.indices {
                queue.retries[index].restamp(producerId: id, epoch: epoch, baseSequence: sequence)
                sequence = ProducerSequence.advance(sequence, by: queue.retries[index].recordCount)
            }
            queue.nextSequence = sequence
            partitions[topicPartition] = queue
        }
    }

    /// Goes on without producer ids (the broker cannot hand them out).
    public mutating func disableIdempotence() {
        idempotent = false
        producerIdResetPending = false
        for topicPartition in Array(partitions.keys) {
            var queue = partitions.removeValue(forKey: topicPartition)!
            for index in queue.retries.indices {
                queue.retries[index].restamp(producerId: -1, epoch: -1, baseSequence: -1)
            }
            partitions[topicPartition] = queue
        }
    }

    // MARK: Helpers

    private mutating func takeBatchId() -> UInt64 {
        defer { nextBatchId += 1 }
        return nextBatchId
    }

    private mutating func complete(_ batch: ProducerBatch, _ result: Result<Acknowledgement, ProducerError>) -> Completion {
        pendingRecords -= Int(batch.recordCount)
        bufferedBytes -= batch.estimatedBytes
        return Completion(batch: batch, result: result)
    }


    private func earliest(_ a: Int64?, _ b: Int64) -> Int64 { a.map { min($0, b) } ?? b }
}

/// A record waiting for its delivery report.
struct RecordDelivery: Sendable {
    var index: Int32
    var timestamp: Int64
    var callback: DeliveryCallback
}

/// A batch still taking records.
struct PendingBatch: Sendable {
    var builder: RecordBatchBuilder
    var createdAt: Int64
    var estimatedBytes = 0
    var deliveries: [RecordDelivery] = []
}

/// One partition's batches in every state.
struct PartitionQueue: Sendable {
    var open: PendingBatch?
    /// Full batches, oldest first.
    var sealed = CircularBuffer<PendingBatch>()
    /// Sent batches to send again, by batch id (which is sequence order).
    var retries: [ProducerBatch] = []
    /// Ids of batches awaiting an answer, in the order they were handed out.
    var inFlight: [UInt64] = []
    var nextSequence: Int32 = 0

    var hasWork: Bool { open != nil || !sealed.isEmpty || !retries.isEmpty }
    var isIdle: Bool { !hasWork && inFlight.isEmpty }

    mutating func append(
        key: ByteBuffer?, value: ByteBuffer?, headers: [RecordHeader], timestamp: Int64, size: Int, now: Int64,
        delivery: DeliveryCallback?, configuration: RecordAccumulator.Configuration
    ) -> RecordAccumulator.AppendResult {
        var result = RecordAccumulator.AppendResult(batchIsFull: false, createdBatch: false)
        if let current = open, !current.builder.isEmpty, current.builder.estimatedSizeInBytes + size > configuration.batchBytes {
            sealed.append(current)
            open = nil
            result.batchIsFull = true
        }
        if open == nil {
            // Reserved whole up front: large allocations are mapped lazily, so untouched space costs no
            // memory, and the batch never copies itself while growing.
            let capacity = max(configuration.batchBytes, size + RecordBatch.headerSize)
            open = PendingBatch(builder: RecordBatchBuilder(compression: configuration.compression, capacity: capacity), createdAt: now)
            result.createdBatch = true
        }
        open!.builder.append(key: key, value: value, headers: headers, timestamp: timestamp)
        open!.estimatedBytes += size
        if let delivery {
            open!.deliveries.append(RecordDelivery(index: open!.builder.recordCount - 1, timestamp: timestamp, callback: delivery))
        }
        if open!.builder.estimatedSizeInBytes >= configuration.batchBytes {
            sealed.append(open!)
            open = nil
            result.batchIsFull = true
        }
        return result
    }
}

/// A closed batch on its way to the partition leader, with the records' delivery callbacks.
public struct ProducerBatch: Sendable {
    public let id: UInt64
    public let topicPartition: TopicPartition
    public let recordCount: Int32
    /// -1 without idempotence.
    public internal(set) var baseSequence: Int32
    /// When the first record was appended (uptime ms); the delivery timeout counts from here.
    public let createdAt: Int64
    /// Sends so far, this one included.
    public internal(set) var attempts = 1
    public internal(set) var retryAt: Int64 = 0
    public internal(set) var lastError: String?
    let estimatedBytes: Int
    var deliveries: [RecordDelivery]

    enum Payload: Sendable {
        case unbuilt(RecordBatchBuilder)
        case built(RecordBatch)
    }

    var payload: Payload

    init(
        id: UInt64, topicPartition: TopicPartition, recordCount: Int32, baseSequence: Int32, createdAt: Int64, estimatedBytes: Int,
        deliveries: [RecordDelivery], payload: Payload
    ) {
        self.id = id
        self.topicPartition = topicPartition
        self.recordCount = recordCount
        self.baseSequence = baseSequence
        self.createdAt = createdAt
        self.estimatedBytes = estimatedBytes
        self.deliveries = deliveries
        self.payload = payload
    }

    /// The encoded batch, once `encode()` ran.
    public var records: RecordBatch? {
        if case .built(let batch) = payload { return batch }
        return nil
    }

    /// Encodes (and compresses) the batch the first time; later calls return the same bytes, so
    /// a retry sends exactly what the first attempt sent.
    @discardableResult
    public mutating func encode() throws(ProducerError) -> RecordBatch {
        switch payload {
        case .built(let batch):
            return batch
        case .unbuilt(let builder):
            do {
                let batch = try builder.build()
                payload = .built(batch)
                return batch
            } catch {
                throw .encodingFailed(topicPartition, "\(error)")
            }
        }
    }

    /// New producer id, epoch and sequence, in place (they are inside the CRC, so it is
    /// recomputed; the compressed records stay as they are).
    mutating func restamp(producerId: Int64, epoch: Int16, baseSequence: Int32) {
        self.baseSequence = baseSequence
        switch payload {
        case .unbuilt(var builder):
            builder.producerId = producerId
            builder.producerEpoch = epoch
            builder.baseSequence = baseSequence
            payload = .unbuilt(builder)
        case .built(let batch):
            // Record batch v2 header: producerId at 43, producerEpoch at 51, baseSequence at 53,
            // crc at 17 covering everything from attributes (21) on.
            var bytes = batch.bytes
            let start = bytes.readerIndex
            bytes.setInteger(producerId, at: start + 43)
            bytes.setInteger(epoch, at: start + 51)
            bytes.setInteger(baseSequence, at: start + 53)
            let crc = bytes.withUnsafeReadableBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[21...])) }
            bytes.setInteger(crc, at: start + 17)
            if let restamped = try? RecordBatch(validating: bytes) { payload = .built(restamped) }
        }
    }
}
