import ArgumentParser

/// Micro- and macro-benchmarks driven by the shell scripts in `bench/`, which run the physical
/// limit (fio, dd, memcpy) in the same run and print the ratio.
@main
struct LogflumeBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logflume-bench",
        abstract: "logflume benchmarks (run through bench/*.sh, which also measure the limit).",
        subcommands: [CRCBenchmark.self, AppendBenchmark.self, ReadBenchmark.self, ReopenBenchmark.self, LatencyBenchmark.self, S3RequestBenchmark.self, S3UploadBenchmark.self]
    )
}
