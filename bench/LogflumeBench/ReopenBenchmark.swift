import ArgumentParser
import Foundation
import Logging
import LogflumeStorage
import Synchronization

/// Time to open a large partition log after its writer was SIGKILLed: the crash recovery a
/// restarted broker pays before it can serve the partition.
///
/// `logflume log append-numbered` (no fsync per append, 1 GiB segments) fills the directory
/// until it holds `--size-bytes` of log and its active segment is at least `--active-fill` full,
/// is SIGKILLed, and this process times `PartitionLog.open` on the directory. Recovery scans only
/// the segments past the recovery point (rolling a segment fsyncs it and advances the point), so
/// the work is the active segment, and a nearly full one is the worst case for 1 GiB segments;
/// the bytes scanned are printed next to the time. After a clean close the appender is started
/// again for a second or more (until the active segment is again that full) and killed, and the
/// open is timed again: the median of the cycles is the figure. Page cache is warm, as after a
/// process crash; `--drop-caches` (root) measures the machine-crash case instead.
struct ReopenBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reopen",
        abstract: "PartitionLog.open after SIGKILL of an appender on a 5 GiB log; ms, median of cycles."
    )

    @Option(help: "The logflume executable (its hidden `log append-numbered` is the process killed).")
    var logflume: String

    @Option(help: "Directory for the benchmark's partition.")
    var dir: String = ".bench-data"

    @Option(help: "Log bytes in the directory before the first kill.")
    var sizeBytes: Int = 5 << 30

    @Option(help: "Kill only once the active segment holds at least this fraction of segment.bytes (0: as soon as the size is reached).")
    var activeFill: Double = 0.9

    @Option(help: "Kill+reopen cycles; the median open time is reported.")
    var cycles: Int = 3

    @Option(help: "Least seconds the appender runs in cycles after the first.")
    var extraSeconds: Double = 1

    @Option(help: "segment.bytes passed to the appender.")
    var segmentBytes: Int = 1 << 30

    @Option(help: "Refuse to start with less free space than this on --dir.")
    var minFreeBytes: Int = 15 << 30

    @Flag(help: "sync and drop the page cache before each open (root; the machine-crash case).")
    var dropCaches = false

    @Flag(help: "Keep the partition directory afterwards.")
    var keep = false

    func validate() throws {
        guard sizeBytes > 0, cycles > 0, segmentBytes > 0, extraSeconds >= 0, (0...1).contains(activeFill) else {
            throw ValidationError("sizes and counts must be positive, --active-fill within 0...1")
        }
        guard FileManager.default.isExecutableFile(atPath: logflume) else {
            throw ValidationError("--logflume \(logflume) is not an executable (build it: swift build -c release --product logflume)")
        }
    }

    func run() throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let free = BenchFiles.freeBytes(at: dir) ?? 0
        guard free >= minFreeBytes else {
            print("reopen: refusing to run: \(BenchFormat.bytes(free)) free on the filesystem of \(dir), "
                + "need at least \(BenchFormat.bytes(minFreeBytes)) (the log grows past \(BenchFormat.bytes(sizeBytes)))")
            throw ExitCode(2)
        }
        let partition = dir + "/bench-reopen"
        BenchFiles.removeTree(partition)
        defer { if !keep { BenchFiles.removeTree(partition) } }
        let fillTarget = Int(activeFill * Double(segmentBytes))
        print("reopen: \(partition): appender \(logflume) log append-numbered (1000 records x 1000 B per batch, "
            + "no fsync per append, segment.bytes \(BenchFormat.bytes(segmentBytes))); first kill at >= \(BenchFormat.bytes(sizeBytes)) "
            + "with the active segment >= \(Int(activeFill * 100))% full; \(cycles) kill+reopen cycles; page cache "
            + (dropCaches ? "dropped before each open" : "warm (process crash)"))

        var times: [Double] = []
        var scannedPerCycle: [Int] = []
        for cycle in 1...cycles {
            let acksPath = dir + "/bench-reopen-acks.txt"
            let appender = try runAppender(
                partition: partition, acksPath: acksPath,
                minTotal: cycle == 1 ? sizeBytes : 0,
                minSeconds: cycle == 1 ? 0 : extraSeconds,
                minActive: fillTarget
            )
            let lastAcked = Self.lastAcknowledged(in: acksPath)
            try? FileManager.default.removeItem(atPath: acksPath)
            let before = BenchFiles.segmentLogSizes(partition)
            let total = before.reduce(0) { $0 + $1.size }
            if dropCaches { try Self.dropPageCache() }

            let events = RecordedEvents()
            let logger = Logger(label: "logflume-bench.reopen") { _ in RecordingLogHandler(sink: events) }
            var config = LogConfig()
            config.segmentBytes = segmentBytes
            let start = BenchClock.now()
            let log = try PartitionLog.open(directory: partition, config: config, logger: logger)
            let elapsed = BenchClock.now() - start
            let end = log.logEndOffset
            let segments = log.segmentCount
            try log.close()

            let recorded = events.all
            let scannedNames = Set(recorded.compactMap { event -> String? in
                guard event.message.hasPrefix("recovering segment") || event.message.hasPrefix("rebuilding") else { return nil }
                return event.metadata["segment"].map { $0 + ".log" }
            })
            let scanned = before.filter { scannedNames.contains($0.name) }
            let scannedBytes = scanned.reduce(0) { $0 + $1.size }
            times.append(elapsed * 1000)
            scannedPerCycle.append(scannedBytes)
            print("cycle \(cycle): appender pid \(appender.pid) killed after \(BenchFormat.fixed(appender.seconds, 1)) s; "
                + "log \(total) bytes (\(BenchFormat.bytes(total))) in \(before.count) segments; last acknowledged offset \(lastAcked.map(String.init) ?? "none")")
            print("         open took \(BenchFormat.fixed(elapsed * 1000, 1)) ms: scanned \(scanned.count) segment(s), "
                + "\(scannedBytes) bytes (\(BenchFormat.bytes(scannedBytes))) past the recovery point; log end offset \(end), \(segments) segments")
            for event in recorded where event.level >= .warning {
                print("         log \(event.level): \(event.message) \(event.metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))")
            }
            if let lastAcked, end <= lastAcked {
                print("reopen: LOST acknowledged records: last acknowledged \(lastAcked), log ends at \(end)")
                throw ExitCode(1)
            }
        }
        let median = BenchStats.median(times)
        let medianIndex = times.indices.min { abs(times[$0] - median) < abs(times[$1] - median) }!
        print("reopen: open times " + times.map { BenchFormat.fixed($0, 1) + " ms" }.joined(separator: ", ")
            + "; scanned " + scannedPerCycle.map { BenchFormat.bytes($0) }.joined(separator: ", "))
        print("reopen_scanned_bytes=\(scannedPerCycle[medianIndex])")
        print("reopen_ms=\(BenchFormat.fixed(median, 1))")
    }

    /// Starts the appender, waits until the log is at least `minTotal` bytes, the appender ran
    /// `minSeconds` and the active (last) segment holds `minActive` bytes, then SIGKILLs it.
    private func runAppender(
        partition: String, acksPath: String, minTotal: Int, minSeconds: Double, minActive: Int
    ) throws -> (pid: Int32, seconds: Double) {
        _ = FileManager.default.createFile(atPath: acksPath, contents: nil)
        guard let acks = FileHandle(forWritingAtPath: acksPath) else { throw BenchError("cannot write \(acksPath)") }
        defer { try? acks.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: logflume)
        process.arguments = [
            "log", "append-numbered", "--data-dir", partition,
            "--records-per-batch", "1000", "--value-bytes", "1000",
            "--segment-bytes", String(segmentBytes), "--no-fsync-per-append",
        ]
        process.standardOutput = acks
        let start = BenchClock.now()
        try process.run()
        let deadline = start + 900
        while true {
            usleep(50_000)
            guard process.isRunning else {
                throw BenchError("the appender exited with status \(process.terminationStatus) before it was killed")
            }
            let sizes = BenchFiles.segmentLogSizes(partition)
            let total = sizes.reduce(0) { $0 + $1.size }
            let active = sizes.last?.size ?? 0
            let now = BenchClock.now()
            if total >= minTotal && active >= minActive && now - start >= minSeconds { break }
            if now > deadline {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                throw BenchError("the appender did not reach \(minTotal) bytes with \(minActive) in the active segment within 900 s")
            }
        }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        return (process.processIdentifier, BenchClock.now() - start)
    }

    /// The last complete line of the appender's acknowledgements (the kill may cut the last one).
    static func lastAcknowledged(in path: String) -> Int64? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        var lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last.map({ !$0.isEmpty }) == true { lines.removeLast() }  // cut short by the kill
        return lines.last(where: { !$0.isEmpty }).flatMap { Int64($0) }
    }

    static func dropPageCache() throws {
        sync()
        guard let handle = FileHandle(forWritingAtPath: "/proc/sys/vm/drop_caches") else {
            throw BenchError("--drop-caches needs root (cannot open /proc/sys/vm/drop_caches)")
        }
        handle.write(Data("3\n".utf8))
        try handle.close()
    }
}

/// What the log said while opening: which segments recovery scanned, and any truncation.
final class RecordedEvents: Sendable {
    struct Event: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }

    private let events = Mutex<[Event]>([])

    func append(_ event: Event) { events.withLock { $0.append(event) } }
    var all: [Event] { events.withLock { $0 } }
}

struct RecordingLogHandler: LogHandler {
    let sink: RecordedEvents
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        for (key, value) in event.metadata ?? [:] { merged[key] = value }
        sink.append(RecordedEvents.Event(
            level: event.level, message: event.message.description, metadata: merged.mapValues { "\($0)" }
        ))
    }
}
