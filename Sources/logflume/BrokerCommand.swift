import ArgumentParser
import Foundation
import Logging
import LogflumeBroker
import LogflumeConfig
import LogflumeMetrics
import LogflumeStorage
import NIOCore
import NIOPosix
import ServiceLifecycle

/// `logflume broker`: a single-node broker speaking the Kafka protocol.
struct BrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "Run a broker that speaks the Kafka wire protocol.",
        discussion: "Flags override conf/broker.toml-style files given with --config; every key is documented there."
    )

    @Option(help: "HOST:PORT to accept Kafka clients on (default 127.0.0.1:9092).")
    var listen: String?

    @Option(name: .customLong("data-dir"), help: "Directory for partitions and cluster metadata (default ./data).")
    var dataDirectory: String?

    @Option(name: .customLong("node-id"), help: "This broker's id (default 0).")
    var nodeId: Int32?

    @Option(name: .customLong("advertised-listener"), help: "HOST:PORT clients are told to connect to.")
    var advertisedListener: String?

    @Option(help: "Configuration file (see conf/broker.toml).")
    var config: String?

    func run() async throws {
        var settings = BrokerConfig()
        do {
            if let config { settings = try BrokerConfig.load(file: config) }
        } catch {
            throw ValidationError("\(error)")
        }
        if let listen {
            guard let parsed = HostPort(listen) else { throw ValidationError("--listen '\(listen)' is not HOST:PORT") }
            settings.listen = parsed
        }
        if let advertisedListener {
            guard let parsed = HostPort(advertisedListener) else {
                throw ValidationError("--advertised-listener '\(advertisedListener)' is not HOST:PORT")
            }
            settings.advertisedListener = parsed
        }
        if let dataDirectory { settings.dataDirectory = dataDirectory }
        if let nodeId { settings.nodeId = nodeId }

        let logger = makeLogger(level: Logger.Level(rawValue: settings.logLevel) ?? .info)
        // Before the broker exists: metric handles made earlier would go nowhere.
        MetricsRegistry.bootstrap()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let broker = try BrokerServices(settings: settings, group: group, logger: logger)
        var services = broker.services
        if let listen = settings.metricsListen {
            let status = "broker \(settings.nodeId) on \(settings.listen), data in \(settings.dataDirectory)"
            guard let endpoint = MetricsEndpoint(listen: listen.description, logger: logger, status: { status }) else {
                throw ValidationError("metrics.listen '\(listen)' is not HOST:PORT")
            }
            services.append(endpoint)
        }
        let serviceGroup = ServiceGroup(
            configuration: .init(services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        try await serviceGroup.run()
        try await group.shutdownGracefully()
        logger.info("broker stopped cleanly")
    }
}
