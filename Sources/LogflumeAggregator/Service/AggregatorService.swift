public import LogflumeClient
public import LogflumeStorage
public import Logging
public import ServiceLifecycle
import Synchronization

/// `logflume aggregator` as a swift-service-lifecycle `Service`: a consumer-group member that
/// writes hour-exact buckets with done-markers. On graceful shutdown (SIGTERM) it stops after the
/// current poll, drops files of buckets still open (they are rebuilt from the committed safe
/// offsets by whoever reads the partitions next) and leaves the group.
///
/// Any failure (sink, broker, rebalance mid-commit) ends the current session and starts a new
/// one from the committed offsets after a backoff, exactly as a restart would.
public final class AggregatorService: Service {
    public let config: AggregatorConfig
    public let cluster: KafkaCluster
    public let sink: any HourSink
    public let metrics: AggregatorMetrics
    let clock: any WallClock
    let logger: Logger
    /// A random id naming this process's staging files.
    let instance: String
    private let stopping = Atomic<Bool>(false)
    let faults: (@Sendable (CrashPoint) throws -> Void)?

    /// - Parameters:
    ///   - sink: default: what `config` names, the local filesystem under `config.root` or S3.
    ///   - clock: the wall clock that stands in for idle partitions.
    public convenience init(config: AggregatorConfig, cluster: KafkaCluster, sink: (any HourSink)? = nil, clock: any WallClock = SystemWallClock(), logger: Logger) {
        self.init(config: config, cluster: cluster, sink: sink, clock: clock, logger: logger, faults: nil)
    }

    init(
        config: AggregatorConfig, cluster: KafkaCluster, sink: (any HourSink)?, clock: any WallClock, logger: Logger,
        faults: (@Sendable (CrashPoint) throws -> Void)?
    ) {
        self.faults = faults
        self.config = config
        self.cluster = cluster
        self.sink = sink ?? config.makeSink(logger: logger)
        self.clock = clock
        self.logger = logger
        self.metrics = AggregatorMetrics(topics: config.topics)
        self.instance = String(UInt64.random(in: 0...UInt64.max) & 0xFFFF_FFFF_FFFF, radix: 16)
    }

    public func run() async throws {
        let hooks = DoneHookQueue()
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                if let hook = config.doneHook {
                    group.addTask { await self.runHooks(hook, from: hooks) }
                }
                defer { hooks.finish() }
                try await runSessions(hooks: config.doneHook == nil ? nil : hooks)
                hooks.finish()
                try await group.waitForAll()
            }
        } onGracefulShutdown: {
            self.stopping.store(true, ordering: .relaxed)
        }
        logger.info("aggregator stopped")
    }

    /// Runs queued hooks one at a time and settles each success in the journal. Once stopping,
    /// queued runs wait in the journal rather than hold up the shutdown (a hook may take minutes
    /// with its retries).
    private func runHooks(_ hook: DoneHook, from hooks: DoneHookQueue) async {
        let journal = DoneHookJournal(sink: sink, instance: instance)
        let isStopping: @Sendable () -> Bool = { self.stopping.load(ordering: .relaxed) || Task.isCancelled }
        var leftOwed = 0
        for await job in hooks.jobs {
            if isStopping() {
                leftOwed += 1
                continue
            }
            // Run and settled since it was queued (from a journal listing), here or elsewhere.
            if journal.isOwed(job), await hook.run(job, logger: logger, metrics: metrics, isStopping: isStopping) {
                do {
                    try journal.settle(job)
                } catch {
                    logger.warning("done-hook journal entry not removed; the hook will run again at a later check of the journal or after a restart", metadata: [
                        "topic": "\(job.topic)", "bucket": "\(job.bucket)", "error": "\(error)",
                    ])
                }
            }
            hooks.finished(job)
        }
        if leftOwed > 0 { logger.info("done-hooks left owed in the journal for the next start", metadata: ["count": "\(leftOwed)"]) }
    }

    private func runSessions(hooks: DoneHookQueue?) async throws {
        var backoffMs: Int64 = 250
        while !stopping.load(ordering: .relaxed) {
            let session = AggregatorSession(
                config: config, cluster: cluster, sink: sink, clock: clock, logger: logger, metrics: metrics, instance: instance,
                hooks: hooks, faults: faults
            )
            do {
                try await session.run { stopping.load(ordering: .relaxed) }
                await session.close()
                return
            } catch is CancellationError {
                await session.close()
                throw CancellationError()
            } catch {
                if error is LocalFileSystemSink.Failure || error is S3Error { metrics.sinkError() }
                logger.error("aggregator session failed; starting again from the committed offsets", metadata: [
                    "error": "\(error)", "retry.ms": "\(backoffMs)",
                ])
                await session.close()
                if stopping.load(ordering: .relaxed) { return }
                try await Task.sleep(for: .milliseconds(backoffMs))
                backoffMs = min(backoffMs * 2, 30_000)
            }
        }
    }
}
