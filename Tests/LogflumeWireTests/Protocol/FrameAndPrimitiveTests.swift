import NIOCore
import Testing
@testable import LogflumeWire

@Suite struct KafkaFrameDecoderTests {
    func frames(_ bodies: [[UInt8]]) -> [UInt8] {
        bodies.flatMap { int32(Int32($0.count)) + $0 }
    }

    @Test func splitsAStreamFedInArbitraryPieces() throws {
        var rng = SeededRandom(seed: 99)
        let bodies: [[UInt8]] = (0..<50).map { i in (0..<Int(rng.next() % 300)).map { UInt8(truncatingIfNeeded: $0 &+ i) } } + [[]]
        let stream = frames(bodies)
        for _ in 0..<20 {
            var decoder = KafkaFrameDecoder()
            var pending = ByteBuffer()
            var out: [[UInt8]] = []
            var offset = 0
            while offset < stream.count {
                let step = min(stream.count - offset, 1 + Int(rng.next() % 64))
                pending.writeBytes(stream[offset..<(offset + step)])
                offset += step
                while let frame = try decoder.decode(buffer: &pending) { out.append(frame.bytes) }
                pending.discardReadBytes()
            }
            #expect(out == bodies)
            #expect(pending.readableBytes == 0)
        }
    }

    @Test func enforcesTheMaximumBeforeTheBodyArrives() {
        var decoder = KafkaFrameDecoder(maxFrameSize: 1024)
        var justThePrefix = ByteBuffer(bytes: int32(1025))
        #expect(throws: KafkaFrameError.frameTooLarge(declaredSize: 1025, maxFrameSize: 1024)) {
            _ = try decoder.decode(buffer: &justThePrefix)
        }
        var atTheLimit = ByteBuffer(bytes: int32(1024) + [UInt8](repeating: 7, count: 1024))
        #expect((try? decoder.decode(buffer: &atTheLimit))??.readableBytes == 1024)

        var defaultDecoder = KafkaFrameDecoder()
        #expect(defaultDecoder.maxFrameSize == 100 * 1024 * 1024)
        var hundredMiBPlusOne = ByteBuffer(bytes: int32(100 * 1024 * 1024 + 1))
        #expect(throws: KafkaFrameError.frameTooLarge(declaredSize: 100 * 1024 * 1024 + 1, maxFrameSize: 100 * 1024 * 1024)) {
            _ = try defaultDecoder.decode(buffer: &hundredMiBPlusOne)
        }
    }

    @Test func refusesNegativeSizes() {
        var decoder = KafkaFrameDecoder()
        for size: Int32 in [-1, .min] {
            var buffer = ByteBuffer(bytes: int32(size))
            #expect(throws: KafkaFrameError.negativeSize(size)) { _ = try decoder.decode(buffer: &buffer) }
        }
    }

    @Test func waitsForWholeFramesAndKeepsPartialOnesAtEOF() throws {
        var decoder = KafkaFrameDecoder()
        var buffer = ByteBuffer(bytes: [0, 0])
        #expect(try decoder.decode(buffer: &buffer) == nil)
        buffer.writeBytes([0, 3, 1, 2])
        #expect(try decoder.decode(buffer: &buffer) == nil)
        #expect(buffer.readerIndex == 0, "nothing consumed until the frame is whole")
        #expect(try decoder.decodeLast(buffer: &buffer, seenEOF: true) == nil)
        buffer.writeBytes([3])
        #expect(try decoder.decodeLast(buffer: &buffer, seenEOF: true)?.bytes == [1, 2, 3])
    }

    @Test func worksWithNIOsSingleStepProcessor() throws {
        let processor = NIOSingleStepByteToMessageProcessor(KafkaFrameDecoder(maxFrameSize: 64))
        var got: [[UInt8]] = []
        try processor.process(buffer: ByteBuffer(bytes: frames([[1], [2, 2]]) + [0, 0])) { got.append($0.bytes) }
        try processor.process(buffer: ByteBuffer(bytes: [0, 1, 9])) { got.append($0.bytes) }
        #expect(got == [[1], [2, 2], [9]])
        #expect(throws: KafkaFrameError.frameTooLarge(declaredSize: 65, maxFrameSize: 64)) {
            try processor.process(buffer: ByteBuffer(bytes: int32(65))) { _ in }
        }
    }
}

@Suite struct KafkaPrimitiveTests {
    @Test func fixedWidthAndBool() throws {
        var b = ByteBuffer()
        b.writeInteger(Int8(-5)); b.writeInteger(Int16(-300)); b.writeInteger(Int32.min); b.writeInteger(Int64.max)
        b.writeInteger(UInt32.max); b.writeKafkaBool(true); b.writeKafkaBool(false); b.writeInteger(UInt8(7))
        #expect(try b.readKafkaInt8("a") == -5)
        #expect(try b.readKafkaInt16("b") == -300)
        #expect(try b.readKafkaInt32("c") == .min)
        #expect(try b.readKafkaInt64("d") == .max)
        #expect(try b.readKafkaUInt32("e") == .max)
        #expect(try b.readKafkaBool("f") == true)
        #expect(try b.readKafkaBool("g") == false)
        #expect(try b.readKafkaBool("h") == true, "any non-zero byte is true, as in Kafka")
        #expect(throws: KafkaDecodingError.truncated(field: "i", position: 22, needed: 8, available: 0)) { _ = try b.readKafkaInt64("i") }
    }

