import Foundation
public import Logging
public import LogflumeBroker
public import NIOPosix
import ServiceLifecycle

/// A real broker in the test process, on a free loopback port with its own data directory: the
/// same services `logflume broker` runs (`BrokerServices`), shared by the agent and aggregator
/// test targets.
public final class EmbeddedBroker: Sendable {
    public let port: Int
    public let dataDirectory: String
    public let group: MultiThreadedEventLoopGroup
    private let serviceGroup: ServiceGroup
    private let runner: Task<Void, any Error>

    public var bootstrap: String { "127.0.0.1:\(port)" }

    /// - Parameters:
    ///   - configure: adjusts the settings (group coordinator timings, ...) before the start.
    ///   - groupTickIntervalMs: how often group deadlines fire; tests use short sessions.
    public init(
        dataDirectory: String, port: Int? = nil, eventLoopThreads: Int = 1, groupTickIntervalMs: Int64 = 100,
        logger: Logger = testLogger("broker"), configure: (inout BrokerConfig) -> Void = { _ in }
    ) async throws {
        self.dataDirectory = dataDirectory
        self.port = try port ?? freeLoopbackPort()
        var settings = BrokerConfig()
        // The broker advertises its listen address in Metadata, so it needs a real port up front.
        settings.listen = HostPort(host: "127.0.0.1", port: self.port)
        settings.dataDirectory = dataDirectory
        configure(&settings)
        group = MultiThreadedEventLoopGroup(numberOfThreads: eventLoopThreads)
        let services = try BrokerServices(settings: settings, group: group, logger: logger, groupTickIntervalMs: groupTickIntervalMs)
        serviceGroup = ServiceGroup(services: services.services, logger: logger)
        let serviceGroup = self.serviceGroup
        runner = Task { try await serviceGroup.run() }
        for await _ in services.server.readiness { break }
    }

    /// Stops the broker as SIGTERM would and shuts its event loops down.
    public func stop() async {
        await serviceGroup.triggerGracefulShutdown()
        _ = await runner.result
        try? await group.shutdownGracefully()
    }
}

/// A logger for tests: warnings unless `LOGFLUME_TEST_LOG` names a level.
public func testLogger(_ label: String) -> Logger {
    var logger = Logger(label: label) { StreamLogHandler.standardError(label: $0) }
    logger.logLevel = ProcessInfo.processInfo.environment["LOGFLUME_TEST_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
    return logger
}

/// A loopback TCP port that was free a moment ago.
public func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw POSIXError(.EADDRINUSE) }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return Int(UInt16(bigEndian: address.sin_port))
}
