public import LogflumeClient
import LogflumeWire
public import Logging

/// Regenerates buckets of one topic from the broker, e.g. after an outage or to repair output:
/// `logflume aggregator replay --topic T --from 2026-11-20T10:00Z --to 2026-11-20T14:00Z --output DIR`.
///
/// Per partition it starts at the first offset whose timestamp is at or after `from - margin`
/// (ListOffsets by time; the margin lets records that arrived out of order before that offset in
/// the log still count) and stops at the high watermark read when the replay started. Every
/// record whose event time falls in a bucket overlapping `[from, to)` is written with the same
/// writer, names and manifest as the live path, so for buckets that received no late records the
/// files are byte-identical to the live ones (on another machine, when both print the same
/// `logflume aggregator fingerprint`). Records of a bucket that sit more than the margin before
/// the start offset in the log are missed; widen `--margin` if producers lag that much.
public struct HourReplay: Sendable {
    public struct Options: Sendable {
        public var topic: String
        /// Inclusive start of the range to regenerate (ms since the epoch).
        public var from: Int64
        /// Exclusive end.
        public var to: Int64
        public var calendar: BucketCalendar
        public var output = OutputSettings()
        /// How far before `from` reading starts. Default: 1 hour.
        public var marginMs: Int64 = 3_600_000

        public init(topic: String, from: Int64, to: Int64, calendar: BucketCalendar) {
            self.topic = topic
            self.from = from
            self.to = to
            self.calendar = calendar
        }
    }

    /// How far the replay got, reported as it reads.
    public struct Progress: Sendable, Equatable {
        public var recordsRead: Int64
        public var recordsToRead: Int64
        public var recordsWritten: Int64
    }

    public struct Summary: Sendable, Equatable {
        public var buckets: [Bucket]
        public var recordsRead: Int64
        public var recordsWritten: Int64
    }

    public let cluster: KafkaCluster
    public let options: Options
    public let sink: any HourSink
    let logger: Logger

    public init(cluster: KafkaCluster, options: Options, sink: any HourSink, logger: Logger) {
        self.cluster = cluster
        self.options = options
        self.sink = sink
        self.logger = logger
    }

    public func run(progress: (Progress) -> Void = { _ in }) async throws -> Summary {
        let topic = options.topic
        let buckets = options.calendar.buckets(from: options.from, to: options.to)
        guard let first = buckets.first, let last = buckets.last else {
            throw KafkaClientError.invalidArgument("--from must be before --to")
        }
        let metadata = try await cluster.topicMetadata(topic)
        guard metadata.error == .none, metadata.partitionCount > 0 else { throw KafkaClientError.unknownTopicOrPartition(topic: topic, partition: nil) }
        let partitions = metadata.partitions.map { TopicPartition(topic, $0.partition) }.sorted()
        let ends = try await cluster.listOffsets(Dictionary(uniqueKeysWithValues: partitions.map { ($0, Int64(-1)) }))
        let startsByTime = try await cluster.listOffsets(Dictionary(uniqueKeysWithValues: partitions.map { ($0, max(0, first.start - options.marginMs)) }))
        var starts: [TopicPartition: Int64] = [:]
        var remaining: Set<TopicPartition> = []
        var toRead: Int64 = 0
        for tp in partitions {
            let end = ends[tp]?.offset ?? 0
            let start = startsByTime[tp].map { $0.offset >= 0 ? $0.offset : end } ?? end
            starts[tp] = start
            if start < end {
                remaining.insert(tp)
                toRead += end - start
            }
        }

        let instance = "replay" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        var writers: [WriterKey: BucketFileWriter] = [:]
        var slices: [WriterKey: BucketSlice] = [:]
        defer { for writer in writers.values { writer.abandon() } }
        var read: Int64 = 0
        var written: Int64 = 0

        let consumer = Consumer(cluster: cluster, logger: logger)
        try await consumer.assign(Dictionary(uniqueKeysWithValues: remaining.map { ($0, StartPosition.offset(starts[$0]!)) }))
        progress(Progress(recordsRead: 0, recordsToRead: toRead, recordsWritten: 0))
        while !remaining.isEmpty {
            try Task.checkCancellation()
            for run in try await consumer.pollRecords(maxRecords: 2000, timeoutMs: 500) {
                let tp = run.topicPartition
                guard let end = ends[tp]?.offset, remaining.contains(tp) else { continue }
                for record in run.records {
                    if record.offset >= end { break }
                    read += 1
                    guard record.timestamp >= first.start && record.timestamp < last.end else { continue }
                    let bucket = options.calendar.bucket(containing: record.timestamp)
                    let key = WriterKey(bucketStart: bucket.start, partition: tp.partition)
                    if writers[key] == nil {
                        writers[key] = BucketFileWriter(
                            topic: topic, partition: tp.partition, directory: BucketLayout().directory(topic: topic, bucket: bucket),
                            settings: options.output, sink: sink, instance: instance
                        )
                    }
                    try writers[key]!.append(record)
                    let slice = BucketSlice(offset: record.offset, timestamp: record.timestamp)
                    if slices[key] == nil { slices[key] = slice } else { slices[key]!.add(slice) }
                    written += 1
                }
            }
            for tp in remaining {
                if let position = await consumer.position(of: tp), position >= ends[tp]!.offset { remaining.remove(tp) }
            }
            progress(Progress(recordsRead: read, recordsToRead: toRead, recordsWritten: written))
        }
        await consumer.close()

        let publisher = BucketPublisher(topic: topic, sink: sink, zone: options.calendar.zone, instance: instance)
        let allPartitions = partitions.map(\.partition)
        for bucket in buckets {
            var bucketSlices: [Int32: BucketSlice] = [:]
            for partition in allPartitions { bucketSlices[partition] = slices[WriterKey(bucketStart: bucket.start, partition: partition)] }
            let close = BucketClose(
                key: BucketKey(bucketStart: bucket.start, kind: .main), bucket: bucket, reason: .watermark, partitions: allPartitions, slices: bucketSlices
            )
            for partition in allPartitions {
                let writer = writers.removeValue(forKey: WriterKey(bucketStart: bucket.start, partition: partition))
                _ = try publisher.complete(close, partition: partition, writer: writer)
            }
            _ = try publisher.finishMain(bucket: bucket, partitionCount: Int32(allPartitions.count))
        }
        return Summary(buckets: buckets, recordsRead: read, recordsWritten: written)
    }

    private struct WriterKey: Hashable {
        var bucketStart: Int64
        var partition: Int32
    }
}
