import LogflumeBroker
import LogflumeWire
import NIOCore
import Testing

typealias Token = GroupCoordinatorState.RequestToken

func subscription(_ topics: [String]) -> ByteBuffer {
    var buffer = ByteBuffer()
    ConsumerProtocolSubscription(topics: topics).encode(into: &buffer, version: 0)
    return buffer
}

func assignment(_ topic: String, _ partitions: [Int32]) -> ByteBuffer {
    ConsumerProtocolAssignment(assignedPartitions: [.init(topic: topic, partitions: partitions)]).encoded(version: 0)
}

/// Drives a `GroupCoordinatorState` the way the broker does: every outcome's records go to an
/// in-memory `__consumer_offsets` log first, then its responses are delivered. Each token must
/// be answered exactly once, and only tokens the harness issued.
struct GroupHarness {
    var state: GroupCoordinatorState
    var now: Int64 = 1_000_000
    /// Everything appended to `__consumer_offsets`, in order.
    var log: [GroupMetadataRecord] = []
    var answers: [Token: GroupCoordinatorState.Response] = [:]
    var issued: Set<Token> = []
    /// The outcome of the last input.
    var last = GroupCoordinatorState.Outcome()
    private var nextToken: UInt64 = 1

    init(config: GroupCoordinatorConfig = GroupCoordinatorConfig()) {
        state = GroupCoordinatorState(config: config, randomSeed: 42)
    }

    var unanswered: Set<Token> { issued.subtracting(answers.keys) }

    mutating func token() -> Token {
        defer { nextToken += 1 }
        let token = Token(nextToken)
        issued.insert(token)
        return token
    }

    mutating func apply(_ outcome: GroupCoordinatorState.Outcome, sourceLocation: SourceLocation = #_sourceLocation) {
        last = outcome
        log.append(contentsOf: outcome.recordsToAppend)
        for delivery in outcome.responses {
            #expect(issued.contains(delivery.token), "response to a token never issued", sourceLocation: sourceLocation)
            #expect(answers[delivery.token] == nil, "\(delivery.token) answered twice", sourceLocation: sourceLocation)
            answers[delivery.token] = delivery.response
        }
    }

    mutating func advance(by milliseconds: Int64) {
        now += milliseconds
        apply(state.tick(now: now))
    }

    func group(_ id: String = "g") -> GroupCoordinatorState.Group? { state.groups[id] }

    // MARK: Requests

    @discardableResult
    mutating func join(
        _ groupId: String = "g", member: String = "", instance: String? = nil, client: String = "client", version: Int16 = 5,
        session: Int32 = 10_000, rebalance: Int32 = 60_000, protocolType: String = "consumer",
        protocols: [(String, ByteBuffer)] = [("range", subscription(["events"]))]
    ) -> Token {
        let token = token()
        let request = JoinGroupRequest(
            groupId: groupId, sessionTimeoutMs: session, rebalanceTimeoutMs: rebalance, memberId: member, groupInstanceId: instance,
            protocolType: protocolType, protocols: protocols.map { .init(name: $0.0, metadata: $0.1) }
        )
        apply(state.join(request, version: version, clientId: client, clientHost: "/10.0.0.1", token: token, now: now))
        return token
    }

    func joinResponse(_ token: Token) -> JoinGroupResponse? {
        if case .joinGroup(let response)? = answers[token] { return response }
        return nil
    }

