import NIOCore
import Testing
@testable import LogflumeWire

/// Samples with every field a version carries set to a non-default value, and every field it
/// does not carry at its default, so a round trip proves each field is read and written at
/// exactly the versions its schema lists.
enum Samples {
    static func records(_ seed: UInt8, count: Int = 23) -> ByteBuffer {
        ByteBuffer(bytes: (0..<count).map { UInt8(truncatingIfNeeded: Int($0) &* 31 &+ Int(seed)) })
    }

    static func apiVersionsRequest(_ v: Int16) -> ApiVersionsRequest {
        v >= 3 ? ApiVersionsRequest(clientSoftwareName: "librdkafka", clientSoftwareVersion: "2.3.0") : ApiVersionsRequest()
    }

    static func apiVersionsResponse(_ v: Int16) -> ApiVersionsResponse {
        var r = ApiVersionsResponse.advertising()
        r.errorCode = 0
        if v >= 1 { r.throttleTimeMs = 17 }
        if v >= 3 {
            r.supportedFeatures = [.init(name: "metadata.version", minVersion: 1, maxVersion: 20)]
            r.finalizedFeaturesEpoch = 42
            r.finalizedFeatures = [.init(name: "metadata.version", maxVersionLevel: 20, minVersionLevel: 20)]
            r.zkMigrationReady = true
        }
        return r
    }

    static func metadataRequest(_ v: Int16) -> MetadataRequest {
        var r = MetadataRequest(topicNames: ["events", "logs-ü"])
        if v >= 4 { r.allowAutoTopicCreation = false }
        if v >= 8 {
            r.includeClusterAuthorizedOperations = true
            r.includeTopicAuthorizedOperations = true
        }
        return r
    }

    static func metadataResponse(_ v: Int16) -> MetadataResponse {
        var brokers = [
            MetadataResponse.Broker(nodeId: 1, host: "broker-1.example", port: 9092),
            MetadataResponse.Broker(nodeId: 2, host: "broker-2.example", port: 9093),
        ]
        if v >= 1 { brokers[0].rack = "rack-a" }
        var partition = MetadataResponse.Partition(errorCode: 0, partitionIndex: 3, leaderId: 2, replicaNodes: [2, 1], isrNodes: [2])
        if v >= 5 { partition.offlineReplicas = [1] }
        if v >= 7 { partition.leaderEpoch = 9 }
        var topic = MetadataResponse.Topic(errorCode: 0, name: "events", partitions: [partition, .init(errorCode: 5, partitionIndex: 4, leaderId: -1)])
        if v >= 1 { topic.isInternal = true }
        if v >= 8 { topic.topicAuthorizedOperations = 0x0F00 }
        var r = MetadataResponse(brokers: brokers, topics: [topic, .init(errorCode: 3, name: "missing")])
        if v >= 1 { r.controllerId = 1 }
        if v >= 2 { r.clusterId = "logflume-cluster" }
        if v >= 3 { r.throttleTimeMs = 5 }
        if v >= 8 { r.clusterAuthorizedOperations = 0x00F0 }
        return r
    }

    static func produceRequest(_ v: Int16) -> ProduceRequest {
        ProduceRequest(
            transactionalId: v >= 3 ? "txn-1" : nil, acks: -1, timeoutMs: 1500,
            topicData: [
                .init(name: "events", partitionData: [
                    .init(index: 0, records: records(1)),
                    .init(index: 1, records: nil),
                    .init(index: 2, records: ByteBuffer()),
                ]),
                .init(name: "logs", partitionData: []),
            ]
        )
    }

    static func produceResponse(_ v: Int16) -> ProduceResponse {
        var p = ProduceResponse.PartitionResponse(index: 0, errorCode: 0, baseOffset: 1234, logAppendTimeMs: v >= 2 ? 1_700_000_000_000 : -1)
        if v >= 5 { p.logStartOffset = 100 }
        if v >= 8 {
            p.recordErrors = [.init(batchIndex: 3, batchIndexErrorMessage: "bad"), .init(batchIndex: 4)]
            p.errorMessage = "batch dropped"
        }
        return ProduceResponse(
            responses: [.init(name: "events", partitionResponses: [p, .init(index: 1, errorCode: 6)])],
            throttleTimeMs: v >= 1 ? 12 : 0
        )
    }

