import Foundation
import LogflumeClient
import LogflumeWire
import NIOCore
import Synchronization
import Testing

/// Producer, consumer and admin client against the real broker in a child process.
@Suite(.serialized, .enabled(if: LiveBroker.isAvailable, "build the logflume binary first: swift build --product logflume"))
struct LiveClientTests {
    /// Collects delivery reports from callbacks (event loop threads).
    final class Reports: Sendable {
        private let state = Mutex<(delivered: [Int: RecordMetadata], failed: [Int: ProducerError])>(([:], [:]))

        func callback(for index: Int) -> DeliveryCallback {
            { report in
                self.state.withLock { state in
                    switch report.result {
                    case .success(let metadata): state.delivered[index] = metadata
                    case .failure(let error): state.failed[index] = error
                    }
                }
            }
        }

        var delivered: [Int: RecordMetadata] { state.withLock { $0.delivered } }
        var failed: [Int: ProducerError] { state.withLock { $0.failed } }
    }

    static let baseTime: Int64 = 1_700_000_000_000

    /// Record `i` of the round-trip test: some without key, some with a null value, headers
    /// with empty and null values, and values of varying length.
    static func sample(_ i: Int, topic: String) -> ProducerRecord {
        let key: ByteBuffer? = i % 500 == 0 ? nil : ByteBuffer(string: "key-\(i)")
        let value: ByteBuffer? = i % 1000 == 999 ? nil : ByteBuffer(string: "value-\(i)-" + String(repeating: "log line text ", count: i % 37))
        var headers = [RecordHeader(key: "i", value: ByteBuffer(string: String(i)))]
        if i % 3 == 0 { headers.append(RecordHeader(key: "empty", value: ByteBuffer())) }
        if i % 5 == 0 { headers.append(RecordHeader(key: "null", value: nil)) }
        return ProducerRecord(topic: topic, key: key, value: value, headers: headers, timestamp: baseTime + Int64(i))
    }

    /// Creates `topic` and produces `record(i)` for i in 0..<count, waiting for every delivery.
    static func createAndFill(_ cluster: KafkaCluster, topic: String, partitions: Int32, count: Int, record: (Int) -> ProducerRecord) async throws {
        try await Admin(cluster: cluster).createTopic(name: topic, partitions: partitions, replicationFactor: 1)
        let producer = try Producer(cluster: cluster)
        for i in 0..<count { try await producer.enqueue(record(i)) }
        try await producer.flush()
        await producer.close()
    }

    /// Reads every partition of `topic` from the start to the end offsets it has now.
    static func consumeAll(_ cluster: KafkaCluster, topic: String, configuration: ConsumerConfiguration = .init()) async throws -> [ConsumerRecord] {
        let metadata = try await cluster.topicMetadata(topic)
        let consumer = Consumer(cluster: cluster, configuration: configuration)
        try await consumer.assign(Dictionary(uniqueKeysWithValues: metadata.partitions.map { (TopicPartition(topic, $0.partition), StartPosition.earliest) }))
        let ends = try await consumer.endOffsets()
        let total = ends.values.reduce(0, +)
        var records: [ConsumerRecord] = []
        while records.count < total {
            let batch = try await consumer.poll(maxRecords: 2_000, timeoutMs: 10_000)
            if batch.isEmpty { break }
            records += batch
        }
        await consumer.close()
        return records
    }

