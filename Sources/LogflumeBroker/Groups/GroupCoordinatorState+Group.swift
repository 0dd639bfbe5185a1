public import LogflumeWire
public import NIOCore

extension GroupCoordinatorState {
    /// Kafka's classic group states. A group is Empty without members; a join moves it to
    /// PreparingRebalance, where members (re)join; when they all have (or the rebalance
    /// timeout passes) it is CompletingRebalance, waiting for the leader's assignment; with the
    /// assignment it is Stable. Dead groups are removed from the coordinator.
    public enum GroupState: String, Equatable, Sendable, CaseIterable {
        case empty = "Empty"
        case preparingRebalance = "PreparingRebalance"
        case completingRebalance = "CompletingRebalance"
        case stable = "Stable"
        case dead = "Dead"
    }

    public struct TopicPartition: Hashable, Comparable, Sendable, CustomStringConvertible {
        public var topic: String
        public var partition: Int32

        public init(topic: String, partition: Int32) {
            self.topic = topic
            self.partition = partition
        }

        public static func < (a: TopicPartition, b: TopicPartition) -> Bool {
            (a.topic, a.partition) < (b.topic, b.partition)
        }

        public var description: String { "\(topic)-\(partition)" }
    }

    /// A committed offset as stored in `__consumer_offsets`.
    public struct CommittedOffset: Equatable, Sendable {
        public var offset: Int64
        /// -1 = unknown.
        public var leaderEpoch: Int32
        /// A commit without metadata stores "".
        public var metadata: String
        public var commitTimestamp: Int64
        /// Set by commits with an explicit retention time (OffsetCommit v2-4); nil = expiry by
        /// `offsets.retention.minutes`.
        public var expireTimestamp: Int64?

        public init(offset: Int64, leaderEpoch: Int32 = -1, metadata: String = "", commitTimestamp: Int64, expireTimestamp: Int64? = nil) {
            self.offset = offset
            self.leaderEpoch = leaderEpoch
            self.metadata = metadata
            self.commitTimestamp = commitTimestamp
            self.expireTimestamp = expireTimestamp
        }

        public init(_ value: OffsetCommitValue) {
            self.init(
                offset: value.offset, leaderEpoch: value.leaderEpoch, metadata: value.metadata,
                commitTimestamp: value.commitTimestamp, expireTimestamp: value.expireTimestamp == -1 ? nil : value.expireTimestamp
            )
        }

        public var value: OffsetCommitValue {
            OffsetCommitValue(offset: offset, leaderEpoch: leaderEpoch, metadata: metadata, commitTimestamp: commitTimestamp, expireTimestamp: expireTimestamp ?? -1)
        }
    }

    /// One member of a group.
    public struct Member: Equatable, Sendable {
        public internal(set) var memberId: String
        /// Set for static members (KIP-345).
        public internal(set) var groupInstanceId: String?
        public internal(set) var clientId: String
        public internal(set) var clientHost: String
        public internal(set) var sessionTimeoutMs: Int32
        public internal(set) var rebalanceTimeoutMs: Int32
        public internal(set) var protocolType: String
        /// The member's protocols in its order of preference, each with its metadata.
        public internal(set) var protocols: [JoinGroupRequest.JoinGroupRequestProtocol]
        /// What the leader assigned it in the last completed rebalance.
        public internal(set) var assignment: ByteBuffer
        /// Its JoinGroup parked until the join phase ends.
        public internal(set) var awaitingJoin: RequestToken?
        /// Its SyncGroup parked until the leader's assignment arrives.
        public internal(set) var awaitingSync: RequestToken?
        /// Joined but not yet through a completed join phase: it is dropped when its deadline
        /// (`newMemberJoinTimeoutMs`) passes even while its join is parked.
        public internal(set) var isNew: Bool
        /// When the member is removed unless it heartbeats (or is waiting in a rebalance).
        public internal(set) var heartbeatDeadline: Int64?

        public var isStatic: Bool { groupInstanceId != nil }