    static func fetchRequest(_ v: Int16) -> FetchRequest {
        var p = FetchRequest.FetchPartition(partition: 2, fetchOffset: 77, partitionMaxBytes: 1_048_576)
        if v >= 5 { p.logStartOffset = 10 }
        if v >= 9 { p.currentLeaderEpoch = 4 }
        var r = FetchRequest(
            replicaId: -1, maxWaitMs: 500, minBytes: 1, maxBytes: 52_428_800, isolationLevel: 1,
            topics: [.init(topic: "events", partitions: [p]), .init(topic: "empty", partitions: [])]
        )
        if v >= 7 {
            r.sessionId = 99
            r.sessionEpoch = 3
            r.forgottenTopicsData = [.init(topic: "old", partitions: [1, 2, 3])]
        }
        if v >= 11 { r.rackId = "rack-b" }
        return r
    }

    static func fetchResponse(_ v: Int16) -> FetchResponse {
        var p = FetchResponse.PartitionData(
            partitionIndex: 2, errorCode: 0, highWatermark: 500, lastStableOffset: 480,
            abortedTransactions: [.init(producerId: 7, firstOffset: 450)], records: .bytes(records(2))
        )
        if v >= 5 { p.logStartOffset = 0 }
        if v >= 11 { p.preferredReadReplica = 3 }
        var r = FetchResponse(throttleTimeMs: 3, responses: [
            .init(topic: "events", partitions: [p, .init(partitionIndex: 3, errorCode: 1, records: .bytes(nil))]),
        ])
        if v >= 7 {
            r.errorCode = 0
            r.sessionId = 55
        }
        return r
    }

    static func listOffsetsRequest(_ v: Int16) -> ListOffsetsRequest {
        var p = ListOffsetsRequest.Partition(partitionIndex: 0, timestamp: ListOffsetsRequest.earliestTimestamp)
        if v >= 4 { p.currentLeaderEpoch = 6 }
        if v == 0 { p.maxNumOffsets = 3 }
        var r = ListOffsetsRequest(replicaId: -1, topics: [.init(name: "events", partitions: [p, .init(partitionIndex: 1, timestamp: 1_700_000_000_000)])])
        if v >= 2 { r.isolationLevel = 1 }
        return r
    }

    static func listOffsetsResponse(_ v: Int16) -> ListOffsetsResponse {
        var p = ListOffsetsResponse.Partition(partitionIndex: 0, errorCode: 0, timestamp: 1_700_000_000_000, offset: 42)
        if v >= 4 { p.leaderEpoch = 6 }
        if v == 0 { p = ListOffsetsResponse.Partition(partitionIndex: 0, errorCode: 0, oldStyleOffsets: [42, 7, 0]) }
        var r = ListOffsetsResponse(topics: [.init(name: "events", partitions: [p, .init(partitionIndex: 1, errorCode: 3)])])
        if v >= 2 { r.throttleTimeMs = 8 }
        return r
    }

    static func initProducerIdRequest(_ v: Int16) -> InitProducerIdRequest {
        InitProducerIdRequest(transactionalId: nil, transactionTimeoutMs: 60_000)
    }

    static func initProducerIdResponse(_ v: Int16) -> InitProducerIdResponse {
        InitProducerIdResponse(throttleTimeMs: 1, errorCode: 0, producerId: 4000, producerEpoch: 2)
    }

    static func createTopicsRequest(_ v: Int16) -> CreateTopicsRequest {
        var r = CreateTopicsRequest(topics: [
            .init(name: "events", numPartitions: 6, replicationFactor: 3, configs: [
                .init(name: "cleanup.policy", value: "compact"), .init(name: "retention.ms", value: nil),
            ]),
            .init(name: "manual", assignments: [.init(partitionIndex: 0, brokerIds: [1, 2]), .init(partitionIndex: 1, brokerIds: [2, 3])]),
        ], timeoutMs: 30_000)
        if v >= 1 { r.validateOnly = true }
        return r
    }

    static func createTopicsResponse(_ v: Int16) -> CreateTopicsResponse {
        var failed = CreateTopicsResponse.CreatableTopicResult(name: "events", errorCode: 36)
        if v >= 1 { failed.errorMessage = "Topic 'events' already exists." }
        var r = CreateTopicsResponse(topics: [failed, .init(name: "manual")])
        if v >= 2 { r.throttleTimeMs = 4 }
        return r
    }

    static func deleteTopicsRequest(_ v: Int16) -> DeleteTopicsRequest {
        DeleteTopicsRequest(topicNames: ["a", "b", ""], timeoutMs: 10_000)
    }

    static func deleteTopicsResponse(_ v: Int16) -> DeleteTopicsResponse {
        var r = DeleteTopicsResponse(responses: [.init(name: "a"), .init(name: "b", errorCode: 3)])
        if v >= 1 { r.throttleTimeMs = 2 }
        return r
    }

