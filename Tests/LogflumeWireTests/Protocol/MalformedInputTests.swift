import NIOCore
import Testing
@testable import LogflumeWire

/// Hostile and broken bytes: every refusal is a typed error naming the field; nothing traps or
/// allocates by a declared count.
@Suite struct MalformedInputTests {
    @Test func negativeStringLengthsOtherThanNullAreRefused() throws {
        for length: Int16 in [-2, -100, .min] {
            var b = ByteBuffer(bytes: int16(length) + [0x41, 0x42])
            #expect(throws: KafkaDecodingError.invalidLength(field: "name", position: 0, length: Int64(length))) {
                _ = try b.readKafkaNullableString("name")
            }
            #expect(b.readerIndex == 0, "a refused read leaves the reader where it was")
        }
        var null = ByteBuffer(bytes: int16(-1))
        #expect(throws: KafkaDecodingError.unexpectedNull(field: "name", position: 0)) { _ = try null.readKafkaString("name") }
        var nullable = ByteBuffer(bytes: int16(-1))
        #expect(try nullable.readKafkaNullableString("name") == nil)
    }

    @Test func stringLongerThanTheBytesLeftIsTruncation() {
        var b = ByteBuffer(bytes: int16(10) + Array("abc".utf8))
        #expect(throws: KafkaDecodingError.truncated(field: "topic", position: 2, needed: 10, available: 3)) {
            _ = try b.readKafkaString("topic")
        }
    }

    @Test func negativeBytesLengthsOtherThanNullAreRefused() {
        var b = ByteBuffer(bytes: int32(-7))
        #expect(throws: KafkaDecodingError.invalidLength(field: "records", position: 0, length: -7)) {
            _ = try b.readKafkaNullableBytes("records")
        }
        var huge = ByteBuffer(bytes: int32(.max) + [1, 2, 3])
        #expect(throws: KafkaDecodingError.self) { _ = try huge.readKafkaNullableBytes("records") }
    }

    @Test func absurdArrayCountsAreRefusedBeforeAllocating() {
        // A Produce v3 request claiming two billion topics in a 20-byte body.
        let body = int16(-1) + int16(1) + int32(1000) + int32(2_000_000_000) + [0, 1, 0x41, 0, 0, 0, 0]
        var buffer = ByteBuffer(bytes: body)
        #expect(throws: KafkaDecodingError.invalidLength(field: "topic_data", position: 8, length: 2_000_000_000)) {
            _ = try ProduceRequest(from: &buffer, version: 3)
        }
        // Element sizes count: 3 int32s need 12 bytes, 8 are left.
        var ints = ByteBuffer(bytes: int32(3) + int32(1) + int32(2))
        #expect(throws: KafkaDecodingError.invalidLength(field: "replica_nodes", position: 0, length: 3)) {
            _ = try ints.readKafkaInt32Array("replica_nodes")
        }
        var negative = ByteBuffer(bytes: int32(-2))
        #expect(throws: KafkaDecodingError.invalidLength(field: "topics", position: 0, length: -2)) {
            _ = try negative.readKafkaInt32Array("topics")
        }
        var nullArray = ByteBuffer(bytes: int32(-1))
        #expect(throws: KafkaDecodingError.unexpectedNull(field: "topics", position: 0)) {
            _ = try nullArray.readKafkaInt32Array("topics")
        }
        // Compact: a count of 2^32-2 in a 5-byte varint.
        var compact = ByteBuffer(bytes: [0xFF, 0xFF, 0xFF, 0xFF, 0x0F])
        #expect(throws: KafkaDecodingError.invalidLength(field: "api_keys", position: 0, length: Int64(UInt32.max) - 1)) {
            _ = try compact.readKafkaArrayCount("api_keys", flexible: true)
        }
    }

    @Test func malformedVarintsAreRefused() {
        var tooLong = ByteBuffer(bytes: [0x80, 0x80, 0x80, 0x80, 0x80, 0x01])
        #expect(throws: KafkaDecodingError.malformedVarint(field: "client_software_name", position: 0)) {
            _ = try tooLong.readKafkaString("client_software_name", flexible: true)
        }
        var cut = ByteBuffer(bytes: [0x80])
        #expect(throws: KafkaDecodingError.malformedVarint(field: "tagged fields", position: 0)) {
            try cut.skipKafkaTaggedFields()
        }
        var compactNull = ByteBuffer(bytes: [0x00])
        #expect(throws: KafkaDecodingError.unexpectedNull(field: "client_software_name", position: 0)) {
            _ = try compactNull.readKafkaString("client_software_name", flexible: true)
        }
    }

    @Test func compactStringsAreCappedLikeKafka() {
        var b = ByteBuffer()
        b.writeUnsignedVarint(40_000)
        b.writeRepeatingByte(0x61, count: 40_000)
        #expect(throws: KafkaDecodingError.invalidLength(field: "s", position: 0, length: 39_999)) {
            _ = try b.readKafkaString("s", flexible: true)
        }
    }

    @Test func taggedFieldsAreSkippedOrRefused() throws {
        var ok = ByteBuffer(bytes: [0x02, 0x05, 0x02, 0xAA, 0xBB, 0x7F, 0x00, 0x99])
        var seen: [UInt32] = []
        try ok.readKafkaTaggedFields("tags") { (tag: UInt32, data: inout ByteBuffer) throws(KafkaDecodingError) in
            seen.append(tag)
            if tag == 5 { #expect(data.bytes == [0xAA, 0xBB]) }
        }
        #expect(seen == [5, 127])
        #expect(ok.bytes == [0x99])

        var oversized = ByteBuffer(bytes: [0x01, 0x00, 0x10, 0x01])
        #expect(throws: KafkaDecodingError.truncated(field: "tags", position: 2, needed: 16, available: 1)) {
            try oversized.skipKafkaTaggedFields("tags")
        }
        var absurdCount = ByteBuffer(bytes: [0x7F, 0x00])
        #expect(throws: KafkaDecodingError.invalidLength(field: "tags", position: 0, length: 127)) {
            try absurdCount.skipKafkaTaggedFields("tags")
        }
    }

    @Test func truncatedHeadersAreRefused() throws {
        let frame = ByteBuffer(bytes: Array(KnownAnswerTests.librdkafkaApiVersionsFrame.dropFirst(4)))
        let headerLength = 2 + 2 + 4 + 9 + 1
        for length in 0..<headerLength {
            var prefix = frame.getSlice(at: 0, length: length)!
            #expect(throws: KafkaDecodingError.self) { _ = try RequestHeader.decode(from: &prefix) }
            #expect(prefix.readerIndex == 0)
        }
        for length in 0..<4 {
            var prefix = ByteBuffer(bytes: Array(int32(5).prefix(length)))
            #expect(throws: KafkaDecodingError.self) { _ = try ResponseHeader.decode(from: &prefix, headerVersion: 0) }
        }
        // Truncated bodies still give the header back, so the broker can answer.
        let cut = frame.getSlice(at: 0, length: frame.readableBytes - 3)!
        let (header, result) = KafkaRequest.decode(frame: cut)
        #expect(header?.correlationId == 1)
        #expect(throws: KafkaDecodingError.self) { try result.get() }
    }

    @Test func unknownKeysAndUnadvertisedVersions() throws {
        // An API key nobody knows: the header decodes as v1, the body is refused by key.
        var unknown = ByteBuffer(bytes: int16(999) + int16(0) + int32(4) + str("x") + [1, 2, 3])
        let header = try RequestHeader.decode(from: &unknown)
        #expect(header.apiKey == nil && header.requestApiKey == 999 && header.clientId == "x")
        #expect(throws: KafkaDecodingError.unknownApiKey(999)) { _ = try KafkaRequest.decode(header: header, body: &unknown) }

        // Known but not advertised.
        var sasl = ByteBuffer()
        let saslHeader = RequestHeader(apiKey: .saslHandshake, apiVersion: 1, correlationId: 1, clientId: nil)
        #expect(throws: KafkaDecodingError.unsupportedVersion(apiKey: .saslHandshake, version: 1)) {
            _ = try KafkaRequest.decode(header: saslHeader, body: &sasl)
        }
        for (key, version) in [(ApiKey.produce, Int16(9)), (.produce, -1), (.fetch, 3), (.fetch, 12), (.metadata, 9), (.listOffsets, 6), (.listOffsets, -1)] {
            var body = ByteBuffer()
            #expect(throws: KafkaDecodingError.unsupportedVersion(apiKey: key, version: version)) {
                _ = try KafkaRequest.decode(header: RequestHeader(apiKey: key, apiVersion: version, correlationId: 1, clientId: nil), body: &body)
            }
        }
        // The group APIs are decoded like every other advertised API: a short body is refused.
        let joinHeader = RequestHeader(apiKey: .joinGroup, apiVersion: 5, correlationId: 1, clientId: nil)
        var shortJoin = ByteBuffer(bytes: [1, 2, 3])
        #expect(throws: KafkaDecodingError.self) { _ = try KafkaRequest.decode(header: joinHeader, body: &shortJoin) }
        let joinRequest = JoinGroupRequest(groupId: "g", sessionTimeoutMs: 10_000, protocolType: "consumer")
        var joinBody = encodeBody(joinRequest, version: 5)
        #expect(try KafkaRequest.decode(header: joinHeader, body: &joinBody) == .joinGroup(joinRequest))
    }

    @Test func decodeExactlyRefusesTrailingBytes() {
        var bytes = encodeBody(Samples.findCoordinatorRequest(1), version: 1)
        bytes.writeInteger(UInt8(0))
        #expect(throws: KafkaDecodingError.self) { _ = try FindCoordinatorRequest.decodeExactly(bytes, version: 1) }
    }

    /// Random mutations of valid messages: decoding must either succeed or throw a typed error.
    @Test func mutatedMessagesNeverTrap() {
        var rng = SeededRandom(seed: 2024)
        let seeds: [(ByteBuffer, (inout ByteBuffer) throws(KafkaDecodingError) -> Void)] = [
            (encodeBody(Samples.metadataResponse(8), version: 8), { (b: inout ByteBuffer) throws(KafkaDecodingError) in _ = try MetadataResponse(from: &b, version: 8) }),
            (encodeBody(Samples.produceRequest(8), version: 8), { (b: inout ByteBuffer) throws(KafkaDecodingError) in _ = try ProduceRequest(from: &b, version: 8) }),
            (encodeBody(Samples.fetchRequest(11), version: 11), { (b: inout ByteBuffer) throws(KafkaDecodingError) in _ = try FetchRequest(from: &b, version: 11) }),
            (flatten(Samples.fetchResponse(11).encode(version: 11)), { (b: inout ByteBuffer) throws(KafkaDecodingError) in _ = try FetchResponse(from: &b, version: 11) }),
            (encodeBody(Samples.apiVersionsResponse(3), version: 3), { (b: inout ByteBuffer) throws(KafkaDecodingError) in _ = try ApiVersionsResponse(from: &b, version: 3) }),
            (encodeBody(Samples.describeConfigsResponse(3), version: 3), { (b: inout ByteBuffer) throws(KafkaDecodingError) in _ = try DescribeConfigsResponse(from: &b, version: 3) }),
            (encodeBody(Samples.createTopicsRequest(4), version: 4), { (b: inout ByteBuffer) throws(KafkaDecodingError) in _ = try CreateTopicsRequest(from: &b, version: 4) }),
        ]
        var refused = 0
        for (original, decode) in seeds {
            let bytes = original.bytes
            for _ in 0..<2000 {
                var mutated = bytes
                for _ in 0..<(1 + Int(rng.next() % 4)) {
                    let i = Int(rng.next() % UInt64(mutated.count))
                    switch rng.next() % 3 {
                    case 0: mutated[i] = UInt8(truncatingIfNeeded: rng.next())
                    case 1: mutated[i] = [0x00, 0xFF, 0x7F, 0x80][Int(rng.next() % 4)]
                    default: mutated.removeSubrange(i...)
                    }
                    if mutated.isEmpty { break }
                }
                var buffer = ByteBuffer(bytes: mutated)
                do throws(KafkaDecodingError) { try decode(&buffer) } catch { refused += 1 }
            }
        }
        #expect(refused > 0)
    }
}
