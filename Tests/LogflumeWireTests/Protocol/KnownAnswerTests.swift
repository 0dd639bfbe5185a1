import NIOCore
import Testing
@testable import LogflumeWire

/// Bytes derived by hand from the protocol guide and the message JSON schemas.
@Suite struct KnownAnswerTests {
    /// librdkafka's first request on a connection: ApiVersions v3 with request header v2.
    static let librdkafkaApiVersionsFrame: [UInt8] =
        int32(36)
        + int16(18) + int16(3) + int32(1)       // api key, version, correlation id
        + str("rdkafka")                        // client id: int16-prefixed even in header v2
        + [0x00]                                // header tagged fields: none
        + compactStr("librdkafka")              // client_software_name
        + compactStr("2.3.0")                   // client_software_version
        + [0x00]                                // body tagged fields: none

    @Test func apiVersionsV3RequestAsLibrdkafkaSendsIt() throws {
        var stream = ByteBuffer(bytes: Self.librdkafkaApiVersionsFrame)
        var decoder = KafkaFrameDecoder()
        let frame = try #require(try decoder.decode(buffer: &stream))
        #expect(stream.readableBytes == 0)

        let (header, result) = KafkaRequest.decode(frame: frame)
        #expect(header == RequestHeader(apiKey: .apiVersions, apiVersion: 3, correlationId: 1, clientId: "rdkafka"))
        #expect(header?.headerVersion == 2)
        let request = try result.get()
        #expect(request == .apiVersions(ApiVersionsRequest(clientSoftwareName: "librdkafka", clientSoftwareVersion: "2.3.0")))

        let encoded = request.encodeFrame(version: 3, correlationId: 1, clientId: "rdkafka")
        #expect(encoded.bytes == Self.librdkafkaApiVersionsFrame)
        let viaGeneric = KafkaRequestFrame.encode(ApiVersionsRequest(clientSoftwareName: "librdkafka", clientSoftwareVersion: "2.3.0"), version: 3, correlationId: 1, clientId: "rdkafka")
        #expect(viaGeneric.bytes == Self.librdkafkaApiVersionsFrame)
    }

    @Test func metadataV0Request() throws {
        let expected =
            int32(2 + 2 + 4 + 14 + 4 + 8)
            + int16(3) + int16(0) + int32(7) + str("kafka-python")
            + int32(1) + str("events")
        let request = KafkaRequest.metadata(MetadataRequest(topicNames: ["events"]))
        #expect(request.encodeFrame(version: 0, correlationId: 7, clientId: "kafka-python").bytes == expected)

        var stream = ByteBuffer(bytes: expected)
        var decoder = KafkaFrameDecoder()
        let frame = try #require(try decoder.decode(buffer: &stream))
        let (header, result) = KafkaRequest.decode(frame: frame)
        #expect(header?.clientId == "kafka-python")
        #expect(header?.headerVersion == 1)
        #expect(try result.get() == request)
    }

    @Test func nullClientId() throws {
        var buffer = ByteBuffer(bytes: int16(3) + int16(1) + int32(9) + int16(-1))
        let header = try RequestHeader.decode(from: &buffer)
        #expect(header.clientId == nil)
        var out = ByteBuffer()
        header.encode(into: &out)
        #expect(out.bytes == int16(3) + int16(1) + int32(9) + int16(-1))
    }

    @Test func apiVersionsV0Response() throws {
        let response = ApiVersionsResponse(errorCode: 0, apiKeys: [ApiVersionRange(.produce, 3...8), ApiVersionRange(.apiVersions, 0...3)])
        let expected =
            int32(4 + 2 + 4 + 12)
            + int32(1)                               // correlation id (header v0)
            + int16(0)                               // error_code
            + int32(2)                               // api_keys count
            + int16(0) + int16(3) + int16(8)
            + int16(18) + int16(0) + int16(3)
        let frame = KafkaResponse.apiVersions(response).encodeFrame(correlationId: 1, version: 0)
        #expect(flatten(frame).bytes == expected)
        #expect(frame.totalLength == expected.count)
        #expect(KafkaResponseFrame.encode(response, version: 0, correlationId: 1).bytes == expected)

        var body = ByteBuffer(bytes: Array(expected.dropFirst(8)))
        #expect(try ApiVersionsResponse(from: &body, version: 0) == response)
    }

