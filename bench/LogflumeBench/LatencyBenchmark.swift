import ArgumentParser
import Foundation
import Logging
import LogflumeClient
import NIOCore
import NIOPosix
import Synchronization

/// Produce latency at a fixed rate, measured by the Swift producer: `bench/broker.sh` runs it
/// at half of kcat's maximum rate, where a Python client would itself saturate a 2-core box.
///
/// Every millisecond the records due by then are queued as one burst (`enqueueAvailable`); each
/// record's latency is from its burst's queueing to its own delivery report (acks=1 by
/// default), so it includes the time records wait in the producer, as a caller sees it. The first
/// `--warmup` seconds are not counted.
struct LatencyBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "produce-latency",
        abstract: "Fixed-rate produce; prints p50/p99/p99.9 latency from queueing to delivery."
    )

    @Option(help: "HOST:PORT of a broker.")
    var bootstrap: String

    @Option(help: "Topic (must exist).")
    var topic: String

    @Option(help: "Records per second.")
    var rate: Int

    @Option(help: "Measured seconds.")
    var seconds: Double = 10

    @Option(help: "Seconds before measuring starts.")
    var warmup: Double = 1

    @Option(help: "Value bytes per record.")
    var size: Int = 100

    @Option(help: "Producer linger.ms.")
    var lingerMs: Int64 = 0

    @Option(help: "Acknowledgements: 0, 1 or all.")
    var acks: String = "1"

    @Flag(help: "Also print the worst latency of each 100 ms of queueing, to tell steady queueing from stalls.")
    var timeline = false

    func validate() throws {
        guard rate > 0, seconds > 0, warmup >= 0, size >= 0, lingerMs >= 0 else { throw ValidationError("rates, sizes and times must be positive") }
        guard ProducerConfiguration.Acks(name: acks) != nil else { throw ValidationError("--acks must be 0, 1 or all") }
    }

    /// Latencies of the measured records in a histogram of 1 µs buckets (one slot per
    /// millisecond beyond 100 ms), and the failures: a fixed table, so recording a record costs
    /// a clock reading and an uncontended lock, never a growing array.
    final class Samples: Sendable {
        static let fineMicros = 100_000
        private let state: Mutex<(buckets: [Int], coarse: [Int: Int], count: Int, failures: Int, delivered: Int, worst: [Int])>
        let startNs: UInt64

        /// `windows`: how many 100 ms windows of queueing to keep the worst latency of (0: none).
        init(startNs: UInt64, windows: Int) {
            self.startNs = startNs
            state = Mutex((Array(repeating: 0, count: Self.fineMicros), [:], 0, 0, 0, Array(repeating: 0, count: windows)))
        }

        func add(_ report: DeliveryReport, queuedAtNs: UInt64, measured: Bool) {
            let micros = Int((DispatchTime.now().uptimeNanoseconds - queuedAtNs) / 1_000)
            let window = Int((queuedAtNs - startNs) / 100_000_000)
            state.withLock { state in
                guard case .success = report.result else {
                    state.failures += 1
                    return
                }
                state.delivered += 1
                if window < state.worst.count { state.worst[window] = max(state.worst[window], micros) }
                guard measured else { return }
                if micros < Self.fineMicros {
                    state.buckets[max(0, micros)] += 1
                } else {
                    state.coarse[micros / 1_000, default: 0] += 1
                }
                state.count += 1
            }
        }

        /// Latency in milliseconds below which the fraction `p` of the measured records lie.
        func percentile(_ p: Double) -> Double {
            state.withLock { state in
                guard state.count > 0 else { return .nan }
                let rank = min(state.count - 1, Int(Double(state.count) * p))
                var seen = 0
                for (micros, n) in state.buckets.enumerated() where n > 0 {
                    seen += n
                    if seen > rank { return Double(micros) / 1_000 }
                }
                for millis in state.coarse.keys.sorted() {
                    seen += state.coarse[millis]!
                    if seen > rank { return Double(millis) }
                }
                return .nan
            }
        }

        /// The worst latency (ms) of the records queued in each 100 ms window, in window order.
        var worstPerWindow: [Double] { state.withLock { $0.worst.map { Double($0) / 1_000 } } }

        var totals: (measured: Int, failures: Int, delivered: Int) { state.withLock { ($0.count, $0.failures, $0.delivered) } }
    }

    func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var logger = Logger(label: "logflume-bench")
        logger.logLevel = .warning
        let cluster = try KafkaCluster(configuration: ClusterConfiguration(bootstrap: bootstrap, clientId: "logflume-bench"), group: group, logger: logger)
        var settings = ProducerConfiguration()
        settings.acks = ProducerConfiguration.Acks(name: acks)!
        settings.idempotence = settings.acks == .all
        settings.lingerMs = lingerMs
        let producer = try Producer(cluster: cluster, configuration: settings)
        let value = ByteBuffer(repeating: UInt8(ascii: "x"), count: size)
        let start = DispatchTime.now().uptimeNanoseconds
        let samples = Samples(startNs: start, windows: timeline ? Int((warmup + seconds) * 10) + 1 : 0)
        let warmupEnd = start + UInt64(warmup * 1e9)
        let end = warmupEnd + UInt64(seconds * 1e9)
        var queued = 0
        var burst: [ProducerRecord] = []
        while true {
            let now = DispatchTime.now().uptimeNanoseconds
            if now >= end { break }
            let due = Int(Double(now - start) / 1e9 * Double(rate))
            if due > queued {
                burst.removeAll(keepingCapacity: true)
                for _ in queued..<due { burst.append(ProducerRecord(topic: topic, partition: 0, value: value)) }
                let measured = now >= warmupEnd
                let callback: DeliveryCallback = { samples.add($0, queuedAtNs: now, measured: measured) }
                var offered = burst[...]
                while !offered.isEmpty {
                    let taken = try await producer.enqueueAvailable(offered, onDelivery: callback)
                    offered = offered.dropFirst(taken)
                    if !offered.isEmpty { await producer.waitForBufferSpace(below: settings.bufferMemoryBytes / 2, timeoutMs: 100) }
                }
                queued = due
            }
            try await Task.sleep(for: .microseconds(1_000 - Int((DispatchTime.now().uptimeNanoseconds - now) / 1_000) % 1_000))
        }
        try await producer.flush()
        await producer.close()
        await cluster.close()
        try await group.shutdownGracefully()

        let totals = samples.totals
        func percentile(_ p: Double) -> Double { samples.percentile(p) }
        let achieved = Double(queued) / (Double(end - start) / 1e9)
        print("produce-latency: \(queued) records of \(size) B queued at \(rate)/s (achieved \(Int(achieved))/s), acks=\(acks), linger.ms=\(lingerMs); "
            + "\(totals.delivered) delivered, \(totals.failures) failed; \(totals.measured) measured after \(warmup) s of warm-up")
        print(String(format: "latency_p50_ms=%.3f", percentile(0.50)))
        print(String(format: "latency_p99_ms=%.3f", percentile(0.99)))
        print(String(format: "latency_p999_ms=%.3f", percentile(0.999)))
        print("failed=\(totals.failures)")
        if timeline {
            print("worst_ms_per_100ms=" + samples.worstPerWindow.map { String(format: "%.1f", $0) }.joined(separator: " "))
        }
    }
}
