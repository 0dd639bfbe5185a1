import ArgumentParser
import Foundation
import Logging
import LogflumeAgent
import LogflumeClient
import LogflumeConfig
import LogflumeMetrics
import NIOPosix
import ServiceLifecycle
import UnixSignals

/// `logflume agent`: tail log files on a web host and ship their lines to the broker.
struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Tail log files and ship their lines to the broker (see agents/).",
        subcommands: [AgentRunCommand.self, AgentStatusCommand.self],
        defaultSubcommand: AgentRunCommand.self
    )
}

struct AgentRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the agent (the default). SIGTERM stops it gracefully; SIGUSR1 logs a status line."
    )

    @Option(help: "Configuration file (see agents/nginx.toml).")
    var config: String = "/etc/logflume/agent.toml"

    @Flag(name: .customLong("check-config"), help: "Check the configuration file and exit.")
    var checkConfig = false

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical.")
    var logLevel: String = "info"

    func run() async throws {
        let settings: AgentConfig
        do {
            settings = try AgentConfig.load(file: config)
        } catch {
            throw ValidationError("\(error)")
        }
        if checkConfig {
            let paths = settings.inputs.flatMap(\.paths).joined(separator: ", ")
            print("\(config): OK (\(settings.inputs.count) inputs: \(paths); brokers \(settings.brokers.joined(separator: ",")); topic \(settings.topic))")
            return
        }
        let logger = makeLogger(level: Logger.Level(rawValue: logLevel) ?? .info)
        MetricsRegistry.bootstrap()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let cluster = try KafkaCluster(
            configuration: ClusterConfiguration(bootstrapServers: settings.brokers, clientId: "logflume-agent"), group: group, logger: logger
        )
        let agent = Agent(config: settings, cluster: cluster, logger: logger)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: agent)]
        if !settings.metricsListen.isEmpty, let endpoint = MetricsEndpoint(listen: settings.metricsListen, logger: logger, status: { agent.statusLine }) {
            services.append(.init(service: endpoint))
        }
        let statusSignals = Task {
            for await _ in await UnixSignalsSequence(trapping: .sigusr1) {
                logger.info("status: \(agent.statusLine)")
            }
        }
        let serviceGroup = ServiceGroup(configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await serviceGroup.run()
        } catch {
            statusSignals.cancel()
            await cluster.close()
            try? await group.shutdownGracefully()
            throw error
        }
        statusSignals.cancel()
        await cluster.close()
        try await group.shutdownGracefully()
    }
}

/// `logflume agent status`: the running agent's one-line status, from its state directory.
struct AgentStatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Print the running agent's status line.")

    @Option(help: "Configuration file of the agent.")
    var config: String = "/etc/logflume/agent.toml"

    func run() throws {
        let settings: AgentConfig
        do {
            settings = try AgentConfig.load(file: config)
        } catch {
            throw ValidationError("\(error)")
        }
        let path = settings.stateDirectory + "/status"
        guard let text = try? String(contentsOfFile: path, encoding: .utf8),
            let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            let modified = attributes[.modificationDate] as? Date
        else {
            throw ValidationError("no status at \(path): is the agent running with this configuration?")
        }
        let age = Date().timeIntervalSince(modified)
        let freshness = age < 5 ? "" : String(format: " (stale: written %.0f s ago; the agent may not be running)", age)
        print(text.trimmingCharacters(in: .whitespacesAndNewlines) + freshness)
    }
}