    @Test(arguments: CompressionCodec.allCases)
    func tenThousandRecordsOverFourPartitionsComeBackExactly(codec: CompressionCodec) async throws {
        let broker = try LiveBroker()
        try await broker.withCluster { cluster in
            let topic = "roundtrip-\(codec.name)"
            try await Admin(cluster: cluster).createTopic(name: topic, partitions: 4, replicationFactor: 1)
            var configuration = ProducerConfiguration()
            configuration.compression = codec
            configuration.batchBytes = 64 << 10
            configuration.lingerMs = 10
            let producer = try Producer(cluster: cluster, configuration: configuration)
            let reports = Reports()
            let count = 10_000
            for i in 0..<count {
                try await producer.enqueue(Self.sample(i, topic: topic), onDelivery: reports.callback(for: i))
            }
            try await producer.flush()
            await producer.close()
            let delivered = reports.delivered
            #expect(delivered.count == count && reports.failed.isEmpty, "\(reports.failed.first.map { "\($0)" } ?? "")")
            for (i, metadata) in delivered where i % 500 != 0 {
                #expect(metadata.partition == Partitioner.partition(forKey: Array("key-\(i)".utf8), partitionCount: 4))
                #expect(metadata.timestamp == Self.baseTime + Int64(i))
            }
            // Offsets per partition: 0..<n, each once.
            let byPartition = Dictionary(grouping: delivered.values, by: \.partition)
            for (_, list) in byPartition {
                #expect(list.map(\.offset).sorted() == Array(0..<Int64(list.count)))
            }

            let consumed = try await Self.consumeAll(cluster, topic: topic)
            #expect(consumed.count == count)
            var seen = Set<Int>()
            for record in consumed {
                let index = try #require(record.headers.first { $0.key == "i" }?.value.map { Int(String(buffer: $0))! })
                seen.insert(index)
                let sent = Self.sample(index, topic: topic)
                let metadata = try #require(delivered[index])
                #expect(record.partition == metadata.partition)
                #expect(record.offset == metadata.offset)
                #expect(record.key == sent.key)
                #expect(record.value == sent.value)
                #expect(record.headers == sent.headers)
                #expect(record.timestamp == sent.timestamp)
                #expect(record.timestampType == .createTime)
            }
            #expect(seen.count == count)
        }
    }

    @Test(arguments: [SIGKILL, SIGTERM])
    func idempotentProducerLosesAndDuplicatesNothingAcrossBrokerRestarts(signal: Int32) async throws {
        let broker = try LiveBroker()
        try await broker.withCluster { cluster in
            let topic = "restart"
            try await Admin(cluster: cluster).createTopic(name: topic, partitions: 2, replicationFactor: 1)
            var configuration = ProducerConfiguration()
            configuration.lingerMs = 2
            configuration.batchBytes = 8 << 10
            configuration.retryBackoffMs = 50
            configuration.requestTimeoutMs = 5_000
            configuration.deliveryTimeoutMs = 60_000
            let producer = try Producer(cluster: cluster, configuration: configuration)
            let reports = Reports()
            let count = 20_000
            for i in 0..<count {
                if i % (count / 4) == 0 && i > 0 {  // three restarts, with batches in flight
                    broker.stop(signal: signal)
                    usleep(200_000)
                    try broker.start()
                }
                let record = ProducerRecord(topic: topic, partition: Int32(i % 2), key: nil, value: "r-\(i)-" + String(repeating: "x", count: 200))
                try await producer.enqueue(record, onDelivery: reports.callback(for: i))
                if i % 2_000 == 0 { try await Task.sleep(nanoseconds: 5_000_000) }
            }
            try await producer.flush()
            await producer.close()
            #expect(reports.failed.isEmpty, "\(reports.failed.count) failed, e.g. \(reports.failed.first.map { "\($0)" } ?? "")")

            let consumed = try await Self.consumeAll(cluster, topic: topic)
            for partition in Int32(0)...1 {
                let values = consumed.filter { $0.partition == partition }.map { String(buffer: $0.value!).split(separator: "-")[1] }
                let expected = stride(from: Int(partition), to: count, by: 2).map { Substring(String($0)) }
                #expect(values.count == expected.count, "partition \(partition): \(values.count) records, expected \(expected.count)")
                #expect(values == expected, "partition \(partition) differs from what was produced (loss, duplicate or reorder)")
            }
        }
    }

