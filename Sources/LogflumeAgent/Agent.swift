import Foundation
public import Logging
public import LogflumeClient
public import LogflumeStorage
public import ServiceLifecycle
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The edge agent as a `Service`: tails the configured files and ships their lines to the
/// broker, at least once, with checkpoints that only cover acknowledged (or spooled) lines.
///
/// On graceful shutdown it stops reading, gives the broker a few seconds to acknowledge what is
/// in flight, writes its checkpoints and returns; lines still unacknowledged are read again on
/// the next start.
public final class Agent: Service {
    public let config: AgentConfig
    public let counters = AgentCounters()
    let cluster: KafkaCluster
    let clock: any WallClock
    let logger: Logger
    let host: String
    /// How long shutdown waits for acknowledgements.
    let shutdownGraceMs: Int64
    private let statusText = Mutex("starting")
    private let stopRequested = Atomic<Bool>(false)

    public init(config: AgentConfig, cluster: KafkaCluster, clock: any WallClock = SystemWallClock(), logger: Logger, shutdownGraceMs: Int64 = 5_000) {
        self.config = config
        self.cluster = cluster
        self.clock = clock
        self.logger = logger
        self.host = config.host.isEmpty ? Self.hostname() : config.host
        self.shutdownGraceMs = shutdownGraceMs
    }

    /// One line saying what the agent is doing, refreshed about once a second.
    public var statusLine: String { statusText.withLock { $0 } }

    /// Asks the run loop to stop as on SIGTERM (for callers that do not use a ServiceGroup).
    public func stop() { stopRequested.store(true, ordering: .relaxed) }

    public func run() async throws {
        try Self.makeDirectory(config.stateDirectory)
        var producerConfiguration = config.producer
        // Retries never give up: a line is only ever dropped when the configuration says so.
        producerConfiguration.bufferMemoryBytes = config.memoryBufferBytes
        producerConfiguration.deliveryTimeoutMs = Int64(Int32.max) * 1_000
        producerConfiguration.maxBlockMs = 2_000
        let producer = try Producer(cluster: cluster, configuration: producerConfiguration, logger: logger)
        let spool = config.spoolMaxBytes > 0 ? try Spool(directory: config.effectiveSpoolDirectory, maxBytes: config.spoolMaxBytes) : nil
        let shipper = Shipper(producer: producer, spool: spool, config: config, counters: counters, clock: clock, logger: logger)
        let tailer: Tailer
        do {
            tailer = try Tailer(config: config, host: host, shipper: shipper, counters: counters, clock: clock, logger: logger)
        } catch {
            await producer.close(abandonAfterMs: 0)
            throw error
        }
        logger.info("agent started", metadata: ["inputs": "\(config.inputs.count)", "host": "\(host)", "state_dir": "\(config.stateDirectory)"])
        let drainer = Task { await shipper.drainSpool() }
        var nextStatusAt: Int64 = 0
        await withGracefulShutdownHandler {
            while !stopRequested.load(ordering: .relaxed) && !Task.isCancelled {
                let readSomething = await tailer.pass()
                let now = clock.nowMilliseconds
                if now >= nextStatusAt {
                    nextStatusAt = now + 1_000
                    publishStatus(tailer: tailer, producer: producer, spool: spool, shipper: shipper)
                }
                if !readSomething { try? await Task.sleep(for: .milliseconds(tailer.idleWaitMs)) }
            }
        } onGracefulShutdown: { [self] in
            stop()
        }
        logger.info("agent stopping: waiting for the broker to acknowledge lines in flight", metadata: ["grace_ms": "\(shutdownGraceMs)"])
        drainer.cancel()
        await drainer.value
        let delivered = await producer.close(abandonAfterMs: shutdownGraceMs)
        tailer.checkpoint(now: clock.nowMilliseconds)
        publishStatus(tailer: tailer, producer: producer, spool: spool, shipper: shipper)
        logger.info(
            delivered ? "agent stopped: everything read was acknowledged" : "agent stopped: unacknowledged lines will be read again on restart",
            metadata: ["status": "\(statusLine)"]
        )
    }

    private func publishStatus(tailer: Tailer, producer: Producer, spool: Spool?, shipper: Shipper) {
        tailer.updateGauges()
        let spoolBytes = spool?.bytes ?? 0
        tailer.gauges.spoolBytes.record(spoolBytes)
        tailer.gauges.bufferedBytes.record(producer.bufferedBytes)
        let roundTrip = producer.lastRoundTripNanoseconds
        if roundTrip > 0 { tailer.gauges.roundTrip.recordNanoseconds(roundTrip) }
        let line = [
            "files=\(tailer.openFileCount)",
            "read=\(counters[.linesRead])",
            "shipped=\(counters[.linesShipped])",
            "failed=\(counters[.linesFailed])",
            "spooled=\(counters[.linesSpooled])",
            "dropped=\(counters[.linesDropped])",
            "parse_errors=\(counters[.parseErrors])",
            "lost_bytes=\(counters[.lostBytes])",
            "behind=\(tailer.bytesBehind)B",
            "buffered=\(producer.bufferedBytes)B",
            "spool=\(spoolBytes)B",
            "rtt=\(Double(roundTrip / 10_000) / 100)ms",
            "mode=\(shipper.isSpooling ? "spooling" : "direct")",
        ].joined(separator: " ")
        statusText.withLock { $0 = line }
        // Renamed into place but not fsynced: a status line need not survive a power cut, and an
        // fsync a second is a cost the web host should not pay.
        try? (line + "\n").write(toFile: config.stateDirectory + "/status", atomically: true, encoding: .utf8)
    }

    static func makeDirectory(_ path: String) throws(AgentError) {
        var built = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            built += "/" + component
            if mkdir(built, 0o750) != 0 && errno != EEXIST {
                throw .stateDirectory(path: path, reason: "cannot create \(built): \(SystemError(errno: errno))")
            }
        }
        guard access(path, W_OK) == 0 else { throw .stateDirectory(path: path, reason: "not writable: \(SystemError(errno: errno))") }
    }

    static func hostname() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "unknown" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
