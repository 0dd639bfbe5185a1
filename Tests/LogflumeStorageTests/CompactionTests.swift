import Foundation
import LogflumeStorage
import LogflumeWire
import NIOCore
import Testing

@Suite struct CompactionTests {
    var config: LogConfig {
        var config = LogConfig()
        config.cleanupPolicy = .compact
        config.segmentBytes = 1024
        config.deleteRetentionMs = 60_000
        config.fileDeleteDelayMs = 0
        return config
    }

    func keyed(_ log: PartitionLog, key: String, value: String?, timestamp: Int64, codec: CompressionCodec = .none) throws {
        var builder = RecordBatchBuilder(compression: codec)
        builder.append(key: Array(key.utf8), value: value.map { Array($0.utf8) + Array(repeating: UInt8(ascii: "."), count: 100) }, timestamp: timestamp)
        try log.append(try builder.build())
    }

    func latestByKey(_ log: PartitionLog) throws -> [String: (offset: Int64, value: String?)] {
        var result: [String: (Int64, String?)] = [:]
        for record in try log.records(from: log.logStartOffset) {
            result[String(buffer: record.key!)] = (record.offset, record.value.map { String(buffer: $0) })
        }
        return result
    }

    @Test func keepsTheLatestRecordPerKeyAtItsOriginalOffset() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let clock = ManualWallClock(nowMilliseconds: 1_000_000)
        let log = try PartitionLog.open(directory: dir.path, config: config, clock: clock)
        for round in 0..<10 {
            for key in 0..<5 {
                try keyed(log, key: "k\(key)", value: "r\(round)", timestamp: clock.nowMilliseconds, codec: key % 2 == 0 ? .none : .zstd)
            }
        }
        let before = try latestByKey(log)
        let countBefore = try log.records().count
        let result = try log.compact(force: true)
        #expect(result.segmentsRewritten > 0 && result.recordsRemoved > 0)
        let after = try latestByKey(log)
        #expect(after.mapValues(\.offset) == before.mapValues(\.offset))
        #expect(after.mapValues(\.value) == before.mapValues(\.value))
        let remaining = try log.records()
        #expect(remaining.count < countBefore)
        #expect(remaining.map(\.offset) == remaining.map(\.offset).sorted())
        #expect(log.logEndOffset == 50)
        // Closed segments have no duplicate keys left; the active one may.
        let closedEnd = log.segmentBaseOffsets.last!
        let closedKeys = remaining.filter { $0.offset < closedEnd }.map { String(buffer: $0.key!) }
        #expect(Set(closedKeys).count == closedKeys.count)
        try log.close()
        let reopened = try PartitionLog.open(directory: dir.path, config: config, clock: clock)
        #expect(try latestByKey(reopened).mapValues(\.offset) == before.mapValues(\.offset))
        try reopened.close()
    }

    @Test func tombstonesOutliveDeleteRetentionThenGo() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let clock = ManualWallClock(nowMilliseconds: 1_000_000)
        let log = try PartitionLog.open(directory: dir.path, config: config, clock: clock)
        try keyed(log, key: "gone", value: "alive", timestamp: clock.nowMilliseconds)
        try keyed(log, key: "gone", value: nil, timestamp: clock.nowMilliseconds)
        for i in 0..<30 { try keyed(log, key: "other\(i)", value: "x", timestamp: clock.nowMilliseconds) }
        try log.compact(force: true)
        let kept = try latestByKey(log)
        #expect(kept["gone"]?.offset == 1 && kept["gone"]?.value == nil, "the tombstone stays within delete.retention.ms")
        #expect(try log.records().filter { String(buffer: $0.key!) == "gone" }.count == 1)
        clock.advance(byMilliseconds: 60_001)
        let second = try log.compact(force: true)
        #expect(second.tombstonesRemoved == 1)
        #expect(try latestByKey(log)["gone"] == nil)
        try log.close()
    }

    @Test func dirtyRatioGatesUnforcedRuns() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let log = try PartitionLog.open(directory: dir.path, config: config, clock: ManualWallClock(nowMilliseconds: 0))
        for i in 0..<30 { try keyed(log, key: "k\(i % 3)", value: "v\(i)", timestamp: 0) }
        #expect(try log.compact().ran)
        #expect(try !log.compact().ran, "nothing dirty right after a pass")
        try log.close()
    }

    @Test func interruptedSwapsAreCompletedOrDiscardedOnOpen() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let clock = ManualWallClock(nowMilliseconds: 0)
        let log = try PartitionLog.open(directory: dir.path, config: config, clock: clock)
        for i in 0..<30 { try keyed(log, key: "k\(i % 3)", value: "v\(i)", timestamp: 0) }
        let expected = try latestByKey(log)
        try log.close()
        let first = dir.file("00000000000000000000.log")
        // A crash after a cleaned segment was made durable as .swap: the swap is completed.
        try FileManager.default.copyItem(atPath: first, toPath: first + ".swap")
        // A crash while writing: the half-made .cleaned file is thrown away.
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: dir.file("00000000000000000004.log.cleaned")))
        let capture = LogCapture()
        let reopened = try PartitionLog.open(directory: dir.path, config: config, clock: clock, logger: capture.logger)
        #expect(capture.all.contains { $0.contains("completed an interrupted compaction swap") })
        #expect(!listing(dir.path).contains { $0.hasSuffix(".swap") || $0.hasSuffix(".cleaned") })
        #expect(try latestByKey(reopened).mapValues(\.offset) == expected.mapValues(\.offset))
        try reopened.close()
    }
}
