public import Logging
public import LogflumeStorage
public import ServiceLifecycle

/// The broker's background work on its logs, each loop a `Service`: retention by time and size,
/// compaction of `cleanup.policy=compact` topics, and the flush scheduler (`flush.ms` deadlines,
/// producer-state snapshots, expiry of idle producers).
public struct LogMaintenance: Service {
    public enum Job: Sendable {
        case retention
        case compaction
        case flush(producerIdExpirationMs: Int64)
    }

    let topics: TopicStore
    let task: Job
    let intervalMs: Int64
    let clock: any WallClock
    let logger: Logger

    public init(topics: TopicStore, task: Job, intervalMs: Int64, clock: any WallClock, logger: Logger) {
        self.topics = topics
        self.task = task
        self.intervalMs = intervalMs
        self.clock = clock
        self.logger = logger
    }

    public func run() async throws {
        // Sleeping loops must not hold up shutdown: cancel the wait when it begins.
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: .milliseconds(intervalMs))
                runOnce()
            }
        }
    }

    /// One pass over every partition; failures are logged per partition and never stop the loop.
    public func runOnce() {
        for partition in topics.allPartitions {
            do {
                switch task {
                case .retention:
                    try partition.log.applyRetention()
                case .compaction:
                    try partition.log.compact()
                case .flush(let expiration):
                    try partition.log.flushIfDue()
                    partition.expireProducers(olderThan: clock.nowMilliseconds - expiration)
                    try partition.snapshotProducerState()
                }
            } catch {
                logger.error("log maintenance failed", metadata: [
                    "task": "\(task)", "partition": "\(partition.topic)-\(partition.index)", "error": "\(error)",
                ])
            }
        }
    }
}

/// Owns the topic store's lifetime: started first and stopped last, so every listener is gone
/// before the logs are flushed and marked cleanly closed.
public struct TopicStoreService: Service {
    let topics: TopicStore

    public init(topics: TopicStore) { self.topics = topics }

    public func run() async throws {
        try? await gracefulShutdown()
        topics.close()
    }
}

/// Drives the group coordinator's deadlines (session timeouts, rebalance phases, offset expiry).
public struct GroupCoordinatorTicker: Service {
    let coordinator: GroupCoordinator
    let intervalMs: Int64

    public init(coordinator: GroupCoordinator, intervalMs: Int64 = 100) {
        self.coordinator = coordinator
        self.intervalMs = intervalMs
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: .milliseconds(intervalMs))
                coordinator.tick()
            }
        }
    }
}
