import Foundation
import Logging
import LogflumeBroker
import LogflumeStorage
import LogflumeWire
import NIOCore

/// A broker over a temporary data directory, driven by calling its handlers directly.
struct TestBroker {
    let directory: String
    let broker: Broker
    let clock: ManualWallClock

    init(configure: (inout BrokerConfig) -> Void = { _ in }) throws {
        var template = Array("/tmp/logflume-broker-test-XXXXXX".utf8CString)
        _ = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        directory = String(cString: template.withUnsafeBufferPointer { $0.baseAddress! })
        var config = BrokerConfig()
        config.dataDirectory = directory
        configure(&config)
        clock = ManualWallClock(nowMilliseconds: 1_700_000_000_000)
        var logger = Logger(label: "test")
        logger.logLevel = .warning
        let topics = try TopicStore(dataDirectory: directory, defaults: config.topicDefaults, clock: clock, logger: logger)
        var groups = GroupCoordinatorConfig()
        groups.offsetsTopicNumPartitions = 1
        broker = try Broker(config: config, topics: topics, clock: clock, logger: logger, groupConfig: groups)
    }

    func remove() {
        broker.topics.close()
        try? FileManager.default.removeItem(atPath: directory)
    }

    func createTopic(_ name: String, partitions: Int32 = 1, configs: [(String, String?)] = []) {
        let response = broker.createTopics(CreateTopicsRequest(topics: [.init(
            name: name, numPartitions: partitions, replicationFactor: 1, assignments: [],
            configs: configs.map { .init(name: $0.0, value: $0.1) }
        )]), version: 4)
        precondition(response.topics[0].errorCode == 0, "create \(name): \(response.topics[0])")
    }

    func produce(_ topic: String, partition: Int32 = 0, batch: RecordBatch, acks: Int16 = 1, version: Int16 = 8) -> ProduceResponse.PartitionResponse {
        broker.produce(ProduceRequest(acks: acks, topicData: [.init(name: topic, partitionData: [.init(index: partition, records: batch.bytes)])]), version: version)
            .responses[0].partitionResponses[0]
    }
}

func batch(_ values: [String], key: String? = nil, timestamp: Int64 = 1_700_000_000_000, producerId: Int64 = -1, sequence: Int32 = -1, codec: CompressionCodec = .none) -> RecordBatch {
    var builder = RecordBatchBuilder(compression: codec, producerId: producerId, producerEpoch: producerId >= 0 ? 0 : -1, baseSequence: sequence)
    for (i, value) in values.enumerated() {
        builder.append(key: key.map { Array($0.utf8) }, value: Array(value.utf8), headers: [RecordHeader(key: "h", value: ByteBuffer(string: "v\(i)"))], timestamp: timestamp + Int64(i))
    }
    return try! builder.build()
}
