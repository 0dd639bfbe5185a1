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
/// record's latency is from its burst's queueing to its delivery report (acks=1 by default), so
/// it includes the time records wait in the producer, as a caller sees it. The first
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

    func validate() throws {
        guard rate > 0, seconds > 0, warmup >= 0, size >= 0, lingerMs >= 0 else { throw ValidationError("rates, sizes and times must be positive") }
        guard ProducerConfiguration.Acks(name: acks) != nil else { throw ValidationError("--acks must be 0, 1 or all") }
    }

    /// Latencies in microseconds of the measured records, and the failures.
    final class Samples: Sendable {
        private let state = Mutex<(latencies: [Int32], failures: Int, delivered: Int)>(([], 0, 0))

        func add(_ report: DeliveryReport, queuedAtNs: UInt64, measured: Bool) {
            let latency = Int32(clamping: (DispatchTime.now().uptimeNanoseconds - queuedAtNs) / 1_000)
            state.withLock { state in
                guard case .success = report.result else {
                    state.failures += 1
                    return
                }
                state.delivered += 1
                if measured { state.latencies.append(latency) }
            }
        }

        var snapshot: (latencies: [Int32], failures: Int, delivered: Int) { state.withLock { $0 } }
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
        let samples = Samples()
        let start = DispatchTime.now().uptimeNanoseconds
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

        let result = samples.snapshot
        let sorted = result.latencies.sorted()
        func percentile(_ p: Double) -> Double {
            sorted.isEmpty ? .nan : Double(sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]) / 1_000
        }
        let achieved = Double(queued) / (Double(end - start) / 1e9)
        print("produce-latency: \(queued) records of \(size) B queued at \(rate)/s (achieved \(Int(achieved))/s), acks=\(acks), linger.ms=\(lingerMs); "
            + "\(result.delivered) delivered, \(result.failures) failed; \(sorted.count) measured after \(warmup) s of warm-up")
        print(String(format: "latency_p50_ms=%.3f", percentile(0.50)))
        print(String(format: "latency_p99_ms=%.3f", percentile(0.99)))
        print(String(format: "latency_p999_ms=%.3f", percentile(0.999)))
        print("failed=\(result.failures)")
    }
}
