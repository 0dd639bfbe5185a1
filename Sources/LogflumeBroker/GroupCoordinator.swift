public import Logging
public import LogflumeStorage
import LogflumeWire
import NIOCore
import Synchronization

/// Runs the group coordinator state machine against the broker: requests in, records appended to
/// the compacted `__consumer_offsets` topic, then responses out, possibly to requests parked
/// earlier (a JoinGroup waits for the rebalance). On start the topic is replayed to rebuild every
/// group and committed offset.
public final class GroupCoordinator: Sendable {
    public static let topicName = "__consumer_offsets"

    let topics: TopicStore
    let config: GroupCoordinatorConfig
    let clock: any WallClock
    let logger: Logger
    private let inner: Mutex<Inner>

    struct Parked {
        var promise: EventLoopPromise<OutboundResponse?>
        var correlationId: Int32
        var version: Int16
    }

    struct Inner: ~Copyable {
        var machine: GroupCoordinatorState
        var parked: [GroupCoordinatorState.RequestToken: Parked] = [:]
        var nextToken: UInt64 = 0
    }

    public init(topics: TopicStore, config: GroupCoordinatorConfig = GroupCoordinatorConfig(), clock: any WallClock, logger: Logger) throws {
        self.topics = topics
        self.config = config
        self.clock = clock
        self.logger = logger
        if topics.topic(Self.topicName) == nil {
            let outcome = topics.create(
                name: Self.topicName, partitions: config.offsetsTopicNumPartitions, replicationFactor: 1,
                configs: [("cleanup.policy", "compact"), ("segment.bytes", String(100 << 20))]
            )
            if case .failed(let code, let message) = outcome, code != .topicAlreadyExists {
                throw BrokerRequestError.malformed(peer: "startup", reason: "cannot create \(Self.topicName): \(message)")
            }
        }
        var machine = GroupCoordinatorState(config: config)
        _ = machine.beginLoading()
        var replayed = 0
        for partition in topics.topic(Self.topicName)?.partitions ?? [] {
            try partition.log.forEachRecord(from: partition.logStartOffset) { record, _ in
                guard let key = record.key else { return }
                do {
                    try machine.replay(key: key, value: record.value)
                    replayed += 1
                } catch {
                    logger.warning("skipping unreadable __consumer_offsets record", metadata: [
                        "partition": "\(partition.index)", "offset": "\(record.offset)", "error": "\(error)",
                    ])
                }
            }
        }
        machine.finishLoading(now: clock.nowMilliseconds)
        inner = Mutex(Inner(machine: machine))
        logger.info("group coordinator loaded", metadata: ["records": "\(replayed)", "groups": "\(machine.groups.count)"])
    }

    /// Handles one group API request; the future completes when the state machine answers it.
    func handle(_ request: KafkaRequest, header: RequestHeader, eventLoop: any EventLoop) -> EventLoopFuture<OutboundResponse?> {
        let promise = eventLoop.makePromise(of: OutboundResponse?.self)
        let now = clock.nowMilliseconds
        let version = header.requestApiVersion
        let deliveries: [(Parked, GroupCoordinatorState.Response)] = inner.withLock { inner in
            inner.nextToken += 1
            let token = GroupCoordinatorState.RequestToken(inner.nextToken)
            inner.parked[token] = Parked(promise: promise, correlationId: header.correlationId, version: version)
            let outcome: GroupCoordinatorState.Outcome
            switch request {
            case .joinGroup(let r):
                outcome = inner.machine.join(r, version: version, clientId: header.clientId ?? "", clientHost: "/127.0.0.1", token: token, now: now)
            case .syncGroup(let r): outcome = inner.machine.sync(r, version: version, token: token, now: now)
            case .heartbeat(let r): outcome = inner.machine.heartbeat(r, version: version, token: token, now: now)
            case .leaveGroup(let r): outcome = inner.machine.leave(r, version: version, token: token, now: now)
            case .offsetCommit(let r): outcome = inner.machine.commitOffsets(r, version: version, token: token, now: now)
            case .offsetFetch(let r): outcome = inner.machine.fetchOffsets(r, version: version, token: token, now: now)
            case .describeGroups(let r): outcome = inner.machine.describe(r, version: version, token: token, now: now)
            case .listGroups(let r): outcome = inner.machine.list(r, version: version, token: token, now: now)
            case .deleteGroups(let r): outcome = inner.machine.delete(r, version: version, token: token, now: now)
            default:
                inner.parked[token] = nil
                return []
            }
            return apply(outcome, now: now, inner: &inner)
        }
        deliver(deliveries)
        return promise.futureResult
    }

    /// Fires due deadlines (session expiry, rebalance phases, offset retention).
    public func tick() {
        let now = clock.nowMilliseconds
        let deliveries = inner.withLock { inner in apply(inner.machine.tick(now: now), now: now, inner: &inner) }
        deliver(deliveries)
    }

    /// Appends the outcome's records (under the lock, so the log has them in decision order), then
    /// hands back the responses to deliver; a failed append fails them instead.
    private func apply(
        _ outcome: GroupCoordinatorState.Outcome, now: Int64, inner: inout Inner
    ) -> [(Parked, GroupCoordinatorState.Response)] {
        var deliveries = outcome.responses
        if !outcome.recordsToAppend.isEmpty {
            do {
                try append(outcome.recordsToAppend, now: now)
            } catch {
                logger.error("cannot persist group metadata", metadata: ["error": "\(error)"])
                deliveries = outcome.failed(with: .coordinatorNotAvailable)
            }
        }
        return deliveries.compactMap { delivery in
            inner.parked.removeValue(forKey: delivery.token).map { ($0, delivery.response) }
        }
    }

    private func append(_ records: [GroupMetadataRecord], now: Int64) throws {
        var byPartition: [Int32: RecordBatchBuilder] = [:]
        for record in records {
            let (key, value) = ConsumerOffsetsTopic.encode(record)
            let index = config.partition(forGroup: record.key.group)
            byPartition[index, default: RecordBatchBuilder()].append(key: key, value: value, timestamp: now)
        }
        for (index, builder) in byPartition.sorted(by: { $0.key < $1.key }) {
            guard let partition = topics.partition(Self.topicName, index) else {
                throw BrokerRequestError.malformed(peer: "coordinator", reason: "\(Self.topicName)-\(index) is missing")
            }
            let result = partition.append(records: try builder.build().bytes, requiredAcks: 1, now: now)
            guard result.error == .none else {
                throw BrokerRequestError.malformed(peer: "coordinator", reason: "append to \(Self.topicName)-\(index): \(result.error)")
            }
        }
    }

    private func deliver(_ deliveries: [(Parked, GroupCoordinatorState.Response)]) {
        for (parked, response) in deliveries {
            parked.promise.succeed(Self.encode(response, version: parked.version, correlationId: parked.correlationId))
        }
    }

    static func encode(_ response: GroupCoordinatorState.Response, version: Int16, correlationId: Int32) -> OutboundResponse {
        func frame<M: KafkaEncodableMessage>(_ message: M) -> OutboundResponse {
            OutboundResponse(KafkaResponseFrame.encode(message, version: version, correlationId: correlationId))
        }
        switch response {
        case .joinGroup(let m): return frame(m)
        case .syncGroup(let m): return frame(m)
        case .heartbeat(let m): return frame(m)
        case .leaveGroup(let m): return frame(m)
        case .offsetCommit(let m): return frame(m)
        case .offsetFetch(let m): return frame(m)
        case .describeGroups(let m): return frame(m)
        case .listGroups(let m): return frame(m)
        case .deleteGroups(let m): return frame(m)
        }
    }
}
