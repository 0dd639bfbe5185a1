public import Logging
import Metrics
import LogflumeWire
public import NIOCore
import NIOPosix
public import ServiceLifecycle
public import Synchronization

/// The Kafka listener as a `Service`. On graceful shutdown it stops accepting, lets every
/// connection answer what it already received, then returns so the storage service can flush
/// and mark the logs cleanly closed.
public final class KafkaServer: Service {
    let listen: HostPort
    let maxFrameBytes: Int
    let processor: any RequestProcessor
    let group: any EventLoopGroup
    let logger: Logger
    let drainTimeoutMs: Int64
    private let connections = Mutex<[ObjectIdentifier: any Channel]>([:])
    /// Kafka clients connected now, across every server in the process (`logflume_broker_connections`).
    private let openConnections = Meter(label: "logflume_broker_connections")
    private let draining = Atomic<Bool>(false)
    /// Bound address once listening (port 0 picks a free one), for tests and logs.
    public let boundAddress = Mutex<SocketAddress?>(nil)
    private let ready: AsyncStream<SocketAddress>.Continuation
    public let readiness: AsyncStream<SocketAddress>

    public init(listen: HostPort, maxFrameBytes: Int, processor: any RequestProcessor, group: any EventLoopGroup, logger: Logger, drainTimeoutMs: Int64 = 30_000) {
        self.listen = listen
        self.maxFrameBytes = maxFrameBytes
        self.processor = processor
        self.group = group
        self.logger = logger
        self.drainTimeoutMs = drainTimeoutMs
        (readiness, ready) = AsyncStream.makeStream(of: SocketAddress.self)
    }

    public var isDraining: Bool { draining.load(ordering: .relaxed) }

    public func run() async throws {
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.backlog, value: 1024)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(ChannelOptions.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(ChannelOptions.maxMessagesPerRead, value: 16)
            .childChannelInitializer { [self] channel in
                let id = ObjectIdentifier(channel)
                connections.withLock { $0[id] = channel }
                openConnections.increment()
                channel.closeFuture.whenComplete { [self] _ in
                    _ = connections.withLock { $0.removeValue(forKey: id) }
                    openConnections.decrement()
                }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        ByteToMessageHandler(KafkaFrameDecoder(maxFrameSize: maxFrameBytes))
                    )
                    try channel.pipeline.syncOperations.addHandler(
                        KafkaConnectionHandler(processor: processor, logger: logger, isDraining: { [self] in isDraining })
                    )
                }
            }
            .bind(host: listen.host, port: listen.port)
            .get()
        let address = server.localAddress
        boundAddress.withLock { $0 = address }
        if let address { ready.yield(address) }
        ready.finish()
        logger.info("broker listening", metadata: ["address": "\(address?.description ?? "?")"])
        try await withGracefulShutdownHandler {
            try await server.closeFuture.get()
        } onGracefulShutdown: { [self] in
            logger.info("shutting down: no new connections, finishing in-flight requests")
            draining.store(true, ordering: .relaxed)
            server.close(promise: nil)
            processor.beginDraining()
        }
        await drainConnections()
    }

    /// Asks every connection to finish and waits for them to close (bounded by the drain timeout).
    private func drainConnections() async {
        let open = connections.withLock { Array($0.values) }
        for channel in open { channel.pipeline.fireUserInboundEventTriggered(DrainEvent()) }
        let deadline = ContinuousClock.now + .milliseconds(drainTimeoutMs)
        for channel in open {
            let remaining = deadline - ContinuousClock.now
            guard remaining > .zero else {
                channel.close(promise: nil)
                continue
            }
            let closed = channel.closeFuture
            let nanoseconds = remaining.components.seconds * 1_000_000_000 + remaining.components.attoseconds / 1_000_000_000
            let timeout = channel.eventLoop.scheduleTask(in: .nanoseconds(nanoseconds)) { channel.close(promise: nil) }
            try? await closed.get()
            timeout.cancel()
        }
        logger.info("all connections closed", metadata: ["connections": "\(open.count)"])
    }
}
