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
        let started = BenchClock.now()
        let cpuBefore = BenchClock.cpuSeconds()
        for index in 0..<pairs {
            let path = "bench/object-\(index)"
            try sink.write(body, to: path, instance: "bench")
            guard try sink.read(path) == body else { throw ValidationError("GET \(path) did not return what was PUT") }
        }
        let seconds = BenchClock.now() - started
        print("requests=\(2 * pairs)")
        print("seconds=\(BenchFormat.fixed(seconds, 3))")
        print("requests_per_second=\(BenchFormat.fixed(Double(2 * pairs) / seconds, 1))")
        print("cpu_seconds=\(BenchFormat.fixed(BenchClock.cpuSeconds() - cpuBefore, 3))")
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