    static func describeConfigsRequest(_ v: Int16) -> DescribeConfigsRequest {
        var r = DescribeConfigsRequest(resources: [
            .init(resourceType: DescribeConfigsRequest.topicResourceType, resourceName: "events", configurationKeys: ["retention.ms", "segment.bytes"]),
            .init(resourceType: DescribeConfigsRequest.brokerResourceType, resourceName: "1", configurationKeys: nil),
        ])
        if v >= 1 { r.includeSynonyms = true }
        if v >= 3 { r.includeDocumentation = true }
        return r
    }

    static func describeConfigsResponse(_ v: Int16) -> DescribeConfigsResponse {
        var c = DescribeConfigsResponse.DescribeConfigsResourceResult(name: "retention.ms", value: "604800000", readOnly: false, isSensitive: false)
        if v == 0 { c.isDefault = true } else { c.configSource = DescribeConfigsResponse.ConfigSource.defaultConfig.rawValue }
        if v >= 1 { c.synonyms = [.init(name: "log.retention.ms", value: nil, source: 5), .init(name: "log.retention.hours", value: "168", source: 4)] }
        if v >= 3 {
            c.configType = 5
            c.documentation = "How long to keep a log segment."
        }
        var secret = DescribeConfigsResponse.DescribeConfigsResourceResult(name: "ssl.key.password", value: nil, readOnly: true, isSensitive: true)
        if v >= 1 { secret.configSource = DescribeConfigsResponse.ConfigSource.staticBrokerConfig.rawValue }
        return DescribeConfigsResponse(throttleTimeMs: 6, results: [
            .init(errorCode: 0, resourceType: 2, resourceName: "events", configs: [c, secret]),
            .init(errorCode: 3, errorMessage: "no such topic", resourceType: 2, resourceName: "missing"),
        ])
    }

    static func findCoordinatorRequest(_ v: Int16) -> FindCoordinatorRequest {
        var r = FindCoordinatorRequest(key: "aggregators")
        if v >= 1 { r.keyType = FindCoordinatorRequest.transactionKeyType }
        return r
    }

    static func findCoordinatorResponse(_ v: Int16) -> FindCoordinatorResponse {
        var r = FindCoordinatorResponse(errorCode: 0, nodeId: 2, host: "broker-2.example", port: 9092)
        if v >= 1 {
            r.throttleTimeMs = 9
            r.errorMessage = "NONE"
        }
        return r
    }
}

@Suite struct MessageRoundTripTests {
    func each<M: KafkaEncodableMessage>(_ type: M.Type, _ sample: (Int16) -> M) throws {
        for version in M.versions {
            try assertRoundTrip(sample(version), version: version)
        }
    }

    @Test func apiVersions() throws {
        try each(ApiVersionsRequest.self, Samples.apiVersionsRequest)
        try each(ApiVersionsResponse.self, Samples.apiVersionsResponse)
    }

    @Test func metadata() throws {
        try each(MetadataRequest.self, Samples.metadataRequest)
        try each(MetadataResponse.self, Samples.metadataResponse)
        // v1+: null (all topics) and empty (no topics) are different requests.
        for version in Int16(1)...8 {
            try assertRoundTrip(MetadataRequest(topics: nil), version: version)
            try assertRoundTrip(MetadataRequest(topics: []), version: version)
            #expect(Array(encodeBody(MetadataRequest(topics: nil), version: version).bytes.prefix(4)) == int32(-1))
        }
        // v0: an empty array is "all topics" and decodes as nil.
        try assertRoundTrip(MetadataRequest(topics: nil), version: 0)
        #expect(encodeBody(MetadataRequest(topics: nil), version: 0).bytes == int32(0))
    }

    @Test func produce() throws {
        try each(ProduceRequest.self, Samples.produceRequest)
        try each(ProduceResponse.self, Samples.produceResponse)
    }

    @Test func produceRecordsAreZeroCopySlices() throws {
        let request = Samples.produceRequest(8)
        var body = ByteBuffer()
        body.writeString("some prefix")
        body.moveReaderIndex(forwardBy: 11)
        request.encode(into: &body, version: 8)
        let decoded = try ProduceRequest(from: &body, version: 8)
        let records = try #require(decoded.topicData[0].partitionData[0].records)
        #expect(records == Samples.records(1))
        // The slice shares storage with the request bytes.
        let frameStorage = body.withVeryUnsafeBytesWithStorageManagement { $1.toOpaque() }
        let sliceStorage = records.withVeryUnsafeBytesWithStorageManagement { $1.toOpaque() }
        let sharesStorage = frameStorage == sliceStorage
        #expect(sharesStorage)
    }

    @Test func fetchRequest() throws {
        try each(FetchRequest.self, Samples.fetchRequest)
    }

