public import Logging
import LogflumeWire
import NIOCore

/// What a rebalance did to this member's partitions, in the order it happened: `revoked` before
/// the member gives partitions up (commit what was processed of them here), `assigned` after it
/// received its new ones (empty when nothing was added), `lost` when the member was dropped from
/// the group (session timeout) and its partitions may already be someone else's: committing
/// them is no longer possible.
public enum RebalanceEvent: Sendable, Equatable, CustomStringConvertible {
    case assigned([TopicPartition], generation: Int32)
    case revoked([TopicPartition], generation: Int32)
    case lost([TopicPartition], generation: Int32)

    /// `assigned generation=3 partitions=logs-0,logs-1`
    public var description: String {
        let (kind, partitions, generation) = switch self {
        case .assigned(let p, let g): ("assigned", p, g)
        case .revoked(let p, let g): ("revoked", p, g)
        case .lost(let p, let g): ("lost", p, g)
        }
        return "\(kind) generation=\(generation) partitions=\(partitions.map(\.description).joined(separator: ","))"
    }
}

/// Settings of a `GroupConsumer`, with the Java client's defaults.
public struct GroupConsumerConfiguration: Sendable, Equatable {
    /// Default: 10000 (`session.timeout.ms`).
    public var sessionTimeoutMs: Int32 = 10_000
    /// How long the coordinator waits for members to rejoin (`max.poll.interval.ms`). Default: 30000.
    public var rebalanceTimeoutMs: Int32 = 30_000
    /// Default: 1000 (`heartbeat.interval.ms`).
    public var heartbeatIntervalMs: Int64 = 1_000
    /// Offered in order of preference. Default: range, roundrobin. The member follows the
    /// cooperative protocol when every one listed is cooperative (`[.cooperativeSticky]`).
    public var assignors: [PartitionAssignor] = [.range, .roundrobin]
    /// Where partitions without a committed offset start. Default: earliest.
    public var autoOffsetReset: ConsumerConfiguration.OffsetReset = .earliest
    /// Static membership (`group.instance.id`, KIP-345); nil = a dynamic member.
    public var groupInstanceId: String?
    /// Commit the positions of the partitions held before rejoining, as the Java client's
    /// auto-commit does when partitions are revoked. Default: true.
    public var commitOnRebalance = true
    /// Wait after a failed group request before trying again. Default: 200.
    public var retryBackoffMs: Int64 = 200
    /// Fetch settings of the inner consumer (its `autoOffsetReset` is set from the one above).
    public var consumer = ConsumerConfiguration()

    public init() {}
}

