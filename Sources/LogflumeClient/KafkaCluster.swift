public import Logging
public import LogflumeWire
public import NIOCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One partition of one topic.
public struct TopicPartition: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var topic: String
    public var partition: Int32

    public init(_ topic: String, _ partition: Int32) {
        self.topic = topic
        self.partition = partition
    }

    public init(topic: String, partition: Int32) {
        self.init(topic, partition)
    }

    public static func < (lhs: TopicPartition, rhs: TopicPartition) -> Bool {
        (lhs.topic, lhs.partition) < (rhs.topic, rhs.partition)
    }

    /// `topic-partition`, as Kafka names partition directories and logs partitions.
    public var description: String { "\(topic)-\(partition)" }
}

/// Where a broker listens.
public struct BrokerAddress: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `HOST:PORT` (`[v6-address]:PORT` for IPv6).
    public init?(_ text: some StringProtocol) {
        let text = String(text).trimmingWhitespace()
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (1...65535).contains(port)
        else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.init(host: host, port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// What the cluster said about one partition in its last metadata answer.
public struct PartitionMetadata: Equatable, Sendable {
    public var partition: Int32
    /// The leader's broker id, -1 while there is none.
    public var leader: Int32
    /// -1 when the broker does not report epochs (Metadata before v7).
    public var leaderEpoch: Int32
    public var replicas: [Int32]
    public var inSyncReplicas: [Int32]
    public var offlineReplicas: [Int32]
    public var error: KafkaErrorCode

    public init(
        partition: Int32, leader: Int32, leaderEpoch: Int32 = -1, replicas: [Int32] = [], inSyncReplicas: [Int32] = [],
        offlineReplicas: [Int32] = [], error: KafkaErrorCode = .none
    ) {
        self.partition = partition
        self.leader = leader
        self.leaderEpoch = leaderEpoch
        self.replicas = replicas
        self.inSyncReplicas = inSyncReplicas
        self.offlineReplicas = offlineReplicas
        self.error = error
    }
}

/// One topic in the metadata cache; `partitions` is sorted by partition index.
public struct TopicMetadata: Equatable, Sendable {
    public var name: String
    public var error: KafkaErrorCode
    public var isInternal: Bool
    public var partitions: [PartitionMetadata]

    public init(name: String, error: KafkaErrorCode = .none, isInternal: Bool = false, partitions: [PartitionMetadata] = []) {
        self.name = name
        self.error = error
        self.isInternal = isInternal
        self.partitions = partitions
    }

    public var partitionCount: Int32 { Int32(partitions.count) }
}

/// The client's picture of the cluster: brokers and, for the topics it asked about, who leads
/// each partition.
public struct ClusterMetadata: Sendable {
    public var brokers: [Int32: BrokerAddress] = [:]
    /// -1 when unknown (Metadata v0) or when the cluster has none.
    public var controllerId: Int32 = -1
    public var clusterId: String?
    public var topics: [String: TopicMetadata] = [:]

    public init() {}

    /// The partition's metadata when it has a leader this client can reach.
    public func leader(for topicPartition: TopicPartition) -> PartitionMetadata? {
        guard let topic = topics[topicPartition.topic], topic.error == .none,
              let partition = topic.partition(topicPartition.partition),
              partition.leader >= 0, brokers[partition.leader] != nil
        else { return nil }
        return partition
    }

    /// The number of partitions of a topic known without errors, nil otherwise.
    public func partitionCount(of topic: String) -> Int32? {
        guard let metadata = topics[topic], metadata.error == .none, !metadata.partitions.isEmpty else { return nil }
        return metadata.partitionCount
    }
}

extension TopicMetadata {
    public func partition(_ index: Int32) -> PartitionMetadata? {
        if index >= 0 && Int(index) < partitions.count && partitions[Int(index)].partition == index {
            return partitions[Int(index)]
        }
        return partitions.first { $0.partition == index }
    }
}

/// Settings shared by everything that talks to one cluster.
public struct ClusterConfiguration: Sendable {
    /// `HOST:PORT` of brokers to ask for the first metadata. Default: `127.0.0.1:9092`.
    public var bootstrapServers: [String]
    /// Sent in every request header (`client.id`). Default: `logflume`.
    public var clientId: String
    /// TCP connect plus ApiVersions handshake. Default: 10000.
    public var connectTimeoutMs: Int64
    /// How long to wait for any one response (`request.timeout.ms`). Default: 30000.
    public var requestTimeoutMs: Int64

    public init(
        bootstrapServers: [String] = ["127.0.0.1:9092"], clientId: String = "logflume",
        connectTimeoutMs: Int64 = 10_000, requestTimeoutMs: Int64 = 30_000
    ) {
        self.bootstrapServers = bootstrapServers
        self.clientId = clientId
        self.connectTimeoutMs = connectTimeoutMs
        self.requestTimeoutMs = requestTimeoutMs
    }

    /// A comma-separated bootstrap list, as on command lines (`host1:9092,host2:9092`).
    public init(bootstrap: String, clientId: String = "logflume") {
        self.init(bootstrapServers: bootstrap.split(separator: ",").map { String($0) }, clientId: clientId)
    }
}

/// Connections to one cluster and its metadata: one `BrokerConnection` per broker id, opened
/// on first use and reopened after it fails, plus a metadata cache that producers, consumers
/// and the admin client share. Safe to use from any task.
public final class KafkaCluster: Sendable {
    public let configuration: ClusterConfiguration
    public let bootstrap: [BrokerAddress]
    public let group: any EventLoopGroup
    let logger: Logger

    private enum ConnectionKey: Hashable {
        case broker(Int32)
        /// A second connection to a broker for group-coordinator requests: a broker answers a
        /// connection's requests in order, so a commit or heartbeat sharing the connection of a
        /// long-polling Fetch would wait out the poll (the Java client keeps them apart too).
        case coordinator(Int32)
        case bootstrap(Int)
    }

    private enum Slot {
        case connecting(id: UInt64, Task<BrokerConnection, any Error>)
        case ready(BrokerConnection)
    }

    private struct State {
        var metadata = ClusterMetadata()
        var connections: [ConnectionKey: Slot] = [:]
        var nextSlotId: UInt64 = 0
        var closed = false
        /// Calls of the public async methods under way; `close` waits for them.
        var activeOperations = 0
        var closeWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    /// - Throws: `KafkaClientError.invalidArgument` when a bootstrap server is not `HOST:PORT`.
    public init(configuration: ClusterConfiguration, group: any EventLoopGroup, logger: Logger = Logger(label: "logflume.client")) throws {
        var addresses: [BrokerAddress] = []
        for server in configuration.bootstrapServers where !server.trimmingWhitespace().isEmpty {
            guard let address = BrokerAddress(server) else {
                throw KafkaClientError.invalidArgument("bootstrap server '\(server)' is not HOST:PORT")
            }
            addresses.append(address)
        }
        guard !addresses.isEmpty else { throw KafkaClientError.invalidArgument("no bootstrap servers given") }
        self.configuration = configuration
        self.bootstrap = addresses
        self.group = group
        self.logger = logger
    }

    /// The cached metadata, as of the last refresh.
    public var metadata: ClusterMetadata { state.withLock { $0.metadata } }

    /// The cached partition count of a topic (nil when unknown or in error), without copying
    /// the metadata.
    public func partitionCount(of topic: String) -> Int32? {
        state.withLock { $0.metadata.partitionCount(of: topic) }
    }

    /// Asks a broker for metadata about `topics` (nil: every topic; empty: brokers only) and
    /// merges the answer into the cache. Tries known brokers first, then the bootstrap list.
    /// - Parameter allowAutoTopicCreation: lets the broker create missing topics (Metadata v4+;
    ///   older brokers apply their own setting).
    @discardableResult
    public func refreshMetadata(topics: [String]?, allowAutoTopicCreation: Bool = false) async throws -> ClusterMetadata {
        try await operation { try await fetchMetadata(topics: topics, allowAutoTopicCreation: allowAutoTopicCreation) }
    }

    private func fetchMetadata(topics: [String]?, allowAutoTopicCreation: Bool) async throws -> ClusterMetadata {
        var lastError: (any Error)?
        for key in candidateKeys() {
            do {
                let connection = try await self.connection(for: key)
                var version = try connection.version(for: .metadata)
                if topics == [] && version == 0 {
                    // v0 cannot ask for no topics; any topic name keeps the answer small.
                    version = 1
                    guard connection.versions[.metadata]?.contains(1) == true else { throw KafkaClientError.unsupportedVersion(broker: connection.address, api: .metadata) }
                }
                let request = MetadataRequest(topicNames: topics, allowAutoTopicCreation: allowAutoTopicCreation)
                let response = try await connection.send(
                    request, version: version, as: MetadataResponse.self, timeoutMs: configuration.requestTimeoutMs
                )
                return state.withLock { state in
                    state.metadata.merge(response, requested: topics)
                    return state.metadata
                }
            } catch {
                lastError = error
                logger.debug("metadata request failed", metadata: ["error": "\(error)"])
                if case .broker = key { forget(key) }
            }
        }
        if let lastError, !(lastError is KafkaClientError) || (lastError as? KafkaClientError)?.isRetriable == false {
            throw lastError
        }
        throw KafkaClientError.noBrokerAvailable(bootstrap: bootstrap.map(\.description))
    }

    /// The metadata of `topic`, refreshing when it is not cached or has an error; throws when
    /// the topic does not exist (after `allowAutoTopicCreation`, when given).
    public func topicMetadata(_ topic: String, allowAutoTopicCreation: Bool = false) async throws -> TopicMetadata {
        if let cached = metadata.topics[topic], cached.error == .none, !cached.partitions.isEmpty { return cached }
        let refreshed = try await refreshMetadata(topics: [topic], allowAutoTopicCreation: allowAutoTopicCreation)
        guard let answer = refreshed.topics[topic] else { throw KafkaClientError.unknownTopicOrPartition(topic: topic, partition: nil) }
        switch answer.error {
        case .none: return answer
        case .unknownTopicOrPartition: throw KafkaClientError.unknownTopicOrPartition(topic: topic, partition: nil)
        default: throw KafkaClientError.broker(answer.error, message: nil, context: "metadata for topic '\(topic)'")
        }
    }

    /// The open connection to broker `brokerId`, connecting (once, whoever asks) when there is
    /// none or the last one failed. Refreshes broker metadata first when the id is unknown.
    public func connection(to brokerId: Int32) async throws -> BrokerConnection {
        try await operation {
            if metadata.brokers[brokerId] == nil {
                _ = try await fetchMetadata(topics: [], allowAutoTopicCreation: false)
            }
            return try await connection(for: .broker(brokerId))
        }
    }

    /// The connection for group-coordinator requests to `brokerId`, kept apart from the one
    /// fetches and produces use.
    public func coordinatorConnection(to brokerId: Int32) async throws -> BrokerConnection {
        try await operation {
            if metadata.brokers[brokerId] == nil {
                _ = try await fetchMetadata(topics: [], allowAutoTopicCreation: false)
            }
            return try await connection(for: .coordinator(brokerId))
        }
    }

    /// Some live connection: an open one if any, else a known broker, else a bootstrap server.
    public func anyConnection() async throws -> BrokerConnection {
        try await operation {
            var lastError: (any Error)?
            for key in candidateKeys() {
                do {
                    return try await connection(for: key)
                } catch {
                    lastError = error
                }
            }
            throw lastError ?? KafkaClientError.noBrokerAvailable(bootstrap: bootstrap.map(\.description))
        }
    }

    /// Closes every connection and waits for calls under way to end (they fail); later calls
    /// fail at once. Close producers and consumers first, and shut the event loop group down
    /// only after this returns: NIO must not be asked to do anything after that.
    public func close() async {
        let slots = state.withLock { state -> [Slot] in
            state.closed = true
            defer { state.connections = [:] }
            return Array(state.connections.values)
        }
        for slot in slots {
            switch slot {
            case .ready(let connection): await connection.close()
            case .connecting(_, let task):
                task.cancel()
                if let connection = try? await task.value { await connection.close() }
            }
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let idle = state.withLock { state -> Bool in
                if state.activeOperations == 0 { return true }
                state.closeWaiters.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }

    public var isClosed: Bool { state.withLock { $0.closed } }

    /// Runs a public operation, refused once the cluster is closed and awaited by `close`.
    private func operation<T>(_ body: () async throws -> T) async throws -> T {
        try state.withLock { state throws(KafkaClientError) in
            if state.closed { throw .invalidArgument("the cluster client is closed") }
            state.activeOperations += 1
        }
        defer {
            let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.activeOperations -= 1
                guard state.activeOperations == 0 else { return [] }
                defer { state.closeWaiters = [] }
                return state.closeWaiters
            }
            for waiter in waiters { waiter.resume() }
        }
        return try await body()
    }

    // MARK: Connections

    /// Open connections first (cheapest), then brokers from metadata, then bootstrap servers.
    private func candidateKeys() -> [ConnectionKey] {
        state.withLock { state in
            var ready: [ConnectionKey] = []
            for (key, slot) in state.connections {
                // Coordinator connections may be parked on a JoinGroup: never lend them out.
                if case .coordinator = key { continue }
                if case .ready(let connection) = slot, connection.isActive { ready.append(key) }
            }
            ready.sort { lhs, rhs in
                switch (lhs, rhs) {
                case (.broker(let a), .broker(let b)): return a < b
                case (.broker, _): return true
                case (_, .broker): return false
                case (.bootstrap(let a), .bootstrap(let b)): return a < b
                default: return false
                }
            }
            var keys = ready
            for id in state.metadata.brokers.keys.sorted() where !keys.contains(.broker(id)) { keys.append(.broker(id)) }
            for index in bootstrap.indices where !keys.contains(.bootstrap(index)) { keys.append(.bootstrap(index)) }
            return keys
        }
    }

    private enum Lookup {
        case ready(BrokerConnection)
        case wait(id: UInt64, Task<BrokerConnection, any Error>)
        case closed
        case unknownBroker
    }

    private func connection(for key: ConnectionKey) async throws -> BrokerConnection {
        let lookup = state.withLock { state -> Lookup in
            if state.closed { return .closed }
            switch state.connections[key] {
            case .ready(let connection) where connection.isActive:
                return .ready(connection)
            case .connecting(let id, let task):
                return .wait(id: id, task)
            case .ready(let stale):
                Task { await stale.close() }
                fallthrough
            case nil:
                let address: BrokerAddress
                switch key {
                case .broker(let id), .coordinator(let id):
                    guard let known = state.metadata.brokers[id] else { return .unknownBroker }
                    address = known
                case .bootstrap(let index):
                    address = bootstrap[index]
                }
                state.nextSlotId += 1
                let id = state.nextSlotId
                let configuration = self.configuration
                let group = self.group
                let logger = self.logger
                let task = Task {
                    try await BrokerConnection.connect(
                        host: address.host, port: address.port, clientId: configuration.clientId, group: group,
                        timeoutMs: configuration.connectTimeoutMs, logger: logger
                    )
                }
                state.connections[key] = .connecting(id: id, task)
                return .wait(id: id, task)
            }
        }
        switch lookup {
        case .ready(let connection):
            return connection
        case .closed:
            throw KafkaClientError.invalidArgument("the cluster client is closed")
        case .unknownBroker:
            guard case .broker(let id) = key else { fatalError("bootstrap keys always have an address") }
            throw KafkaClientError.connectionFailed(broker: "broker \(id)", reason: "not in the cluster metadata")
        case .wait(let id, let task):
            do {
                let connection = try await task.value
                let keep = state.withLock { state -> Bool in
                    guard !state.closed, case .connecting(let current, _) = state.connections[key], current == id else {
                        if case .ready(let other) = state.connections[key], other === connection { return true }
                        return false
                    }
                    state.connections[key] = .ready(connection)
                    return true
                }
                if !keep {
                    await connection.close()
                    throw KafkaClientError.connectionClosed(broker: connection.address)
                }
                return connection
            } catch {
                state.withLock { state in
                    if case .connecting(let current, _) = state.connections[key], current == id { state.connections[key] = nil }
                }
                throw error
            }
        }
    }

    /// Drops a connection so the next use reconnects.
    private func forget(_ key: ConnectionKey) {
        let stale = state.withLock { state -> BrokerConnection? in
            guard case .ready(let connection) = state.connections[key], !connection.isActive else { return nil }
            state.connections[key] = nil
            return connection
        }
        if let stale { Task { await stale.close() } }
    }

    // MARK: Offsets

    /// One answer of ListOffsets.
    public struct ListedOffset: Equatable, Sendable {
        public var offset: Int64
        /// The timestamp of the record found (time queries on brokers that report it), else -1.
        public var timestamp: Int64
        public var leaderEpoch: Int32
    }

    /// ListOffsets for each partition, sent to the partition leaders, retrying (with a metadata
    /// refresh) on leadership errors until `requestTimeoutMs` has passed.
    /// - Parameter query: per partition a time in ms, or `ListOffsetsRequest.earliestTimestamp`
    ///   (-2) / `.latestTimestamp` (-1, the high watermark).
    public func listOffsets(
        _ query: [TopicPartition: Int64], isolationLevel: Int8 = 0, retryBackoffMs: Int64 = 100
    ) async throws -> [TopicPartition: ListedOffset] {
        try await operation { try await queryOffsets(query, isolationLevel: isolationLevel, retryBackoffMs: retryBackoffMs) }
    }

    private func queryOffsets(
        _ query: [TopicPartition: Int64], isolationLevel: Int8, retryBackoffMs: Int64
    ) async throws -> [TopicPartition: ListedOffset] {
        var remaining = query
        var answers: [TopicPartition: ListedOffset] = [:]
        let deadline = ClientClock.uptimeMs() + configuration.requestTimeoutMs
        var attempt = 0
        while !remaining.isEmpty {
            attempt += 1
            var current = metadata
            if attempt > 1 || remaining.keys.contains(where: { current.leader(for: $0) == nil }) {
                current = try await refreshMetadata(topics: Set(remaining.keys.map(\.topic)).sorted())
                for tp in remaining.keys {
                    guard let topic = current.topics[tp.topic] else { continue }
                    switch topic.error {
                    case .none:
                        if topic.partition(tp.partition) == nil {
                            throw KafkaClientError.unknownTopicOrPartition(topic: tp.topic, partition: tp.partition)
                        }
                    case .unknownTopicOrPartition:
                        // Perhaps still being created; retried until the deadline.
                        if ClientClock.uptimeMs() >= deadline {
                            throw KafkaClientError.unknownTopicOrPartition(topic: tp.topic, partition: nil)
                        }
                    case let code where !code.isRetriable:
                        throw KafkaClientError.broker(code, message: nil, context: "metadata for topic '\(tp.topic)'")
                    default:
                        break
                    }
                }
            }
            var byLeader: [Int32: [TopicPartition]] = [:]
            for tp in remaining.keys {
                if let leader = current.leader(for: tp) { byLeader[leader.leader, default: []].append(tp) }
            }
            var retry: (any Error)?
            for (brokerId, partitions) in byLeader {
                do {
                    let connection = try await connection(to: brokerId)
                    let version = try connection.version(for: .listOffsets)
                    let topics = Dictionary(grouping: partitions, by: \.topic).map { topic, tps in
                        ListOffsetsRequest.Topic(name: topic, partitions: tps.sorted().map { tp in
                            ListOffsetsRequest.Partition(
                                partitionIndex: tp.partition, currentLeaderEpoch: current.leader(for: tp)?.leaderEpoch ?? -1,
                                timestamp: remaining[tp]!
                            )
                        })
                    }
                    let response = try await connection.send(
                        ListOffsetsRequest(replicaId: -1, isolationLevel: isolationLevel, topics: topics), version: version,
                        as: ListOffsetsResponse.self, timeoutMs: configuration.requestTimeoutMs
                    )
                    for topic in response.topics {
                        for partition in topic.partitions {
                            let tp = TopicPartition(topic.name, partition.partitionIndex)
                            guard remaining[tp] != nil else { continue }
                            let code = KafkaErrorCode(code: partition.errorCode)
                            if code == .none {
                                answers[tp] = ListedOffset(offset: partition.offset, timestamp: partition.timestamp, leaderEpoch: partition.leaderEpoch)
                                remaining[tp] = nil
                            } else if code.isRetriable {
                                retry = KafkaClientError.broker(code, message: nil, context: "ListOffsets for \(tp)")
                            } else {
                                throw KafkaClientError.broker(code, message: nil, context: "ListOffsets for \(tp)")
                            }
                        }
                    }
                } catch let error as KafkaClientError where error.isRetriable {
                    retry = error
                }
            }
            if !remaining.isEmpty {
                if ClientClock.uptimeMs() >= deadline {
                    throw retry ?? KafkaClientError.timedOut(broker: "cluster", request: "ListOffsets", afterMs: configuration.requestTimeoutMs)
                }
                try await Task.sleep(nanoseconds: UInt64(min(retryBackoffMs * Int64(min(attempt, 10)), 1000)) * 1_000_000)
            }
        }
        return answers
    }
}

extension ClusterMetadata {
    mutating func merge(_ response: MetadataResponse, requested: [String]?) {
        brokers = Dictionary(response.brokers.map { ($0.nodeId, BrokerAddress(host: $0.host, port: Int($0.port))) }, uniquingKeysWith: { a, _ in a })
        controllerId = response.controllerId
        if let clusterId = response.clusterId { self.clusterId = clusterId }
        if requested == nil { topics = [:] }
        for topic in response.topics {
            let partitions = topic.partitions.map { partition in
                PartitionMetadata(
                    partition: partition.partitionIndex, leader: partition.leaderId, leaderEpoch: partition.leaderEpoch,
                    replicas: partition.replicaNodes, inSyncReplicas: partition.isrNodes, offlineReplicas: partition.offlineReplicas,
                    error: KafkaErrorCode(code: partition.errorCode)
                )
            }.sorted { $0.partition < $1.partition }
            topics[topic.name] = TopicMetadata(
                name: topic.name, error: KafkaErrorCode(code: topic.errorCode), isInternal: topic.isInternal, partitions: partitions
            )
        }
    }
}

// MARK: - Helpers shared by the producer and the consumer

/// Clocks in milliseconds: `uptimeMs` (monotonic) for timeouts and linger, `wallMs` for record
/// timestamps.
enum ClientClock {
    static func uptimeMs() -> Int64 { Int64(NIODeadline.now().uptimeNanoseconds / 1_000_000) }

    static func uptimeNanos() -> Int64 { Int64(NIODeadline.now().uptimeNanoseconds) }

    static func wallMs() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }

    static func deadline(uptimeMs: Int64) -> NIODeadline { .uptimeNanoseconds(UInt64(max(0, uptimeMs)) * 1_000_000) }
}

extension String {
    func trimmingWhitespace() -> String {
        var view = Substring(self)
        while let first = view.first, first.isWhitespace { view = view.dropFirst() }
        while let last = view.last, last.isWhitespace { view = view.dropLast() }
        return String(view)
    }
}