        /// The member's metadata for `protocolName`.
        public func metadata(for protocolName: String) -> ByteBuffer? {
            protocols.first { $0.name == protocolName }?.metadata
        }

        /// The member's first preference among `candidates` (Kafka's vote).
        func vote(_ candidates: Set<String>) -> String? {
            protocols.first { candidates.contains($0.name) }?.name
        }

        /// Its awaiting join or sync stands in for heartbeats, unless it is new.
        var heartbeatSatisfiedByRebalance: Bool {
            !isNew && (awaitingJoin != nil || awaitingSync != nil)
        }
    }

    /// How much longer the initial rebalance of an Empty group may be extended (KIP-134).
    struct InitialDelay: Equatable, Sendable {
        var delayMs: Int64
        var remainingMs: Int64
    }

    /// One consumer group (or any group of Kafka's classic protocol).
    public struct Group: Equatable, Sendable {
        public let groupId: String
        public internal(set) var state: GroupState = .empty
        /// When the group last changed state (nil when loaded from a record without it).
        public internal(set) var currentStateTimestamp: Int64?
        /// Set by the first member; nil for a group that only stores offsets.
        public internal(set) var protocolType: String?
        /// The protocol chosen for the current generation (nil while Empty).
        public internal(set) var protocolName: String?
        public internal(set) var generationId: Int32 = 0
        public internal(set) var leaderId: String?
        /// In the order they joined.
        public internal(set) var members: [Member] = []
        /// Member ids handed out with MEMBER_ID_REQUIRED (KIP-394), each with the deadline by
        /// which the member must join again with it.
        public internal(set) var pendingMembers: [String: Int64] = [:]
        /// Members of the current generation that have not sent SyncGroup yet.
        public internal(set) var pendingSyncMembers: Set<String> = []
        public internal(set) var offsets: [TopicPartition: CommittedOffset] = [:]
        /// While PreparingRebalance: when the join phase ends (or the initial delay is
        /// extended).
        public internal(set) var joinDeadline: Int64?
        /// While members owe a SyncGroup: when those that have not sent it are removed.
        public internal(set) var syncDeadline: Int64?
        var initialDelay: InitialDelay?
        var newMemberAdded = false

        init(groupId: String, now: Int64?) {
            self.groupId = groupId
            self.currentStateTimestamp = now
        }

        // MARK: Queries

        func index(of memberId: String) -> Int? { members.firstIndex { $0.memberId == memberId } }
        func has(_ memberId: String) -> Bool { index(of: memberId) != nil }
        public func member(_ memberId: String) -> Member? { index(of: memberId).map { members[$0] } }
        func isLeader(_ memberId: String) -> Bool { leaderId == memberId }

        /// The member id currently holding `groupInstanceId`.
        public func staticMemberId(_ groupInstanceId: String) -> String? {
            members.first { $0.groupInstanceId == groupInstanceId }?.memberId
        }

        /// A request naming a static instance held by another member id comes from a fenced
        /// (replaced) instance.
        func isStaticMemberFenced(memberId: String, groupInstanceId: String?) -> Bool {
            guard let groupInstanceId, let current = staticMemberId(groupInstanceId) else { return false }
            return current != memberId
        }

        /// The longest rebalance timeout among the members.
        var rebalanceTimeoutMs: Int64 { Int64(members.map(\.rebalanceTimeoutMs).max() ?? 0) }

        var hasAllMembersJoined: Bool { pendingMembers.isEmpty && members.allSatisfy { $0.awaitingJoin != nil } }

        /// Whether a member with this protocol type and these protocols may join: an Empty
        /// group takes any non-empty set; otherwise the type must match and one protocol must
        /// be supported by every member.
        func supportsProtocols(type: String, names: [String]) -> Bool {
            if state == .empty { return !type.isEmpty && !names.isEmpty }
            return protocolType == type && names.contains { name in members.allSatisfy { $0.protocols.contains { $0.name == name } } }
        }

