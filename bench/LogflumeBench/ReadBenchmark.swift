import ArgumentParser
import Dispatch
import Foundation
import LogflumeStorage
import LogflumeWire
import Synchronization

/// Reading the partition log the way the broker serves a fetch: `PartitionLog.read` turns an
/// offset into file ranges, and each range goes out with `sendfile(2)`. `bench/log.sh` reads the
/// same segment files with `dd` in the same run and prints the ratio.
///
/// The page cache is warm: the log was just written (or reused), and one untimed pass reads it
/// all first. That pass is also where the log checks each batch's CRC once after the clean open
/// (reads verify bytes not verified in this process); its rate is printed too. The timed passes
/// replay the fetch offsets the first pass found (one fetch of `--fetch-bytes`, always at least
/// one whole batch, per request, as a consumer with `max.partition.fetch.bytes` would send).
struct ReadBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "read",
        abstract: "Read the whole log through log.read ranges and sendfile(2); MB/s (10^6 bytes/s), median of runs."
    )

    enum Sink: String, ExpressibleByArgument, CaseIterable {
        /// `/dev/null`: the kernel takes page references and drops them, no copy at all.
        case null
        /// A connected loopback TCP socket drained by a thread: one copy into socket buffers and one out.
        case socket
    }

    @Option(help: "Directory holding the benchmark's partition (use the filesystem dd reads).")
    var dir: String = ".bench-data"

    @Option(help: "Log bytes to build (whole batches, so slightly more); an existing log this large is reused.")
    var totalBytes: Int = 2 << 30

    @Option(help: "Timed passes over the whole log; the median is reported.")
    var runs: Int = 3

    @Option(help: "maxBytes per log.read, like a consumer's max.partition.fetch.bytes.")
    var fetchBytes: Int = 1 << 20

    @Option(help: "Where sendfile writes: null (/dev/null) or socket (loopback TCP, drained by a thread).")
    var sink: Sink = .null

    @Option(help: "Least seconds per timed run: whole passes over the log repeat until then.")
    var minSeconds: Double = 0.5

    @Option(help: "segment.bytes when building the log.")
    var segmentBytes: Int = 1 << 30

    @Flag(help: "Keep the log afterwards (bench/log.sh reads the same files with dd, then deletes them).")
    var keep = false

    func validate() throws {
        guard totalBytes > 0, runs > 0, fetchBytes > 0, segmentBytes > 0, minSeconds >= 0 else {
            throw ValidationError("sizes and counts must be positive")
        }
    }

    func run() throws {
        let partition = dir + "/bench-read"
        let log = try openOrBuild(partition)
        defer {
            try? log.close()
            if !keep { BenchFiles.removeTree(partition) }
        }
        let segments = BenchFiles.segmentLogSizes(partition)
        let logBytes = segments.reduce(0) { $0 + $1.size }
        print("read: \(partition): \(logBytes) bytes in \(segments.count) segments, offsets \(log.logStartOffset)..<\(log.logEndOffset)")
        print("read: segment files: " + segments.map { partition + "/" + $0.name }.joined(separator: " "))

        var sink = sink
        var target = try SendTarget.open(sink)
        let warm: Pass
        do {
            warm = try pass(log, offsets: nil, into: target)
        } catch let error as SendfileError where error.code == EINVAL && sink == .null {
            print("read: sendfile to /dev/null refused (EINVAL); using a loopback TCP socket instead")
            sink = .socket
            target = try SendTarget.open(sink)
            warm = try pass(log, offsets: nil, into: target)
        }
        let sinkName = sink == .null ? "/dev/null" : "loopback TCP socket (drained by a thread)"
        print("read: sendfile into \(sinkName), \(warm.fetches.count) fetches of maxBytes \(fetchBytes), page cache warm")
        print("untimed first pass (checks each batch's CRC once after the clean open): "
            + "\(logBytes) bytes of log in \(BenchFormat.fixed(warm.seconds, 3)) s = \(BenchFormat.fixed(Double(logBytes) / warm.seconds / 1e6, 1)) MB/s")

        // Each fetch sends whole batches plus the start of the next one that the byte limit cuts
        // (resent by the next fetch, as Kafka does); the rate counts each log byte once.
        print("read: each pass sends \(warm.bytes) bytes for \(logBytes) bytes of log; MB/s below count log bytes")
        var rates: [Double] = []
        for run in 1...runs {
            // Whole passes until `--min-seconds`, so that one figure is not a few milliseconds.
            var passes = 0
            var seconds = 0.0
            repeat {
                target = try SendTarget.open(sink)
                let timed = try pass(log, offsets: warm.fetches, into: target)
                guard timed.bytes == warm.bytes else {
                    throw BenchError("run \(run) sent \(timed.bytes) bytes, the first pass \(warm.bytes)")
                }
                passes += 1
                seconds += timed.seconds
            } while seconds < minSeconds
            let rate = Double(logBytes) * Double(passes) / seconds / 1e6
            rates.append(rate)
            print("run \(run): \(passes) passes of \(logBytes) bytes in \(BenchFormat.fixed(seconds, 3)) s = \(BenchFormat.fixed(rate, 1)) MB/s")
        }
        print("read_sink=\(sink.rawValue)")
        print("read_mb_s=\(BenchFormat.fixed(BenchStats.median(rates), 1))")
    }

    /// Reuses a cleanly closed log of at least `totalBytes`, or builds one through the append path.
    private func openOrBuild(_ partition: String) throws -> PartitionLog {
        var config = LogConfig()
        config.segmentBytes = segmentBytes
        if FileManager.default.fileExists(atPath: partition + "/.clean-shutdown"),
           BenchFiles.segmentLogSizes(partition).reduce(0, { $0 + $1.size }) >= totalBytes {
            print("read: reusing the log in \(partition)")
            return try PartitionLog.open(directory: partition, config: config, logger: BenchLogging.quiet)
        }
        BenchFiles.removeTree(partition)
        print("read: building \(BenchFormat.bytes(totalBytes)) of log in \(partition) through the append path")
        let pool = try BenchBatches.pool(count: 64, recordsPerBatch: 1000, valueBytes: 1024)
        _ = try BenchAppender.fill(directory: partition, pool: pool, totalBytes: totalBytes, segmentBytes: segmentBytes, timed: false)
        // Reopened after a clean close, as a restarted broker would serve it.
        return try PartitionLog.open(directory: partition, config: config, logger: BenchLogging.quiet)
    }

    struct Pass {
        var bytes = 0
        var seconds = 0.0
        var fetches: [Int64] = []
    }

    /// Reads the log start to end. Without `offsets`, finds each next fetch offset the way a
    /// consumer does (from the batch headers of what it received) and records it; with them,
    /// replays exactly those fetches, so the timed loop is only what the broker does.
    private func pass(_ log: PartitionLog, offsets: [Int64]?, into target: SendTarget) throws -> Pass {
        var result = Pass()
        let start = BenchClock.now()
        if let offsets {
            for offset in offsets {
                let read = try log.read(from: offset, maxBytes: fetchBytes)
                for range in read.ranges { result.bytes += try Self.send(range, to: target.descriptor) }
            }
        } else {
            var offset = log.logStartOffset
            let end = log.logEndOffset
            while offset < end {
                let read = try log.read(from: offset, maxBytes: fetchBytes)
                for range in read.ranges { result.bytes += try Self.send(range, to: target.descriptor) }
                result.fetches.append(offset)
                guard let next = try Self.offsetAfterWholeBatches(read), next > offset else {
                    throw BenchError("no whole batch at offset \(offset)")
                }
                offset = next
            }
        }
        try target.finish(expecting: result.bytes)
        result.seconds = BenchClock.now() - start
        return result
    }

    /// Sends one range with `sendfile(2)`, retrying short transfers.
    static func send(_ range: FileRange, to out: Int32) throws -> Int {
        var position = off_t(range.position)
        var left = range.length
        while left > 0 {
            let sent = sendfile(out, range.file.descriptor, &position, left)
            if sent > 0 {
                left -= sent
            } else if sent == 0 {
                throw BenchError("sendfile: \(range.file.path) ends before \(range.position + Int64(range.length))")
            } else if errno != EINTR && errno != EAGAIN {
                throw SendfileError(code: errno)
            }
        }
        return range.length
    }

    /// One past the last offset of the whole batches in a read result, from their headers.
    static func offsetAfterWholeBatches(_ read: LogReadResult) throws -> Int64? {
        var next: Int64?
        var header = [UInt8](repeating: 0, count: RecordBatch.headerSize)
        for range in read.ranges {
            var position = range.position
            let end = range.position + Int64(range.length)
            while position + Int64(RecordBatch.headerSize) <= end {
                let at = position
                let count = try header.withUnsafeMutableBytes { raw in try range.file.read(into: raw, at: at) }
                guard count == RecordBatch.headerSize else { break }
                let summary = header.withUnsafeBytes { RecordBatchSummary(uncheckedHeader: $0) }
                guard summary.sizeInBytes >= RecordBatch.headerSize, position + Int64(summary.sizeInBytes) <= end else { break }
                next = summary.nextOffset
                position += Int64(summary.sizeInBytes)
            }
        }
        return next
    }
}

