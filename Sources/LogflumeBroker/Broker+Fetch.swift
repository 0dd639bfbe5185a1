import LogflumeStorage
import LogflumeWire
import NIOCore

extension Broker {
    /// A fetch's answer before encoding: the response with placeholders for record data, and the
    /// file ranges each placeholder stands for.
    struct FetchResult {
        var response: FetchResponse
        var ranges: [Int: [FileRange]]
        var bytes: Int
        var hasErrors: Bool
    }

    /// Reads every requested partition once, honouring the partition and response byte limits
    /// (the client's and the broker's `fetch.max.bytes`); the first partition with data always
    /// gets a whole batch (KIP-74).
    func readFetch(_ request: FetchRequest, version: Int16) -> FetchResult {
        var remaining = answerMaxBytes(request, version: version)
        var ranges: [Int: [FileRange]] = [:]
        var total = 0
        var hasErrors = false
        var responses: [FetchResponse.FetchableTopicResponse] = []
        for topic in request.topics {
            var partitions: [FetchResponse.PartitionData] = []
            for wanted in topic.partitions {
                var data = FetchResponse.PartitionData(partitionIndex: wanted.partition, errorCode: 0, highWatermark: -1, records: .bytes(ByteBuffer()))
                defer { partitions.append(data) }
                guard let partition = topics.partition(topic.topic, wanted.partition) else {
                    data.errorCode = KafkaErrorCode.unknownTopicOrPartition.rawValue
                    hasErrors = true
                    continue
                }
                let highWatermark = partition.highWatermark
                data.highWatermark = highWatermark
                data.lastStableOffset = highWatermark
                data.logStartOffset = partition.logStartOffset
                data.abortedTransactions = []
                if let code = epochMismatch(requested: wanted.currentLeaderEpoch, partition: partition) {
                    data.errorCode = code.rawValue
                    hasErrors = true
                    continue
                }
                let limit = min(Int(max(wanted.partitionMaxBytes, 0)), remaining)
                let minOneBatch = total == 0
                guard limit > 0 || minOneBatch else { continue }
                do {
                    let read = try partition.read(from: wanted.fetchOffset, maxBytes: limit, minOneBatch: minOneBatch)
                    guard read.byteCount > 0 else { continue }
                    let token = ranges.count
                    ranges[token] = read.ranges
                    data.records = .external(length: read.byteCount, token: token)
                    total += read.byteCount
                    remaining = max(0, remaining - read.byteCount)
                } catch LogError.offsetOutOfRange {
                    data.errorCode = KafkaErrorCode.offsetOutOfRange.rawValue
                    hasErrors = true
                } catch {
                    logger.error("fetch failed", metadata: ["partition": "\(topic.topic)-\(wanted.partition)", "error": "\(error)"])
                    data.errorCode = KafkaErrorCode.kafkaStorageError.rawValue
                    hasErrors = true
                }
            }
            responses.append(.init(topic: topic.topic, partitions: partitions))
        }
        return FetchResult(response: FetchResponse(responses: responses), ranges: ranges, bytes: total, hasErrors: hasErrors)
    }

    /// The most record bytes an answer may carry: the client's `max.bytes` (v3+) and the broker's
    /// `fetch.max.bytes`, whichever is lower.
    func answerMaxBytes(_ request: FetchRequest, version: Int16) -> Int {
        min(version >= 3 ? Int(request.maxBytes) : Int.max, config.fetchMaxBytes)
    }

    /// Fetch with long polling: answered at once when `min.bytes` are there (or on errors),
    /// otherwise when new data arrives or `max.wait.ms` passes, whichever is first. `min.bytes`
    /// above what an answer may carry counts as that much, as Kafka clamps it: otherwise a
    /// client asking for more than the cap would wait out `max.wait.ms` on every fetch.
    func fetch(
        _ request: FetchRequest, version: Int16, header: RequestHeader, connection: ConnectionInfo, eventLoop: any EventLoop
    ) -> EventLoopFuture<OutboundResponse?> {
        let minBytes = max(1, min(Int(request.minBytes), answerMaxBytes(request, version: version)))
        let first = readFetch(request, version: version)
        if first.bytes >= minBytes || request.maxWaitMs <= 0 || first.hasErrors || connection.draining() {
            return eventLoop.makeSucceededFuture(encodeFetch(first, version: version, header: header))
        }
        let waiting = request.topics.flatMap { topic in topic.partitions.compactMap { topics.partition(topic.topic, $0.partition) } }
        let wait = FetchWait(eventLoop: eventLoop)
        let deadline = NIODeadline.now() + .milliseconds(Int64(request.maxWaitMs))
        let finish: @Sendable (Bool) -> Void = { [self] timedOut in
            eventLoop.assertInEventLoop()
            guard !wait.done else { return }
            let result = readFetch(request, version: version)
            if !timedOut && result.bytes < minBytes && !result.hasErrors && !connection.draining() {
                wait.rearm()
                return
            }
            wait.complete(with: encodeFetch(result, version: version, header: header))
        }
        wait.arm = { [weak wait] in
            guard let wait else { return }
            wait.tokens = waiting.map { partition in
                (partition, partition.whenDataArrives { eventLoop.execute { finish(false) } })
            }
        }
        wait.timer = eventLoop.scheduleTask(deadline: deadline) { finish(true) }
        wait.rearm()
        // Data appended between the first read and the registration woke nobody: look again.
        eventLoop.execute { finish(false) }
        return wait.promise.futureResult
    }

    func encodeFetch(_ result: FetchResult, version: Int16, header: RequestHeader) -> OutboundResponse {
        let chunks = KafkaResponseFrame.encode(
            correlationId: header.correlationId, headerVersion: ApiKey.fetch.responseHeaderVersion(version)
        ) { chunks in
            result.response.encode(into: &chunks, version: version)
        }
        var parts: [OutboundResponse.Part] = []
        for chunk in chunks {
            switch chunk {
            case .bytes(let buffer): parts.append(.bytes(buffer))
            case .external(let token, _): parts += (result.ranges[token] ?? []).map { .file($0) }
            }
        }
        return OutboundResponse(parts: parts)
    }
}

/// One long-polling fetch. Touched only on its event loop; data-arrival callbacks hop there.
final class FetchWait: @unchecked Sendable {
    let promise: EventLoopPromise<OutboundResponse?>
    var tokens: [(Partition, UInt64)] = []
    var timer: Scheduled<Void>?
    var arm: () -> Void = {}
    private(set) var done = false

    init(eventLoop: any EventLoop) {
        promise = eventLoop.makePromise()
    }

    func rearm() {
        cancelWaiters()
        arm()
    }

    func complete(with response: OutboundResponse) {
        done = true
        cancelWaiters()
        timer?.cancel()
        arm = {}
        promise.succeed(response)
    }

    private func cancelWaiters() {
        for (partition, token) in tokens { partition.cancelWaiter(token) }
        tokens = []
    }
}