        /// The protocols every member supports.
        var candidateProtocols: Set<String> {
            guard let first = members.first else { return [] }
            return Set(first.protocols.map(\.name).filter { name in members.allSatisfy { $0.protocols.contains { $0.name == name } } })
        }

        /// Each member votes for its preferred candidate; the most votes wins (ties go to the
        /// protocol voted for first, in join order).
        func selectProtocol() -> String? {
            let candidates = candidateProtocols
            var votes: [String: Int] = [:]
            var order: [String] = []
            for member in members {
                guard let choice = member.vote(candidates) else { continue }
                if votes[choice] == nil { order.append(choice) }
                votes[choice, default: 0] += 1
            }
            var best: String?
            for name in order where best == nil || votes[name]! > votes[best!]! { best = name }
            return best ?? members.first?.protocols.first?.name
        }

        /// The topics the members subscribe to, when the group is a consumer group whose
        /// subscriptions all decode (nil otherwise).
        var subscribedTopics: Set<String>? {
            guard protocolType == ConsumerProtocol.protocolType, let protocolName else { return nil }
            var topics: Set<String> = []
            for member in members {
                guard let bytes = member.metadata(for: protocolName),
                      let subscription = try? ConsumerProtocolSubscription(from: bytes)
                else { return nil }
                topics.formUnion(subscription.topics)
            }
            return topics
        }

        /// The group's record for `__consumer_offsets`.
        public var metadataValue: GroupMetadataValue {
            GroupMetadataValue(
                protocolType: protocolType ?? "", generation: generationId, protocol: protocolName, leader: leaderId,
                currentStateTimestamp: currentStateTimestamp ?? -1,
                members: members.map { member in
                    GroupMetadataValue.MemberMetadata(
                        memberId: member.memberId, groupInstanceId: member.groupInstanceId, clientId: member.clientId,
                        clientHost: member.clientHost, rebalanceTimeout: member.rebalanceTimeoutMs, sessionTimeout: member.sessionTimeoutMs,
                        subscription: protocolName.flatMap { member.metadata(for: $0) } ?? ByteBuffer(), assignment: member.assignment
                    )
                }
            )
        }

        var metadataRecord: GroupMetadataRecord {
            .groupMetadata(GroupMetadataKey(group: groupId), metadataValue)
        }

        /// The members as the leader's JoinGroup response lists them.
        var currentMemberMetadata: [JoinGroupResponse.JoinGroupResponseMember] {
            members.map { member in
                JoinGroupResponse.JoinGroupResponseMember(
                    memberId: member.memberId, groupInstanceId: member.groupInstanceId,
                    metadata: protocolName.flatMap { member.metadata(for: $0) } ?? ByteBuffer()
                )
            }
        }

        /// The current generation as `memberId` is told it (only the leader gets the members).
        func joinResponse(for memberId: String, leader: String? = nil, includeMembers: Bool = true) -> JoinGroupResponse {
            JoinGroupResponse(
                generationId: generationId, protocolName: protocolName ?? "", leader: leader ?? leaderId ?? "", memberId: memberId,
                members: includeMembers && isLeader(memberId) ? currentMemberMetadata : []
            )
        }

        // MARK: Transitions (Kafka's GroupCoordinator, one group at a time)

        mutating func transition(to newState: GroupState, _ now: Int64) {
            state = newState
            currentStateTimestamp = now
        }

        mutating func add(_ member: Member) {
            if members.isEmpty { protocolType = member.protocolType }
            if leaderId == nil { leaderId = member.memberId }
            members.append(member)
            pendingMembers[member.memberId] = nil
        }

        /// Removes a member (or a pending member id), answering its parked requests with
        /// UNKNOWN_MEMBER_ID.
        @discardableResult
        mutating func remove(_ memberId: String, _ step: inout GroupStep) -> Member? {
            pendingMembers[memberId] = nil
            guard let i = index(of: memberId) else { return nil }
            let member = members.remove(at: i)
            if let token = member.awaitingJoin {
                step.outcome.respond(token, .joinGroup(JoinGroupResponse(errorCode: KafkaErrorCode.unknownMemberId.rawValue)))
            }
            if let token = member.awaitingSync {
                step.outcome.respond(token, .syncGroup(SyncGroupResponse(errorCode: KafkaErrorCode.unknownMemberId.rawValue)))
            }
            if isLeader(memberId) { leaderId = members.first?.memberId }
            removePendingSync(memberId)
            return member
        }

