import LogflumeWire
import NIOCore

/// The fuzz target for everything a client can send the broker: the request frame decoder, the
/// header and body codecs of every advertised API, and the record batches inside produce
/// requests. Any input must be refused with an error or decoded into something that re-encodes
/// to an equal message; a trap anywhere is a bug.
public enum RequestDecoderHarness {
    /// Feeds one input (a request frame body, i.e. without the size prefix) through the decoders.
    public static func exercise(_ bytes: UnsafeRawBufferPointer) {
        let frame = ByteBuffer(bytes: bytes)
        let (header, result) = KafkaRequest.decode(frame: frame)
        guard let header, case .success(let request) = result else { return }
        // Whatever decodes must survive a round trip unchanged.
        var reencoded = ByteBuffer()
        request.encode(into: &reencoded, version: header.requestApiVersion)
        var body = reencoded
        guard let again = try? KafkaRequest.decode(header: header, body: &body) else {
            preconditionFailure("\(request.apiKey) v\(header.requestApiVersion) decoded but its re-encoding does not")
        }
        precondition(again == request, "\(request.apiKey) v\(header.requestApiVersion) changed in a round trip")
        if case .produce(let produce) = request {
            for topic in produce.topicData {
                for partition in topic.partitionData {
                    guard let records = partition.records, let batches = try? RecordBatch.split(records) else { continue }
                    for batch in batches { _ = try? batch.validateRecords() }
                }
            }
        }
        var frames = KafkaFrameDecoder(maxFrameSize: 1 << 20)
        var stream = frame
        while let _ = try? frames.decode(buffer: &stream) {}
        exerciseRecordsSection(bytes)
    }

