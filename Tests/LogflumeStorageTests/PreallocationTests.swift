import Foundation
import LogflumeStorage
import LogflumeWire
import Testing

/// `preallocate`: blocks are reserved ahead of the active segment's appends and given back
/// when it rolls, when the log closes, and when a segment left by a crash becomes active again;
/// the file's size always ends at the last whole batch.
@Suite struct PreallocationTests {
    struct Usage: Equatable {
        var size: Int
        var allocated: Int
    }

    static func usage(_ path: String) throws -> Usage {
        var st = stat()
        try #require(stat(path, &st) == 0, "stat \(path)")
        return Usage(size: Int(st.st_size), allocated: Int(st.st_blocks) * 512)
    }

    /// Appends batches of ~100 KB until the segment's blocks run ahead of its data by `margin`
    /// (reservation steps grow with the segment, so the room ahead varies from append to append).
    static func appendUntilAhead(_ log: PartitionLog, _ path: String, margin: Int, tag: String) throws -> Usage? {
        for i in 0..<40 {
            try log.append(makeBatch("\(tag)\(i)", count: 100, valueBytes: 1000))
            let now = try usage(path)
            if now.allocated >= now.size + margin { return now }
        }
        return nil
    }

    static func segment(_ dir: String, _ base: Int64) -> String { SegmentFileName.path(dir, base, SegmentFileName.log) }

    /// Reservations in 1 MiB steps.
    static var stepConfig: LogConfig {
        var config = LogConfig()
        config.preallocateStepBytes = 1 << 20
        return config
    }

    /// Runs `body` with a partition directory on a filesystem that takes reservations (tmpfs and
    /// ext4 do; some do not: then the reason is recorded instead).
    static func withReservingPartition(_ name: String, _ body: (String) throws -> Void) throws {
        let tmp = TemporaryDirectory(name)
        defer { tmp.remove() }
        guard filesystemReserves(tmp.path) else {
            Issue.record(Comment(rawValue: "the filesystem of /tmp does not support fallocate(FALLOC_FL_KEEP_SIZE)"))
            return
        }
        try body(tmp.path + "/partition")
    }

    static func filesystemReserves(_ dir: String) -> Bool {
        guard let log = try? PartitionLog.open(directory: dir + "/probe-log", config: stepConfig) else { return false }
        let reserved = ((try? appendUntilAhead(log, segment(dir + "/probe-log", 0), margin: 50_000, tag: "p")) ?? nil) != nil
        try? log.close()
        try? FileManager.default.removeItem(atPath: dir + "/probe-log")
        return reserved
    }

    @Test func reservationsRunAheadOfAppendsAndAreGivenBack() throws {
        try Self.withReservingPartition("prealloc") { dir in
            var config = Self.stepConfig
            config.segmentBytes = 3 << 20
            config.maxMessageBytes = 1 << 20
            let log = try PartitionLog.open(directory: dir, config: config)
            try log.append(makeBatch("a", count: 10, valueBytes: 1000))
            var active = try Self.usage(Self.segment(dir, 0))
            #expect(active.size > 10_000 && active.size < 11_000, "the size ends at the batch: \(active)")
            // Appends past the reservation take the next, larger step.
            for i in 0..<10 { try log.append(makeBatch("b\(i)", count: 100, valueBytes: 1000)) }
            active = try Self.usage(Self.segment(dir, 0))
            #expect(active.size > 1_000_000)
            #expect(try Self.appendUntilAhead(log, Self.segment(dir, 0), margin: 256 * 1024, tag: "b") != nil, "the reservation runs ahead")
            // Rolling gives the rest back: the old segment holds only its data.
            while log.segmentBaseOffsets.count < 2 { try log.append(makeBatch("c", count: 500, valueBytes: 1000)) }
            let rolled = try Self.usage(Self.segment(dir, 0))
            #expect(rolled.allocated < rolled.size + 64 * 1024, "rolled segment keeps no reservation: \(rolled)")
            let second = log.segmentBaseOffsets[1]
            #expect(try Self.appendUntilAhead(log, Self.segment(dir, second), margin: 100_000, tag: "d") != nil, "the new active segment reserves ahead")
            try log.close()
            let closed = try Self.usage(Self.segment(dir, second))
            #expect(closed.allocated < closed.size + 64 * 1024, "close gives the reservation back: \(closed)")
            // What was appended reads back whole after a clean reopen.
            let reopened = try PartitionLog.open(directory: dir, config: config)
            #expect(try reopened.records().count == Int(reopened.logEndOffset))
            try reopened.close()
        }
    }

    /// A log that was never closed (the process died) keeps its reservation on disk until the
    /// next open makes the segment active again; reading and appending see only whole batches.
    @Test func aCrashedLogsReservationIsReleasedOnOpen() throws {
        try Self.withReservingPartition("prealloc-crash") { dir in
            let config = Self.stepConfig
            do {
                let crashed = try PartitionLog.open(directory: dir, config: config)
                let left = try Self.appendUntilAhead(crashed, Self.segment(dir, 0), margin: 100_000, tag: "before")
                #expect(left != nil)
                try crashed.flush()
                // No close: no clean-shutdown marker, reservation left in place.
        }
        let reopened = try PartitionLog.open(directory: dir, config: config)
        let usage = try Self.usage(Self.segment(dir, 0))
        #expect(usage.allocated < usage.size + 64 * 1024, "reopen gave the reservation back: \(usage)")
        let kept = try reopened.records().count
        #expect(kept > 0 && kept % 100 == 0)
        try reopened.append(makeBatch("after"))
        #expect(try reopened.values().last == "after-0")
        #expect(reopened.logEndOffset == Int64(kept + 1))
        try reopened.close()
        }
    }

    @Test func turnedOffNothingIsReserved() throws {
        let tmp = TemporaryDirectory("prealloc-off")
        defer { tmp.remove() }
        var config = LogConfig()
        config.preallocate = false
        let dir = tmp.path + "/partition"
        let log = try PartitionLog.open(directory: dir, config: config)
        try log.append(makeBatch("a", count: 10, valueBytes: 1000))
        let usage = try Self.usage(Self.segment(dir, 0))
        #expect(usage.allocated < 64 * 1024, "\(usage)")
        try log.close()
    }
}
