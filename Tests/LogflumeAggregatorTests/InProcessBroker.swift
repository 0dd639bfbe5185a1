import Foundation
import LogflumeBroker
import LogflumeClient
import LogflumeStorage
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// A real broker in this process on a loopback port, over a temporary data directory.
final class InProcessBroker: @unchecked Sendable {
    let directory: String
    let eventLoops = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    let logger: Logger
    private(set) var port = 0
    private var task: Task<Void, any Error>?
    private var serviceGroup: ServiceGroup?

    var bootstrap: String { "127.0.0.1:\(port)" }

    init() async throws {
        directory = makeTemporaryDirectory("logflume-aggregator-broker")
        var logger = Logger(label: "test.broker") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = ProcessInfo.processInfo.environment["LOGFLUME_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        self.logger = logger
        var config = BrokerConfig()
        config.dataDirectory = directory + "/data"
        // The broker advertises its listen address in Metadata, so it needs a real port up front.
        port = try Self.freePort()
        config.listen = HostPort(host: "127.0.0.1", port: port)
        var groups = GroupCoordinatorConfig()
        groups.offsetsTopicNumPartitions = 1
        groups.initialRebalanceDelayMs = 0
        groups.minSessionTimeoutMs = 500
        let clock = SystemWallClock()
        let topics = try TopicStore(dataDirectory: config.dataDirectory, defaults: config.topicDefaults, clock: clock, logger: logger)
        let broker = try Broker(config: config, topics: topics, clock: clock, logger: logger, groupConfig: groups)
        let server = KafkaServer(listen: config.listen, maxFrameBytes: 100 << 20, processor: broker, group: eventLoops, logger: logger)
        let serviceGroup = ServiceGroup(configuration: .init(
            services: [
                .init(service: TopicStoreService(topics: topics)), .init(service: GroupCoordinatorTicker(coordinator: broker.groups, intervalMs: 20)),
                .init(service: server),
            ],
            logger: logger
        ))
        self.serviceGroup = serviceGroup
        task = Task { try await serviceGroup.run() }
        for await _ in server.readiness { break }
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0 else { throw POSIXError(.EADDRINUSE) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    func stop() async {
        await serviceGroup?.triggerGracefulShutdown()
        _ = try? await task?.value
        try? await eventLoops.shutdownGracefully()
        try? FileManager.default.removeItem(atPath: directory)
    }

    func withCluster<T>(_ body: (KafkaCluster) async throws -> T) async throws -> T {
        let cluster = try KafkaCluster(configuration: ClusterConfiguration(bootstrap: bootstrap, clientId: "aggregator-tests"), group: eventLoops, logger: logger)
        do {
            let result = try await body(cluster)
            await cluster.close()
            return result
        } catch {
            await cluster.close()
            throw error
        }
    }
}
