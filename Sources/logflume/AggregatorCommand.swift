import ArgumentParser
import Foundation
import Logging
import LogflumeAggregator
import LogflumeClient
import LogflumeConfig
import LogflumeMetrics
import NIOPosix
import ServiceLifecycle

/// `logflume aggregator`: hour-exact files with done-markers from a consumer group, and
/// `logflume aggregator replay` to regenerate hours from the broker.
struct AggregatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aggregator",
        abstract: "Write hour-exact files with manifests and done-markers from one or more topics.",
        discussion: "Every setting is documented in conf/aggregator.toml; the design is in docs/aggregator.md.",
        subcommands: [Run.self, Replay.self, Fingerprint.self],
        defaultSubcommand: Run.self
    )

    /// Loads the config file (or the defaults) and applies the flags shared by both subcommands.
    static func settings(config: String?, bootstrap: String?, output: String?) throws -> AggregatorConfig {
        var settings = AggregatorConfig()
        if let config {
            do { settings = try AggregatorConfig.load(file: config) } catch { throw ValidationError("\(error)") }
        }
        if let bootstrap { settings.bootstrapServers = bootstrap }
        if let output { settings.root = output }
        return settings
    }

    /// Rebuilds and replays overwrite files under the same names, which is safe only while
    /// every instance writes the same bytes; say so at start when this machine may not.
    static func warnIfBytesMayDiffer(_ settings: AggregatorConfig, logger: Logger) {
        if let warning = OutputPortability.warning(for: settings.output) { logger.warning("\(warning)") }
    }

    static func withCluster<T>(_ settings: AggregatorConfig, logger: Logger, _ body: (KafkaCluster) async throws -> T) async throws -> T {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let cluster: KafkaCluster
        do {
            let configuration = ClusterConfiguration(
                bootstrapServers: settings.bootstrapServers.split(separator: ",").map(String.init), clientId: settings.clientId
            )
            cluster = try KafkaCluster(configuration: configuration, group: group, logger: logger)
        } catch {
            try? await group.shutdownGracefully()
            throw ValidationError("\(error)")
        }
        do {
            let result = try await body(cluster)
            await cluster.close()
            try? await group.shutdownGracefully()
            return result
        } catch {
            await cluster.close()
            try? await group.shutdownGracefully()
            throw error
        }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "run", abstract: "Run an aggregator instance (the default); SIGTERM stops it cleanly.")

        @Option(help: "Configuration file (see conf/aggregator.toml).")
        var config: String?

        @Option(help: "Comma-separated HOST:PORT list of brokers (overrides kafka.bootstrap_servers).")
        var bootstrap: String?

        @Option(help: "Output root directory (overrides output.root).")
        var output: String?

        func run() async throws {
            let settings = try AggregatorCommand.settings(config: config, bootstrap: bootstrap, output: output)
            guard !settings.topics.isEmpty else { throw ValidationError("no topics: set kafka.topics in the configuration file") }
            let logger = makeLogger(level: Logger.Level(rawValue: settings.logLevel) ?? .info)
            HeapRetention.keepFreedMemoryForReuse(logger: logger)
            AggregatorCommand.warnIfBytesMayDiffer(settings, logger: logger)
            try await AggregatorCommand.withCluster(settings, logger: logger) { cluster in
                MetricsRegistry.bootstrap()
                let service = AggregatorService(config: settings, cluster: cluster, logger: logger)
                var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: service)]
                if !settings.metricsListen.isEmpty,
                    let endpoint = MetricsEndpoint(listen: settings.metricsListen, logger: logger, status: { "aggregator \(settings.groupId) topics=\(settings.topics.joined(separator: ","))" })
                {
                    services.append(.init(service: endpoint))
                }
                let group = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
                logger.info("aggregator starting", metadata: [
                    "topics": "\(settings.topics.joined(separator: ","))", "group": "\(settings.groupId)", "output": "\(settings.root)",
                    "files": "\(settings.output.summary)",
                ])
                try await group.run()
            }
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "replay",
            abstract: "Regenerate hours of a topic from the broker into a directory.",
            discussion: """
                Reading starts at the first offset whose timestamp is at or after --from minus --margin
                and stops at the end offsets seen at start. Format, codec, granularity and timezone come
                from --config, so the files match what the live aggregator writes (byte for byte; with
                gzip_encoder = "isa-l", on x86-64 CPUs with SSE4.2 at levels 0-2; compare
                `logflume aggregator fingerprint` across machines).
                """
        )

        @Option(help: "Topic to replay.")
        var topic: String

        @Option(help: "First hour to regenerate, e.g. 2026-11-20T10:00Z.")
        var from: String

        @Option(help: "End of the range (exclusive), e.g. 2026-11-20T14:00Z.")
        var to: String

        @Option(help: "Directory to write <topic>/dt=.../hr=.../ under.")
        var output: String

        @Option(help: "How far before --from reading starts, for records that arrived out of order (default 1h).")
        var margin: String = "1h"

        @Option(help: "Configuration file whose output and bucket settings to use.")
        var config: String?

        @Option(help: "Comma-separated HOST:PORT list of brokers (overrides the config file).")
        var bootstrap: String?

        func run() async throws {
            let settings = try AggregatorCommand.settings(config: config, bootstrap: bootstrap, output: output)
            guard let fromMs = EventTime.parse(from) else { throw ValidationError("--from '\(from)' is not a time like 2026-11-20T10:00Z") }
            guard let toMs = EventTime.parse(to) else { throw ValidationError("--to '\(to)' is not a time like 2026-11-20T14:00Z") }
            guard fromMs < toMs else { throw ValidationError("--from must be before --to") }
            guard let marginMs = ConfigValues.parseDuration(margin), marginMs >= 0 else { throw ValidationError("--margin '\(margin)' is not a duration") }
            let logger = makeLogger(level: .warning)
            HeapRetention.keepFreedMemoryForReuse(logger: logger)
            AggregatorCommand.warnIfBytesMayDiffer(settings, logger: logger)
            var options = HourReplay.Options(topic: topic, from: fromMs, to: toMs, calendar: settings.calendar)
            options.output = settings.output
            options.marginMs = marginMs
            let summary = try await AggregatorCommand.withCluster(settings, logger: logger) { cluster in
                let replay = HourReplay(cluster: cluster, options: options, sink: LocalFileSystemSink(root: output), logger: logger)
                var lastShown = Date.distantPast
                return try await replay.run { progress in
                    guard Date().timeIntervalSince(lastShown) >= 0.1 || progress.recordsRead == progress.recordsToRead else { return }
                    lastShown = Date()
                    let percent = progress.recordsToRead == 0 ? 100 : Int(progress.recordsRead * 100 / progress.recordsToRead)
                    let filled = percent / 5
                    let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: 20 - filled)
                    FileHandle.standardError.write(Data("\rreplay \(topic) [\(bar)] \(percent)% \(progress.recordsRead)/\(progress.recordsToRead) records read, \(progress.recordsWritten) in range".utf8))
                }
            }
            FileHandle.standardError.write(Data("\n".utf8))
            print("replayed \(summary.buckets.count) bucket(s) of \(topic) into \(output): \(summary.recordsWritten) records (\(summary.recordsRead) read)")
        }
    }
}
