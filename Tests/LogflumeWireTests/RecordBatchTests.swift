import LogflumeCompression
import NIOCore
import Testing
@testable import LogflumeWire

@Suite struct RecordBatchTests {
    func sampleRecords(_ count: Int, rng: inout SeededRandom) -> [(key: [UInt8]?, value: [UInt8]?, headers: [RecordHeader], ts: Int64)] {
        (0..<count).map { i in
            let key: [UInt8]? = rng.next() % 4 == 0 ? nil : Array("key-\(i % 7)".utf8)
            let value: [UInt8]? = rng.next() % 10 == 0 ? nil : (0..<Int(rng.next() % 300)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            let headers = (0..<Int(rng.next() % 3)).map { h in
                RecordHeader(key: "h\(h)", value: h == 1 ? nil : ByteBuffer(string: "v\(i)"))
            }
            return (key, value, headers, 1_700_000_000_000 + Int64(rng.next() % 100_000) - 50_000)
        }
    }

    @Test(arguments: CompressionCodec.allCases)
    func roundTripEveryCodec(codec: CompressionCodec) throws {
        var rng = SeededRandom(seed: UInt64(codec.rawValue) + 1)
        for count in [1, 2, 17, 500] {
            let input = sampleRecords(count, rng: &rng)
            var builder = RecordBatchBuilder(baseOffset: 0, compression: codec, producerId: 42, producerEpoch: 3, baseSequence: 100)
            for r in input { builder.append(key: r.key, value: r.value, headers: r.headers, timestamp: r.ts) }
            let built = try builder.build()
            let batch = try RecordBatch(validating: built.bytes)
            #expect(batch.attributes.compression == codec)
            #expect(batch.recordsCount == Int32(count))
            #expect(batch.lastOffsetDelta == Int32(count - 1))
            #expect(batch.maxTimestamp == input.map(\.ts).max())
            #expect(batch.producerId == 42 && batch.producerEpoch == 3 && batch.baseSequence == 100)
            #expect(batch.lastSequence == Int32(100 + count - 1))
            try batch.validateRecords()
            let records = try batch.records()
            #expect(records.count == count)
            for (i, (record, expected)) in zip(records, input).enumerated() {
                #expect(record.offset == Int64(i))
                #expect(record.timestamp == expected.ts)
                #expect(record.key.map { Array($0.readableBytesView) } == expected.key)
                #expect(record.value.map { Array($0.readableBytesView) } == expected.value)
                #expect(record.headers == expected.headers)
            }
        }
    }

    @Test func stampingOffsetAndEpochKeepsCRCValid() throws {
        var builder = RecordBatchBuilder()
        builder.append(key: nil, value: Array("hello".utf8), timestamp: 1000)
        builder.append(key: nil, value: Array("world".utf8), timestamp: 1001)
        var batch = try builder.build()
        let crc = batch.crc
        batch.setBaseOffset(1234)
        batch.setPartitionLeaderEpoch(9)
        #expect(batch.crc == crc)
        let revalidated = try RecordBatch(validating: batch.bytes)
        #expect(revalidated.baseOffset == 1234 && revalidated.partitionLeaderEpoch == 9)
        #expect(try revalidated.records().map(\.offset) == [1234, 1235])
    }

    @Test func logAppendTimeStampRecomputesCRCAndOverridesRecordTimestamps() throws {
        var builder = RecordBatchBuilder()
        builder.append(key: nil, value: Array("a".utf8), timestamp: 5)
        var batch = try builder.build()
        batch.stampLogAppendTime(99_000)
        let validated = try RecordBatch(validating: batch.bytes)
        #expect(validated.attributes.timestampType == .logAppendTime)
        #expect(try validated.records().map(\.timestamp) == [99_000])
    }

    @Test func corruptionIsDetected() throws {
        var builder = RecordBatchBuilder(compression: .none)
        for i in 0..<10 { builder.append(key: nil, value: Array("value \(i)".utf8), timestamp: Int64(i)) }
        let good = try builder.build().bytes
        // Any flipped byte inside the CRC-covered region is caught.
        for position in stride(from: RecordBatch.crcCoverageStart, to: good.readableBytes, by: 7) {
            var bad = good
            bad.setInteger(bad.getInteger(at: position, as: UInt8.self)! ^ 0x5A, at: position)
            #expect(throws: RecordBatchError.self) { try RecordBatch(validating: bad) }
        }
        var wrongMagic = good
        wrongMagic.setInteger(Int8(1), at: 16)
        #expect(throws: RecordBatchError.invalidMagic(1)) { try RecordBatch(validating: wrongMagic) }
        var bogusLength = good
        bogusLength.setInteger(Int32(10), at: 8)
        #expect(throws: RecordBatchError.invalidBatchLength(10)) { try RecordBatch(validating: bogusLength) }
        let truncated = good.getSlice(at: 0, length: good.readableBytes - 1)!
        #expect(throws: RecordBatchError.self) { try RecordBatch(validating: truncated) }
    }

    @Test func recordsThatLieAboutTheirLengthsThrowInsteadOfCrashing() throws {
        var rng = SeededRandom(seed: 99)
        var builder = RecordBatchBuilder()
        for i in 0..<20 { builder.append(key: Array("k\(i)".utf8), value: Array(repeating: UInt8(i), count: 30), timestamp: 0) }
        let good = try builder.build().bytes
        // Corrupt the records section and then fix up the CRC, so only record-level checks can notice.
        for _ in 0..<2_000 {
            var bad = good
            let position = RecordBatch.headerSize + Int(rng.next() % UInt64(good.readableBytes - RecordBatch.headerSize))
            bad.setInteger(UInt8.random(in: 0...255, using: &rng), at: position)
            bad.setInteger(RecordBatch.computeCRC(of: bad), at: RecordBatch.Field.crc)
            guard let batch = try? RecordBatch(validating: bad) else { continue }
            // The structural check must never accept what full decoding refuses.
            if (try? batch.validateRecords()) != nil {
                let records = try #require(try? batch.records(), "validateRecords accepted an undecodable batch")
                #expect(records.map(\.offset) == Array(0..<Int64(records.count)))
            }
        }
    }

    /// A length varint can claim up to Int64.max; adding it to a position would trap. One record
    /// `[length][attributes][timestamp delta][offset delta][key length][value length][value x9]...`
    /// gets the 10-byte varint of Int64.max in place of its key or value length (and the byte
    /// after it), with a CRC that matches.
    @Test(arguments: [4, 5])
    func lengthsClaimingInt64MaxAreRefused(fieldAt offsetInRecord: Int) throws {
        var builder = RecordBatchBuilder()
        builder.append(key: nil, value: Array("123456789".utf8), timestamp: 0)
        var bad = try builder.build().bytes
        let position = RecordBatch.headerSize + offsetInRecord
        let huge: [UInt8] = [0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]
        for (i, byte) in huge.enumerated() { bad.setInteger(byte, at: position + i) }
        bad.setInteger(RecordBatch.computeCRC(of: bad), at: RecordBatch.Field.crc)
        let batch = try RecordBatch(validating: bad)
        #expect(throws: RecordBatchError.self) { try batch.validateRecords() }
        #expect(throws: RecordBatchError.self) { try batch.records() }
    }

    /// The base offset is not covered by the CRC: one with no room for the batch's offsets is
    /// refused by validation, and reading it unchecked gives a (wrong) number instead of a trap.
    @Test func baseOffsetsWithNoRoomForTheirRecordsAreRefused() throws {
        var builder = RecordBatchBuilder()
        for i in 0..<3 { builder.append(key: nil, value: Array("v\(i)".utf8), timestamp: 0) }
        for base in [Int64.max, Int64.max - 2, -1] {
            var bad = try builder.build().bytes
            bad.setInteger(base, at: bad.readerIndex + RecordBatch.Field.baseOffset)
            #expect(throws: RecordBatchError.self) { try RecordBatch(validating: bad) }
            let unchecked = bad.withUnsafeReadableBytes { RecordBatchSummary(uncheckedHeader: $0) }
            #expect(unchecked.nextOffset == base &+ 3)
        }
        var edge = try builder.build().bytes
        edge.setInteger(Int64.max - 3, at: edge.readerIndex + RecordBatch.Field.baseOffset)
        #expect(try RecordBatch(validating: edge).nextOffset == Int64.max)
    }

    /// Offsets inside a batch may have gaps (compaction) but never go back: a consumer hands out
    /// runs of records and moves its position to a run's last offset. Two records
    /// `[length 7][attributes][timestamp delta][offset delta][key -1][value length 1]["a"][0 headers]`:
    /// the second one's offset delta is rewritten (zig-zag: 0 is 0, 4 is 2), CRC fixed up.
    @Test func offsetDeltasThatDoNotRiseAreRefusedAndGapsAreKept() throws {
        var builder = RecordBatchBuilder()
        for _ in 0..<2 { builder.append(key: nil, value: Array("a".utf8), timestamp: 0) }
        let good = try builder.build().bytes
        func secondDelta(_ zigzag: UInt8) throws -> RecordBatch {
            var copy = good
            copy.setInteger(zigzag, at: RecordBatch.headerSize + 8 + 3)
            copy.setInteger(RecordBatch.computeCRC(of: copy), at: RecordBatch.Field.crc)
            return try RecordBatch(validating: copy)
        }
        #expect(try secondDelta(2).records().map(\.offset) == [0, 1])
        #expect(throws: RecordBatchError.self) { try secondDelta(0).records() }
        #expect(try secondDelta(4).records().map(\.offset) == [0, 2])
        // What a producer sends must have no gaps.
        #expect(throws: RecordBatchError.self) { try secondDelta(4).validateRecords() }
    }

    /// Records with the same header bytes share one decoded array; any difference (a value, a
    /// key, null against empty, one header more) gets its own.
    @Test func repeatedHeadersDecodeAsTheyWereWritten() throws {
        let host = RecordHeader(key: "host", value: ByteBuffer(string: "web-1"))
        let variants: [[RecordHeader]] = [
            [host, RecordHeader(key: "path", value: ByteBuffer(string: "/var/log/a.log"))],
            [host, RecordHeader(key: "path", value: ByteBuffer(string: "/var/log/a.log"))],
            [host, RecordHeader(key: "path", value: ByteBuffer(string: "/var/log/b.log"))],
            [host, RecordHeader(key: "path", value: ByteBuffer(string: "/var/log/b.log"))],
            [host, RecordHeader(key: "file", value: ByteBuffer(string: "/var/log/b.log"))],
            [host, RecordHeader(key: "file", value: nil)],
            [host, RecordHeader(key: "file", value: ByteBuffer())],
            [host],
            [],
            [host],
            [host, host],
        ]
        for codec in [CompressionCodec.none, .zstd] {
            var builder = RecordBatchBuilder(compression: codec)
            for (i, headers) in variants.enumerated() {
                builder.append(key: nil, value: Array("line \(i)".utf8), headers: headers, timestamp: 0)
            }
            let records = try builder.build().records()
            #expect(records.map(\.headers) == variants)
        }
    }

    /// Varints of 32-bit fields take at most 5 bytes, as Kafka reads them. The value length of
    /// one record (1 byte, then 9 value bytes) is rewritten over-long in the same 10 bytes: 5
    /// bytes for 5 (accepted, a 5-byte value) or 6 bytes for 4 (refused).
    @Test func varintsLongerThanFiveBytesAreRefused() throws {
        var builder = RecordBatchBuilder()
        builder.append(key: nil, value: Array("123456789".utf8), timestamp: 0)
        let good = try builder.build().bytes
        func rewritten(_ bytes: [UInt8]) -> ByteBuffer {
            var copy = good
            for (i, byte) in bytes.enumerated() { copy.setInteger(byte, at: RecordBatch.headerSize + 5 + i) }
            copy.setInteger(RecordBatch.computeCRC(of: copy), at: RecordBatch.Field.crc)
            return copy
        }
        let fiveBytes = try RecordBatch(validating: rewritten([0x8A, 0x80, 0x80, 0x80, 0x00] + Array("abcde".utf8)))
        try fiveBytes.validateRecords()
        #expect(try fiveBytes.records().first?.value == ByteBuffer(string: "abcde"))
        let sixBytes = try RecordBatch(validating: rewritten([0x88, 0x80, 0x80, 0x80, 0x80, 0x00] + Array("abcd".utf8)))
        #expect(throws: RecordBatchError.self) { try sixBytes.validateRecords() }
        #expect(throws: RecordBatchError.self) { try sixBytes.records() }
    }

    @Test func splitAndFramingOfConcatenatedBatches() throws {
        var stream = ByteBuffer()
        var sizes: [Int] = []
        for n in 1...5 {
            var builder = RecordBatchBuilder(baseOffset: Int64(n * 10))
            for i in 0..<n { builder.append(key: nil, value: Array("v\(i)".utf8), timestamp: 0) }
            let batch = try builder.build()
            sizes.append(batch.sizeInBytes)
            stream.writeImmutableBuffer(batch.bytes)
        }
        let batches = try RecordBatch.split(stream)
        #expect(batches.map(\.sizeInBytes) == sizes)
        #expect(batches.map(\.baseOffset) == [10, 20, 30, 40, 50])
        let partial = stream.getSlice(at: 0, length: stream.readableBytes - 3)!
        #expect(throws: RecordBatchError.self) { try RecordBatch.split(partial) }
        #expect(RecordBatch.framing(of: partial, at: sizes.dropLast().reduce(0, +)) == .partial(needed: sizes.last!))
    }

    @Test func controlBatchParses() throws {
        let batch = try RecordBatchBuilder.controlBatch(type: .commit, producerId: 7, producerEpoch: 1, coordinatorEpoch: 3, timestamp: 10)
        let parsed = try RecordBatch(validating: batch.bytes)
        #expect(parsed.attributes.isControl && parsed.attributes.isTransactional)
        #expect(try parsed.controlRecordType() == .commit)
        #expect(parsed.producerId == 7 && parsed.producerEpoch == 1)
    }

    @Test func compactedBatchKeepsOffsetsAndLastOffset() throws {
        var builder = RecordBatchBuilder()
        for i in 0..<5 { builder.append(key: Array("k\(i)".utf8), value: Array("v".utf8), timestamp: Int64(i)) }
        let original = try builder.build()
        let records = try original.records()
        var rebuilt = RecordBatchBuilder(baseOffset: 0)
        rebuilt.retainedLastOffsetDelta = original.lastOffsetDelta
        rebuilt.appendRetaining(records[1])
        rebuilt.appendRetaining(records[3])
        let compacted = try RecordBatch(validating: rebuilt.build().bytes)
        #expect(compacted.lastOffset == 4)
        #expect(try compacted.records().map(\.offset) == [1, 3])
    }
}
