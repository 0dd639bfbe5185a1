import ArgumentParser
import Foundation
import Logging
import LogflumeStorage
import LogflumeWire
import NIOCore

/// The partition log's append path against the disk's sequential write speed.
///
/// What is timed is what a broker does per produce: check the batch's framing, magic and
/// CRC-32C (`RecordBatch(validating:)`), then `PartitionLog.append`, which stamps the offsets,
/// writes the bytes and keeps the sparse offset and time indexes, rolling segments as they fill;
/// at the end one `flush()` fsyncs. `bench/log.sh` runs `fio` (1 MiB sequential writes, fsync at
/// the end) on the same directory in the same run and prints the ratio.
struct AppendBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "append",
        abstract: "Validate + append ~1 MiB batches of 1 KiB records, fsync at the end; MB/s (10^6 bytes/s), median of runs."
    )

    @Option(help: "Directory for the benchmark's partition (use the filesystem fio measures).")
    var dir: String = ".bench-data"

    @Option(help: "Log bytes to append per run (whole batches, so slightly more).")
    var totalBytes: Int = 2 << 30

    @Option(help: "Runs; the median is reported.")
    var runs: Int = 3

    @Option(help: "Records per batch.")
    var recordsPerBatch: Int = 1000

    @Option(help: "Bytes per record value (random, incompressible; no key).")
    var valueBytes: Int = 1024

    @Option(help: "Distinct batches built before timing and appended cyclically.")
    var poolBatches: Int = 64

    @Option(help: "segment.bytes of the log.")
    var segmentBytes: Int = 1 << 30

    @Flag(inversion: .prefixedNo, help: "Reserve blocks ahead of the active segment (the log's `preallocate`, default on).")
    var preallocate = true

    @Flag(help: "Validate the next batches on a second thread while the current one is appended (what the broker does when several connections produce to a partition: validation runs outside the partition's lock).")
    var validateAhead = false

    func validate() throws {
        guard totalBytes > 0, runs > 0, recordsPerBatch > 0, valueBytes >= 0, poolBatches > 0, segmentBytes > 0 else {
            throw ValidationError("sizes and counts must be positive")
        }
    }

    func run() throws {
        let pool = try BenchBatches.pool(count: poolBatches, recordsPerBatch: recordsPerBatch, valueBytes: valueBytes)
        let batchBytes = pool.map(\.readableBytes)
        print("append: \(pool.count) distinct batches of \(recordsPerBatch) records x \(valueBytes) B values "
            + "(\(batchBytes.min()!)...\(batchBytes.max()!) bytes each, compression none), built before timing")
        print("append: \(BenchFormat.bytes(totalBytes)) per run into \(dir), segment.bytes \(BenchFormat.bytes(segmentBytes)), "
            + "fsync only at the end (and on each segment roll, as the log does), \(runs) runs"
            + (validateAhead ? ", validation on a second thread ahead of the appends" : ", validation and append in turn on one thread"))
        var rates: [Double] = []
        for run in 1...runs {
            let partition = dir + "/bench-append-\(getpid())-\(run)"
            BenchFiles.removeTree(partition)
            sync()  // the previous run's writeback must not land inside this one
            let result = validateAhead
                ? try BenchAppender.fillValidatingAhead(directory: partition, pool: pool, totalBytes: totalBytes, segmentBytes: segmentBytes, preallocate: preallocate)
                : try BenchAppender.fill(directory: partition, pool: pool, totalBytes: totalBytes, segmentBytes: segmentBytes, preallocate: preallocate, timed: true)
            BenchFiles.removeTree(partition)
            let rate = Double(result.bytes) / result.seconds / 1e6
            rates.append(rate)
            print("run \(run): \(result.bytes) bytes in \(result.batches) batches, \(result.segments) segments, "
                + "\(BenchFormat.fixed(result.seconds, 3)) s = \(BenchFormat.fixed(rate, 1)) MB/s  "
                + "[validate \(BenchFormat.fixed(result.validateSeconds, 3)) s, append \(BenchFormat.fixed(result.appendSeconds, 3)) s, "
                + "final flush \(BenchFormat.fixed(result.flushSeconds, 3)) s]")
        }
        print("append_mb_s=\(BenchFormat.fixed(BenchStats.median(rates), 1))")
    }
}