    @Test func apiVersionsV3ResponseUsesHeaderV0AndAFlexibleBody() throws {
        let response = ApiVersionsResponse(errorCode: 0, apiKeys: [ApiVersionRange(.fetch, 4...11)], throttleTimeMs: 0)
        let expected =
            int32(4 + 2 + 1 + 7 + 4 + 1)
            + int32(5)                                        // correlation id, no header tags
            + int16(0)                                        // error_code
            + [0x02]                                          // compact array: 1 entry
            + int16(1) + int16(4) + int16(11) + [0x00]        // entry + its tagged fields
            + int32(0)                                        // throttle_time_ms
            + [0x00]                                          // tagged fields
        #expect(ApiKey.apiVersions.responseHeaderVersion(3) == 0)
        let frame = KafkaResponse.apiVersions(response).encodeFrame(correlationId: 5, version: 3)
        #expect(flatten(frame).bytes == expected)

        let (header, decoded) = try KafkaResponse.decode(frame: ByteBuffer(bytes: Array(expected.dropFirst(4))), apiKey: .apiVersions, version: 3)
        #expect(header.correlationId == 5)
        #expect(decoded == .apiVersions(response))
    }

    @Test func apiVersionsV3ResponseFromAKafka3Broker() throws {
        // Feature tags as a KRaft broker sends them, plus an unknown tag that must be skipped.
        let supported = [0x02] + compactStr("metadata.version") + int16(1) + int16(20) + [0x00]
        let epoch = int64(77)
        let unknown: [UInt8] = [0xAA, 0xBB, 0xCC]
        let body: [UInt8] =
            int16(0)
            + [0x03] + int16(0) + int16(3) + int16(11) + [0x00] + int16(18) + int16(0) + int16(4) + [0x00]
            + int32(0)
            + [0x03]                                                       // three tagged fields
            + [0x00, UInt8(supported.count)] + supported
            + [0x01, 0x08] + epoch
            + [0x07, 0x03] + unknown
        var buffer = ByteBuffer(bytes: body)
        let decoded = try ApiVersionsResponse(from: &buffer, version: 3)
        #expect(buffer.readableBytes == 0)
        #expect(decoded.apiKeys == [ApiVersionRange(.produce, 3...11), ApiVersionRange(.apiVersions, 0...4)])
        #expect(decoded.supportedFeatures == [.init(name: "metadata.version", minVersion: 1, maxVersion: 20)])
        #expect(decoded.finalizedFeaturesEpoch == 77)
        #expect(decoded.finalizedFeatures.isEmpty)
        #expect(decoded.range(of: .produce) == 3...11)
    }

    @Test func unsupportedApiVersionsIsAnsweredWithAV0Body() throws {
        // A client asks for ApiVersions v4 (flexible, header v2): the header still decodes, the
        // body is refused as unsupported, and the answer is a v0 body under header v0.
        let frame = ByteBuffer(bytes: int16(18) + int16(4) + int32(11) + str("rdkafka") + [0x00] + compactStr("librdkafka") + compactStr("9.9.9") + [0x00])
        let (header, result) = KafkaRequest.decode(frame: frame)
        #expect(header?.correlationId == 11)
        #expect(header?.headerVersion == 2)
        #expect(throws: KafkaDecodingError.unsupportedVersion(apiKey: .apiVersions, version: 4)) { try result.get() }

        let answer = KafkaResponse.apiVersions(.unsupportedVersion())
            .encodeFrame(correlationId: 11, version: ApiVersionsResponse.unsupportedVersionAnswerVersion)
        let bytes = flatten(answer).bytes
        let table = SupportedVersions.table
        #expect(bytes.count == 4 + 4 + 2 + 4 + 6 * table.count)
        #expect(Array(bytes[4..<14]) == int32(11) + int16(35) + int32(Int32(table.count)))
        // The client side parses it as v0 even though it asked for v3.
        var body = ByteBuffer(bytes: Array(bytes.dropFirst(8)))
        let parsed = try ApiVersionsResponse.decodeWithFallback(from: &body, version: 3)
        #expect(parsed.errorCode == KafkaErrorCode.unsupportedVersion.rawValue)
        #expect(parsed.range(of: .apiVersions) == 0...3)
    }

