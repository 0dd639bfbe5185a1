import LogflumeBroker
import LogflumeStorage
import LogflumeWire
import NIOCore
import NIOEmbedded
import Testing

/// Request handling without sockets: each API's handler called with decoded requests.
@Suite struct BrokerHandlerTests {
    @Test func metadataAutoCreatesAndReportsThisBrokerAsLeader() throws {
        let test = try TestBroker { $0.numPartitions = 3 }
        defer { test.remove() }
        let response = test.broker.metadata(MetadataRequest(topicNames: ["events"], allowAutoTopicCreation: true), version: 8)
        #expect(response.brokers.map(\.nodeId) == [0])
        #expect(response.controllerId == 0)
        #expect(response.clusterId == test.broker.topics.clusterId)
        #expect(response.topics[0].errorCode == 0)
        #expect(response.topics[0].partitions.map(\.partitionIndex) == [0, 1, 2])
        let refused = test.broker.metadata(MetadataRequest(topicNames: ["other"], allowAutoTopicCreation: false), version: 8)
        #expect(refused.topics[0].errorCode == KafkaErrorCode.unknownTopicOrPartition.rawValue)
        let bad = test.broker.metadata(MetadataRequest(topicNames: ["no spaces"], allowAutoTopicCreation: true), version: 8)
        #expect(bad.topics[0].errorCode == KafkaErrorCode.invalidTopicException.rawValue)
        let all = test.broker.metadata(MetadataRequest(topicNames: nil), version: 8)
        #expect(all.topics.map(\.name) == ["__consumer_offsets", "events"])
        #expect(all.topics.first?.isInternal == true)
    }

    @Test func produceAppendsAndReportsOffsets() throws {
        let test = try TestBroker()
        defer { test.remove() }
        test.createTopic("t")
        #expect(test.produce("t", batch: batch(["a", "b"])).baseOffset == 0)
        let second = test.produce("t", batch: batch(["c"]))
        #expect(second.baseOffset == 2 && second.errorCode == 0 && second.logAppendTimeMs == -1 && second.logStartOffset == 0)
        #expect(test.produce("missing", batch: batch(["x"])).errorCode == KafkaErrorCode.unknownTopicOrPartition.rawValue)
        #expect(test.produce("t", partition: 5, batch: batch(["x"])).errorCode == KafkaErrorCode.unknownTopicOrPartition.rawValue)
        #expect(test.produce("t", batch: batch(["x"]), acks: 2).errorCode == KafkaErrorCode.invalidRequiredAcks.rawValue)
        // Produce v0-2 decode exactly; an old message format inside gets Kafka's own error.
        var legacy = batch(["old"]).bytes
        legacy.setInteger(Int8(1), at: 16)
        let refused = test.broker.produce(ProduceRequest(acks: 1, topicData: [.init(name: "t", partitionData: [.init(index: 0, records: legacy)])]), version: 2)
        #expect(refused.responses[0].partitionResponses[0].errorCode == KafkaErrorCode.unsupportedForMessageFormat.rawValue)
        #expect(test.produce("t", batch: batch(["v2 in v2"]), version: 2).baseOffset == 3)
    }

    @Test func acksAllNeedsMinInsyncReplicasAndLargeBatchesAreRefused() throws {
        let test = try TestBroker()
        defer { test.remove() }
        test.createTopic("strict", configs: [("min.insync.replicas", "2"), ("max.message.bytes", "200")])
        #expect(test.produce("strict", batch: batch(["a"]), acks: -1).errorCode == KafkaErrorCode.notEnoughReplicas.rawValue)
        #expect(test.produce("strict", batch: batch(["a"]), acks: 1).errorCode == 0)
        let large = test.produce("strict", batch: batch([String(repeating: "x", count: 500)]), acks: 1)
        #expect(large.errorCode == KafkaErrorCode.messageTooLarge.rawValue)
        #expect(large.errorMessage?.contains("max.message.bytes") == true)
    }

    @Test func compactedTopicsRefuseKeylessRecordsWithPerRecordErrors() throws {
        let test = try TestBroker()
        defer { test.remove() }
        test.createTopic("state", configs: [("cleanup.policy", "compact")])
        let refused = test.produce("state", batch: batch(["a", "b"]))
        #expect(refused.errorCode == KafkaErrorCode.invalidRecord.rawValue)
        #expect(refused.recordErrors.map(\.batchIndex) == [0, 1])
        #expect(test.produce("state", batch: batch(["a", "b"], key: "k")).errorCode == 0)
    }