    /// A new dynamic member joins the way v4+ clients do: MEMBER_ID_REQUIRED, then again with
    /// the id it was given. Returns the member id and the (usually parked) second join.
    mutating func joinNewMember(
        _ groupId: String = "g", client: String = "client", session: Int32 = 10_000, rebalance: Int32 = 60_000,
        protocols: [(String, ByteBuffer)] = [("range", subscription(["events"]))],
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> (memberId: String, token: Token) {
        let first = join(groupId, client: client, session: session, rebalance: rebalance, protocols: protocols)
        let answer = joinResponse(first)
        #expect(answer?.errorCode == KafkaErrorCode.memberIdRequired.rawValue, sourceLocation: sourceLocation)
        let memberId = answer?.memberId ?? ""
        #expect(memberId.hasPrefix("\(client)-"), sourceLocation: sourceLocation)
        let second = join(groupId, member: memberId, client: client, session: session, rebalance: rebalance, protocols: protocols)
        return (memberId, second)
    }

    @discardableResult
    mutating func sync(
        _ groupId: String = "g", generation: Int32, member: String, instance: String? = nil, assignments: [String: ByteBuffer] = [:]
    ) -> Token {
        let token = token()
        let request = SyncGroupRequest(
            groupId: groupId, generationId: generation, memberId: member, groupInstanceId: instance,
            assignments: assignments.sorted { $0.key < $1.key }.map { .init(memberId: $0.key, assignment: $0.value) }
        )
        apply(state.sync(request, version: 3, token: token, now: now))
        return token
    }

    func syncResponse(_ token: Token) -> SyncGroupResponse? {
        if case .syncGroup(let response)? = answers[token] { return response }
        return nil
    }

    mutating func heartbeat(_ groupId: String = "g", generation: Int32, member: String, instance: String? = nil) -> KafkaErrorCode {
        let token = token()
        apply(state.heartbeat(
            HeartbeatRequest(groupId: groupId, generationId: generation, memberId: member, groupInstanceId: instance),
            version: 3, token: token, now: now
        ))
        guard case .heartbeat(let response)? = answers[token] else { return .unknownServerError }
        return KafkaErrorCode(code: response.errorCode)
    }

    mutating func leave(_ groupId: String = "g", members: [(String, String?)]) -> LeaveGroupResponse? {
        let token = token()
        let request = LeaveGroupRequest(groupId: groupId, members: members.map { .init(memberId: $0.0, groupInstanceId: $0.1) })
        apply(state.leave(request, version: 3, token: token, now: now))
        guard case .leaveGroup(let response)? = answers[token] else { return nil }
        return response
    }

    mutating func commit(
        _ groupId: String = "g", generation: Int32 = -1, member: String = "", instance: String? = nil, version: Int16 = 7,
        retentionMs: Int64 = -1, _ offsets: [(String, Int32, Int64, String?)]
    ) -> OffsetCommitResponse? {
        let token = token()
        var topics: [OffsetCommitRequest.OffsetCommitRequestTopic] = []
        for (topic, partition, offset, metadata) in offsets {
            let entry = OffsetCommitRequest.OffsetCommitRequestPartition(
                partitionIndex: partition, committedOffset: offset, committedLeaderEpoch: 3, committedMetadata: metadata
            )
            if let i = topics.firstIndex(where: { $0.name == topic }) {
                topics[i].partitions.append(entry)
            } else {
                topics.append(.init(name: topic, partitions: [entry]))
            }
        }
        let request = OffsetCommitRequest(
            groupId: groupId, generationId: generation, memberId: member, groupInstanceId: instance, retentionTimeMs: retentionMs, topics: topics
        )
        apply(state.commitOffsets(request, version: version, token: token, now: now))
        guard case .offsetCommit(let response)? = answers[token] else { return nil }
        return response
    }

    mutating func fetch(_ groupId: String = "g", topics: [(String, [Int32])]? = nil, version: Int16 = 5) -> OffsetFetchResponse? {
        let token = token()
        let request = OffsetFetchRequest(groupId: groupId, topics: topics.map { $0.map { .init(name: $0.0, partitionIndexes: $0.1) } })
        apply(state.fetchOffsets(request, version: version, token: token, now: now))
        guard case .offsetFetch(let response)? = answers[token] else { return nil }
        return response
    }

    mutating func describe(_ groups: [String], version: Int16 = 4) -> DescribeGroupsResponse? {
        let token = token()
        apply(state.describe(DescribeGroupsRequest(groups: groups), version: version, token: token, now: now))
        guard case .describeGroups(let response)? = answers[token] else { return nil }
        return response
    }

    mutating func list() -> ListGroupsResponse? {
        let token = token()
        apply(state.list(ListGroupsRequest(), version: 2, token: token, now: now))
        guard case .listGroups(let response)? = answers[token] else { return nil }
        return response
    }

    mutating func delete(_ groups: [String]) -> DeleteGroupsResponse? {
        let token = token()
        apply(state.delete(DeleteGroupsRequest(groupsNames: groups), version: 1, token: token, now: now))
        guard case .deleteGroups(let response)? = answers[token] else { return nil }
        return response
    }

    // MARK: Scenarios

    /// `count` dynamic members join (each through MEMBER_ID_REQUIRED), the initial delay runs
    /// out, and every member syncs; the leader assigns partition i of "events" to member i.
    /// Returns the member ids in join order and the generation.
    mutating func stableGroup(
        _ groupId: String = "g", count: Int, session: Int32 = 10_000, rebalance: Int32 = 60_000,
        sourceLocation: SourceLocation = #_sourceLocation
    ) -> (members: [String], generation: Int32) {
        var members: [String] = []
        var joins: [Token] = []
        for i in 0..<count {
            let (id, token) = joinNewMember(groupId, client: "c\(i + 1)", session: session, rebalance: rebalance, sourceLocation: sourceLocation)
            members.append(id)
            joins.append(token)
        }
        var waited: Int64 = 0
        while joins.contains(where: { joinResponse($0) == nil }) && waited < Int64(rebalance) + 10_000 {
            advance(by: 500)
            waited += 500
        }
        let generation = joinResponse(joins[0])?.generationId ?? -1
        let leader = joinResponse(joins[0])?.leader ?? ""
        var assignments: [String: ByteBuffer] = [:]
        for (i, id) in members.enumerated() { assignments[id] = assignment("events", [Int32(i)]) }
        for id in members where id != leader { sync(groupId, generation: generation, member: id) }
        sync(groupId, generation: generation, member: leader, assignments: assignments)
        #expect(state.groups[groupId]?.state == .stable, sourceLocation: sourceLocation)
        return (members, generation)
    }
}