    @Test func produceV3Request() throws {
        let records = Samples.records(9, count: 5)
        let expected =
            int16(-1)                          // transactional_id: null
            + int16(1) + int32(5000)           // acks, timeout_ms
            + int32(1) + str("t")              // one topic
            + int32(1) + int32(0)              // one partition, index 0
            + int32(5) + records.bytes         // records
        let request = ProduceRequest(transactionalId: nil, acks: 1, timeoutMs: 5000, topicData: [.init(name: "t", partitionData: [.init(index: 0, records: records)])])
        #expect(encodeBody(request, version: 3).bytes == expected)
        #expect(try ProduceRequest.decodeExactly(ByteBuffer(bytes: expected), version: 3) == request)
    }

    @Test func produceV8Response() throws {
        let expected =
            int32(1) + str("t")
            + int32(1) + int32(0) + int16(0) + int64(10) + int64(-1) + int64(0)
            + int32(0) + int16(-1)                 // record_errors: empty; error_message: null
            + int32(0)                             // throttle_time_ms, last
        let response = ProduceResponse(responses: [.init(name: "t", partitionResponses: [.init(index: 0, baseOffset: 10, logStartOffset: 0)])])
        #expect(encodeBody(response, version: 8).bytes == expected)
    }

    @Test func fetchV4ResponseWithExternalRecords() throws {
        let response = FetchResponse(throttleTimeMs: 0, responses: [
            .init(topic: "t", partitions: [
                .init(partitionIndex: 0, errorCode: 0, highWatermark: 100, lastStableOffset: 100, abortedTransactions: nil, records: .external(length: 300, token: 42)),
                .init(partitionIndex: 1, errorCode: 0, highWatermark: 5, lastStableOffset: 5, abortedTransactions: [], records: .bytes(nil)),
            ]),
        ])
        let head =
            int32(0)                                               // throttle_time_ms
            + int32(1) + str("t") + int32(2)
            + int32(0) + int16(0) + int64(100) + int64(100) + int32(-1) + int32(300)
        let tail =
            int32(1) + int16(0) + int64(5) + int64(5) + int32(0) + int32(-1)
        let chunks = response.encode(version: 4)
        #expect(chunks.count == 3)
        guard chunks.count == 3, case .bytes(let first) = chunks[0], case .bytes(let last) = chunks[2] else {
            Issue.record("unexpected chunk shape \(chunks)")
            return
        }
        #expect(first.bytes == head)
        #expect(chunks[1] == .external(token: 42, length: 300))
        #expect(last.bytes == tail)
        #expect(chunks.totalLength == head.count + 300 + tail.count)
        #expect(response.encodedLength(version: 4) == chunks.totalLength)

        // The whole frame: the size prefix counts the external bytes.
        let frame = KafkaResponse.fetch(response).encodeFrame(correlationId: 77, version: 4)
        guard case .bytes(let frameHead) = frame[0] else { Issue.record("frame starts with \(frame[0])"); return }
        #expect(Array(frameHead.bytes.prefix(8)) == int32(Int32(4 + chunks.totalLength)) + int32(77))
        #expect(frame.totalLength == 4 + 4 + chunks.totalLength)

        // What the client sees once the broker spliced the file region in.
        let spliced = Samples.records(3, count: 300)
        var wire = flatten(frame) { token in
            #expect(token == 42)
            return spliced
        }
        var decoder = KafkaFrameDecoder()
        let received = try #require(try decoder.decode(buffer: &wire))
        let (header, decoded) = try KafkaResponse.decode(frame: received, apiKey: .fetch, version: 4)
        #expect(header.correlationId == 77)
        guard case .fetch(let fetch) = decoded else { Issue.record("not a fetch response"); return }
        #expect(fetch.responses[0].partitions[0].records == .bytes(spliced))
        #expect(fetch.responses[0].partitions[1].records == .bytes(nil))
        #expect(fetch.responses[0].partitions[1].abortedTransactions == [])
        #expect(fetch.responses[0].partitions[0].abortedTransactions == nil)
    }

    @Test func largeFetchRecordBuffersAreSplicedNotCopied() throws {
        let big = Samples.records(5, count: ResponseChunks.copyThreshold + 10)
        let small = Samples.records(6, count: 10)
        let response = FetchResponse(responses: [.init(topic: "t", partitions: [
            .init(partitionIndex: 0, records: .bytes(big)), .init(partitionIndex: 1, records: .bytes(small)),
        ])])
        let chunks = response.encode(version: 11)
        #expect(chunks.contains(.bytes(big)))
        #expect(!chunks.contains(.bytes(small)))
        let flat = flatten(chunks)
        #expect(try FetchResponse.decodeExactly(flat, version: 11) == response)
    }

