import Foundation
import LogflumeStorage
import LogflumeWire
import NIOCore
import Testing

@Suite struct PartitionLogAppendReadTests {
    @Test func appendAssignsOffsetsAndReadsBack() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let log = try PartitionLog.open(directory: dir.path)
        let first = try log.append(makeBatch("a", count: 3))
        let second = try log.append(makeBatch("b", count: 2))
        #expect(first.firstOffset == 0 && first.lastOffset == 2)
        #expect(second.firstOffset == 3 && second.lastOffset == 4)
        #expect(log.logEndOffset == 5)
        #expect(try log.values() == ["a-0", "a-1", "a-2", "b-0", "b-1"])
        #expect(try log.values(from: 4) == ["b-1"])
        try log.close()
    }

    @Test func outOfRangeOffsetsGiveTypedErrors() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let log = try PartitionLog.open(directory: dir.path)
        try log.append(makeBatch("a", count: 2))
        #expect(throws: LogError.offsetOutOfRange(requested: 3, logStartOffset: 0, logEndOffset: 2)) {
            try log.read(from: 3, maxBytes: 100)
        }
        #expect(throws: LogError.offsetOutOfRange(requested: -1, logStartOffset: 0, logEndOffset: 2)) {
            try log.read(from: -1, maxBytes: 100)
        }
        #expect(try log.read(from: 2, maxBytes: 100).ranges.isEmpty, "reading at the end returns nothing, not an error")
        try log.close()
    }

    @Test func readReturnsSendableFileRangesAndHonoursLimits() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let log = try PartitionLog.open(directory: dir.path)
        var sizes: [Int] = []
        for i in 0..<10 { sizes.append(try log.append(makeBatch("b\(i)", count: 4, valueBytes: 200)).sizeInBytes) }
        let all = try log.read(from: 0, maxBytes: 1 << 20)
        #expect(all.byteCount == sizes.reduce(0, +))
        #expect(all.ranges.allSatisfy { $0.file.descriptor >= 0 })
        // A limit below one batch still returns the whole first batch so consumers progress.
        let tiny = try log.read(from: 0, maxBytes: 10)
        #expect(tiny.byteCount == sizes[0])
        // A read from an offset inside batch 3 starts at batch 3's first byte.
        let middle = try log.read(from: 13, maxBytes: sizes[3] + 5)
        #expect(middle.ranges.first?.position == Int64(sizes[0..<3].reduce(0, +)))
        #expect(middle.byteCount == sizes[3] + 5, "the byte limit may cut the last batch, as Kafka's fetch does")
        // The upper bound (a high watermark) excludes batches at or above it.
        let bounded = try log.read(from: 0, maxBytes: 1 << 20, upperBound: 8)
        #expect(bounded.byteCount == sizes[0] + sizes[1])
        #expect(try log.readBatches(from: 13, maxBytes: sizes[3] + 5).map(\.baseOffset) == [12])
        try log.close()
    }

    @Test func rollsOnSegmentBytesAndFindsOffsetsAcrossManySegments() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        var config = LogConfig()
        config.segmentBytes = 4096
        config.indexIntervalBytes = 512
        let log = try PartitionLog.open(directory: dir.path, config: config)
        for i in 0..<300 { try log.append(makeBatch("v\(i)", count: 2, timestamp: Int64(10_000 + i * 10), valueBytes: 100)) }
        #expect(log.segmentCount > 20)
        let names = listing(dir.path).filter { $0.hasSuffix(".log") }
        #expect(names.count == log.segmentCount)
        #expect(names.allSatisfy { $0.count == 24 }, "segment names are 20 digits plus .log")
        for offset in stride(from: Int64(0), to: 600, by: 37) {
            let batch = try #require(try log.readBatches(from: offset, maxBytes: 1).first)
            #expect(batch.baseOffset <= offset && batch.lastOffset >= offset)
        }
        try checkTimestampLookups(log)
        try log.close()
        // Closed cleanly: reopens without scanning and answers the same.
        let reopened = try PartitionLog.open(directory: dir.path, config: config)
        #expect(reopened.logEndOffset == 600)
        try checkTimestampLookups(reopened)
        #expect(try reopened.values(from: 598) == ["v299-0", "v299-1"])
        try reopened.close()
    }

    func checkTimestampLookups(_ log: PartitionLog) throws {
        // Batch i holds timestamps 10_000 + 10i and +1, at offsets 2i and 2i + 1.
        #expect(try log.offset(forTimestamp: 0) == TimestampAndOffset(timestamp: 10_000, offset: 0))
        #expect(try log.offset(forTimestamp: 10_001) == TimestampAndOffset(timestamp: 10_001, offset: 1))
        #expect(try log.offset(forTimestamp: 10_002) == TimestampAndOffset(timestamp: 10_010, offset: 2))
        #expect(try log.offset(forTimestamp: 11_500) == TimestampAndOffset(timestamp: 11_500, offset: 300))
        #expect(try log.offset(forTimestamp: 12_991) == TimestampAndOffset(timestamp: 12_991, offset: 599))
        #expect(try log.offset(forTimestamp: 12_992) == nil)
    }

    @Test func timestampLookupWithOutOfOrderTimestamps() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        var config = LogConfig()
        config.indexIntervalBytes = 100
        let log = try PartitionLog.open(directory: dir.path, config: config)
        // Producers' clocks disagree: timestamps go 100, 50, 300, 200, 400.
        for (i, ts) in [100, 50, 300, 200, 400].enumerated() { try log.append(makeBatch("t\(i)", timestamp: Int64(ts), valueBytes: 120)) }
        #expect(try log.offset(forTimestamp: 60)?.offset == 0)
        #expect(try log.offset(forTimestamp: 150)?.offset == 2)
        #expect(try log.offset(forTimestamp: 250)?.offset == 2)
        #expect(try log.offset(forTimestamp: 301)?.offset == 4)
        try log.close()
    }

    @Test func rollsOnSegmentMsAndFullIndex() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let clock = ManualWallClock(nowMilliseconds: 1_000_000)
        var config = LogConfig()
        config.segmentMs = 60_000
        let log = try PartitionLog.open(directory: dir.path, config: config, clock: clock)
        try log.append(makeBatch("a"))
        clock.advance(byMilliseconds: 59_999)
        try log.append(makeBatch("b"))
        #expect(log.segmentCount == 1)
        clock.advance(byMilliseconds: 1)
        try log.append(makeBatch("c"))
        #expect(log.segmentBaseOffsets == [0, 2])
        try log.close()

        let dir2 = TemporaryDirectory()
        defer { dir2.remove() }
        var small = LogConfig()
        small.indexIntervalBytes = 1
        small.segmentIndexBytes = 8 * 4  // four offset entries
        let full = try PartitionLog.open(directory: dir2.path, config: small)
        for i in 0..<20 { try full.append(makeBatch("x\(i)")) }
        #expect(full.segmentCount > 3)
        #expect(try full.values().count == 20)
        try full.close()
    }

    @Test func appendRejectsTooLargeBatchesAndAppendsReplicaBatchesInOrder() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        var config = LogConfig()
        config.maxMessageBytes = 500
        let log = try PartitionLog.open(directory: dir.path, config: config)
        let big = makeBatch("big", valueBytes: 1000)
        #expect(throws: LogError.batchTooLarge(size: big.sizeInBytes, limit: 500)) { try log.append(big) }
        var replica = makeBatch("r", count: 2)
        replica.setBaseOffset(10)
        try log.appendWithAssignedOffsets(replica)
        #expect(log.logEndOffset == 12)
        replica.setBaseOffset(5)
        #expect(throws: LogError.nonMonotonicOffset(batchBaseOffset: 5, logEndOffset: 12)) { try log.appendWithAssignedOffsets(replica) }
        try log.close()
    }

    @Test func truncateRemovesTailAcrossSegments() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        var config = LogConfig()
        config.segmentBytes = 1024
        let log = try PartitionLog.open(directory: dir.path, config: config)
        for i in 0..<40 { try log.append(makeBatch("v\(i)", valueBytes: 100)) }
        try log.truncate(to: 17)
        #expect(log.logEndOffset == 17)
        #expect(try log.values().last == "v16-0")
        try log.append(makeBatch("after"))
        #expect(try log.values(from: 17) == ["after-0"])
        try log.close()
        let reopened = try PartitionLog.open(directory: dir.path, config: config)
        #expect(reopened.logEndOffset == 18)
        try reopened.close()
    }

    @Test func compressedBatchesRoundTripThroughTheLog() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let log = try PartitionLog.open(directory: dir.path)
        for codec in CompressionCodec.allCases { try log.append(makeBatch(codec.name, count: 50, valueBytes: 64, compression: codec)) }
        let values = try log.values()
        #expect(values.count == 250)
        #expect(values[50] == "gzip-0" && values[249] == "zstd-49")
        try log.close()
    }
}