        mutating func removePendingSync(_ memberId: String) {
            pendingSyncMembers.remove(memberId)
            if pendingSyncMembers.isEmpty { syncDeadline = nil }
        }

        /// A member left or failed: the group rebalances without it.
        mutating func removeMemberAndUpdateGroup(_ memberId: String, _ step: inout GroupStep) {
            remove(memberId, &step)
            switch state {
            case .dead, .empty: break
            case .stable, .completingRebalance: maybePrepareRebalance(&step)
            case .preparingRebalance: tryCompleteJoin(&step)
            }
        }

        mutating func removePendingMemberAndUpdateGroup(_ memberId: String, _ step: inout GroupStep) {
            pendingMembers[memberId] = nil
            if state == .preparingRebalance { tryCompleteJoin(&step) }
        }

        /// Answers a parked JoinGroup.
        mutating func answerJoin(at i: Int, _ response: JoinGroupResponse, _ step: inout GroupStep) {
            guard let token = members[i].awaitingJoin else { return }
            step.outcome.respond(token, .joinGroup(response))
            members[i].awaitingJoin = nil
        }

        /// Answers a parked SyncGroup; the member's session restarts (Kafka ignores session
        /// expiry while a sync is parked).
        mutating func answerSync(at i: Int, _ response: SyncGroupResponse, _ step: inout GroupStep) {
            guard let token = members[i].awaitingSync else { return }
            step.outcome.respond(token, .syncGroup(response))
            members[i].awaitingSync = nil
            members[i].heartbeatDeadline = step.now + Int64(members[i].sessionTimeoutMs)
        }

        mutating func maybePrepareRebalance(_ step: inout GroupStep) {
            guard [.stable, .completingRebalance, .empty].contains(state) else { return }
            prepareRebalance(&step)
        }

        /// Starts a join phase: members awaiting a sync are told REBALANCE_IN_PROGRESS; an Empty
        /// group waits the initial rebalance delay, any other the longest rebalance timeout
        /// (or less, once every member has joined).
        mutating func prepareRebalance(_ step: inout GroupStep) {
            if state == .completingRebalance { resetAndPropagateAssignmentError(.rebalanceInProgress, &step) }
            pendingSyncMembers = []
            syncDeadline = nil
            if state == .empty {
                let delay = step.config.initialRebalanceDelayMs
                initialDelay = InitialDelay(delayMs: delay, remainingMs: max(rebalanceTimeoutMs - delay, 0))
                joinDeadline = step.now + delay
            } else {
                initialDelay = nil
                joinDeadline = step.now + rebalanceTimeoutMs
            }
            transition(to: .preparingRebalance, step.now)
            tryCompleteJoin(&step)
        }

        mutating func resetAndPropagateAssignmentError(_ error: KafkaErrorCode, _ step: inout GroupStep) {
            for i in members.indices {
                members[i].assignment = ByteBuffer()
                answerSync(at: i, SyncGroupResponse(errorCode: error.rawValue), &step)
            }
        }

        /// Ends the join phase early once every member has joined (never during the initial
        /// delay, which always runs its course).
        mutating func tryCompleteJoin(_ step: inout GroupStep) {
            guard state == .preparingRebalance, initialDelay == nil, hasAllMembersJoined else { return }
            completeJoin(&step)
        }

        /// The join deadline passed: extend the initial delay if members are still arriving,
        /// else end the join phase.
        mutating func joinDeadlinePassed(_ step: inout GroupStep) {
            guard state == .preparingRebalance else {
                joinDeadline = nil
                return
            }
            if let delay = initialDelay, newMemberAdded, delay.remainingMs != 0 {
                newMemberAdded = false
                let next = min(step.config.initialRebalanceDelayMs, delay.remainingMs)
                initialDelay = InitialDelay(delayMs: next, remainingMs: max(delay.remainingMs - delay.delayMs, 0))
                joinDeadline = step.now + next
            } else {
                completeJoin(&step)
            }
        }

