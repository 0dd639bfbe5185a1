import ArgumentParser
import Foundation
import LogflumeAggregator
import LogflumeWire
import NIOCore

extension AggregatorCommand {
    /// `logflume aggregator fingerprint`: what this machine's output bytes look like, so an
    /// operator can check that every instance of a group writes the same bytes for the same
    /// records before relying on it (mixed CPU generations with ISA-L's gzip, mixed library
    /// versions after a partial upgrade).
    struct Fingerprint: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "fingerprint",
            abstract: "Hash the files this machine writes for a fixed sample, to compare across instances.",
            discussion: """
                Writes a built-in sample of nginx lines as one bucket with the output settings of --config
                (format, codec, gzip encoder, level, part size) and prints the SHA-256 of those settings
                and the files. Rebuilding a bucket under the same names after a crash or rebalance relies
                on every instance writing the same bytes: instances that print different fingerprints do
                not. The file is loaded whole, as the aggregator loads it (with an S3 sink, the same
                environment for credentials).
                """
        )

        @Option(help: "Configuration file whose output settings to use (default: the defaults).")
        var config: String?

        @Option(help: "Leave the sample's files in this directory instead of a temporary one.")
        var keep: String?

        /// The sample: 10,000 requests, one every 360 ms from 2026-01-01T00:00Z, about 2 MB of
        /// lines, so every codec writes several chunks.
        static let sampleRecords = 10_000
        static let sampleStartMs: Int64 = 1_767_225_600_000

        func run() throws {
            let settings = try AggregatorCommand.settings(config: config, bootstrap: nil, output: nil)
            var random = SplitMix64(seed: 20_260_101)
            let records = (0..<Self.sampleRecords).map { index in
                let startMs = Self.sampleStartMs + Int64(index) * 360
                return Record(offset: Int64(index), timestamp: startMs, key: nil, value: ByteBuffer(string: SampleNginxLogs.line(startMs: startMs, random: &random)))
            }
            let scratch = keep ?? FileManager.default.temporaryDirectory.appendingPathComponent("logflume-fingerprint-\(getpid())").path
            defer { if keep == nil { try? FileManager.default.removeItem(atPath: scratch) } }
            let fingerprint: OutputFingerprint
            do {
                fingerprint = try OutputFingerprint.compute(records: records, settings: settings.output, scratch: scratch)
            } catch {
                FileHandle.standardError.write(Data("logflume aggregator fingerprint: writing the sample under \(scratch): \(error)\n".utf8))
                throw ExitCode.failure
            }
            print("output:      \(settings.output.summary)")
            print("sample:      \(fingerprint.records) records in \(fingerprint.files.count) file(s), \(fingerprint.compressedBytes) bytes")
            print("cpu:         \(OutputPortability.CPU.current)")
            print("fingerprint: \(fingerprint.sha256)")
            if let warning = OutputPortability.warning(for: settings.output) {
                FileHandle.standardError.write(Data("warning: \(warning)\n".utf8))
            }
        }
    }
}