struct SendfileError: Error, CustomStringConvertible {
    let code: Int32
    var description: String { "sendfile: \(String(cString: strerror(code))) (errno \(code))" }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The descriptor sendfile writes to for one pass.
final class SendTarget {
    let descriptor: Int32
    private let drain: LoopbackDrain?

    private init(descriptor: Int32, drain: LoopbackDrain?) {
        self.descriptor = descriptor
        self.drain = drain
    }

    static func open(_ sink: ReadBenchmark.Sink) throws -> SendTarget {
        switch sink {
        case .null:
            let fd = Foundation.open("/dev/null", O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else { throw BenchError("open /dev/null: errno \(errno)") }
            return SendTarget(descriptor: fd, drain: nil)
        case .socket:
            let drain = try LoopbackDrain()
            return SendTarget(descriptor: drain.sender, drain: drain)
        }
    }

    /// Ends the pass: for the socket, waits until the reader has drained every byte sent.
    func finish(expecting bytes: Int) throws {
        if let drain {
            let received = drain.finish()
            guard received == bytes else { throw BenchError("loopback reader got \(received) of \(bytes) bytes") }
        }
    }

    deinit {
        if drain == nil { close(descriptor) }
    }
}

/// A connected loopback TCP pair; a thread reads the far end into a scratch buffer until EOF.
final class LoopbackDrain {
    let sender: Int32
    private let done = DispatchSemaphore(value: 0)
    private let received = ReceivedBytes()
    private var finished = false