// MARK: - Shared by the log benchmarks

/// Builds distinct, incompressible record batches the way a producer would send them.
enum BenchBatches {
    /// `count` batches of `recordsPerBatch` records whose values are pseudo-random bytes, as
    /// wire bytes ready to be validated. Timestamps are now, so `segment.ms` never rolls.
    static func pool(count: Int, recordsPerBatch: Int, valueBytes: Int) throws -> [ByteBuffer] {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        var pool: [ByteBuffer] = []
        pool.reserveCapacity(count)
        var value = ByteBufferAllocator().buffer(capacity: valueBytes)
        for _ in 0..<count {
            var builder = RecordBatchBuilder(compression: .none, capacity: recordsPerBatch * (valueBytes + 16) + 64)
            for record in 0..<recordsPerBatch {
                value.clear()
                value.writeWithUnsafeMutableBytes(minimumWritableBytes: valueBytes) { raw in
                    var index = 0
                    while index < valueBytes {
                        // splitmix64: fast, and its output does not compress.
                        state &+= 0x9E37_79B9_7F4A_7C15
                        var z = state
                        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                        z ^= z >> 31
                        withUnsafeBytes(of: z) { word in
                            for byte in word where index < valueBytes {
                                raw[index] = byte
                                index += 1
                            }
                        }
                    }
                    return valueBytes
                }
                builder.append(key: ByteBuffer?.none, value: value, timestamp: now + Int64(record))
            }
            pool.append(try builder.build().bytes)
        }
        return pool
    }
}

/// The append loop shared by the append benchmark (timed) and the read benchmark (to build its log).
enum BenchAppender {
    struct Result {
        var bytes = 0
        var batches = 0
        var segments = 0
        var seconds = 0.0
        var validateSeconds = 0.0
        var appendSeconds = 0.0
        var flushSeconds = 0.0
    }

    static func openLog(directory: String, pool: [ByteBuffer], segmentBytes: Int, preallocate: Bool) throws -> (PartitionLog, LogConfig) {
        var config = LogConfig()
        config.segmentBytes = segmentBytes
        config.preallocate = preallocate
        config.maxMessageBytes = max(config.maxMessageBytes, pool.map(\.readableBytes).max() ?? 0)
        return (try PartitionLog.open(directory: directory, config: config, logger: BenchLogging.quiet), config)
    }

    static func finish(_ log: PartitionLog, start: Double, result: inout Result) throws {
        let beforeFlush = BenchClock.now()
        try log.flush()
        let end = BenchClock.now()
        result.flushSeconds = end - beforeFlush
        result.seconds = end - start
        result.segments = log.segmentCount
        try log.close()
    }

    /// Opens a log in `directory`, validates and appends pool batches cyclically until
    /// `totalBytes` are in the log, flushes, and closes it. The clock runs from the first
    /// validation to the end of the flush; `timed` adds the per-phase split (two clock reads
    /// per ~1 MiB batch, which cost nothing next to the batch).
    static func fill(directory: String, pool: [ByteBuffer], totalBytes: Int, segmentBytes: Int, preallocate: Bool = true, timed: Bool) throws -> Result {
        let (log, config) = try openLog(directory: directory, pool: pool, segmentBytes: segmentBytes, preallocate: preallocate)
        var result = Result()
        var next = 0
        let start = BenchClock.now()
        var mark = start
        while result.bytes < totalBytes {
            let batch = try RecordBatch(validating: pool[next], maxBatchBytes: config.maxMessageBytes)
            if timed {
                let validated = BenchClock.now()
                result.validateSeconds += validated - mark
                mark = validated
            }
            let info = try log.append(batch)
            if timed {
                let appended = BenchClock.now()
                result.appendSeconds += appended - mark
                mark = appended
            }
            result.bytes += info.sizeInBytes
            result.batches += 1
            next = next + 1 == pool.count ? 0 : next + 1
        }
        try finish(log, start: start, result: &result)
        return result
    }

    /// How many pool batches (taken cyclically) it takes to reach `totalBytes`.
    static func batchCount(pool: [ByteBuffer], totalBytes: Int) -> Int {
        var count = 0
        var planned = 0
        while planned < totalBytes {
            planned += pool[count % pool.count].readableBytes
            count += 1
        }
        return count
    }