    @Test func corruptBatchesAreRefusedAndNeverAppended() throws {
        let test = try TestBroker()
        defer { test.remove() }
        test.createTopic("t")
        var bytes = batch(["a", "b"]).bytes
        bytes.setInteger(UInt8(0xFF), at: bytes.readableBytes - 3)
        let response = test.broker.produce(ProduceRequest(acks: 1, topicData: [.init(name: "t", partitionData: [.init(index: 0, records: bytes)])]), version: 8)
        #expect(response.responses[0].partitionResponses[0].errorCode == KafkaErrorCode.corruptMessage.rawValue)
        #expect(test.broker.topics.partition("t", 0)?.logEndOffset == 0)
    }

    @Test func logAppendTimeTopicsStampTheBrokerTime() throws {
        let test = try TestBroker()
        defer { test.remove() }
        test.createTopic("stamped", configs: [("message.timestamp.type", "LogAppendTime")])
        let response = test.produce("stamped", batch: batch(["a"], timestamp: 5))
        #expect(response.logAppendTimeMs == test.clock.nowMilliseconds)
        let stored = try #require(try test.broker.topics.partition("stamped", 0)?.log.readBatches(from: 0, maxBytes: 1 << 20).first)
        #expect(try stored.records().map(\.timestamp) == [test.clock.nowMilliseconds])
    }

    @Test func idempotentRetriesAreAnsweredWithTheOriginalOffsets() throws {
        let test = try TestBroker()
        defer { test.remove() }
        test.createTopic("t")
        let producer = test.broker.initProducerId(InitProducerIdRequest())
        #expect(producer.errorCode == 0 && producer.producerId >= 0)
        let id = producer.producerId
        #expect(test.produce("t", batch: batch(["a", "b"], producerId: id, sequence: 0)).baseOffset == 0)
        #expect(test.produce("t", batch: batch(["c"], producerId: id, sequence: 2)).baseOffset == 2)
        let retry = test.produce("t", batch: batch(["a", "b"], producerId: id, sequence: 0))
        #expect(retry.errorCode == 0 && retry.baseOffset == 0)
        #expect(test.broker.topics.partition("t", 0)?.logEndOffset == 3, "the retry was not appended again")
        #expect(test.produce("t", batch: batch(["z"], producerId: id, sequence: 7)).errorCode == KafkaErrorCode.outOfOrderSequenceNumber.rawValue)
        #expect(test.broker.initProducerId(InitProducerIdRequest()).producerId != id)
    }

    @Test func producerStateSurvivesARestart() throws {
        let test = try TestBroker()
        defer { test.remove() }
        test.createTopic("t")
        let id = test.broker.initProducerId(InitProducerIdRequest()).producerId
        _ = test.produce("t", batch: batch(["a"], producerId: id, sequence: 0))
        _ = test.produce("t", batch: batch(["b"], producerId: id, sequence: 1))
        // Simulate a crash: the snapshot is absent, so the state is rebuilt from the log itself.
        let reopened = try TopicStore(dataDirectory: test.directory, clock: test.clock, logger: .init(label: "t"))
        let partition = try #require(reopened.partition("t", 0))
        let table = partition.producerState
        #expect(table.check(batch(["b"], producerId: id, sequence: 1).summary) != .append)
        #expect(table.check(batch(["c"], producerId: id, sequence: 2).summary) == .append)
        #expect(test.broker.initProducerId(InitProducerIdRequest()).producerId > id)
    }

    @Test func listOffsetsEarliestLatestAndByTimestamp() throws {
        let test = try TestBroker()
        defer { test.remove() }
        test.createTopic("t")
        _ = test.produce("t", batch: batch(["a", "b"], timestamp: 1_000))
        _ = test.produce("t", batch: batch(["c", "d"], timestamp: 2_000))
        func query(_ ts: Int64) -> ListOffsetsResponse.Partition {
            test.broker.listOffsets(ListOffsetsRequest(topics: [.init(name: "t", partitions: [.init(partitionIndex: 0, timestamp: ts)])]), version: 5)
                .topics[0].partitions[0]
        }
        #expect(query(-2).offset == 0)
        #expect(query(-1).offset == 4)
        #expect(query(1_001).offset == 1 && query(1_001).timestamp == 1_001)
        #expect(query(1_500).offset == 2 && query(1_500).timestamp == 2_000)
        #expect(query(9_999).offset == -1)
        #expect(query(-1).leaderEpoch == 0)
    }