    final class ReceivedBytes: Sendable {
        let count = Mutex(0)
    }

    init() throws {
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard listener >= 0 else { throw BenchError("socket: errno \(errno)") }
        defer { close(listener) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw in
                bind(listener, raw, length) == 0 && listen(listener, 1) == 0 && getsockname(listener, raw, &length) == 0
            }
        }
        guard bound else { throw BenchError("bind/listen on 127.0.0.1: errno \(errno)") }
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard client >= 0 else { throw BenchError("socket: errno \(errno)") }
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, length) == 0 }
        }
        guard connected else { throw BenchError("connect to 127.0.0.1: errno \(errno)") }
        let server = accept(listener, nil, nil)
        guard server >= 0 else { throw BenchError("accept: errno \(errno)") }
        sender = client
        let received = self.received
        let done = self.done
        Thread.detachNewThread {
            let size = 1 << 20
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 64)
            var total = 0
            while true {
                let n = recv(server, buffer, size, 0)
                if n > 0 {
                    total += n
                } else if n == 0 || errno != EINTR {
                    break
                }
            }
            buffer.deallocate()
            close(server)
            received.count.withLock { $0 = total }
            done.signal()
        }
    }

    /// Closes the sending side and returns how many bytes the reader got before EOF.
    func finish() -> Int {
        guard !finished else { return received.count.withLock { $0 } }
        finished = true
        shutdown(sender, Int32(SHUT_WR))
        done.wait()
        close(sender)
        return received.count.withLock { $0 }
    }

    deinit { _ = finish() }
}