    @Test func consumerStartsAtATimestampAnOffsetOrTheEnd() async throws {
        let broker = try LiveBroker()
        try await broker.withCluster { cluster in
            let topic = "times"
            try await Self.createAndFill(cluster, topic: topic, partitions: 1, count: 100) { i in
                ProducerRecord(topic: topic, partition: 0, key: nil, value: "v\(i)", timestamp: Self.baseTime + 1_000 * Int64(i))
            }

            let tp = TopicPartition(topic, 0)
            let consumer = Consumer(cluster: cluster)
            try await consumer.assign([tp: .timestamp(Self.baseTime + 50_500)])
            #expect(await consumer.position(of: tp) == 51)
            var first = try await consumer.poll(maxRecords: 10, timeoutMs: 5_000)
            #expect(first.first?.offset == 51)
            #expect(first.first.map { String(buffer: $0.value!) } == "v51")
            #expect(first.first?.timestamp == Self.baseTime + 51_000)

            // Inside a batch: records before the offset are skipped.
            try await consumer.seek(tp, to: .offset(37))
            first = try await consumer.poll(maxRecords: 3, timeoutMs: 5_000)
            #expect(first.map(\.offset) == [37, 38, 39])

            try await consumer.seek(tp, to: .timestamp(Self.baseTime + 1_000_000))
            #expect(await consumer.position(of: tp) == 100)
            #expect(try await consumer.poll(maxRecords: 10, timeoutMs: 300).isEmpty)

            try await consumer.seek(tp, to: .earliest)
            #expect(try await consumer.poll(maxRecords: 1, timeoutMs: 5_000).first?.offset == 0)
            try await consumer.seek(tp, to: .latest)
            #expect(await consumer.position(of: tp) == 100)
            #expect(try await consumer.endOffsets() == [tp: 100])

            // An offset past the end resets to the earliest (autoOffsetReset).
            try await consumer.seek(tp, to: .offset(1_000))
            let reset = try await consumer.poll(maxRecords: 1, timeoutMs: 5_000)
            #expect(reset.first?.offset == 0)
            await consumer.close()
        }
    }

    @Test func pollRecordsHandsOverRunsOfOnePartitionEachInOffsetOrder() async throws {
        let broker = try LiveBroker()
        try await broker.withCluster { cluster in
            let topic = "runs"
            try await Self.createAndFill(cluster, topic: topic, partitions: 3, count: 900) { i in
                ProducerRecord(topic: topic, partition: Int32(i % 3), key: nil, value: "p\(i % 3)-\(i / 3)", timestamp: Self.baseTime + Int64(i))
            }

            let consumer = Consumer(cluster: cluster)
            // Partition 1 starts inside a batch: the run must begin at the offset asked for.
            try await consumer.assign([
                TopicPartition(topic, 0): .earliest, TopicPartition(topic, 1): .offset(123), TopicPartition(topic, 2): .earliest,
            ])
            var values: [Int32: [String]] = [:]
            var next: [Int32: Int64] = [0: 0, 1: 123, 2: 0]
            var total = 0
            var polls = 0
            while total < 300 + 177 + 300 && polls < 200 {
                polls += 1
                let runs = try await consumer.pollRecords(maxRecords: 50, timeoutMs: 5_000)
                #expect(runs.reduce(0) { $0 + $1.records.count } <= 50)
                for run in runs {
                    let partition = run.topicPartition.partition
                    #expect(run.topicPartition.topic == topic)
                    #expect(run.timestampType == .createTime)
                    #expect(!run.records.isEmpty)
                    #expect(run.records.map(\.offset) == Array(next[partition]!..<next[partition]! + Int64(run.records.count)))
                    next[partition]! += Int64(run.records.count)
                    values[partition, default: []] += run.records.map { String(buffer: $0.value!) }
                    total += run.records.count
                }
            }
            #expect(values[0] == (0..<300).map { "p0-\($0)" })
            #expect(values[1] == (123..<300).map { "p1-\($0)" })
            #expect(values[2] == (0..<300).map { "p2-\($0)" })
            #expect(try await consumer.pollRecords(maxRecords: 50, timeoutMs: 200).isEmpty)
            await consumer.close()
        }
    }

