public import Logging
public import LogflumeStorage
public import NIOCore
public import ServiceLifecycle

/// A whole broker as the services one `ServiceGroup` runs, in start order: the topic store
/// first (stopped last: flush and clean-shutdown markers), maintenance, the listener last
/// (stopped first). `logflume broker` runs these alone; `logflume up` and tests run them
/// beside an agent and an aggregator in one process.
public struct BrokerServices: Sendable {
    public let topics: TopicStore
    public let broker: Broker
    public let server: KafkaServer
    public let services: [any Service]

    /// - Parameter groupTickIntervalMs: how often group deadlines (sessions, rebalances) fire.
    public init(
        settings: BrokerConfig, group: any EventLoopGroup, clock: any WallClock = SystemWallClock(), logger: Logger,
        groupTickIntervalMs: Int64 = 100
    ) throws {
        topics = try TopicStore(dataDirectory: settings.dataDirectory, defaults: settings.topicDefaults, clock: clock, logger: logger)
        broker = try Broker(config: settings, topics: topics, clock: clock, logger: logger, groupConfig: settings.groups)
        server = KafkaServer(
            listen: settings.listen, maxFrameBytes: settings.socketRequestMaxBytes, processor: broker, group: group, logger: logger
        )
        services = [
            TopicStoreService(topics: topics),
            GroupCoordinatorTicker(coordinator: broker.groups, intervalMs: groupTickIntervalMs),
            LogMaintenance(topics: topics, task: .retention, intervalMs: settings.retentionCheckIntervalMs, clock: clock, logger: logger),
            LogMaintenance(topics: topics, task: .compaction, intervalMs: settings.cleanerBackoffMs, clock: clock, logger: logger),
            LogMaintenance(
                topics: topics, task: .flush(producerIdExpirationMs: settings.producerIdExpirationMs),
                intervalMs: settings.flushSchedulerIntervalMs, clock: clock, logger: logger
            ),
            server,
        ]
    }
}
