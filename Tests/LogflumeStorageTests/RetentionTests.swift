import Foundation
import LogflumeStorage
import LogflumeWire
import Testing

@Suite struct RetentionTests {
    @Test func timeRetentionDeletesOldSegmentsNeverTheActiveOne() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let clock = ManualWallClock(nowMilliseconds: 10_000_000)
        var config = LogConfig()
        config.segmentBytes = 2048
        config.retentionMs = 60_000
        config.fileDeleteDelayMs = 5_000
        let log = try PartitionLog.open(directory: dir.path, config: config, clock: clock)
        // Records timestamped by the clock: the first 20 batches are old, the rest recent.
        for i in 0..<40 {
            let ts = i < 20 ? clock.nowMilliseconds - 120_000 : clock.nowMilliseconds
            try log.append(makeBatch("v\(i)", timestamp: ts, valueBytes: 300))
        }
        let before = log.segmentBaseOffsets
        let deleted = try log.applyRetention()
        #expect(!deleted.isEmpty)
        #expect(log.logStartOffset == log.segmentBaseOffsets.first!)
        #expect(log.logStartOffset <= 20 && log.logStartOffset > 0)
        #expect(Set(before).subtracting(log.segmentBaseOffsets) == Set(deleted))
        #expect(throws: LogError.offsetOutOfRange(requested: 0, logStartOffset: log.logStartOffset, logEndOffset: 40)) {
            try log.read(from: 0, maxBytes: 100)
        }
        // Files are renamed first and unlinked only after file.delete.delay.ms.
        #expect(listing(dir.path).contains { $0.hasSuffix(".log.deleted") })
        clock.advance(byMilliseconds: 5_000)
        try log.applyRetention()
        #expect(!listing(dir.path).contains { $0.hasSuffix(".deleted") })
        // Everything old, even the active segment's neighbours, goes; the active segment stays.
        clock.advance(byMilliseconds: 3_600_000)
        try log.applyRetention()
        #expect(log.segmentCount == 1)
        #expect(log.logEndOffset == 40)
        try log.close()
        let reopened = try PartitionLog.open(directory: dir.path, config: config, clock: clock)
        #expect(reopened.logStartOffset == reopened.segmentBaseOffsets.first!)
        try reopened.close()
    }

    @Test func sizeRetentionKeepsTheNewestBytes() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let clock = ManualWallClock(nowMilliseconds: 1_000)
        var config = LogConfig()
        config.segmentBytes = 4096
        config.retentionBytes = 10_000
        config.retentionMs = -1
        let log = try PartitionLog.open(directory: dir.path, config: config, clock: clock)
        for i in 0..<100 { try log.append(makeBatch("v\(i)", timestamp: 0, valueBytes: 400)) }
        try log.applyRetention()
        #expect(log.sizeInBytes <= 10_000 + 4096)
        #expect(log.sizeInBytes >= 10_000 - 4096)
        #expect(try log.values(from: log.logStartOffset).last == "v99-0")
        try log.close()
    }

    @Test func readersKeepTheirDescriptorAcrossDeletion() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let clock = ManualWallClock(nowMilliseconds: 1_000_000)
        var config = LogConfig()
        config.segmentBytes = 1024
        config.retentionMs = 10
        config.fileDeleteDelayMs = 0
        let log = try PartitionLog.open(directory: dir.path, config: config, clock: clock)
        for i in 0..<10 { try log.append(makeBatch("v\(i)", timestamp: 0, valueBytes: 300)) }
        let range = try #require(try log.read(from: 0, maxBytes: 100).ranges.first)
        try log.applyRetention()
        #expect(!listing(dir.path).contains("00000000000000000000.log"))
        var buffer = [UInt8](repeating: 0, count: range.length)
        let read = try buffer.withUnsafeMutableBytes { try range.file.read(into: $0, at: range.position) }
        #expect(read == range.length, "an unlinked segment stays readable through a held range")
        try log.close()
    }

    @Test func deleteRetentionDisabledForCompactOnlyTopics() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let clock = ManualWallClock(nowMilliseconds: 1_000_000_000)
        var config = LogConfig()
        config.cleanupPolicy = .compact
        config.segmentBytes = 1024
        config.retentionMs = 1
        let log = try PartitionLog.open(directory: dir.path, config: config, clock: clock)
        for i in 0..<10 { try log.append(makeBatch("v\(i)", timestamp: 0, keys: ["k\(i)"], valueBytes: 300)) }
        #expect(try log.applyRetention().isEmpty)
        try log.close()
    }
}