    @Test func logAppendTimeTopicsCarryTheBrokersTime() async throws {
        let broker = try LiveBroker()
        try await broker.withCluster { cluster in
            let topic = "append-time"
            try await Admin(cluster: cluster).createTopic(
                name: topic, partitions: 1, replicationFactor: 1, configs: ["message.timestamp.type": "LogAppendTime"]
            )
            let producer = try Producer(cluster: cluster)
            let sent = try await producer.send(ProducerRecord(topic: topic, partition: 0, key: nil, value: "a", timestamp: 42))
            await producer.close()
            #expect(sent.timestamp > 42, "the delivery report carries the broker's append time")
            let records = try await Self.consumeAll(cluster, topic: topic)
            #expect(records.count == 1)
            #expect(records.first?.timestampType == .logAppendTime)
            #expect(records.first?.timestamp == sent.timestamp)
        }
    }

    @Test(arguments: [ProducerConfiguration.Acks.none, .leader])
    func acksZeroAndOneDeliverWithoutIdempotence(acks: ProducerConfiguration.Acks) async throws {
        let broker = try LiveBroker()
        try await broker.withCluster { cluster in
            let topic = "acks"
            try await Admin(cluster: cluster).createTopic(name: topic, partitions: 2, replicationFactor: 1)
            var configuration = ProducerConfiguration()
            configuration.acks = acks
            let producer = try Producer(cluster: cluster, configuration: configuration)
            let reports = Reports()
            for i in 0..<1_000 {
                try await producer.enqueue(ProducerRecord(topic: topic, key: "k\(i)", value: "v\(i)"), onDelivery: reports.callback(for: i))
            }
            try await producer.flush()
            await producer.close()
            #expect(reports.delivered.count == 1_000)
            #expect(reports.delivered.values.allSatisfy { acks == .none ? $0.offset == -1 : $0.offset >= 0 })
            // acks=0 has no answer to wait for: give the broker a moment to append.
            var records: [ConsumerRecord] = []
            for _ in 0..<50 {
                records = try await Self.consumeAll(cluster, topic: topic)
                if records.count >= 1_000 { break }
                try await Task.sleep(nanoseconds: 100_000_000)
            }
            #expect(Set(records.map { String(buffer: $0.value!) }) == Set((0..<1_000).map { "v\($0)" }))
        }
    }

    @Test func recordsSequenceAndPipelinedFetchesDeliverEverythingInOrder() async throws {
        let broker = try LiveBroker()
        try await broker.withCluster { cluster in
            let topic = "sequence"
            try await Admin(cluster: cluster).createTopic(name: topic, partitions: 1, replicationFactor: 1)
            var configuration = ProducerConfiguration()
            configuration.batchBytes = 16 << 10
            let producer = try Producer(cluster: cluster, configuration: configuration)
            for i in 0..<5_000 { try await producer.enqueue(ProducerRecord(topic: topic, partition: 0, key: nil, value: "n\(i)")) }
            try await producer.flush()
            let last = try await producer.send(ProducerRecord(topic: topic, partition: 0, key: "last", value: "end"))
            #expect(last.offset == 5_000)
            await producer.close()

            var consumerConfiguration = ConsumerConfiguration()
            consumerConfiguration.partitionMaxBytes = 4 << 10  // many small fetches
            let consumer = Consumer(cluster: cluster, configuration: consumerConfiguration)
            try await consumer.assign([TopicPartition(topic, 0): .earliest])
            var expected: Int64 = 0
            for try await record in consumer.records {
                #expect(record.offset == expected)
                expected += 1
                if record.offset == 5_000 {
                    #expect(record.key.map { String(buffer: $0) } == "last")
                    break
                }
            }
            #expect(expected == 5_001)
            await consumer.close()
        }
    }

