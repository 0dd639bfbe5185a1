import Foundation
import LogflumeStorage
import LogflumeWire
import Testing

/// A real full disk: a 2 MiB tmpfs mounted for the test (needs root, as CI and the dev machines
/// run; elsewhere the test is skipped with the reason).
@Suite(.enabled(if: getuid() == 0, "mounting a tmpfs needs root"))
struct DiskFullTests {
    /// With the default 8 MiB reservation step the first reservation already finds no room; with
    /// 128 KiB steps reservations succeed until the disk fills mid-segment.
    @Test(arguments: [8 << 20, 128 << 10])
    func fullDiskGivesATypedErrorAndLeavesTheLogConsistent(preallocateStepBytes: Int) throws {
        let mountPoint = TemporaryDirectory("tmpfs")
        defer { mountPoint.remove() }
        try #require(run("/bin/mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", mountPoint.path]) == 0)
        defer { _ = run("/bin/umount", [mountPoint.path]) }
        let dir = mountPoint.path + "/partition"
        let filler = mountPoint.path + "/filler"
        #expect(FileManager.default.createFile(atPath: filler, contents: Data(count: 512 * 1024)))
        var config = LogConfig()
        config.segmentIndexBytes = 4096
        config.maxMessageBytes = 1 << 20
        config.preallocateStepBytes = preallocateStepBytes
        let log = try PartitionLog.open(directory: dir, config: config)
        var acknowledged: [String] = []
        var failure: LogError?
        for i in 0..<1000 {
            do {
                try log.append(makeBatch("b\(i)", valueBytes: 64 * 1024))
                acknowledged.append("b\(i)-0")
            } catch {
                failure = error
                break
            }
        }
        guard case .diskFull(let path)? = failure else {
            Issue.record("expected diskFull, got \(String(describing: failure))")
            return
        }
        #expect(path.hasPrefix(dir))
        #expect(acknowledged.count > 10)
        // Every acknowledged batch reads back; the failed one left no partial bytes.
        #expect(try log.values() == acknowledged)
        #expect(log.logEndOffset == Int64(acknowledged.count))
        #expect(throws: LogError.self) { try log.append(makeBatch("still-full", valueBytes: 64 * 1024)) }
        #expect(try log.values() == acknowledged)
        // Space comes back: appends resume at the right offset, and a clean restart sees it all.
        try FileManager.default.removeItem(atPath: filler)
        let resumed = try log.append(makeBatch("resumed", valueBytes: 64 * 1024))
        #expect(resumed.firstOffset == Int64(acknowledged.count))
        try log.close()
        let reopened = try PartitionLog.open(directory: dir, config: config)
        #expect(try reopened.values() == acknowledged + ["resumed-0"])
        try reopened.close()
    }

    func run(_ tool: String, _ arguments: [String]) -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        do { try process.run() } catch { return -1 }
        process.waitUntilExit()
        return process.terminationStatus
    }
}
