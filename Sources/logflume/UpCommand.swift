import ArgumentParser
import Foundation
import Logging
import LogflumeAgent
import LogflumeAggregator
import LogflumeBroker
import LogflumeClient
import LogflumeMetrics
import NIOCore
import NIOPosix
import ServiceLifecycle

/// `logflume up`: the whole pipeline in one process on the embedded default: a broker, an agent
/// tailing sample nginx logs (or yours), and an aggregator writing hour files with done-markers.
struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Run broker, agent and aggregator together: nginx logs in, hour files with _SUCCESS markers out.",
        discussion: """
            Without --logs, sample nginx access logs are written first: several hours before the current
            one, in rotated files, with lines crossing hour boundaries out of order. Hours close once the
            watermark passes them (the wall clock stands in for idle partitions), so the sample hours get
            their markers within seconds. Point --logs at a directory like /var/log/nginx to ship real logs.
            """
    )

    @Option(help: "Working directory for the broker's data, the agent's state and the sample logs.")
    var data: String = "./demo-data/up"

    @Option(help: "Where hour files go.")
    var out: String = "./out"

    @Option(help: "Directory whose access.log* files to ship (default: generated samples under --data).")
    var logs: String?

    @Option(help: "HOST:PORT for the embedded broker.")
    var listen: String = "127.0.0.1:9092"

    @Option(help: "HOST:PORT for /metrics and /status (empty: off).")
    var metrics: String = "127.0.0.1:9155"

    @Option(help: "Topic the agent ships to.")
    var topic: String = "nginx-access"

    @Flag(name: .customLong("exit-when-done"), help: "Exit once every sample hour has its done-marker (for the quick start and CI).")
    var exitWhenDone = false

    @Option(name: .customLong("log-level"), help: "Log level of the three parts (status goes to stderr regardless).")
    var logLevel: String = "warning"

    func run() async throws {
        guard let listenAddress = HostPort(listen) else { throw ValidationError("--listen '\(listen)' is not HOST:PORT") }
        let logger = makeLogger(level: Logger.Level(rawValue: logLevel) ?? .warning)
        MetricsRegistry.bootstrap()
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)

        var samples: SampleNginxLogs?
        let logDirectory: String
        if let logs {
            logDirectory = logs
        } else {
            logDirectory = data + "/logs"
            let sample = SampleNginxLogs(nowMs: Int64(Date().timeIntervalSince1970 * 1000))
            // Fresh samples each run, and fresh state, so the demo always starts from the beginning.
            for stale in [logDirectory, data + "/broker", data + "/agent"] { try? FileManager.default.removeItem(atPath: stale) }
            try FileManager.default.createDirectory(atPath: logDirectory, withIntermediateDirectories: true)
            let files = try sample.write(into: logDirectory)
            samples = sample
            note("wrote \(sample.totalLines) sample nginx lines (\(sample.hours) hours, \(files.count) rotated files) to \(logDirectory)")
        }

        var brokerSettings = BrokerConfig()
        brokerSettings.listen = listenAddress
        brokerSettings.dataDirectory = data + "/broker"
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let broker = try BrokerServices(settings: brokerSettings, group: group, logger: logger)

        var agentConfig = AgentConfig()
        agentConfig.brokers = [listen]
        agentConfig.topic = topic
        agentConfig.stateDirectory = data + "/agent"
        var input = InputConfig(paths: [URL(fileURLWithPath: logDirectory).standardizedFileURL.path + "/access.log*"])
        input.format = .nginx(NginxLogFormat.combined)
        input.key = .remoteAddress
        agentConfig.inputs = [input]

        var aggregatorConfig = AggregatorConfig()
        aggregatorConfig.bootstrapServers = listen
        aggregatorConfig.topics = [topic]
        aggregatorConfig.groupId = "logflume-up"
        aggregatorConfig.root = out
        aggregatorConfig.aggregation.delayMs = 60_000
        aggregatorConfig.aggregation.idleTimeoutMs = 5_000
        aggregatorConfig.aggregation.maxOpenBuckets = 8

        let clientGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let agentCluster = try KafkaCluster(configuration: ClusterConfiguration(bootstrapServers: [listen], clientId: "logflume-agent"), group: clientGroup, logger: logger)
        let aggregatorCluster = try KafkaCluster(configuration: ClusterConfiguration(bootstrapServers: [listen], clientId: "logflume-aggregator"), group: clientGroup, logger: logger)
        let agent = Agent(config: agentConfig, cluster: agentCluster, logger: logger)
        let aggregator = AggregatorService(config: aggregatorConfig, cluster: aggregatorCluster, logger: logger)
        let statusCluster = try KafkaCluster(configuration: ClusterConfiguration(bootstrapServers: [listen], clientId: "logflume-up"), group: clientGroup, logger: logger)
        let status = PipelineStatus(
            agent: agent, admin: Admin(cluster: statusCluster), topic: topic, group: aggregatorConfig.groupId,
            out: out + "/" + topic, expectedHours: samples?.hourPaths, exitWhenDone: exitWhenDone
        )

        var services: [any Service] = broker.services + [agent, aggregator, status]
        if !metrics.isEmpty, let endpoint = MetricsEndpoint(listen: metrics, logger: logger, status: { agent.statusLine }) {
            services.append(endpoint)
        }
        note("broker on \(listen), agent tailing \(input.paths[0]), aggregator writing \(out)/\(topic)/dt=.../hr=.../" + (metrics.isEmpty ? "" : ", metrics on http://\(metrics)/metrics"))
        let serviceGroup = ServiceGroup(configuration: .init(
            services: services.map { .init(service: $0, successTerminationBehavior: $0 is PipelineStatus ? .gracefullyShutdownGroup : .ignore) },
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger
        ))
        do {
            try await serviceGroup.run()
        } catch {
            await shutdownClients([agentCluster, aggregatorCluster, statusCluster], clientGroup, group)
            throw error
        }
        await shutdownClients([agentCluster, aggregatorCluster, statusCluster], clientGroup, group)
        if isatty(STDERR_FILENO) == 1 { FileHandle.standardError.write(Data("\n".utf8)) }
        if let expected = samples?.hourPaths {
            let closed = expected.filter { FileManager.default.fileExists(atPath: "\(out)/\(topic)/\($0)/_SUCCESS") }
            print("\(closed.count) of \(expected.count) sample hours closed with _SUCCESS under \(out)/\(topic):")
            for hour in closed { print("  \(out)/\(topic)/\(hour)/_SUCCESS") }
            if exitWhenDone && closed.count < expected.count { throw ExitCode(1) }
        }
    }

    private func shutdownClients(_ clusters: [KafkaCluster], _ clientGroup: MultiThreadedEventLoopGroup, _ group: MultiThreadedEventLoopGroup) async {
        for cluster in clusters { await cluster.close() }
        try? await clientGroup.shutdownGracefully()
        try? await group.shutdownGracefully()
    }

    private func note(_ text: String) {
        FileHandle.standardError.write(Data("logflume up: \(text)\n".utf8))
    }
}

