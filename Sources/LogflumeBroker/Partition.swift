import Logging
public import LogflumeStorage
public import LogflumeWire
public import NIOCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One partition as the broker leads it: the log, the leader epoch, the high watermark, the
/// idempotent producers' state, and the fetches waiting for new data.
///
/// With one replica the high watermark follows the log end offset; the field is kept separate
/// so replication can move it on follower acknowledgements without reshaping this type.
public final class Partition: Sendable {
    public let topic: String
    public let index: Int32
    public let log: PartitionLog
    private let state: Mutex<State>
    private let logger: Logger

    struct State: Sendable {
        var leaderEpoch: Int32
        var highWatermark: Int64
        var producers: ProducerStateTable
        var config: TopicConfig
        var waiters: [UInt64: @Sendable () -> Void] = [:]
        var nextWaiter: UInt64 = 0
        var appendsSinceSnapshot = 0
    }

    static let producerSnapshotFile = "producer-state.snapshot"

    init(topic: String, index: Int32, log: PartitionLog, leaderEpoch: Int32, config: TopicConfig, logger: Logger) throws(LogError) {
        self.topic = topic
        self.index = index
        self.log = log
        self.logger = logger
        let producers = try Self.restoreProducerState(log: log, logger: logger)
        self.state = Mutex(State(leaderEpoch: leaderEpoch, highWatermark: log.logEndOffset, producers: producers, config: config))
    }

    public var leaderEpoch: Int32 { state.withLock { $0.leaderEpoch } }
    public var highWatermark: Int64 { state.withLock { $0.highWatermark } }
    public var logEndOffset: Int64 { log.logEndOffset }
    public var logStartOffset: Int64 { log.logStartOffset }
    public var config: TopicConfig { state.withLock { $0.config } }
    public var producerState: ProducerStateTable { state.withLock { $0.producers } }

    func updateConfig(_ config: TopicConfig) {
        state.withLock { $0.config = config }
        log.updateConfig(config.logConfig)
    }

    // MARK: Produce

    public struct AppendResult: Equatable, Sendable {
        public var error: KafkaErrorCode = .none
        public var errorMessage: String?
        public var baseOffset: Int64 = -1
        public var logAppendTime: Int64 = -1
        public var logStartOffset: Int64 = -1
        /// (batch-relative record index, message) for per-record errors (Produce v8).
        public var recordErrors: [(Int32, String?)] = []

        public static func == (a: AppendResult, b: AppendResult) -> Bool {
            a.error == b.error && a.baseOffset == b.baseOffset && a.logAppendTime == b.logAppendTime
                && a.logStartOffset == b.logStartOffset && a.recordErrors.map(\.0) == b.recordErrors.map(\.0)
        }

        static func failed(_ error: KafkaErrorCode, _ message: String) -> AppendResult {
            AppendResult(error: error, errorMessage: message)
        }
    }

    /// Validates and appends what a producer sent for this partition.
    /// - Parameters:
    ///   - records: the request's records field (one or more record batches v2).
    ///   - requiredAcks: 0, 1 or -1 (all); with -1 the ISR must reach `min.insync.replicas`.
    ///   - inSyncReplicas: replicas currently in sync (1 on a single node).
    public func append(records: ByteBuffer, requiredAcks: Int16, inSyncReplicas: Int = 1, now: Int64) -> AppendResult {
        let config = self.config
        if requiredAcks == -1 && inSyncReplicas < config.minInsyncReplicas {
            return .failed(.notEnoughReplicas, "min.insync.replicas is \(config.minInsyncReplicas), \(inSyncReplicas) in sync")
        }
        let batches: [RecordBatch]
        do {
            batches = try RecordBatch.split(records)
            for batch in batches { try batch.validateRecords() }
        } catch .invalidMagic(let magic) where magic < 2 {
            // Produce v0-2 are advertised for old librdkafka's codec checks, not for old formats.
            return .failed(.unsupportedForMessageFormat, "message format v\(magic) is not supported; producers must write record batch v2 (Kafka 0.11+)")
        } catch {
            return .failed(.corruptMessage, "\(error)")
        }
        guard !batches.isEmpty else { return .failed(.invalidRecord, "no record batch in the request") }
        if batches.count > 1 && batches.contains(where: { $0.hasProducerId }) {
            return .failed(.invalidRecord, "an idempotent produce must carry exactly one batch per partition")
        }
        if config.logConfig.cleanupPolicy.contains(.compact) {
            // Compaction keeps the latest record per key: a record without a key could never be
            // compacted, so Kafka refuses the batch and names the records (Produce v8 record_errors).
            var keyless: [(Int32, String?)] = []
            for batch in batches where !batch.attributes.isControl {
                guard let records = try? batch.records() else { continue }
                for (index, record) in records.enumerated() where record.key == nil {
                    keyless.append((Int32(index), "compacted topic cannot accept a record without a key"))
                }
            }
            if !keyless.isEmpty {
                var result = AppendResult.failed(.invalidRecord, "\(keyless.count) records without a key in compacted topic \(topic)")
                result.recordErrors = keyless
                return result
            }
        }
        let maxBytes = Int(config.logConfig.maxMessageBytes)
        if let large = batches.first(where: { $0.sizeInBytes > maxBytes }) {
            return .failed(.messageTooLarge, "batch of \(large.sizeInBytes) bytes exceeds max.message.bytes \(maxBytes)")
        }
        var prepared: [RecordBatch] = []
        for batch in batches {
            do { prepared.append(try Self.conform(batch, to: config)) } catch {
                return .failed(.corruptMessage, "\(error)")
            }
        }
        let logAppendTime = config.timestampType == .logAppendTime ? now : nil
        let result: AppendResult = state.withLock { state in
            // Whatever was appended before a failure is in the log: make it visible either way.
            defer { state.highWatermark = log.logEndOffset }
            var result = AppendResult(logAppendTime: logAppendTime ?? -1)
            for batch in prepared {
                let summary = batch.summary
                switch state.producers.check(summary) {
                case .reject(let code):
                    return .failed(code, "producer \(summary.producerId) epoch \(summary.producerEpoch) sequence \(summary.baseSequence)")
                case .duplicate(let original):
                    result.baseOffset = original.firstOffset
                    continue
                case .append:
                    break
                }
                do {
                    let info = try log.append(batch, logAppendTime: logAppendTime)
                    if result.baseOffset < 0 { result.baseOffset = info.firstOffset }
                    var appended = summary
                    appended.baseOffset = info.firstOffset
                    if appended.producerId >= 0 {
                        state.producers.record(appended)
                        state.appendsSinceSnapshot += 1
                    }
                } catch let error as LogError {
                    return Self.failure(for: error)
                } catch {
                    return .failed(.unknownServerError, "\(error)")
                }
            }
            result.logStartOffset = log.logStartOffset
            return result
        }
        notifyWaiters()
        return result
    }