    /// v0 (Burrow 1.2 asks this way): a list of offsets, newest first, at most max_num_offsets.
    @Test func listOffsetsVersionZeroAnswersOldStyleOffsetLists() throws {
        let test = try TestBroker(configure: { $0.topicDefaults[.segmentBytes] = "100" })
        defer { test.remove() }
        test.createTopic("t")
        _ = test.produce("t", batch: batch(["a", "b"], timestamp: 1_000))
        _ = test.produce("t", batch: batch(["c", "d"], timestamp: 2_000))
        _ = test.produce("t", batch: batch(["e"], timestamp: 3_000))
        func query(_ ts: Int64, max: Int32) -> ListOffsetsResponse.Partition {
            test.broker.listOffsets(ListOffsetsRequest(topics: [.init(name: "t", partitions: [.init(partitionIndex: 0, timestamp: ts, maxNumOffsets: max)])]), version: 0)
                .topics[0].partitions[0]
        }
        // Three segments (100-byte segments roll on every batch) based at 0, 2 and 4.
        #expect(query(-1, max: 1).oldStyleOffsets == [5])
        #expect(query(-1, max: 10).oldStyleOffsets == [5, 4, 2, 0])
        #expect(query(-2, max: 10).oldStyleOffsets == [0])
        #expect(query(2_000, max: 10).oldStyleOffsets == [2, 0])
        #expect(query(9_999, max: 2).oldStyleOffsets == [5, 4])
        #expect(query(-1, max: 0).oldStyleOffsets == [])
        let missing = test.broker.listOffsets(ListOffsetsRequest(topics: [.init(name: "nope", partitions: [.init(partitionIndex: 0, timestamp: -1)])]), version: 0)
        #expect(missing.topics[0].partitions[0].errorCode == KafkaErrorCode.unknownTopicOrPartition.rawValue)
    }

    @Test func createValidateOnlyDeleteAndDescribeConfigs() throws {
        let test = try TestBroker()
        defer { test.remove() }
        let validate = test.broker.createTopics(CreateTopicsRequest(topics: [.init(name: "v", numPartitions: 2, replicationFactor: 1, assignments: [], configs: [])], validateOnly: true), version: 4)
        #expect(validate.topics[0].errorCode == 0)
        #expect(test.broker.topics.topic("v") == nil)
        let badConfig = test.broker.createTopics(CreateTopicsRequest(topics: [.init(name: "c", numPartitions: 1, replicationFactor: 1, assignments: [], configs: [.init(name: "retention.ms", value: "never")])]), version: 4)
        #expect(badConfig.topics[0].errorCode == KafkaErrorCode.invalidConfig.rawValue)
        #expect(badConfig.topics[0].errorMessage?.contains("retention.ms") == true)
        let replicated = test.broker.createTopics(CreateTopicsRequest(topics: [.init(name: "r", numPartitions: 1, replicationFactor: 3, assignments: [], configs: [])]), version: 4)
        #expect(replicated.topics[0].errorCode == KafkaErrorCode.invalidReplicationFactor.rawValue)
        test.createTopic("c", configs: [("retention.ms", "1000")])
        #expect(test.broker.createTopics(CreateTopicsRequest(topics: [.init(name: "c", numPartitions: 1, replicationFactor: 1, assignments: [], configs: [])]), version: 4).topics[0].errorCode == KafkaErrorCode.topicAlreadyExists.rawValue)
        let described = test.broker.describeConfigs(DescribeConfigsRequest(resources: [.init(resourceType: 2, resourceName: "c")]), version: 3)
        let retention = try #require(described.results[0].configs.first { $0.name == "retention.ms" })
        #expect(retention.value == "1000" && retention.configSource == 1 && !retention.isDefault)
        #expect(described.results[0].configs.first { $0.name == "segment.bytes" }?.isDefault == true)
        let altered = test.broker.alterConfigs(AlterConfigsRequest(resources: [.init(resourceType: 2, resourceName: "c", configs: [.init(name: "cleanup.policy", value: "compact")])]))
        #expect(altered.responses[0].errorCode == 0)
        #expect(test.broker.topics.topic("c")?.config.value(.cleanupPolicy) == "compact")
        #expect(test.broker.topics.topic("c")?.config.isDefault(.retentionMs) == true, "AlterConfigs replaces the whole set")
        #expect(test.broker.deleteTopics(DeleteTopicsRequest(topicNames: ["c", "nope"])).responses.map(\.errorCode) == [0, KafkaErrorCode.unknownTopicOrPartition.rawValue])
        #expect(test.broker.topics.topic("c") == nil)
    }

