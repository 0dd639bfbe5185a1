import ArgumentParser
import Foundation
import LogflumeAggregator

/// One large data file published through the aggregator's S3 sink as a multipart upload, as an
/// hour's part file goes up: `bench/s3.sh` runs it against moto next to boto3's `upload_file`
/// with the same part size and concurrency.
struct S3UploadBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "s3-upload",
        abstract: "Publish one file through the S3 sink as a multipart upload; prints MB/s and CPU seconds."
    )

    @OptionGroup var server: S3ServerOptions

    @Option(help: "The file to upload (it is copied to the sink's staging directory first, untimed).")
    var file: String

    @Option(help: "Part size in MiB.")
    var partMib = 16

    @Option(help: "Parts in flight at once.")
    var concurrency = 4

    func run() throws {
        var configuration = server.sinkConfiguration()
        configuration.multipartThresholdBytes = 5 << 20
        configuration.multipartPartBytes = Int64(partMib) << 20
        configuration.multipartConcurrency = concurrency
        let sink = S3Sink(configuration: configuration, logger: S3ServerOptions.quiet)
        let path = "bench/upload-\(getpid())"
        let staged = try sink.stagingPath(for: path, instance: "bench")
        try FileManager.default.copyItem(atPath: file, toPath: staged)
        let bytes = try FileManager.default.attributesOfItem(atPath: staged)[.size] as? Int ?? 0
        let started = BenchClock.now()
        let cpuBefore = BenchClock.cpuSeconds()
        try sink.publish(staged: staged, to: path)
        let seconds = BenchClock.now() - started
        let cpu = BenchClock.cpuSeconds() - cpuBefore
        guard sink.exists(path) else { throw ValidationError("\(path) is not there after the upload") }
        print("bytes=\(bytes)")
        print("seconds=\(BenchFormat.fixed(seconds, 3))")
        print("megabytes_per_second=\(BenchFormat.fixed(Double(bytes) / 1e6 / seconds, 1))")
        print("cpu_seconds=\(BenchFormat.fixed(cpu, 3))")
    }
}