        /// Ends the join phase: dynamic members that did not rejoin are dropped, the next
        /// generation starts with a protocol every member supports, and every parked join is
        /// answered (the leader with all members' metadata). A group left without members
        /// becomes Empty and its record is written.
        mutating func completeJoin(_ step: inout GroupStep) {
            joinDeadline = nil
            initialDelay = nil
            newMemberAdded = false
            for member in members where member.awaitingJoin == nil && !member.isStatic {
                remove(member.memberId, &step)
            }
            if !maybeElectNewJoinedLeader() && !members.isEmpty {
                // Only static members that have not rejoined are left: wait for them to rejoin
                // or for their sessions to expire.
                let rebalanceTimeout = rebalanceTimeoutMs
                if rebalanceTimeout > 0 {
                    joinDeadline = step.now + rebalanceTimeout
                } else {
                    joinDeadline = max(members.compactMap(\.heartbeatDeadline).min() ?? step.now + 1, step.now + 1)
                }
                return
            }
            initNextGeneration(step.now)
            if state == .empty {
                step.outcome.append(metadataRecord)
                return
            }
            for i in members.indices {
                answerJoin(at: i, joinResponse(for: members[i].memberId), &step)
                members[i].heartbeatDeadline = step.now + Int64(members[i].sessionTimeoutMs)
                members[i].isNew = false
                pendingSyncMembers.insert(members[i].memberId)
            }
            syncDeadline = step.now + rebalanceTimeoutMs
        }

        /// Keeps the leader if it rejoined, else makes the first member that did the leader.
        mutating func maybeElectNewJoinedLeader() -> Bool {
            guard let leaderId, let leader = member(leaderId) else { return false }
            if leader.awaitingJoin != nil { return true }
            guard let joined = members.first(where: { $0.awaitingJoin != nil }) else { return false }
            self.leaderId = joined.memberId
            return true
        }

        mutating func initNextGeneration(_ now: Int64) {
            generationId &+= 1
            if members.isEmpty {
                protocolName = nil
                transition(to: .empty, now)
            } else {
                protocolName = selectProtocol()
                transition(to: .completingRebalance, now)
            }
            pendingSyncMembers = []
            syncDeadline = nil
        }

        /// The leader's assignment arrived: the group is Stable, its record is written and the
        /// parked syncs are answered (after the record is appended, by the caller's contract).
        mutating func completeSync(assignments: [String: ByteBuffer], _ step: inout GroupStep) {
            for i in members.indices { members[i].assignment = assignments[members[i].memberId] ?? ByteBuffer() }
            transition(to: .stable, step.now)
            step.outcome.append(metadataRecord)
            for i in members.indices {
                answerSync(at: i, SyncGroupResponse(assignment: members[i].assignment), &step)
            }
        }

        /// A member's heartbeat deadline passed: it is removed unless a parked join or sync
        /// stands in for its heartbeats.
        mutating func heartbeatDeadlinePassed(_ memberId: String, _ step: inout GroupStep) {
            guard let i = index(of: memberId) else { return }
            if members[i].heartbeatSatisfiedByRebalance {
                members[i].heartbeatDeadline = nil
            } else {
                removeMemberAndUpdateGroup(memberId, &step)
            }
        }

        /// The sync deadline passed: members that never sent SyncGroup are removed and the
        /// group rebalances.
        mutating func syncDeadlinePassed(_ step: inout GroupStep) {
            syncDeadline = nil
            guard state == .completingRebalance || state == .stable else {
                pendingSyncMembers = []
                return
            }
            let missing = members.map(\.memberId).filter(pendingSyncMembers.contains)
            for memberId in missing { remove(memberId, &step) }
            prepareRebalance(&step)
        }
    }
}