    @Test func uuid() throws {
        let id = KafkaUUID(mostSignificantBits: 0x0123_4567_89AB_CDEF, leastSignificantBits: 0xFEDC_BA98_7654_3210)
        var b = ByteBuffer()
        b.writeKafkaUUID(id)
        #expect(b.bytes == hexBytes("0123456789abcdef fedcba9876543210"))
        #expect(try b.readKafkaUUID("topic_id") == id)
        #expect(id.description == "01234567-89ab-cdef-fedc-ba9876543210")
        var short = ByteBuffer(bytes: [UInt8](repeating: 1, count: 15))
        #expect(throws: KafkaDecodingError.truncated(field: "topic_id", position: 0, needed: 16, available: 15)) { _ = try short.readKafkaUUID("topic_id") }
    }

    @Test func varints() throws {
        var b = ByteBuffer()
        b.writeKafkaUnsignedVarint(300)
        b.writeKafkaUnsignedVarint(.max)
        b.writeVarint(-1)
        b.writeVarlong(.min)
        #expect(try b.readKafkaUnsignedVarint("a") == 300)
        #expect(try b.readKafkaUnsignedVarint("b") == .max)
        #expect(try b.readKafkaVarint("c") == -1)
        #expect(try b.readKafkaVarlong("d") == .min)
    }

    @Test func stringsAndBytesInBothForms() throws {
        for flexible in [false, true] {
            var b = ByteBuffer()
            b.writeKafkaString("héllo", flexible: flexible)
            b.writeKafkaNullableString(nil, flexible: flexible)
            b.writeKafkaString("", flexible: flexible)
            b.writeKafkaNullableBytes(ByteBuffer(bytes: [1, 2, 3]), flexible: flexible)
            b.writeKafkaNullableBytes(nil, flexible: flexible)
            b.writeKafkaStringArray(["a", "bc"], flexible: flexible)
            b.writeKafkaNullableStringArray(nil, flexible: flexible)
            b.writeKafkaInt32Array([], flexible: flexible)
            let expectedSize = ByteBuffer.kafkaStringSize("héllo", flexible: flexible) + ByteBuffer.kafkaStringSize(nil, flexible: flexible)
            #expect(expectedSize == (flexible ? 1 + 6 + 1 : 2 + 6 + 2))
            #expect(try b.readKafkaString("s", flexible: flexible) == "héllo")
            #expect(try b.readKafkaNullableString("s", flexible: flexible) == nil)
            #expect(try b.readKafkaString("s", flexible: flexible) == "")
            #expect(try b.readKafkaNullableBytes("b", flexible: flexible) == ByteBuffer(bytes: [1, 2, 3]))
            #expect(try b.readKafkaNullableBytes("b", flexible: flexible) == nil)
            #expect(try b.readKafkaStringArray("a", flexible: flexible) == ["a", "bc"])
            #expect(try b.readKafkaNullableStringArray("a", flexible: flexible) == nil)
            #expect(try b.readKafkaInt32Array("a", flexible: flexible) == [])
            #expect(b.readableBytes == 0)
        }
    }

    @Test func compactEncodingsAreLengthPlusOne() {
        var b = ByteBuffer()
        b.writeKafkaString("ab", flexible: true)
        b.writeKafkaNullableString(nil, flexible: true)
        b.writeKafkaArrayCount(0, flexible: true)
        b.writeKafkaArrayCount(nil, flexible: true)
        b.writeKafkaArrayCount(200, flexible: true)
        b.writeKafkaEmptyTaggedFields()
        #expect(b.bytes == [0x03, 0x61, 0x62, 0x00, 0x01, 0x00, 0xC9, 0x01, 0x00])
    }

    @Test func taggedFieldsWriteInAscendingOrder() throws {
        var b = ByteBuffer()
        b.writeKafkaTaggedFields([(tag: 1, payload: ByteBuffer(bytes: [9])), (tag: 200, payload: ByteBuffer())])
        #expect(b.bytes == [0x02, 0x01, 0x01, 0x09, 0xC8, 0x01, 0x00])
        var tags: [UInt32] = []
        try b.readKafkaTaggedFields("t") { (tag: UInt32, _: inout ByteBuffer) throws(KafkaDecodingError) in tags.append(tag) }
        #expect(tags == [1, 200])
    }

    @Test func responseChunksSpliceAndCount() {
        var chunks = ResponseChunks()
        chunks.buffer.writeInteger(Int32(0))
        chunks.buffer.writeBytes([1, 2])
        chunks.appendExternal(token: 5, length: 10)
        chunks.appendExternal(token: 6, length: 0)
        chunks.buffer.writeBytes([3])
        chunks.setFrameLength(at: 0)
        #expect(chunks.totalLength == 4 + 2 + 10 + 1)
        let list = chunks.chunks
        #expect(list == [
            .bytes(ByteBuffer(bytes: int32(13) + [1, 2])),
            .external(token: 5, length: 10),
            .external(token: 6, length: 0),
            .bytes(ByteBuffer(bytes: [3])),
        ])
        #expect(list.totalLength == 17)
    }
}