    @Test func responseHeaderVersions() {
        #expect(ApiKey.metadata.responseHeaderVersion(8) == 0)
        #expect(ApiKey.metadata.responseHeaderVersion(9) == 1)
        #expect(ApiKey.apiVersions.responseHeaderVersion(3) == 0)
        #expect(ApiKey.fetch.requestHeaderVersion(11) == 1)
        #expect(ApiKey.fetch.requestHeaderVersion(12) == 2)
        #expect(ApiKey.controlledShutdown.requestHeaderVersion(0) == 0)
        #expect(ApiKey.saslHandshake.requestHeaderVersion(1) == 1)
        var v1 = ByteBuffer()
        ResponseHeader(correlationId: 3).encode(into: &v1, headerVersion: 1)
        #expect(v1.bytes == int32(3) + [0x00])
        #expect(ResponseHeader.size(headerVersion: 1) == 5)
    }

    @Test func advertisedTable() {
        let expected: [(ApiKey, ClosedRange<Int16>)] = [
            (.produce, 0...8), (.fetch, 4...11), (.listOffsets, 0...5), (.metadata, 0...8),
            (.offsetCommit, 2...7), (.offsetFetch, 1...5), (.findCoordinator, 0...2), (.joinGroup, 0...5),
            (.heartbeat, 0...3), (.leaveGroup, 0...3), (.syncGroup, 0...3), (.describeGroups, 0...4),
            (.listGroups, 0...2), (.apiVersions, 0...3), (.createTopics, 0...4), (.deleteTopics, 0...3),
            (.initProducerId, 0...1), (.describeConfigs, 0...3), (.deleteGroups, 0...1),
        ]
        #expect(SupportedVersions.table == expected.map { ApiVersionRange($0.0, $0.1) })
        // Nothing advertised crosses into a flexible version except ApiVersions v3.
        for row in SupportedVersions.table {
            let key = ApiKey(rawValue: row.apiKey)!
            let flexible = (row.minVersion...row.maxVersion).filter { key.isFlexible(version: $0) }
            #expect(flexible == (key == .apiVersions ? [3] : []), "\(key)")
        }
        let firstFlexible: [ApiKey: Int16] = [
            .apiVersions: 3, .produce: 9, .fetch: 12, .listOffsets: 6, .metadata: 9, .offsetCommit: 8,
            .offsetFetch: 6, .findCoordinator: 3, .joinGroup: 6, .heartbeat: 4, .leaveGroup: 4, .syncGroup: 4,
            .describeGroups: 5, .listGroups: 3, .createTopics: 5, .deleteTopics: 4, .initProducerId: 2,
            .describeConfigs: 4, .deleteGroups: 2,
        ]
        for (key, version) in firstFlexible { #expect(key.firstFlexibleVersion == version, "\(key)") }
    }

    @Test func errorCodes() {
        #expect(KafkaErrorCode.unknownTopicOrPartition.name == "UNKNOWN_TOPIC_OR_PARTITION")
        #expect(KafkaErrorCode.none.name == "NONE")
        #expect(KafkaErrorCode(code: 3) == .unknownTopicOrPartition)
        #expect(KafkaErrorCode(code: 9999) == .unknownServerError)
        #expect(KafkaErrorCode.notLeaderOrFollower.isRetriable)
        #expect(KafkaErrorCode.notCoordinator.isRetriable)
        #expect(!KafkaErrorCode.unknownMemberId.isRetriable)
        #expect(!KafkaErrorCode.unsupportedVersion.isRetriable)
        #expect(!KafkaErrorCode.rebalanceInProgress.isRetriable)
        #expect(KafkaErrorCode.kafkaStorageError.isRetriable)
        #expect(KafkaErrorCode.unsupportedForMessageFormat.rawValue == 43)
        #expect(KafkaErrorCode.clusterAuthorizationFailed.rawValue == 31)
        #expect(KafkaErrorCode.unknownTopicId.rawValue == 100)
        // Raw values are unique and contiguous from -1 to 116.
        #expect(Set(KafkaErrorCode.allCases.map(\.rawValue)) == Set(Int16(-1)...116))
    }
}