    @Test func fetchResponse() throws {
        for version in FetchResponse.versions {
            let response = Samples.fetchResponse(version)
            let bytes = flatten(response.encode(version: version))
            #expect(bytes.readableBytes == response.encodedLength(version: version))
            let decoded = try FetchResponse.decodeExactly(bytes, version: version)
            #expect(decoded == response)
            assertEveryTruncationThrows(bytes) { (b: inout ByteBuffer) throws(KafkaDecodingError) in
                _ = try FetchResponse(from: &b, version: version)
            }
        }
    }

    @Test func listOffsets() throws {
        try each(ListOffsetsRequest.self, Samples.listOffsetsRequest)
        try each(ListOffsetsResponse.self, Samples.listOffsetsResponse)
    }

    @Test func initProducerId() throws {
        try each(InitProducerIdRequest.self, Samples.initProducerIdRequest)
        try each(InitProducerIdResponse.self, Samples.initProducerIdResponse)
        try assertRoundTrip(InitProducerIdRequest(transactionalId: "txn", transactionTimeoutMs: 1), version: 1)
    }

    @Test func createTopics() throws {
        try each(CreateTopicsRequest.self, Samples.createTopicsRequest)
        try each(CreateTopicsResponse.self, Samples.createTopicsResponse)
    }

    @Test func deleteTopics() throws {
        try each(DeleteTopicsRequest.self, Samples.deleteTopicsRequest)
        try each(DeleteTopicsResponse.self, Samples.deleteTopicsResponse)
    }

    @Test func describeConfigs() throws {
        try each(DescribeConfigsRequest.self, Samples.describeConfigsRequest)
        try each(DescribeConfigsResponse.self, Samples.describeConfigsResponse)
    }

    @Test func findCoordinator() throws {
        try each(FindCoordinatorRequest.self, Samples.findCoordinatorRequest)
        try each(FindCoordinatorResponse.self, Samples.findCoordinatorResponse)
    }

    @Test func fieldsAbsentFromAVersionAreNotWritten() {
        // A value with later-version fields set encodes at an older version as if they were
        // defaults: the bytes equal those of the version-appropriate sample.
        let full = Samples.metadataResponse(8)
        for version in MetadataResponse.versions {
            var fullBytes = ByteBuffer()
            full.encode(into: &fullBytes, version: version)
            let decoded = try? MetadataResponse.decodeExactly(fullBytes, version: version)
            #expect(decoded == Samples.metadataResponse(version), "v\(version)")
        }
        let fullFetch = Samples.fetchRequest(11)
        for version in FetchRequest.versions {
            let decoded = try? FetchRequest.decodeExactly(encodeBody(fullFetch, version: version), version: version)
            #expect(decoded == Samples.fetchRequest(version), "v\(version)")
        }
    }

    @Test func versionsOutsideTheCodecAreRefused() {
        var empty = ByteBuffer()
        #expect(throws: KafkaDecodingError.unsupportedVersion(apiKey: .produce, version: 9)) {
            _ = try ProduceRequest(from: &empty, version: 9)
        }
        #expect(throws: KafkaDecodingError.unsupportedVersion(apiKey: .fetch, version: 12)) {
            _ = try FetchResponse(from: &empty, version: 12)
        }
        #expect(throws: KafkaDecodingError.unsupportedVersion(apiKey: .listOffsets, version: 6)) {
            _ = try ListOffsetsRequest(from: &empty, version: 6)
        }
    }

    @Test func everyMessageTypeCoversExactlyTheAdvertisedRange() {
        let ranges: [(ApiKey, ClosedRange<Int16>, ClosedRange<Int16>)] = [
            (.apiVersions, ApiVersionsRequest.versions, ApiVersionsResponse.versions),
            (.metadata, MetadataRequest.versions, MetadataResponse.versions),
            (.produce, ProduceRequest.versions, ProduceResponse.versions),
            (.fetch, FetchRequest.versions, FetchResponse.versions),
            (.listOffsets, ListOffsetsRequest.versions, ListOffsetsResponse.versions),
            (.initProducerId, InitProducerIdRequest.versions, InitProducerIdResponse.versions),
            (.createTopics, CreateTopicsRequest.versions, CreateTopicsResponse.versions),
            (.deleteTopics, DeleteTopicsRequest.versions, DeleteTopicsResponse.versions),
            (.describeConfigs, DescribeConfigsRequest.versions, DescribeConfigsResponse.versions),
            (.findCoordinator, FindCoordinatorRequest.versions, FindCoordinatorResponse.versions),
        ]
        for (key, request, response) in ranges {
            #expect(SupportedVersions.range(of: key) == request, "\(key)")
            #expect(request == response, "\(key)")
        }
    }
}