    /// The input as the records section of an uncompressed batch with a valid CRC, so the
    /// record walkers (the broker's check and the consumer's decoder) see arbitrary record bytes;
    /// mutated produce requests almost never get past the checksum. What the broker's check
    /// accepts, the decoder must decode (the decoder alone also takes compacted batches, whose
    /// offset deltas have gaps).
    static func exerciseRecordsSection(_ bytes: UnsafeRawBufferPointer) {
        guard let first = bytes.first else { return }
        let count = Int32(first % 8) + 1
        var batch = ByteBuffer()
        batch.writeInteger(Int64(0))  // base offset
        batch.writeInteger(Int32(RecordBatch.headerSize - RecordBatch.logOverhead + bytes.count))
        batch.writeInteger(Int32(0))  // partition leader epoch
        batch.writeInteger(Int8(2))  // magic
        let crcAt = batch.writerIndex
        batch.writeInteger(UInt32(0))
        batch.writeInteger(Int16(0))  // attributes: uncompressed, CreateTime
        batch.writeInteger(count - 1)  // last offset delta
        batch.writeInteger(Int64(1_700_000_000_000))
        batch.writeInteger(Int64(1_700_000_000_000))
        batch.writeInteger(Int64(-1))  // producer id
        batch.writeInteger(Int16(-1))
        batch.writeInteger(Int32(-1))
        batch.writeInteger(count)
        batch.writeBytes(bytes)
        let crc = batch.withUnsafeReadableBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[(crcAt + 4)...])) }
        batch.setInteger(crc, at: crcAt)
        guard let valid = try? RecordBatch(validating: batch) else { preconditionFailure("the harness built an invalid batch header") }
        let checked = Result { () throws(RecordBatchError) in try valid.validateRecords() }
        let decoded = Result { () throws(RecordBatchError) in try valid.records() }
        if case .success = checked {
            guard case .success(let records) = decoded else { preconditionFailure("a section validateRecords accepts fails to decode: \(decoded)") }
            precondition(records.count == Int(count), "\(records.count) records decoded of \(count) checked")
        }
    }

    /// Valid requests of every API at every version the codec implements: the corpus mutations
    /// start from, so they reach deep into each decoder.
    public static func seeds() -> [[UInt8]] {
        var records = RecordBatchBuilder(compression: .zstd, producerId: 5, producerEpoch: 0, baseSequence: 0)
        for i in 0..<3 {
            records.append(key: Array("k\(i)".utf8), value: Array("value \(i)".utf8),
                           headers: [RecordHeader(key: "h", value: ByteBuffer(string: "x"))], timestamp: 1_700_000_000_000 + Int64(i))
        }
        let batch = (try? records.build().bytes) ?? ByteBuffer()
        var plain = RecordBatchBuilder()
        plain.append(key: nil, value: Array("plain".utf8), timestamp: 1)
        let plainBatch = (try? plain.build().bytes) ?? ByteBuffer()
        var seeds: [[UInt8]] = []
        func add<M: KafkaEncodableMessage>(_ message: M) {
            for version in M.versions {
                var buffer = ByteBuffer()
                RequestHeader(apiKey: M.apiKey, apiVersion: version, correlationId: 1, clientId: "fuzz").encode(into: &buffer)
                message.encode(into: &buffer, version: version)
                seeds.append(Array(buffer.readableBytesView))
            }
        }
        add(ApiVersionsRequest(clientSoftwareName: "librdkafka", clientSoftwareVersion: "2.3.0"))
        add(MetadataRequest(topicNames: ["events", "logs"], allowAutoTopicCreation: true))
        add(ProduceRequest(acks: -1, timeoutMs: 1000, topicData: [
            .init(name: "events", partitionData: [.init(index: 0, records: batch), .init(index: 1, records: plainBatch)]),
        ]))
        add(FetchRequest(maxWaitMs: 500, minBytes: 1, maxBytes: 1 << 20, isolationLevel: 0, topics: [
            .init(topic: "events", partitions: [.init(partition: 0, fetchOffset: 10, partitionMaxBytes: 1 << 20)]),
        ]))
        add(ListOffsetsRequest(topics: [.init(name: "events", partitions: [.init(partitionIndex: 0, timestamp: -2)])]))
        add(CreateTopicsRequest(topics: [.init(name: "t", numPartitions: 3, replicationFactor: 1, assignments: [],
                                               configs: [.init(name: "retention.ms", value: "1000")])]))
        add(DeleteTopicsRequest(topicNames: ["t"]))
        add(DescribeConfigsRequest(resources: [.init(resourceType: 2, resourceName: "t", configurationKeys: ["retention.ms"])]))
        add(AlterConfigsRequest(resources: [.init(resourceType: 2, resourceName: "t", configs: [.init(name: "segment.ms", value: "1")])]))
        add(InitProducerIdRequest())
        add(FindCoordinatorRequest(key: "group", keyType: 0))
        let subscription = ConsumerProtocolSubscription(topics: ["events", "logs"], userData: ByteBuffer(bytes: [1, 2]),
                                                        ownedPartitions: [.init(topic: "events", partitions: [0, 1])])
        let assignment = ConsumerProtocolAssignment(assignedPartitions: [.init(topic: "events", partitions: [0, 1, 2])])
        add(JoinGroupRequest(groupId: "aggregators", sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 300_000, memberId: "m-1",
                             groupInstanceId: "host-1", protocolType: ConsumerProtocol.protocolType, protocols: [
                                 .init(name: "range", metadata: subscription.encoded(version: 1)),
                                 .init(name: "roundrobin", metadata: subscription.encoded(version: 0)),
                             ]))
        add(SyncGroupRequest(groupId: "aggregators", generationId: 3, memberId: "m-1", groupInstanceId: "host-1",
                             assignments: [.init(memberId: "m-1", assignment: assignment.encoded(version: 0)), .init(memberId: "m-2")]))
        add(HeartbeatRequest(groupId: "aggregators", generationId: 3, memberId: "m-1", groupInstanceId: "host-1"))
        add(LeaveGroupRequest(groupId: "aggregators", memberId: "m-1", members: [.init(memberId: "m-1", groupInstanceId: "host-1"), .init(memberId: "m-2")]))
        add(OffsetCommitRequest(groupId: "aggregators", generationId: 3, memberId: "m-1", groupInstanceId: "host-1", retentionTimeMs: 86_400_000, topics: [
            .init(name: "events", partitions: [.init(partitionIndex: 0, committedOffset: 42, committedLeaderEpoch: 1, committedMetadata: "hour=12"),
                                               .init(partitionIndex: 1, committedOffset: 7)]),
        ]))
        add(OffsetFetchRequest(groupId: "aggregators", topics: [.init(name: "events", partitionIndexes: [0, 1])]))
        add(OffsetFetchRequest(groupId: "aggregators", topics: nil))
        add(DescribeGroupsRequest(groups: ["aggregators", "other"], includeAuthorizedOperations: true))
        add(ListGroupsRequest())
        add(DeleteGroupsRequest(groupsNames: ["aggregators", "old"]))
        return seeds
    }

    /// One random edit of `input`, the kinds that break length-prefixed formats: flipped bits,
    /// overwritten lengths, inserted or deleted bytes, truncation, splices of two inputs.
    public static func mutate<G: RandomNumberGenerator>(_ input: [UInt8], other: [UInt8], using rng: inout G) -> [UInt8] {
        var bytes = input
        let edits = Int.random(in: 1...4, using: &rng)
        for _ in 0..<edits {
            if bytes.isEmpty { bytes = [UInt8.random(in: 0...255, using: &rng)] }
            let at = Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0..<8, using: &rng) {
            case 0: bytes[at] ^= UInt8(1) << UInt8.random(in: 0...7, using: &rng)
            case 1: bytes[at] = UInt8.random(in: 0...255, using: &rng)
            case 2:
                // An interesting length: 0, -1, huge, off by one.
                let value: [[UInt8]] = [[0, 0], [0xFF, 0xFF], [0x7F, 0xFF], [0x80, 0x00], [0, 1]]
                let chosen = value.randomElement(using: &rng)!
                for (i, b) in chosen.enumerated() where at + i < bytes.count { bytes[at + i] = b }
            case 3: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: at)
            case 4: bytes.remove(at: at)
            case 5: bytes.removeSubrange(at...)
            case 6:
                let cut = Int.random(in: 0...other.count, using: &rng)
                bytes = Array(bytes[..<at]) + Array(other[cut...])
            default:
                let n = min(Int.random(in: 1...8, using: &rng), bytes.count - at)
                bytes.replaceSubrange(at..<at + n, with: (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) })
            }
        }
        return bytes
    }

    /// A seeded campaign without libFuzzer: `iterations` mutated inputs, deterministic per seed.
    /// Returns how many of them decoded as requests (the rest were refused).
    @discardableResult
    public static func campaign(iterations: Int, seed: UInt64) -> Int {
        var rng = SeededGenerator(seed: seed)
        let corpus = seeds()
        var decoded = 0
        for _ in 0..<iterations {
            let input = mutate(corpus.randomElement(using: &rng)!, other: corpus.randomElement(using: &rng)!, using: &rng)
            input.withUnsafeBytes { exercise($0) }
            if case (_, .success) = KafkaRequest.decode(frame: ByteBuffer(bytes: input)) { decoded += 1 }
        }
        return decoded
    }
}

/// SplitMix64: reproducible campaigns from a seed.
public struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