    /// The same batches, validated on a second thread up to `depth` batches ahead of the
    /// appending one. `validateSeconds` is the validator's busy time (overlapped), and
    /// `appendSeconds` the appender's, waits for the validator excluded.
    static func fillValidatingAhead(
        directory: String, pool: [ByteBuffer], totalBytes: Int, segmentBytes: Int, preallocate: Bool, depth: Int = 4
    ) throws -> Result {
        let (log, config) = try openLog(directory: directory, pool: pool, segmentBytes: segmentBytes, preallocate: preallocate)
        let count = batchCount(pool: pool, totalBytes: totalBytes)
        let queue = ValidatedQueue(depth: depth)
        var result = Result()
        let start = BenchClock.now()
        let validator = Thread {
            var busy = 0.0
            for index in 0..<count {
                let began = BenchClock.now()
                let outcome = Swift.Result<RecordBatch, any Error> { try RecordBatch(validating: pool[index % pool.count], maxBatchBytes: config.maxMessageBytes) }
                busy += BenchClock.now() - began
                queue.push(outcome)
            }
            queue.finish(busySeconds: busy)
        }
        validator.start()
        for _ in 0..<count {
            let batch = try queue.pop().get()
            let began = BenchClock.now()
            let info = try log.append(batch)
            result.appendSeconds += BenchClock.now() - began
            result.bytes += info.sizeInBytes
            result.batches += 1
        }
        result.validateSeconds = queue.waitForValidator()
        try finish(log, start: start, result: &result)
        return result
    }
}

/// A bounded hand-off from the validating thread to the appending one.
final class ValidatedQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Swift.Result<RecordBatch, any Error>] = []
    private let depth: Int
    private var busySeconds: Double?

    init(depth: Int) { self.depth = depth }

    func push(_ item: Swift.Result<RecordBatch, any Error>) {
        condition.lock()
        while items.count >= depth { condition.wait() }
        items.append(item)
        condition.broadcast()
        condition.unlock()
    }

    func pop() -> Swift.Result<RecordBatch, any Error> {
        condition.lock()
        while items.isEmpty { condition.wait() }
        let item = items.removeFirst()
        condition.broadcast()
        condition.unlock()
        return item
    }

    func finish(busySeconds: Double) {
        condition.lock()
        self.busySeconds = busySeconds
        condition.broadcast()
        condition.unlock()
    }

    func waitForValidator() -> Double {
        condition.lock()
        while busySeconds == nil { condition.wait() }
        let busy = busySeconds!
        condition.unlock()
        return busy
    }
}

enum BenchClock {
    /// Monotonic seconds.
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// User plus system CPU seconds of this process so far.
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }
}

enum BenchStats {
    static func median(_ values: [Double]) -> Double {
        precondition(!values.isEmpty)
        let sorted = values.sorted()
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}

enum BenchFormat {
    static func fixed(_ value: Double, _ digits: Int) -> String {
        String(format: "%.\(digits)f", value)
    }

    /// Binary units for sizes the user chose (2 GiB, 1 GiB segments).
    static func bytes(_ count: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(count)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return value == value.rounded() ? "\(Int(value)) \(units[unit])" : "\(fixed(value, 2)) \(units[unit])"
    }
}

enum BenchFiles {
    /// `rm -rf`, quietly.
    static func removeTree(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Sizes of the `.log` files in a partition directory, keyed by file name, in name order.
    static func segmentLogSizes(_ directory: String) -> [(name: String, size: Int)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".log") }.sorted().map { name in
            var st = stat()
            let size = stat(directory + "/" + name, &st) == 0 ? Int(st.st_size) : 0
            return (name, size)
        }
    }

    /// Free bytes for an unprivileged user on the filesystem holding `path`.
    static func freeBytes(at path: String) -> Int? {
        var fs = statvfs()
        guard statvfs(path, &fs) == 0 else { return nil }
        return Int(fs.f_bavail) * Int(fs.f_frsize)
    }
}

enum BenchLogging {
    /// Warnings and errors to stderr; the benchmarks' own output goes to stdout.
    static var quiet: Logger {
        var logger = Logger(label: "logflume-bench") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        return logger
    }
}