    /// Eight partitions far behind their high watermarks are fetched as catch-up fetches, two in
    /// flight to the broker at once with four partitions each, then by long polls once caught
    /// up: every record must come back whole, in order, once.
    @Test func largeFetchAnswersOverManyPartitionsDeliverEveryRecordWhole() async throws {
        let broker = try LiveBroker()
        try await broker.withCluster { cluster in
            let topic = "large-answers"
            let partitions: Int32 = 8
            let perPartition = 800  // 4 KiB values: about 3 MiB per partition
            try await Admin(cluster: cluster).createTopic(name: topic, partitions: partitions, replicationFactor: 1)
            func value(_ partition: Int32, _ index: Int) -> String {
                let head = "p\(partition)-\(index)-"
                return head + String(repeating: Character(UnicodeScalar(UInt8(97 + index % 26))), count: 4_096 - head.utf8.count)
            }
            let producer = try Producer(cluster: cluster)
            for index in 0..<perPartition {
                for partition in 0..<partitions {
                    try await producer.enqueue(ProducerRecord(topic: topic, partition: partition, key: nil, value: value(partition, index)))
                }
            }
            try await producer.flush()

            let consumer = Consumer(cluster: cluster)
            try await consumer.assign(Dictionary(uniqueKeysWithValues: (0..<partitions).map { (TopicPartition(topic, $0), StartPosition.earliest) }))
            var next = [Int32: Int64]()
            var received = 0
            for try await record in consumer.records {
                let partition = record.topicPartition.partition
                #expect(record.offset == next[partition, default: 0])
                next[partition] = record.offset + 1
                #expect(record.value.map { String(buffer: $0) } == value(partition, Int(record.offset)))
                received += 1
                if received == perPartition * Int(partitions) { break }
            }
            #expect(next.values.allSatisfy { $0 == Int64(perPartition) })
            #expect(await consumer.catchUpFetchesSent > 1)
            // Caught up, the consumer long-polls: a record produced now still arrives.
            _ = try await producer.send(ProducerRecord(topic: topic, partition: 3, key: nil, value: "late"))
            await producer.close()
            for try await record in consumer.records {
                #expect(record.topicPartition.partition == 3 && record.offset == Int64(perPartition))
                #expect(record.value.map { String(buffer: $0) } == "late")
                break
            }
            await consumer.close()
        }
    }

    /// The consumer sends its next fetch as soon as an answer's batch headers are read, before
    /// checksums: a corrupt batch must still stop it at that batch, with what came before
    /// delivered and nothing after it (already fetched or not) handed out.
    @Test func aCorruptBatchStopsTheConsumerAtItsOffsetWithEarlierRecordsDelivered() async throws {
        let broker = try LiveBroker()
        let topic = "corrupt"
        try await broker.createTopicOfFlushes(topic, flushes: 4, recordsPerFlush: 100) { "batch \($0) record \($1) " + String(repeating: "x", count: 40) }
        // Flip one byte inside the records of the second batch on disk, as a failing disk would
        // after the append: the broker verified those bytes when it wrote them and serves them
        // as they are now, so only the consumer's checksum can catch it.
        let corruptOffset = try broker.rewriteSecondBatch(of: topic, at: 100) { $0 ^ 0xFF }
        #expect(corruptOffset > 0 && corruptOffset <= 100)

        try await broker.withCluster { cluster in
            // One answer holds all four batches, so the next fetch (from offset 400) is already
            // in flight when decoding finds the corrupt one; it is dropped, and the batch is
            // fetched (and refused) again after each backoff.
            var configuration = ConsumerConfiguration()
            configuration.retryBackoffMs = 50
            configuration.maxWaitMs = 200
            let consumer = Consumer(cluster: cluster, configuration: configuration)
            try await consumer.assign([TopicPartition(topic, 0): .earliest])
            var offsets: [Int64] = []
            var errors: [String] = []
            let deadline = ContinuousClock.now + .seconds(20)
            while errors.count < 2 && ContinuousClock.now < deadline {
                do {
                    offsets += try await consumer.poll(maxRecords: 1_000, timeoutMs: 500).map(\.offset)
                } catch {
                    errors.append("\(error)")
                }
            }
            for _ in 0..<4 {
                do {
                    offsets += try await consumer.poll(maxRecords: 1_000, timeoutMs: 250).map(\.offset)
                } catch {
                    errors.append("\(error)")
                }
            }
            #expect(offsets == Array(0..<corruptOffset))
            #expect(errors.count >= 2)
            #expect(errors.allSatisfy { $0.contains("corrupt batch near offset \(corruptOffset)") }, "\(errors)")
            #expect(await consumer.position(of: TopicPartition(topic, 0)) == corruptOffset)
            await consumer.close()
        }
    }