/// A member of a consumer group (the classic group protocol, eager or cooperative): finds the
/// coordinator, joins, the leader assigns partitions with the group's chosen assignor, and the
/// member reads its partitions from the group's committed offsets. Heartbeats run in the
/// background; a rebalance is handled on the next `poll`, and reported to the `onRebalance`
/// listener. With the cooperative protocol a rebalance leaves the partitions that do not move
/// alone: their positions and buffered records stay. Commit with `commit()` or `commitAsync`;
/// `pause`/`resume` hold partitions back without leaving the group; `close()` leaves it.
///
/// ```swift
/// let member = GroupConsumer(cluster: cluster, groupId: "shippers", topics: ["logs"])
/// while running {
///     let records = try await member.poll(maxRecords: 500, timeoutMs: 1000)
///     ... handle records ...
///     try await member.commit()
/// }
/// await member.close()
/// ```
public actor GroupConsumer {
    public nonisolated let cluster: KafkaCluster
    public nonisolated let groupId: String
    public nonisolated let topics: [String]
    public nonisolated let configuration: GroupConsumerConfiguration
    nonisolated let logger: Logger
    private let consumer: Consumer
    private let admin: Admin

    private var coordinator: BrokerConnection?
    /// The member id the coordinator gave; "" before the first join.
    public private(set) var memberId = JoinGroupRequest.unknownMemberId
    /// The generation joined; -1 while not a member.
    public private(set) var generationId: Int32 = -1
    /// The assignor the group chose at the last join.
    public private(set) var protocolName: String?
    /// Whether this member was the leader at the last join.
    public private(set) var isLeader = false
    /// The partitions assigned at the last sync, sorted.
    public private(set) var assignment: [TopicPartition] = []
    private var needsRejoin = true
    /// Partition counts of the subscribed topics the last assignment was made with (leader only).
    private var assignedPartitionCounts: [String: Int32] = [:]
    private var nextMetadataCheckAt: Int64 = 0
    private var heartbeatTask: Task<Void, Never>?
    private var closed = false
    /// Set when the coordinator no longer knows this member's generation: what it held is lost,
    /// not revoked (it cannot be committed).
    private var membershipLost = false
    /// The generation in which `assignment` was received: what the cooperative subscription
    /// claims it with, and what a `lost` event names.
    private var assignedGeneration: Int32 = -1
    /// Set first thing in `close()`: no rejoining and no records from then on.
    private var closing = false
    /// Revocations (commit, listener) under way, and `close()` calls waiting for them to end:
    /// close reports only what is still assigned afterwards, so nothing is reported twice and
    /// the listener's commits land before the member leaves. (A listener must not await
    /// `close()` itself.)
    private var revocationsUnderWay = 0
    private var revocationWaiters: [CheckedContinuation<Void, Never>] = []
    private var rebalanceListener: (@Sendable (RebalanceEvent) async -> Void)?
    /// The newest `commitAsync`; each waits for the one before, so commits land in call order.
    private var asyncCommits: Task<Void, Never>?
    public nonisolated let rebalanceProtocol: RebalanceProtocol

    public init(cluster: KafkaCluster, groupId: String, topics: [String], configuration: GroupConsumerConfiguration = GroupConsumerConfiguration(), logger: Logger? = nil) {
        self.cluster = cluster
        self.groupId = groupId
        self.topics = Array(Set(topics)).sorted()
        self.configuration = configuration
        self.rebalanceProtocol = PartitionAssignor.rebalanceProtocol(of: configuration.assignors)
        self.logger = logger ?? cluster.logger
        var consumerConfiguration = configuration.consumer
        consumerConfiguration.autoOffsetReset = configuration.autoOffsetReset
        self.consumer = Consumer(cluster: cluster, configuration: consumerConfiguration, logger: logger)
        self.admin = Admin(cluster: cluster)
    }

    private var requestTimeoutMs: Int64 { cluster.configuration.requestTimeoutMs }

    /// Called on every rebalance (see `RebalanceEvent`), awaited before the member goes on, so
    /// a listener can commit or flush before partitions are given up.
    public func onRebalance(_ listener: @escaping @Sendable (RebalanceEvent) async -> Void) {
        rebalanceListener = listener
    }

    /// The coordinator dropped this member: it is no member until it rejoins (generation -1),
    /// and the next `join` reports what it held as lost.
    private func loseMembership() {
        membershipLost = true
        generationId = -1
        needsRejoin = true
    }

    private func emit(_ event: RebalanceEvent) async {
        logger.debug("rebalance", metadata: ["group": "\(groupId)", "event": "\(event)"])
        await rebalanceListener?(event)
    }

    // MARK: Membership

    /// Joins the group (or rejoins after a rebalance) and starts reading the assigned
    /// partitions; `poll` does this when needed.
    public func join() async throws {
        guard !closed, !closing else { throw KafkaClientError.invalidArgument("group consumer of '\(groupId)' is closed") }
        // Commits still in flight land before anything is revoked, so none lands after.
        await asyncCommits?.value
        await dropLostPartitions()
        if rebalanceProtocol == .eager, !assignment.isEmpty {
            await revoke(assignment)
        }
        heartbeatTask?.cancel()
        heartbeatTask = nil
        var attempts = 0
        // A cooperative round that took partitions away asks for the next round at once, so
        // their new owner gets them without waiting for this member's next poll.
        repeat {
            needsRejoin = false
            while true {
                // `close()` ran while this member waited for the coordinator: it has left.
                if closing { return }
                attempts += 1
                try Task.checkCancellation()
                await dropLostPartitions()
                do {
                    if try await joinAndSync() { break }
                } catch let error as KafkaClientError where error.isRetriable && attempts < 50 {
                    logger.debug("joining the group failed; retrying", metadata: ["group": "\(groupId)", "error": "\(error)"])
                    coordinator = nil
                    try await Task.sleep(for: .milliseconds(configuration.retryBackoffMs))
                }
            }
        } while needsRejoin && !closing && attempts < 50
    }

    /// After the coordinator dropped this member, what it held is someone else's: reported as
    /// lost and let go without a commit.
    private func dropLostPartitions() async {
        guard membershipLost else { return }
        membershipLost = false
        guard !assignment.isEmpty else { return }
        let lost = assignment
        await consumer.incrementalUnassign(lost)
        assignment = []
        await emit(.lost(lost, generation: assignedGeneration))
    }

    /// Commits (when configured) and gives up partitions this member holds.
    private func revoke(_ partitions: [TopicPartition]) async {
        revocationsUnderWay += 1
        defer {
            revocationsUnderWay -= 1
            if revocationsUnderWay == 0 {
                for waiter in revocationWaiters { waiter.resume() }
                revocationWaiters = []
            }
        }
        // Taken before the first suspension: a close meanwhile resets the generation.
        let generation = generationId
        if configuration.commitOnRebalance, generation >= 0 {
            do {
                try await sendCommit(offsets: positions(of: partitions), metadata: nil, generation: generation, member: memberId)
            } catch {
                logger.debug("commit of revoked partitions failed", metadata: ["group": "\(groupId)", "error": "\(error)"])
            }
        }
        await emit(.revoked(partitions, generation: generation))
        await consumer.incrementalUnassign(partitions)
        let gone = Set(partitions)
        assignment.removeAll { gone.contains($0) }
    }

    /// Moves from the assignment held to the one just received: partitions no longer in it are
    /// revoked (only under the cooperative protocol; eager members gave everything up before
    /// joining), new ones start at the group's committed offsets, and the rest keep reading
    /// where they are. Losing a partition under the cooperative protocol means rejoining at
    /// once, so the next round can hand it to its new owner.
    private func adopt(_ received: [TopicPartition]) async throws {
        let next = Set(received)
        let revoked = assignment.filter { !next.contains($0) }
        if !revoked.isEmpty {
            await revoke(revoked)
            needsRejoin = true
        }
        let held = Set(assignment)
        let added = next.subtracting(held).sorted()
        // Taken on only once reading them is set up: a partition in `assignment` that the inner
        // consumer does not read would be claimed in every later round and never read.
        do {
            var starts: [TopicPartition: StartPosition] = [:]
            if !added.isEmpty {
                let committed = try await fetchCommitted(added)
                let reset: StartPosition = configuration.autoOffsetReset == .latest ? .latest : .earliest
                for tp in added { starts[tp] = committed[tp].map { .offset($0) } ?? reset }
            }
            // `close()` ran meanwhile: it reported and let go of what was held; take nothing on.
            if closing { return }
            try await consumer.incrementalAssign(starts)
        } catch {
            await consumer.incrementalUnassign(added)
            needsRejoin = true
            if closing { return }
            throw error
        }
        if closing {
            await consumer.incrementalUnassign(added)
            return
        }
        assignment = next.sorted()
        assignedGeneration = generationId
        await emit(.assigned(added, generation: generationId))
    }

    private func coordinatorConnection() async throws -> BrokerConnection {
        if let coordinator, coordinator.isActive { return coordinator }
        let found = try await admin.coordinatorConnection(for: groupId)
        coordinator = found
        return found
    }

    /// One JoinGroup + SyncGroup round; false when it has to be tried again.
    private func joinAndSync() async throws -> Bool {
        let connection = try await coordinatorConnection()
        let joinVersion = try connection.version(for: .joinGroup)
        let subscription: ByteBuffer
        switch rebalanceProtocol {
        case .eager:
            subscription = ConsumerProtocolSubscription(topics: topics).encoded(version: 0)
        case .cooperative:
            let byTopic = Dictionary(grouping: assignment, by: \.topic)
            subscription = ConsumerProtocolSubscription(
                topics: topics,
                ownedPartitions: byTopic.keys.sorted().map { .init(topic: $0, partitions: byTopic[$0]!.map(\.partition).sorted()) },
                generationId: assignment.isEmpty ? -1 : assignedGeneration
            ).encoded(version: 2)
        }
        let request = JoinGroupRequest(
            groupId: groupId, sessionTimeoutMs: configuration.sessionTimeoutMs, rebalanceTimeoutMs: configuration.rebalanceTimeoutMs,
            memberId: memberId, groupInstanceId: joinVersion >= 5 ? configuration.groupInstanceId : nil,
            protocolType: ConsumerProtocol.protocolType,
            protocols: configuration.assignors.map { .init(name: $0.name, metadata: subscription) }
        )
        let joined = try await connection.send(
            request, version: joinVersion, as: JoinGroupResponse.self,
            timeoutMs: Int64(configuration.rebalanceTimeoutMs) + requestTimeoutMs
        )
        // Closed while the coordinator held the join: neither sync nor adopt an assignment behind
        // the LeaveGroup that `close()` sends. A member id learnt only now is left as well.
        if closing {
            if !joined.memberId.isEmpty && joined.memberId != memberId { await leaveGroup(memberId: joined.memberId) }
            return false
        }
        let code = KafkaErrorCode(code: joined.errorCode)
        switch code {
        case .none:
            break
        case .memberIdRequired:
            memberId = joined.memberId
            return false
        case .unknownMemberId:
            // The coordinator forgot this member (its session ended): what it holds is lost.
            memberId = JoinGroupRequest.unknownMemberId
            loseMembership()
            return false
        case .rebalanceInProgress, .illegalGeneration:
            return false
        case .notCoordinator, .coordinatorNotAvailable, .coordinatorLoadInProgress:
            coordinator = nil
            try await Task.sleep(for: .milliseconds(configuration.retryBackoffMs))
            return false
        default:
            throw KafkaClientError.broker(code, message: nil, context: "join group '\(groupId)'")
        }
        memberId = joined.memberId
        generationId = joined.generationId
        protocolName = joined.protocolName
        isLeader = joined.leader == joined.memberId
        var assignments: [SyncGroupRequest.SyncGroupRequestAssignment] = []
        if isLeader {
            assignments = try await leaderAssignments(protocolName: joined.protocolName, members: joined.members)
        }
        if closing { return false }
        let syncVersion = try connection.version(for: .syncGroup)
        let synced = try await connection.send(
            SyncGroupRequest(
                groupId: groupId, generationId: generationId, memberId: memberId,
                groupInstanceId: syncVersion >= 3 ? configuration.groupInstanceId : nil, assignments: assignments
            ),
            version: syncVersion, as: SyncGroupResponse.self, timeoutMs: Int64(configuration.rebalanceTimeoutMs) + requestTimeoutMs
        )
        if closing { return false }
        let syncCode = KafkaErrorCode(code: synced.errorCode)
        switch syncCode {
        case .none:
            break
        case .rebalanceInProgress:
            return false
        case .unknownMemberId:
            memberId = JoinGroupRequest.unknownMemberId
            loseMembership()
            return false
        case .illegalGeneration:
            loseMembership()
            return false
        case .notCoordinator, .coordinatorNotAvailable, .coordinatorLoadInProgress:
            coordinator = nil
            try await Task.sleep(for: .milliseconds(configuration.retryBackoffMs))
            return false
        default:
            throw KafkaClientError.broker(syncCode, message: nil, context: "sync group '\(groupId)'")
        }
        var mine: [TopicPartition] = []
        if synced.assignment.readableBytes > 0 {
            let decoded: ConsumerProtocolAssignment
            do {
                decoded = try ConsumerProtocolAssignment(from: synced.assignment)
            } catch {
                throw KafkaClientError.protocolViolation(broker: connection.address, reason: "group '\(groupId)' assignment: \(error)")
            }
            mine = decoded.assignedPartitions.flatMap { tp in tp.partitions.map { TopicPartition(tp.topic, $0) } }
        }
        logger.debug("joined group", metadata: [
            "group": "\(groupId)", "member": "\(memberId)", "generation": "\(generationId)", "leader": "\(isLeader)",
            "protocol": "\(joined.protocolName)", "assignment": "\(mine)",
        ])
        // The group is stable from here: heartbeats keep the session alive while listeners run
        // and start offsets are looked up.
        startHeartbeats()
        try await adopt(mine)
        return true
    }

    /// The leader's SyncGroup assignments for every member.
    private func leaderAssignments(
        protocolName: String, members: [JoinGroupResponse.JoinGroupResponseMember]
    ) async throws -> [SyncGroupRequest.SyncGroupRequestAssignment] {
        guard let assignor = PartitionAssignor(rawValue: protocolName) else {
            throw KafkaClientError.invalidArgument("group '\(groupId)' chose assignor '\(protocolName)', which this client does not implement")
        }
        var assignorMembers: [AssignorMember] = []
        for member in members {
            let subscription = (try? ConsumerProtocolSubscription(from: member.metadata)) ?? ConsumerProtocolSubscription()
            assignorMembers.append(AssignorMember(
                memberId: member.memberId, groupInstanceId: member.groupInstanceId, topics: subscription.topics,
                ownedPartitions: subscription.ownedPartitions.flatMap { owned in owned.partitions.map { TopicPartition(owned.topic, $0) } },
                generation: subscription.generationId
            ))
        }
        let allTopics = Set(assignorMembers.flatMap(\.topics)).sorted()
        let metadata = try await cluster.refreshMetadata(topics: allTopics)
        var counts: [String: Int32] = [:]
        for topic in allTopics {
            if let described = metadata.topics[topic], described.error == .none, described.partitionCount > 0 {
                counts[topic] = described.partitionCount
            }
        }
        let assigned = assignor.assign(members: assignorMembers, partitionCounts: counts)
        assignedPartitionCounts = counts
        return members.map { member in
            let partitions = assigned[member.memberId] ?? []
            let byTopic = Dictionary(grouping: partitions, by: \.topic)
            let encoded = ConsumerProtocolAssignment(assignedPartitions: byTopic.keys.sorted().map { topic in
                ConsumerProtocol.TopicPartition(topic: topic, partitions: byTopic[topic]!.map(\.partition).sorted())
            }).encoded(version: 0)
            return .init(memberId: member.memberId, assignment: encoded)
        }
    }

    /// The group's committed offsets of these partitions (OffsetFetch to the coordinator).
    public func committed(_ topicPartitions: [TopicPartition]) async throws -> [TopicPartition: Int64] {
        try await fetchCommitted(topicPartitions)
    }

    private func fetchCommitted(_ topicPartitions: [TopicPartition]) async throws -> [TopicPartition: Int64] {
        let connection = try await coordinatorConnection()
        let byTopic = Dictionary(grouping: topicPartitions, by: \.topic)
        let response = try await connection.send(
            OffsetFetchRequest(groupId: groupId, topics: byTopic.keys.sorted().map { .init(name: $0, partitionIndexes: byTopic[$0]!.map(\.partition)) }),
            version: try connection.version(for: .offsetFetch), as: OffsetFetchResponse.self, timeoutMs: requestTimeoutMs
        )
        let code = KafkaErrorCode(code: response.errorCode)
        guard code == .none else {
            if code == .notCoordinator || code == .coordinatorNotAvailable { coordinator = nil }
            throw KafkaClientError.broker(code, message: nil, context: "fetch the committed offsets of group '\(groupId)'")
        }
        var result: [TopicPartition: Int64] = [:]
        for topic in response.topics {
            for partition in topic.partitions {
                let partitionCode = KafkaErrorCode(code: partition.errorCode)
                guard partitionCode == .none else {
                    throw KafkaClientError.broker(partitionCode, message: nil, context: "fetch the committed offset of \(topic.name)-\(partition.partitionIndex)")
                }
                if partition.committedOffset >= 0 { result[TopicPartition(topic.name, partition.partitionIndex)] = partition.committedOffset }
            }
        }
        return result
    }

    // MARK: Heartbeats

    private func startHeartbeats() {
        heartbeatTask?.cancel()
        let interval = max(1, configuration.heartbeatIntervalMs)
        let generation = generationId
        heartbeatTask = Task { [weak self] in
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: .milliseconds(interval))
                } catch {
                    return
                }
                guard let self, await self.heartbeat(generation: generation) else { return }
            }
        }
    }

    /// One heartbeat; false when heartbeats of this generation should stop.
    private func heartbeat(generation: Int32) async -> Bool {
        guard !closed, !needsRejoin, generation == generationId else { return false }
        do {
            let connection = try await coordinatorConnection()
            let version = try connection.version(for: .heartbeat)
            let response = try await connection.send(
                HeartbeatRequest(
                    groupId: groupId, generationId: generation, memberId: memberId,
                    groupInstanceId: version >= 3 ? configuration.groupInstanceId : nil
                ),
                version: version, as: HeartbeatResponse.self, timeoutMs: requestTimeoutMs
            )
            guard generation == generationId else { return false }
            let code = KafkaErrorCode(code: response.errorCode)
            switch code {
            case .none:
                return true
            case .rebalanceInProgress:
                logger.debug("group is rebalancing", metadata: ["group": "\(groupId)"])
                needsRejoin = true
                return false
            case .unknownMemberId, .illegalGeneration, .fencedInstanceId:
                logger.info("group membership lost; rejoining", metadata: ["group": "\(groupId)", "error": "\(code.name)"])
                if code == .unknownMemberId { memberId = JoinGroupRequest.unknownMemberId }
                loseMembership()
                return false
            case .notCoordinator, .coordinatorNotAvailable, .coordinatorLoadInProgress:
                coordinator = nil
                return true
            default:
                logger.warning("heartbeat failed", metadata: ["group": "\(groupId)", "error": "\(code.name)"])
                return true
            }
        } catch {
            logger.debug("heartbeat failed", metadata: ["group": "\(groupId)", "error": "\(error)"])
            coordinator = nil
            return true
        }
    }

    // MARK: Consuming

    /// Up to `maxRecords` records of the assigned partitions, waiting up to `timeoutMs` for the
    /// first; joins or rejoins the group first when needed.
    public func poll(maxRecords: Int = 500, timeoutMs: Int64 = 1000) async throws -> [ConsumerRecord] {
        try await pollRecords(maxRecords: maxRecords, timeoutMs: timeoutMs).consumerRecords
    }

    /// `poll`, with the records in runs per partition, as decoded (`Consumer.pollRecords`).
    public func pollRecords(maxRecords: Int = 500, timeoutMs: Int64 = 1000) async throws -> [ConsumedRecords] {
        let deadline = ClientClock.uptimeMs() + max(0, timeoutMs)
        while true {
            if closed || closing { return [] }
            if isLeader && generationId >= 0 && ClientClock.uptimeMs() >= nextMetadataCheckAt { await checkSubscribedTopics() }
            if needsRejoin || generationId < 0 {
                do {
                    try await join()
                } catch where closing {
                    return []
                }
                if closing { return [] }
            }
            let left = max(0, deadline - ClientClock.uptimeMs())
            let records = try await consumer.pollRecords(maxRecords: maxRecords, timeoutMs: min(left, 200))
            if !records.isEmpty { return records }
            if ClientClock.uptimeMs() >= deadline { return [] }
        }
    }

    /// The leader watches the subscribed topics: a topic that appears (created after the group
    /// formed) or gains partitions makes it rejoin, and the coordinator then rebalances everyone,
    /// as the Java client's leader does. Checked every second while a subscribed topic has no
    /// partitions yet, else every `metadataMaxAgeMs`.
    private func checkSubscribedTopics() async {
        let missing = topics.contains { (assignedPartitionCounts[$0] ?? 0) == 0 }
        nextMetadataCheckAt = ClientClock.uptimeMs() + (missing ? 1_000 : configuration.consumer.metadataMaxAgeMs)
        guard let metadata = try? await cluster.refreshMetadata(topics: topics) else { return }
        for topic in topics {
            guard let described = metadata.topics[topic], described.error == .none else { continue }
            if described.partitionCount != (assignedPartitionCounts[topic] ?? 0) {
                logger.info("subscribed topic changed: rejoining so the group is rebalanced", metadata: [
                    "group": "\(groupId)", "topic": "\(topic)", "partitions": "\(described.partitionCount)",
                ])
                needsRejoin = true
                return
            }
        }
    }

    /// Every record, polling as needed; ends when the member is closed or the task cancelled.
    public nonisolated var records: GroupConsumerRecordSequence { GroupConsumerRecordSequence(member: self) }

    /// The offset of the next record `poll` returns for an assigned partition.
    public func position(of topicPartition: TopicPartition) async -> Int64? {
        await consumer.position(of: topicPartition)
    }

    /// The partition's high watermark from the last fetch response, nil before one arrived.
    public func highWatermark(of topicPartition: TopicPartition) async -> Int64? {
        await consumer.highWatermark(of: topicPartition)
    }

    public var isClosed: Bool { closed || closing }

    /// Moves an assigned partition: the next `poll` returns records from `start`.
    public func seek(_ topicPartition: TopicPartition, to start: StartPosition) async throws {
        try await consumer.seek(topicPartition, to: start)
    }

    /// Holds these assigned partitions back: no fetching, no records from `poll`, while the
    /// member stays in the group and keeps its positions. Pausing survives a cooperative
    /// rebalance for partitions that stay; a partition given up is no longer paused.
    public func pause(_ topicPartitions: [TopicPartition]) async {
        await consumer.pause(topicPartitions)
    }

    public func resume(_ topicPartitions: [TopicPartition]) async {
        await consumer.resume(topicPartitions)
    }

    /// The assigned partitions that are paused.
    public var paused: [TopicPartition] {
        get async { await consumer.paused }
    }

    // MARK: Committing

    private func positions(of partitions: [TopicPartition]) async -> [TopicPartition: Int64] {
        var offsets: [TopicPartition: Int64] = [:]
        for tp in partitions {
            if let position = await consumer.position(of: tp) { offsets[tp] = position }
        }
        return offsets
    }

    /// Commits the positions of the assigned partitions (what `poll` has returned so far).
    public func commit() async throws {
        try await commit(offsets: positions(of: assignment))
    }

    /// Commits these offsets (the next offset to read, per partition) with this member's
    /// generation, after any `commitAsync` still under way. A rebalance error makes the next
    /// `poll` rejoin.
    public func commit(offsets: [TopicPartition: Int64], metadata: String? = nil) async throws {
        await asyncCommits?.value
        try await sendCommit(offsets: offsets, metadata: metadata, generation: generationId, member: memberId)
    }

    /// Sends a commit without waiting for the answer: the positions now (or `offsets`), in call
    /// order after earlier async commits; `completion` gets the outcome. A later `commit` waits
    /// for these first.
    public func commitAsync(
        offsets: [TopicPartition: Int64]? = nil, metadata: String? = nil,
        completion: (@Sendable (Result<Void, any Error>) -> Void)? = nil
    ) async {
        let chosen: [TopicPartition: Int64]
        if let offsets { chosen = offsets } else { chosen = await positions(of: assignment) }
        // The generation of the call, not of the send: after a rebalance the coordinator refuses
        // it rather than letting an old position overwrite a newer commit.
        let generation = generationId
        let member = memberId
        let previous = asyncCommits
        asyncCommits = Task {
            await previous?.value
            do {
                try await self.sendCommit(offsets: chosen, metadata: metadata, generation: generation, member: member)
                completion?(.success(()))
            } catch {
                completion?(.failure(error))
            }
        }
    }

    private func sendCommit(offsets: [TopicPartition: Int64], metadata: String?, generation: Int32, member: String) async throws {
        guard !offsets.isEmpty else { return }
        let connection = try await coordinatorConnection()
        let version = try connection.version(for: .offsetCommit)
        let byTopic = Dictionary(grouping: offsets.keys, by: \.topic)
        let request = OffsetCommitRequest(
            groupId: groupId, generationId: generation, memberId: member,
            groupInstanceId: version >= 7 ? configuration.groupInstanceId : nil,
            topics: byTopic.keys.sorted().map { topic in
                .init(name: topic, partitions: byTopic[topic]!.sorted().map {
                    .init(partitionIndex: $0.partition, committedOffset: offsets[$0]!, committedMetadata: metadata)
                })
            }
        )
        let response = try await connection.send(request, version: version, as: OffsetCommitResponse.self, timeoutMs: requestTimeoutMs)
        for topic in response.topics {
            for partition in topic.partitions where partition.errorCode != 0 {
                let code = KafkaErrorCode(code: partition.errorCode)
                switch code {
                case .rebalanceInProgress: needsRejoin = true
                case .illegalGeneration, .unknownMemberId:
                    // Only a commit of the current generation says this member was dropped.
                    if generation == generationId { loseMembership() }
                case .notCoordinator, .coordinatorNotAvailable: coordinator = nil
                default: break
                }
                throw KafkaClientError.broker(code, message: nil, context: "commit \(topic.name)-\(partition.partitionIndex) for group '\(groupId)'")
            }
        }
    }

    // MARK: Closing

    /// Stops reading and leaves the group (a static member stays until its session ends, as in
    /// Kafka). Commit first to keep the positions.
    public func close() async {
        guard !closed, !closing else { return }
        closing = true
        await asyncCommits?.value
        // Heartbeats go on while the listener commits, so the member is still in the group.
        while revocationsUnderWay > 0 {
            await withCheckedContinuation { revocationWaiters.append($0) }
        }
        if !assignment.isEmpty {
            if membershipLost {
                await emit(.lost(assignment, generation: assignedGeneration))
            } else {
                await emit(.revoked(assignment, generation: generationId))
            }
        }
        heartbeatTask?.cancel()
        heartbeatTask = nil
        closed = true
        await consumer.close()
        await leaveGroup(memberId: memberId)
        generationId = -1
        assignment = []
    }

    /// LeaveGroup for `memberId` (a static member stays until its session ends, as in Kafka).
    private func leaveGroup(memberId: String) async {
        guard configuration.groupInstanceId == nil, memberId != JoinGroupRequest.unknownMemberId else { return }
        do {
            let connection = try await coordinatorConnection()
            let version = try connection.version(for: .leaveGroup)
            let response = try await connection.send(
                LeaveGroupRequest(groupId: groupId, memberId: memberId, members: [.init(memberId: memberId)]),
                version: version, as: LeaveGroupResponse.self, timeoutMs: requestTimeoutMs
            )
            let code = KafkaErrorCode(code: response.errorCode)
            if code != .none { logger.debug("leave group failed", metadata: ["group": "\(groupId)", "error": "\(code.name)"]) }
        } catch {
            logger.debug("leave group failed", metadata: ["group": "\(groupId)", "error": "\(error)"])
        }
    }
}

/// `GroupConsumer.records`: every record of the member's partitions.
public struct GroupConsumerRecordSequence: AsyncSequence, Sendable {
    public typealias Element = ConsumerRecord
    let member: GroupConsumer

    public struct AsyncIterator: AsyncIteratorProtocol {
        let member: GroupConsumer
        var buffer: [ConsumerRecord] = []
        var index = 0

        public mutating func next() async throws -> ConsumerRecord? {
            while index >= buffer.count {
                if Task.isCancelled { return nil }
                if await member.isClosed { return nil }
                buffer = try await member.poll(maxRecords: member.configuration.consumer.maxPollRecords, timeoutMs: 1000)
                index = 0
            }
            defer { index += 1 }
            return buffer[index]
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(member: member) }
}