    /// Recompresses when the topic fixes a codec, and clears timestamps the broker will stamp.
    static func conform(_ batch: RecordBatch, to config: TopicConfig) throws(RecordBatchError) -> RecordBatch {
        guard let codec = config.compression, codec != batch.attributes.compression, !batch.attributes.isControl else { return batch }
        var builder = RecordBatchBuilder(
            compression: codec, timestampType: batch.attributes.timestampType, producerId: batch.producerId,
            producerEpoch: batch.producerEpoch, baseSequence: batch.baseSequence, isTransactional: batch.attributes.isTransactional,
            capacity: batch.sizeInBytes
        )
        for record in try batch.records() { builder.appendRetaining(record) }
        return try builder.build()
    }

    static func failure(for error: LogError) -> AppendResult {
        switch error {
        case .batchTooLarge: return .failed(.messageTooLarge, error.description)
        case .invalidBatch: return .failed(.corruptMessage, error.description)
        case .diskFull, .io, .closed, .corruptSegment: return .failed(.kafkaStorageError, error.description)
        case .offsetOutOfRange, .nonMonotonicOffset: return .failed(.unknownServerError, error.description)
        }
    }

    // MARK: Fetch

    /// File ranges from `offset`, never past the high watermark.
    public func read(from offset: Int64, maxBytes: Int, minOneBatch: Bool) throws(LogError) -> LogReadResult {
        try log.read(from: offset, maxBytes: maxBytes, upperBound: highWatermark, minOneBatch: minOneBatch)
    }

    /// Registers a one-shot callback for the next append; returns a token to cancel it.
    public func whenDataArrives(_ callback: @escaping @Sendable () -> Void) -> UInt64 {
        state.withLock { state in
            state.nextWaiter += 1
            state.waiters[state.nextWaiter] = callback
            return state.nextWaiter
        }
    }

    public func cancelWaiter(_ token: UInt64) {
        _ = state.withLock { $0.waiters.removeValue(forKey: token) }
    }

    /// Runs and clears the waiting callbacks (new data, or the broker is shutting down).
    public func wakeWaiters() { notifyWaiters() }

    private func notifyWaiters() {
        let waiters = state.withLock { state in
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter() }
    }

    // MARK: Producer state persistence

    func expireProducers(olderThan cutoff: Int64) {
        state.withLock { $0.producers.expire(olderThan: cutoff) }
    }

    /// Writes the producer state beside the log (on the flush cadence and at clean shutdown)
    /// unless nothing idempotent was appended since the last snapshot.
    func snapshotProducerState(force: Bool = false) throws(LogError) {
        let text: String? = state.withLock { state in
            guard force || state.appendsSinceSnapshot > 0 else { return nil }
            state.appendsSinceSnapshot = 0
            return state.producers.snapshot(at: log.logEndOffset)
        }
        if let text { try AtomicFile.write(text, to: log.directory + "/" + Self.producerSnapshotFile) }
    }

    /// Loads the last snapshot and replays the batch headers written after it.
    static func restoreProducerState(log: PartitionLog, logger: Logger) throws(LogError) -> ProducerStateTable {
        var table = ProducerStateTable()
        var from = log.logStartOffset
        if let bytes = try AtomicFile.read(log.directory + "/" + producerSnapshotFile) {
            if let restored = ProducerStateTable.restore(snapshot: String(decoding: bytes, as: UTF8.self)),
               restored.offset <= log.logEndOffset {
                table = restored.table
                from = max(restored.offset, log.logStartOffset)
            } else if let restored = ProducerStateTable.restore(snapshot: String(decoding: bytes, as: UTF8.self)) {
                // The log lost its tail (power loss without fsync) below the snapshot: the snapshot
                // describes batches that no longer exist. Drop it before new appends could make it
                // look valid again, and rebuild from the log.
                logger.warning("producer state snapshot is ahead of the log, rebuilding from the log", metadata: [
                    "dir": "\(log.directory)", "snapshot.offset": "\(restored.offset)", "log.end.offset": "\(log.logEndOffset)",
                ])
                unlink(log.directory + "/" + producerSnapshotFile)
            } else {
                logger.warning("producer state snapshot unusable, replaying the log", metadata: ["dir": "\(log.directory)"])
            }
        }
        let replayFrom = from
        do {
            try log.forEachBatch(from: replayFrom) { batch in
                if batch.hasProducerId && batch.baseOffset >= replayFrom { table.record(batch.summary) }
            }
        } catch let error as LogError {
            throw error
        } catch {
            throw .corruptSegment(path: log.directory, position: -1, reason: "\(error)")
        }
        return table
    }
}