    /// Broker settings carry Kafka's ConfigType ids: BOOLEAN 1, STRING 2, INT 3, LONG 5, LIST 7.
    @Test func brokerConfigsCarryKafkasTypes() throws {
        let test = try TestBroker()
        defer { test.remove() }
        let described = test.broker.describeConfigs(DescribeConfigsRequest(resources: [.init(resourceType: 4, resourceName: "0")]), version: 3)
        let types = Dictionary(uniqueKeysWithValues: described.results[0].configs.map { ($0.name, $0.configType) })
        #expect(types["fetch.max.bytes"] == 3)
        #expect(types["socket.request.max.bytes"] == 3)
        #expect(types["num.partitions"] == 3)
        #expect(types["auto.create.topics.enable"] == 1)
        #expect(types["log.retention.check.interval.ms"] == 5)
        #expect(types["log.retention.bytes"] == 5, "a topic default has its topic key's type (retention.bytes is LONG)")
        #expect(types["log.segment.bytes"] == 3)
        #expect(types["log.cleanup.policy"] == 7)
        #expect(types["listen"] == 2)
        #expect(described.results[0].configs.first { $0.name == "fetch.max.bytes" }?.value == String(55 << 20))
    }

    @Test func framesAreDecodedAnsweredOrRefused() throws {
        let test = try TestBroker()
        defer { test.remove() }
        let loop = EmbeddedEventLoop()
        let connection = ConnectionInfo(peer: "test", draining: { false })
        func answer(_ frame: ByteBuffer) throws -> ByteBuffer? {
            var body = frame
            body.moveReaderIndex(forwardBy: 4)
            guard let response = try test.broker.process(frame: body, connection: connection, eventLoop: loop).wait() else { return nil }
            var bytes = ByteBuffer()
            for part in response.parts { if case .bytes(let b) = part { bytes.writeImmutableBuffer(b) } }
            return bytes
        }
        // ApiVersions v3 (flexible request header) is answered with a v0 response header.
        var reply = try #require(try answer(KafkaRequestFrame.encode(ApiVersionsRequest(clientSoftwareName: "t", clientSoftwareVersion: "1"), version: 3, correlationId: 7, clientId: "c")))
        #expect(reply.readInteger(as: Int32.self) == Int32(reply.readableBytes))
        #expect(reply.readInteger(as: Int32.self) == 7)
        let versions = try ApiVersionsResponse(from: &reply, version: 3)
        #expect(versions.errorCode == 0 && versions.apiKeys.contains { $0.apiKey == ApiKey.produce.rawValue && $0.minVersion == 0 && $0.maxVersion == 8 })
        // An ApiVersions version we do not know gets UNSUPPORTED_VERSION and our table in v0 shape.
        var future = RequestHeader(apiKey: .apiVersions, apiVersion: 9, correlationId: 8, clientId: "c")
        var frame = ByteBuffer()
        frame.writeInteger(Int32(0))
        future.encode(into: &frame)
        var unsupported = try #require(try answer(frame))
        unsupported.moveReaderIndex(forwardBy: 8)
        let table = try ApiVersionsResponse(from: &unsupported, version: 0)
        #expect(table.errorCode == KafkaErrorCode.unsupportedVersion.rawValue && !table.apiKeys.isEmpty)
        // Unknown API keys and garbage close the connection (a failed future) rather than crash.
        future = RequestHeader(requestApiKey: 999, requestApiVersion: 0, correlationId: 9, clientId: nil)
        frame = ByteBuffer()
        frame.writeInteger(Int32(0))
        future.encode(into: &frame)
        #expect(throws: BrokerRequestError.self) { _ = try answer(frame) }
        #expect(throws: BrokerRequestError.self) { _ = try answer(ByteBuffer(bytes: [0, 0, 0, 0, 0, 3])) }
        // acks=0 produce gets no response at all.
        test.createTopic("t")
        let acksZero = KafkaRequestFrame.encode(ProduceRequest(acks: 0, topicData: [.init(name: "t", partitionData: [.init(index: 0, records: batch(["a"]).bytes)])]), version: 8, correlationId: 10, clientId: "c")
        #expect(try answer(acksZero) == nil)
        #expect(test.broker.topics.partition("t", 0)?.logEndOffset == 1)
    }
}