    /// A log written in the message format before v2 (as an old Kafka cluster can still serve)
    /// cannot be read by this consumer: it says so, delivers what came before, and asks again
    /// once per backoff instead of in a busy loop of immediate fetches.
    @Test func aBatchInTheOldFormatIsReportedAndRetriedAfterABackoff() async throws {
        let broker = try LiveBroker()
        let topic = "old-format"
        try await broker.createTopicOfFlushes(topic, flushes: 3, recordsPerFlush: 50) { "batch \($0) record \($1)" }
        // The magic byte sits 16 bytes into a batch in every format: setting the second batch's
        // to 1 makes it an old-format message set as far as a reader can tell.
        let oldFormatOffset = try broker.rewriteSecondBatch(of: topic, at: 16) { _ in 1 }

        try await broker.withCluster { cluster in
            var configuration = ConsumerConfiguration()
            configuration.retryBackoffMs = 200
            let consumer = Consumer(cluster: cluster, configuration: configuration)
            try await consumer.assign([TopicPartition(topic, 0): .earliest])
            var offsets: [Int64] = []
            var errors: [String] = []
            // Until the records before it and two reports are in (a slow machine may need more
            // than the usual second), then a further second of polls: the count of fetches
            // over all of it is what shows the backoff.
            let started = ContinuousClock.now
            var settledAt: ContinuousClock.Instant?
            while ContinuousClock.now - started < .seconds(20) {
                if settledAt == nil, errors.count >= 2, offsets.count >= Int(oldFormatOffset) { settledAt = ContinuousClock.now }
                if let settledAt, ContinuousClock.now - settledAt >= .seconds(1) { break }
                do {
                    offsets += try await consumer.poll(maxRecords: 1_000, timeoutMs: 100).map(\.offset)
                } catch {
                    errors.append("\(error)")
                }
            }
            let elapsedMs = Int((ContinuousClock.now - started) / .milliseconds(1))
            #expect(offsets == Array(0..<oldFormatOffset))
            #expect(errors.count >= 2)
            #expect(errors.allSatisfy { $0.contains("magic 1") }, "\(errors)")
            #expect(await consumer.position(of: TopicPartition(topic, 0)) == oldFormatOffset)
            // One fetch per backoff at most (plus the first ones); without the backoff this
            // loop sends thousands.
            let fetches = await consumer.fetchesSent
            #expect(fetches <= 3 + elapsedMs / 200, "\(fetches) fetches in \(elapsedMs) ms")
            await consumer.close()
        }
    }

