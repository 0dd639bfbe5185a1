import Logging
import LogflumeClient
import LogflumeStorage
import Synchronization

/// Takes the records of each chunk to the broker: straight into the producer while its memory
/// buffer has room, otherwise into the fsynced on-disk spool, whose drainer feeds the producer
/// as the broker catches up. While the spool holds records, new ones queue behind them so each
/// file's lines keep their order. When the spool is full too, the tailer stops reading
/// (backpressure), unless `buffer.when_full = "drop_newest"` says to drop (and count) lines.
final class Shipper: Sendable {
    let producer: Producer
    let spool: Spool?
    let memoryBufferBytes: Int
    let spoolAfterMs: Int64
    /// When `linesShipped` was last seen to change (or the agent started), and its value then:
    /// the broker's silence is measured from it without a clock read per acknowledgement.
    private let lastProgressAt: Atomic<Int64>
    private let lastShippedSeen = Atomic<Int>(0)
    let whenFull: AgentConfig.WhenFull
    let counters: AgentCounters
    let logger: Logger
    let clock: any WallClock
    private let spooling: Atomic<Bool>
    private let failureLogged = Atomic<Int64>(0)

    init(producer: Producer, spool: Spool?, config: AgentConfig, counters: AgentCounters, clock: any WallClock, logger: Logger) {
        self.clock = clock
        self.spoolAfterMs = config.spoolAfterMs
        self.lastProgressAt = Atomic(clock.nowMilliseconds)
        self.producer = producer
        self.spool = spool
        self.memoryBufferBytes = config.memoryBufferBytes
        self.whenFull = config.whenFull
        self.counters = counters
        self.logger = logger
        // Frames left from an earlier run go first.
        self.spooling = Atomic(spool?.hasUnread ?? false)
    }

    var isSpooling: Bool { spooling.load(ordering: .relaxed) }

    /// Ships what it can of `records` (all lines of `chunk`) and returns the rest, which the
    /// caller offers again later without reading further (backpressure). Waits at most about
    /// 200 ms, so the caller keeps writing checkpoints while the broker is slow.
    func ship(_ records: ArraySlice<ProducerRecord>, chunk: ShippedChunk) async -> ArraySlice<ProducerRecord> {
        var remaining = records
        if !isSpooling {
            let onDelivery: DeliveryCallback = { [self] report in
                count(report)
                chunk.recordsSettled()
            }
            var waits = 0
            while !remaining.isEmpty {
                do {
                    let taken = try await producer.enqueueAvailable(remaining, onDelivery: onDelivery)
                    remaining = remaining.dropFirst(taken)
                    if remaining.isEmpty { return remaining }
                } catch {
                    // No metadata within max.block: the broker is away.
                    logger.debug("producer did not take records", metadata: ["error": "\(error)"])
                    if spool == nil { return dropIfConfigured(remaining, chunk: chunk) }
                    break
                }
                // The memory buffer is full. A slow broker means wait; a silent one means spool.
                if spool != nil && brokerSilentMs() >= spoolAfterMs { break }
                if waits == 2 { return spool == nil ? dropIfConfigured(remaining, chunk: chunk) : remaining }
                waits += 1
                await producer.waitForBufferSpace(below: memoryBufferBytes, timeoutMs: 100)
            }
            guard let spool else { return remaining }
            spooling.store(true, ordering: .relaxed)
            logger.warning(
                "the broker has acknowledged nothing for a while: spooling lines to disk",
                metadata: ["spool": "\(spool.directory)", "silent_ms": "\(brokerSilentMs())"]
            )
        }
        guard let spool else { return dropIfConfigured(remaining, chunk: chunk) }
        do {
            if try spool.append(Array(remaining)) {
                counters.add(.linesSpooled, remaining.count)
                chunk.recordsSettled(remaining.count)
                return []
            }
        } catch {
            logger.error("cannot write to the spool; reading pauses until it works", metadata: ["error": "\(error)"])
            return remaining
        }
        return dropIfConfigured(remaining, chunk: chunk)
    }

    /// How long the broker has acknowledged nothing, as far as this shipper has looked.
    private func brokerSilentMs() -> Int64 {
        let now = clock.nowMilliseconds
        let shipped = counters[.linesShipped]
        if shipped != lastShippedSeen.load(ordering: .relaxed) {
            lastShippedSeen.store(shipped, ordering: .relaxed)
            lastProgressAt.store(now, ordering: .relaxed)
        }
        return now - lastProgressAt.load(ordering: .relaxed)
    }

    private func dropIfConfigured(_ records: ArraySlice<ProducerRecord>, chunk: ShippedChunk) -> ArraySlice<ProducerRecord> {
        guard whenFull == .dropNewest else { return records }
        counters.add(.linesDropped, records.count)
        chunk.recordsSettled(records.count)
        return []
    }

    /// Counts a record's outcome; the caller then settles whatever it was waiting for.
    private func count(_ report: DeliveryReport) {
        switch report.result {
        case .success: counters.add(.linesShipped)
        case .failure(let error): failed(error)
        }
    }

    /// A record the broker refused for good (too large, invalid topic): counted and logged at
    /// most once a second; retrying it forever would stop its file.
    private func failed(_ error: ProducerError) {
        counters.add(.linesFailed)
        let now = clock.nowMilliseconds
        let last = failureLogged.load(ordering: .relaxed)
        if now - last >= 1_000, failureLogged.compareExchange(expected: last, desired: now, ordering: .relaxed).exchanged {
            logger.error("the broker refused lines; they are counted in lines_failed", metadata: ["error": "\(error)"])
        }
    }

    /// Feeds spooled records to the producer until cancelled; turns spooling off once the spool
    /// is drained and the producer has room again.
    func drainSpool() async {
        guard let spool else { return }
        while !Task.isCancelled {
            spool.removeSettledSegments()
            if producer.bufferedBytes < memoryBufferBytes / 2, spool.hasUnread {
                for (segment, records) in spool.read(maxBytes: max(64 << 10, memoryBufferBytes / 4)) {
                    let onDelivery: DeliveryCallback = { [self] report in
                        count(report)
                        segment.settled.add(1, ordering: .releasing)
                    }
                    var remaining = records[...]
                    while !remaining.isEmpty && !Task.isCancelled {
                        let taken = (try? await producer.enqueueAvailable(remaining, onDelivery: onDelivery)) ?? 0
                        remaining = remaining.dropFirst(taken)
                        if !remaining.isEmpty { await producer.waitForBufferSpace(below: memoryBufferBytes, timeoutMs: 200) }
                    }
                }
                continue
            }
            if isSpooling && !spool.hasUnread && producer.bufferedBytes < memoryBufferBytes / 2 {
                spooling.store(false, ordering: .relaxed)
                logger.info("spool drained: shipping directly again")
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }
}
