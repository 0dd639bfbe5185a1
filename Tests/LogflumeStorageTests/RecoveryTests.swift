import Foundation
import LogflumeStorage
import LogflumeWire
import Testing

/// Crash recovery without a child process: a log that is never closed looks to the next open
/// exactly like one whose process was killed (no clean-shutdown marker, stale checkpoint).
@Suite struct RecoveryTests {
    func fill(_ dir: TemporaryDirectory, config: LogConfig, batches: Int) throws -> PartitionLog {
        let log = try PartitionLog.open(directory: dir.path, config: config)
        for i in 0..<batches { try log.append(makeBatch("v\(i)", count: 2, timestamp: Int64(1_000 + i), valueBytes: 150)) }
        return log
    }

    var smallSegments: LogConfig {
        var config = LogConfig()
        config.segmentBytes = 8 * 1024
        config.indexIntervalBytes = 256
        return config
    }

    @Test func uncleanOpenRecoversEverythingAndRebuildsIndexes() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let crashed = try fill(dir, config: smallSegments, batches: 200)
        let segments = crashed.segmentCount
        _ = crashed  // never closed
        let capture = LogCapture()
        let log = try PartitionLog.open(directory: dir.path, config: smallSegments, logger: capture.logger)
        #expect(log.logEndOffset == 400)
        #expect(log.segmentCount == segments)
        #expect(try log.values().count == 400)
        #expect(try log.offset(forTimestamp: 1_150)?.offset == 299, "batch 149 holds 1149 and 1150")
        #expect(!capture.all.contains { $0.contains("truncated") })
        try log.close()
    }

    @Test func tornTailIsTruncatedAtTheLastValidBatchWithALogLine() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let crashed = try fill(dir, config: smallSegments, batches: 50)
        let end = crashed.logEndOffset
        let active = dir.file(String(format: "%020lld.log", crashed.segmentBaseOffsets.last!))
        // Half a batch written when the power went.
        let half = makeBatch("torn", count: 3, valueBytes: 100).bytes
        let handle = try #require(FileHandle(forWritingAtPath: active))
        handle.seekToEndOfFile()
        let sizeBefore = handle.offsetInFile
        handle.write(Data(half.readableBytesView.prefix(half.readableBytes / 2)))
        handle.closeFile()

        let capture = LogCapture()
        let log = try PartitionLog.open(directory: dir.path, config: smallSegments, logger: capture.logger)
        #expect(log.logEndOffset == end)
        #expect(fileSize(active) == Int(sizeBefore))
        let line = try #require(capture.all.first { $0.contains("truncated log") })
        #expect(line.contains(active) && line.contains("position=\(sizeBefore)") && line.contains("torn batch"))
        try log.append(makeBatch("after"))
        #expect(try log.values(from: end) == ["after-0"])
        try log.close()
    }

    @Test func flippedBytesMidSegmentTruncateThereAndKeepEverythingBefore() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        var config = LogConfig()
        config.indexIntervalBytes = 256
        let crashed = try fill(dir, config: config, batches: 100)
        let positions = try crashed.read(from: 0, maxBytes: 1 << 30)
        #expect(positions.ranges.count == 1)
        // Locate batch 60 and flip a byte in its records.
        let batchSize = try crashed.readBatches(from: 0, maxBytes: 1)[0].sizeInBytes
        let corruptAt = batchSize * 60 + 100
        let path = dir.file("00000000000000000000.log")
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[corruptAt] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: path))

        let capture = LogCapture()
        let log = try PartitionLog.open(directory: dir.path, config: config, logger: capture.logger)
        #expect(log.logEndOffset == 120, "batches 0..59 (two records each) survive")
        let values = try log.values()
        #expect(values.count == 120 && values.last == "v59-1")
        let line = try #require(capture.all.first { $0.contains("truncated log") })
        #expect(line.contains("position=\(batchSize * 60)") && line.contains("CRC-32C mismatch"))
        try log.close()
    }

    @Test func corruptionBeforeTheRecoveryPointIsNeverServed() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let log = try fill(dir, config: LogConfig(), batches: 20)
        try log.close()
        let batchSize = fileSize(dir.file("00000000000000000000.log")) / 20
        let path = dir.file("00000000000000000000.log")
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[batchSize * 10 + 70] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: path))

        // A clean open trusts the files; the read path still verifies before serving.
        let capture = LogCapture()
        let reopened = try PartitionLog.open(directory: dir.path, logger: capture.logger)
        let served = try reopened.read(from: 0, maxBytes: 1 << 20)
        #expect(served.byteCount == batchSize * 10, "only the batches before the corrupt one")
        #expect(throws: LogError.self) { try reopened.read(from: 20, maxBytes: 1 << 20) }
        #expect(capture.all.contains { $0.contains("corrupt batch will not be served") && $0.contains("position=\(batchSize * 10)") })
        try reopened.close()
    }

    @Test func missingAndGarbageIndexesAreRebuilt() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let log = try fill(dir, config: smallSegments, batches: 200)
        let bases = log.segmentBaseOffsets
        try log.close()
        unlink(dir.file(String(format: "%020lld.index", bases[1])))
        try Data(repeating: 0xAB, count: 64).write(to: URL(fileURLWithPath: dir.file(String(format: "%020lld.index", bases[2]))))
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: dir.file(String(format: "%020lld.timeindex", bases[3]))))

        let capture = LogCapture()
        let reopened = try PartitionLog.open(directory: dir.path, config: smallSegments, logger: capture.logger)
        #expect(capture.all.filter { $0.contains("rebuilding missing or corrupt indexes") }.count == 3)
        for offset in stride(from: Int64(0), to: 400, by: 3) {
            let batch = try #require(try reopened.readBatches(from: offset, maxBytes: 1).first)
            #expect(batch.baseOffset <= offset && offset <= batch.lastOffset)
        }
        #expect(try reopened.offset(forTimestamp: 1_040)?.offset == 79)
        try reopened.close()
    }

    @Test func recoveryOnlyScansPastTheRecoveryPoint() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        let crashed = try fill(dir, config: smallSegments, batches: 200)
        crashed.waitForBackgroundFlushes()
        let recoveryPoint = crashed.recoveryPoint
        #expect(recoveryPoint == crashed.segmentBaseOffsets.last!, "rolled segments are flushed in the background")
        let capture = LogCapture()
        let log = try PartitionLog.open(directory: dir.path, config: smallSegments, logger: capture.logger)
        #expect(log.logEndOffset == 400)
        let scanned = capture.all.filter { $0.contains("recovering segment past the recovery point") }
        #expect(scanned.count == 1 && scanned[0].contains(String(format: "%020lld", recoveryPoint)))
        try log.close()
    }

    /// Found in review: recovery rebuilt indexes with the current, smaller index settings and cut
    /// the log where they ran out. A full index must only make lookups scan further.
    @Test func recoveryUnderSmallerIndexSettingsKeepsEveryBatch() throws {
        let dir = TemporaryDirectory()
        defer { dir.remove() }
        var generous = LogConfig()
        generous.indexIntervalBytes = 0
        let crashed = try PartitionLog.open(directory: dir.path, config: generous)
        for i in 0..<3000 { try crashed.append(makeBatch("v\(i)")) }
        var tight = generous
        tight.segmentIndexBytes = 8 * 100
        let capture = LogCapture()
        let log = try PartitionLog.open(directory: dir.path, config: tight, logger: capture.logger)
        #expect(log.logEndOffset == 3000)
        #expect(!capture.all.contains { $0.contains("truncated") })
        #expect(try log.values(from: 2999) == ["v2999-0"])
        try log.append(makeBatch("after"))
        #expect(log.logEndOffset == 3001)
        try log.close()
    }
}
