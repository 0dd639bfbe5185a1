import ArgumentParser
import Foundation
import Logging
import LogflumeAggregator

/// Sequential S3 requests through the aggregator's sink, as it publishes an hour: PUT a small
/// object, then GET it back, `--requests` times. `bench/s3.sh` runs it against moto over http
/// and https and runs boto3 doing the same requests beside it.
struct S3RequestBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "s3-requests",
        abstract: "Sequential PUT + GET pairs through the S3 sink; prints requests/s and CPU seconds."
    )

    @OptionGroup var server: S3ServerOptions

    @Option(help: "PUT + GET pairs.")
    var pairs = 200

    @Option(help: "Object bytes.")
    var size = 1024

    func run() throws {
        let sink = S3Sink(configuration: server.sinkConfiguration(), logger: S3ServerOptions.quiet)
        let body = [UInt8](repeating: 0x61, count: size)
        let started = ContinuousClock.now
        let cpuBefore = cpuSeconds()
        for index in 0..<pairs {
            let path = "bench/object-\(index)"
            try sink.write(body, to: path, instance: "bench")
            guard try sink.read(path) == body else { throw ValidationError("GET \(path) did not return what was PUT") }
        }
        let seconds = secondsSince(started)
        print("requests=\(2 * pairs)")
        print("seconds=\(String(format: "%.3f", seconds))")
        print("requests_per_second=\(String(format: "%.1f", Double(2 * pairs) / seconds))")
        print("cpu_seconds=\(String(format: "%.3f", cpuSeconds() - cpuBefore))")
    }

}

/// The S3 server the bench subcommands talk to.
struct S3ServerOptions: ParsableArguments {
    @Option(help: "http(s)://host:port of the S3 server.")
    var endpoint: String

    @Option(help: "Bucket (must exist).")
    var bucket: String

    @Option(help: "PEM of an extra trusted CA for https.")
    var caFile = ""

    /// The sink's settings for a bench run: no retries, so a failure shows at once.
    func sinkConfiguration() -> S3SinkConfiguration {
        var configuration = S3SinkConfiguration(endpoint: endpoint, bucket: bucket)
        configuration.accessKeyId = ProcessInfo.processInfo.environment["AWS_ACCESS_KEY_ID"] ?? "bench"
        configuration.secretAccessKey = ProcessInfo.processInfo.environment["AWS_SECRET_ACCESS_KEY"] ?? "bench"
        configuration.caFile = caFile
        configuration.retries = 0
        return configuration
    }

    static let quiet = Logger(label: "s3-bench") { _ in SwiftLogNoOpLogHandler() }
}

func secondsSince(_ start: ContinuousClock.Instant) -> Double {
    let elapsed = start.duration(to: .now)
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

/// User plus system CPU seconds of this process so far.
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}