    @Test func adminCreatesDescribesAltersAndDeletesTopics() async throws {
        let broker = try LiveBroker()
        try await broker.withCluster { cluster in
            let admin = Admin(cluster: cluster)
            try await admin.createTopic(name: "admin-a", partitions: 3, replicationFactor: 1, configs: ["retention.ms": "123456"])
            try await admin.createTopic(name: "admin-b", partitions: 1, validateOnly: true)
            var names = try await admin.listTopics().map(\.name)
            #expect(names.contains("admin-a"))
            #expect(!names.contains("admin-b"), "validate-only must not create")

            await #expect(throws: KafkaClientError.self) {
                try await admin.createTopic(name: "admin-a", partitions: 1)
            }

            let described = try await admin.describeTopic("admin-a")
            #expect(described.partitions.map(\.partition) == [0, 1, 2])
            #expect(described.partitions.allSatisfy { $0.leader == 0 && $0.logStartOffset == 0 && $0.logEndOffset == 0 })
            #expect(described.replicationFactor == 1)
            #expect(described.nonDefaultConfigs.contains { $0.name == "retention.ms" && $0.value == "123456" && $0.source == .topic })

            try await admin.alterConfigs(topic: "admin-a", configs: ["segment.bytes": "1048576"])
            var configs = try await admin.describeConfigs(topic: "admin-a").filter { $0.source == .topic }
            #expect(configs.map(\.name) == ["retention.ms", "segment.bytes"], "alter keeps the other overrides")
            try await admin.alterConfigs(topic: "admin-a", configs: ["retention.ms": nil])
            configs = try await admin.describeConfigs(topic: "admin-a").filter { $0.source == .topic }
            #expect(configs.map(\.name) == ["segment.bytes"])

            try await admin.deleteTopic("admin-a")
            names = try await admin.listTopics().map(\.name)
            #expect(!names.contains("admin-a"))
            await #expect(throws: KafkaClientError.self) { try await admin.describeTopic("admin-a") }
            await #expect(throws: KafkaClientError.self) { try await admin.deleteTopic("admin-a") }
        }
    }

    @Test func producerFailsRecordsForAMissingPartitionAndReportsRefusedBatches() async throws {
        let broker = try LiveBroker()
        try await broker.withCluster { cluster in
            try await Admin(cluster: cluster).createTopic(name: "small", partitions: 1, replicationFactor: 1, configs: ["max.message.bytes": "2000"])
            let producer = try Producer(cluster: cluster)
            await #expect(throws: KafkaClientError.self) {
                try await producer.enqueue(ProducerRecord(topic: "small", partition: 5, key: nil, value: "x"))
            }
            await #expect(throws: ProducerError.self) {
                try await producer.send(ProducerRecord(topic: "small", partition: 0, key: nil, value: String(repeating: "y", count: 5_000)))
            }
            // The refused batch left a gap in the sequence; later records still go through.
            let metadata = try await producer.send(ProducerRecord(topic: "small", partition: 0, key: nil, value: "fits"))
            #expect(metadata.offset == 0)
            await #expect(throws: ProducerError.self) { try await producer.flush() }  // reports the refused record
            await producer.close()
        }
    }

    // MARK: The command line

    @Test func produceAndConsumeCommandsRoundTripKeysValuesAndHeaders() async throws {
        let broker = try LiveBroker()
        let lines = (0..<300).map { "k\($0):value \($0)\twith tab" } + ["no separator here", ":empty key"]
        let produced = try LiveBroker.run(
            ["produce", "--bootstrap", broker.bootstrap, "--topic", "cli", "--key-separator", ":", "--codec", "zstd", "--header", "src=test"],
            input: Data((lines.joined(separator: "\n") + "\n").utf8)
        )
        #expect(produced.status == 0, "\(String(decoding: produced.stderr, as: UTF8.self))")
        #expect(String(decoding: produced.stderr, as: UTF8.self).contains("302 records"))

        let full = try LiveBroker.run(["consume", "--bootstrap", broker.bootstrap, "--topic", "cli", "--format", "full", "--exit-at-end"])
        #expect(full.status == 0, "\(String(decoding: full.stderr, as: UTF8.self))")
        let rows = String(decoding: full.stdout, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(rows.count == 302)
        var byKey: [String: [Substring]] = [:]
        for row in rows {
            let fields = row.split(separator: "\t", omittingEmptySubsequences: false)
            byKey[String(fields[3])] = fields
        }
        let k7 = try #require(byKey["k7"])
        #expect(k7[4] == "value 7" && k7[5] == "with tab" && k7[6] == "src=test")
        #expect(byKey["\\N"]?[4] == "no separator here")
        #expect(byKey[""]?[4] == "empty key")

        let values = try LiveBroker.run(["consume", "--bootstrap", broker.bootstrap, "--topic", "cli", "--exit-at-end", "--max-records", "5", "--partition", "0"])
        #expect(values.status == 0)
        #expect(String(decoding: values.stdout, as: UTF8.self).split(separator: "\n").count <= 5)

        let missing = try LiveBroker.run(["consume", "--bootstrap", broker.bootstrap, "--topic", "no-such-topic", "--exit-at-end"])
        #expect(missing.status != 0)
    }

    // MARK: kcat (librdkafka) as the other side

    @Test(.enabled(if: which("kcat") != nil, "kcat is not installed"))
    func kcatReadsWhatThisProducerWrites() async throws {
        let broker = try LiveBroker()
        try await broker.withCluster { cluster in
            try await Admin(cluster: cluster).createTopic(name: "to-kcat", partitions: 1, replicationFactor: 1)
            var configuration = ProducerConfiguration()
            configuration.compression = .snappy
            let producer = try Producer(cluster: cluster, configuration: configuration)
            for i in 0..<500 {
                try await producer.enqueue(ProducerRecord(
                    topic: "to-kcat", partition: 0, key: ByteBuffer(string: "k\(i)"), value: ByteBuffer(string: "v\(i) κόσμε"),
                    headers: [RecordHeader(key: "h", value: ByteBuffer(string: "x\(i)"))], timestamp: Self.baseTime + Int64(i)
                ))
            }
            try await producer.flush()
            await producer.close()
        }
        let result = try runProcess(which("kcat")!, ["-b", broker.bootstrap, "-C", "-t", "to-kcat", "-e", "-q", "-J"])
        #expect(result.status == 0, "\(String(decoding: result.stderr, as: UTF8.self))")
        let lines = String(decoding: result.stdout, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 500)
        for (i, line) in lines.enumerated() {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(object["offset"] as? Int == i)
            #expect(object["key"] as? String == "k\(i)")
            #expect(object["payload"] as? String == "v\(i) κόσμε")
            #expect((object["ts"] as? NSNumber)?.int64Value == Self.baseTime + Int64(i))
            #expect((object["headers"] as? [String]) == ["h", "x\(i)"])
        }
    }

    @Test(.enabled(if: which("kcat") != nil, "kcat is not installed"))
    func thisConsumerReadsWhatKcatWrites() async throws {
        let broker = try LiveBroker()
        try await broker.withCluster { cluster in
            try await Admin(cluster: cluster).createTopic(name: "from-kcat", partitions: 3, replicationFactor: 1)
        }
        let lines = (0..<400).map { "key\($0):payload \($0) " + String(repeating: "z", count: $0 % 50) }
        let result = try runProcess(
            which("kcat")!,
            ["-b", broker.bootstrap, "-P", "-t", "from-kcat", "-K:", "-z", "gzip", "-H", "origin=kcat", "-X", "partitioner=murmur2_random"],
            input: Data((lines.joined(separator: "\n") + "\n").utf8)
        )
        #expect(result.status == 0, "\(String(decoding: result.stderr, as: UTF8.self))")
        try await broker.withCluster { cluster in
            let records = try await Self.consumeAll(cluster, topic: "from-kcat")
            #expect(records.count == 400)
            for record in records {
                let key = String(buffer: try #require(record.key))
                let index = Int(key.dropFirst(3))!
                #expect(String(buffer: try #require(record.value)) == "payload \(index) " + String(repeating: "z", count: index % 50))
                #expect(record.headers == [RecordHeader(key: "origin", value: ByteBuffer(string: "kcat"))])
                // librdkafka's murmur2 partitioner agrees with ours (the Java client's).
                #expect(record.partition == Partitioner.partition(forKey: Array(key.utf8), partitionCount: 3))
            }
        }
    }
}