/// The live status line of `logflume up`, and the end of the run with --exit-when-done.
final class PipelineStatus: Service {
    let agent: Agent
    let admin: Admin
    let topic: String
    let group: String
    let out: String
    let expectedHours: [String]?
    let exitWhenDone: Bool

    init(agent: Agent, admin: Admin, topic: String, group: String, out: String, expectedHours: [String]?, exitWhenDone: Bool) {
        self.agent = agent
        self.admin = admin
        self.topic = topic
        self.group = group
        self.out = out
        self.expectedHours = expectedHours
        self.exitWhenDone = exitWhenDone
    }

    func run() async throws {
        let started = Date()
        // A terminal gets one line rewritten in place; a log file gets a line every 5 s.
        let terminal = isatty(STDERR_FILENO) == 1
        while !Task.isCancelled && !Task<Never, Never>.isShuttingDownGracefully {
            try? await Task.sleep(for: .seconds(1))
            let markers = countMarkers()
            let lag = await aggregatorLag()
            let elapsed = Int(Date().timeIntervalSince(started))
            let expected = expectedHours.map { "/\($0.count)" } ?? ""
            let status = "[\(elapsed)s] lines shipped \(agent.counters[.linesShipped]) | aggregator lag \(lag.map(String.init) ?? "?") records | hours closed \(markers)\(expected)"
            if terminal {
                FileHandle.standardError.write(Data("\r\(status)   ".utf8))
            } else if elapsed % 5 == 0 {
                FileHandle.standardError.write(Data("\(status)\n".utf8))
            }
            if exitWhenDone, let expectedHours, expectedHours.allSatisfy({ FileManager.default.fileExists(atPath: "\(out)/\($0)/_SUCCESS") }) {
                return
            }
        }
    }

    /// Records in the topic not yet inside a closed hour: end offsets minus the group's safe offsets.
    private func aggregatorLag() async -> Int64? {
        guard let description = try? await admin.describeTopic(topic) else { return nil }
        let partitions = description.partitions.map { TopicPartition(topic, $0.partition) }
        guard let committed = try? await admin.committedOffsets(group: group, topicPartitions: partitions) else { return nil }
        return description.partitions.reduce(0) { total, partition in
            total + max(0, partition.logEndOffset - max(0, committed[TopicPartition(topic, partition.partition)] ?? 0))
        }
    }

    private func countMarkers() -> Int {
        guard let enumerator = FileManager.default.enumerator(atPath: out) else { return 0 }
        var count = 0
        for case let path as String in enumerator where path.hasSuffix("/_SUCCESS") && !path.contains("/late/") { count += 1 }
        return count
    }
}
