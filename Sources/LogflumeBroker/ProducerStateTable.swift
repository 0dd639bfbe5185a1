public import LogflumeWire

/// Idempotent-producer bookkeeping for one partition, as a value type: per producer id the
/// epoch and the last five batches' sequence ranges, so a retried batch is recognised and
/// answered with its original offsets instead of being appended twice.
public struct ProducerStateTable: Equatable, Sendable {
    /// How many recent batches per producer are remembered (Kafka's
    /// `max.in.flight.requests.per.connection` bound for idempotence).
    public static let batchesRetained = 5

    public struct BatchMetadata: Equatable, Sendable {
        public var firstSequence: Int32
        public var lastSequence: Int32
        public var firstOffset: Int64
        public var lastOffset: Int64
        public var timestamp: Int64
    }

    public struct Entry: Equatable, Sendable {
        public var epoch: Int16
        public var batches: [BatchMetadata]
        public var lastTimestamp: Int64
    }

    public private(set) var producers: [Int64: Entry] = [:]

    public init() {}

    /// What to do with an incoming batch.
    public enum Decision: Equatable, Sendable {
        /// New data in sequence: append it.
        case append
        /// A retry of a batch already in the log: answer with its offsets, append nothing.
        case duplicate(BatchMetadata)
        /// Refuse with this Kafka error (out of order, fenced epoch).
        case reject(KafkaErrorCode)
    }

    /// Checks the producer fields of a batch about to be appended; batches without a producer id
    /// always append.
    public func check(_ batch: RecordBatchSummary) -> Decision {
        guard batch.producerId >= 0 else { return .append }
        let firstSequence = batch.baseSequence
        let lastSequence = batch.lastSequence
        guard let entry = producers[batch.producerId] else {
            // Unknown producer (new, or expired): Kafka accepts only a fresh sequence.
            return firstSequence == 0 ? .append : .reject(.outOfOrderSequenceNumber)
        }
        if batch.producerEpoch < entry.epoch { return .reject(.invalidProducerEpoch) }
        if batch.producerEpoch > entry.epoch {
            return firstSequence == 0 ? .append : .reject(.outOfOrderSequenceNumber)
        }
        if let original = entry.batches.first(where: { $0.firstSequence == firstSequence && $0.lastSequence == lastSequence }) {
            return .duplicate(original)
        }
        guard let last = entry.batches.last else { return .append }
        let expected = ProducerSequence.advance(last.lastSequence, by: 1)
        return firstSequence == expected ? .append : .reject(.outOfOrderSequenceNumber)
    }

    /// Records a batch that was appended at `firstOffset...lastOffset`.
    public mutating func record(_ batch: RecordBatchSummary) {
        guard batch.producerId >= 0 else { return }
        let metadata = BatchMetadata(
            firstSequence: batch.baseSequence,
            lastSequence: batch.lastSequence,
            firstOffset: batch.baseOffset,
            lastOffset: batch.lastOffset,
            timestamp: batch.maxTimestamp
        )
        var entry = producers[batch.producerId] ?? Entry(epoch: batch.producerEpoch, batches: [], lastTimestamp: -1)
        if batch.producerEpoch != entry.epoch {
            entry = Entry(epoch: batch.producerEpoch, batches: [], lastTimestamp: -1)
        }
        entry.batches.append(metadata)
        if entry.batches.count > Self.batchesRetained { entry.batches.removeFirst(entry.batches.count - Self.batchesRetained) }
        entry.lastTimestamp = max(entry.lastTimestamp, batch.maxTimestamp)
        producers[batch.producerId] = entry
    }

    /// Forgets producers idle since before `cutoff` (`producer.id.expiration.ms`).
    public mutating func expire(olderThan cutoff: Int64) {
        producers = producers.filter { $0.value.lastTimestamp >= cutoff }
    }

    /// Drops state for batches at or above `offset` after the log was truncated there.
    public mutating func truncate(to offset: Int64) {
        for (id, var entry) in producers {
            entry.batches.removeAll { $0.lastOffset >= offset }
            producers[id] = entry.batches.isEmpty ? nil : entry
        }
    }

}

extension ProducerStateTable {
    /// Text snapshot, one batch per line, written beside the log so that deduplication survives
    /// a restart: replaying only the batches after `offset` rebuilds the rest.
    public func snapshot(at offset: Int64) -> String {
        var text = "logflume-producer-state 1\noffset \(offset)\n"
        for (id, entry) in producers.sorted(by: { $0.key < $1.key }) {
            for batch in entry.batches {
                text += "\(id) \(entry.epoch) \(batch.firstSequence) \(batch.lastSequence) \(batch.firstOffset) \(batch.lastOffset) \(batch.timestamp)\n"
            }
        }
        return text
    }

    /// Parses a snapshot; nil when it is not one (the caller then replays the whole log).
    public static func restore(snapshot text: String) -> (table: ProducerStateTable, offset: Int64)? {
        let lines = text.split(separator: "\n")
        guard lines.count >= 2, lines[0] == "logflume-producer-state 1", lines[1].hasPrefix("offset "),
              let offset = Int64(lines[1].dropFirst(7))
        else { return nil }
        var table = ProducerStateTable()
        for line in lines.dropFirst(2) {
            let f = line.split(separator: " ").compactMap { Int64($0) }
            guard f.count == 7, let epoch = Int16(exactly: f[1]), let first = Int32(exactly: f[2]), let last = Int32(exactly: f[3]) else { return nil }
            var entry = table.producers[f[0]] ?? Entry(epoch: epoch, batches: [], lastTimestamp: -1)
            entry.batches.append(BatchMetadata(firstSequence: first, lastSequence: last, firstOffset: f[4], lastOffset: f[5], timestamp: f[6]))
            entry.lastTimestamp = max(entry.lastTimestamp, f[6])
            table.producers[f[0]] = entry
        }
        return (table, offset)
    }
}
