public import LogflumeWire
import NIOCore

extension GroupCoordinatorState {
    /// JoinGroup (v0-5). The response is usually parked until the join phase ends; it may also
    /// come at once (errors, MEMBER_ID_REQUIRED, a follower rejoining a stable group unchanged,
    /// a static member replacing its old instance in a stable group).
    ///
    /// - Parameters:
    ///   - version: the request's version: v0 members use their session timeout as rebalance
    ///     timeout; from v4 a dynamic member joining without a member id is answered
    ///     MEMBER_ID_REQUIRED with a new id, which it must join with again (KIP-394).
    ///   - clientId, clientHost: the request header's client id and the peer's address, kept for
    ///     DescribeGroups and the group's record.
    public mutating func join(
        _ request: JoinGroupRequest, version: Int16, clientId: String, clientHost: String, token: RequestToken, now: Int64
    ) -> Outcome {
        var step = begin(now)
        let joining = JoiningMember(request: request, version: version, clientId: clientId, clientHost: clientHost, token: token)
        joinGroup(joining, &step)
        return finish(step)
    }

    /// SyncGroup (v0-3). The leader's request carries every member's assignment: the group
    /// becomes Stable, its record is written and every parked sync is answered. Other
    /// members' syncs are parked until then (or answered at once when the group is Stable).
    public mutating func sync(_ request: SyncGroupRequest, version: Int16, token: RequestToken, now: Int64) -> Outcome {
        var step = begin(now)
        syncGroup(request, token: token, &step)
        return finish(step)
    }

    /// Heartbeat (v0-3): keeps a member's session; REBALANCE_IN_PROGRESS tells it to rejoin.
    public mutating func heartbeat(_ request: HeartbeatRequest, version: Int16, token: RequestToken, now: Int64) -> Outcome {
        var step = begin(now)
        step.outcome.respond(token, .heartbeat(HeartbeatResponse(errorCode: heartbeatGroup(request, &step).rawValue)))
        return finish(step)
    }

    /// LeaveGroup (v0-3; v3 removes several members, by member id or, with an empty member
    /// id, by group instance id).
    public mutating func leave(_ request: LeaveGroupRequest, version: Int16, token: RequestToken, now: Int64) -> Outcome {
        var step = begin(now)
        let identities = version >= 3 ? request.members : [LeaveGroupRequest.MemberIdentity(memberId: request.memberId)]
        let (topLevel, results) = leaveGroup(request.groupId, identities, &step)
        var response = LeaveGroupResponse(errorCode: topLevel.rawValue)
        if version >= 3 {
            response.members = results
        } else if topLevel == .none {
            response.errorCode = results.first?.errorCode ?? KafkaErrorCode.unknownMemberId.rawValue
        }
        step.outcome.respond(token, .leaveGroup(response))
        return finish(step)
    }
}

/// A JoinGroup request with what the coordinator derives from it.
struct JoiningMember {
    var groupId: String
    var memberId: String
    var groupInstanceId: String?
    var clientId: String
    var clientHost: String
    var sessionTimeoutMs: Int32
    var rebalanceTimeoutMs: Int32
    var protocolType: String
    var protocols: [JoinGroupRequest.JoinGroupRequestProtocol]
    var requiresKnownMemberId: Bool
    var token: GroupCoordinatorState.RequestToken

    init(request: JoinGroupRequest, version: Int16, clientId: String, clientHost: String, token: GroupCoordinatorState.RequestToken) {
        groupId = request.groupId
        memberId = request.memberId
        groupInstanceId = version >= 5 ? request.groupInstanceId : nil
        self.clientId = clientId
        self.clientHost = clientHost
        sessionTimeoutMs = request.sessionTimeoutMs
        rebalanceTimeoutMs = version >= 1 && request.rebalanceTimeoutMs >= 0 ? request.rebalanceTimeoutMs : request.sessionTimeoutMs
        protocolType = request.protocolType
        protocols = request.protocols
        requiresKnownMemberId = version >= 4 && groupInstanceId == nil
        self.token = token
    }

    var protocolNames: [String] { protocols.map(\.name) }

    func member(id: String, now: Int64, newMemberJoinTimeoutMs: Int64) -> GroupCoordinatorState.Member {
        GroupCoordinatorState.Member(
            memberId: id, groupInstanceId: groupInstanceId, clientId: clientId, clientHost: clientHost,
            sessionTimeoutMs: sessionTimeoutMs, rebalanceTimeoutMs: rebalanceTimeoutMs, protocolType: protocolType,
            protocols: protocols, assignment: ByteBuffer(), awaitingJoin: token, awaitingSync: nil, isNew: true,
            heartbeatDeadline: now + newMemberJoinTimeoutMs
        )
    }
}

extension GroupCoordinatorState {
    mutating func joinGroup(_ joining: JoiningMember, _ step: inout GroupStep) {
        func fail(_ error: KafkaErrorCode, memberId: String = joining.memberId) {
            step.outcome.respond(joining.token, .joinGroup(JoinGroupResponse(errorCode: error.rawValue, memberId: memberId)))
        }
        let groupId = joining.groupId
        guard !groupId.isEmpty else { return fail(.invalidGroupId) }
        guard !isLoading else { return fail(.coordinatorLoadInProgress) }
        guard (config.minSessionTimeoutMs...config.maxSessionTimeoutMs).contains(joining.sessionTimeoutMs) else {
            return fail(.invalidSessionTimeout)
        }
        let isUnknownMember = joining.memberId == JoinGroupRequest.unknownMemberId
        var group: Group
        if let existing = groups[groupId] {
            group = existing
        } else {
            guard isUnknownMember else { return fail(.unknownMemberId) }
            guard !joining.protocolType.isEmpty, !joining.protocols.isEmpty else { return fail(.inconsistentGroupProtocol) }
            group = Group(groupId: groupId, now: step.now)
        }
        if isUnknownMember {
            joinUnknownMember(&group, joining, &step)
        } else {
            joinKnownMember(&group, joining, &step)
        }
        if group.state == .preparingRebalance { group.tryCompleteJoin(&step) }
        let holdsNothing = group.state == .empty && group.members.isEmpty && group.pendingMembers.isEmpty && group.offsets.isEmpty
        if groups[groupId] != nil || !holdsNothing || group.generationId != 0 {
            groups[groupId] = group
        }
    }

    private mutating func joinUnknownMember(_ group: inout Group, _ joining: JoiningMember, _ step: inout GroupStep) {
        func fail(_ error: KafkaErrorCode) {
            step.outcome.respond(joining.token, .joinGroup(JoinGroupResponse(errorCode: error.rawValue)))
        }
        guard group.supportsProtocols(type: joining.protocolType, names: joining.protocolNames) else {
            return fail(.inconsistentGroupProtocol)
        }
        let replacedMemberId = joining.groupInstanceId.flatMap(group.staticMemberId)
        if replacedMemberId == nil && group.members.count + group.pendingMembers.count >= config.maxSize {
            return fail(.groupMaxSizeReached)
        }
        let newMemberId = makeMemberId(clientId: joining.clientId, in: group)
        if let replacedMemberId {
            updateStaticMemberAndRebalance(&group, replacing: replacedMemberId, with: newMemberId, joining, &step)
        } else if joining.requiresKnownMemberId {
            group.pendingMembers[newMemberId] = step.now + Int64(joining.sessionTimeoutMs)
            step.outcome.respond(joining.token, .joinGroup(JoinGroupResponse(errorCode: KafkaErrorCode.memberIdRequired.rawValue, memberId: newMemberId)))
        } else {
            addMemberAndRebalance(&group, memberId: newMemberId, joining, &step)
        }
    }

    private func joinKnownMember(_ group: inout Group, _ joining: JoiningMember, _ step: inout GroupStep) {
        func fail(_ error: KafkaErrorCode) {
            step.outcome.respond(joining.token, .joinGroup(JoinGroupResponse(errorCode: error.rawValue, memberId: joining.memberId)))
        }
        let memberId = joining.memberId
        guard group.supportsProtocols(type: joining.protocolType, names: joining.protocolNames) else {
            return fail(.inconsistentGroupProtocol)
        }
        if group.pendingMembers[memberId] != nil && joining.groupInstanceId == nil {
            // The second join of KIP-394, with the id MEMBER_ID_REQUIRED handed out.
            guard group.members.count < config.maxSize else {
                group.pendingMembers[memberId] = nil
                return fail(.groupMaxSizeReached)
            }
            addMemberAndRebalance(&group, memberId: memberId, joining, &step)
            return
        }
        if group.isStaticMemberFenced(memberId: memberId, groupInstanceId: joining.groupInstanceId) {
            return fail(.fencedInstanceId)
        }
        guard let i = group.index(of: memberId), joining.groupInstanceId.map({ group.staticMemberId($0) != nil }) ?? true else {
            return fail(.unknownMemberId)
        }
        switch group.state {
        case .preparingRebalance:
            updateMemberAndRebalance(&group, at: i, joining, &step)
        case .completingRebalance:
            if group.members[i].protocols == joining.protocols {
                // A retry of a join whose response was lost: the current generation again.
                step.outcome.respond(joining.token, .joinGroup(group.joinResponse(for: memberId)))
            } else {
                updateMemberAndRebalance(&group, at: i, joining, &step)
            }
        case .stable:
            if group.isLeader(memberId) || group.members[i].protocols != joining.protocols {
                // The leader rejoining asks for a new assignment (topic metadata changed).
                updateMemberAndRebalance(&group, at: i, joining, &step)
            } else {
                step.outcome.respond(joining.token, .joinGroup(group.joinResponse(for: memberId, includeMembers: false)))
            }
        case .empty, .dead:
            fail(.unknownMemberId)
        }
    }

    private func addMemberAndRebalance(_ group: inout Group, memberId: String, _ joining: JoiningMember, _ step: inout GroupStep) {
        let member = joining.member(id: memberId, now: step.now, newMemberJoinTimeoutMs: config.newMemberJoinTimeoutMs)
        if group.state == .preparingRebalance && group.generationId == 0 { group.newMemberAdded = true }
        group.add(member)
        group.maybePrepareRebalance(&step)
    }

    private func updateMemberAndRebalance(_ group: inout Group, at i: Int, _ joining: JoiningMember, _ step: inout GroupStep) {
        supersedeParkedJoin(&group, at: i, by: joining.token, &step)
        group.members[i].protocols = joining.protocols
        group.members[i].rebalanceTimeoutMs = joining.rebalanceTimeoutMs
        group.members[i].sessionTimeoutMs = joining.sessionTimeoutMs
        group.members[i].awaitingJoin = joining.token
        group.maybePrepareRebalance(&step)
    }

    /// A member that joins again while its earlier join is parked gave up on it: that one is
    /// answered REBALANCE_IN_PROGRESS (Kafka drops it unanswered).
    private func supersedeParkedJoin(_ group: inout Group, at i: Int, by token: RequestToken, _ step: inout GroupStep) {
        guard let parked = group.members[i].awaitingJoin, parked != token else { return }
        step.outcome.respond(parked, .joinGroup(JoinGroupResponse(errorCode: KafkaErrorCode.rebalanceInProgress.rawValue, memberId: group.members[i].memberId)))
        group.members[i].awaitingJoin = nil
    }

    /// A static member joined without a member id while its instance is in the group (a
    /// restart within the session timeout, KIP-345): the new member id takes the old one's
    /// place, the old instance is fenced, and a Stable group keeps its generation and
    /// assignment (its record is rewritten); otherwise the group rebalances.
    private func updateStaticMemberAndRebalance(
        _ group: inout Group, replacing oldMemberId: String, with newMemberId: String, _ joining: JoiningMember, _ step: inout GroupStep
    ) {
        guard let i = group.index(of: oldMemberId) else { return }
        let currentLeader = group.leaderId
        if let parked = group.members[i].awaitingJoin {
            step.outcome.respond(parked, .joinGroup(JoinGroupResponse(errorCode: KafkaErrorCode.fencedInstanceId.rawValue, memberId: oldMemberId)))
            group.members[i].awaitingJoin = nil
        }
        if let parked = group.members[i].awaitingSync {
            step.outcome.respond(parked, .syncGroup(SyncGroupResponse(errorCode: KafkaErrorCode.fencedInstanceId.rawValue)))
            group.members[i].awaitingSync = nil
        }
        group.members[i].memberId = newMemberId
        if group.leaderId == oldMemberId { group.leaderId = newMemberId }
        if group.pendingSyncMembers.remove(oldMemberId) != nil { group.pendingSyncMembers.insert(newMemberId) }
        group.members[i].protocols = joining.protocols
        group.members[i].rebalanceTimeoutMs = joining.rebalanceTimeoutMs
        group.members[i].sessionTimeoutMs = joining.sessionTimeoutMs
        group.members[i].heartbeatDeadline = step.now + Int64(joining.sessionTimeoutMs)
        group.members[i].awaitingJoin = joining.token
        switch group.state {
        case .stable:
            if group.selectProtocol() == group.protocolName {
                // The old leader id is returned so that a replaced leader does not compute an
                // assignment a Stable group would not hand out.
                step.outcome.append(group.metadataRecord)
                group.answerJoin(at: i, group.joinResponse(for: newMemberId, leader: currentLeader, includeMembers: false), &step)
            } else {
                group.maybePrepareRebalance(&step)
            }
        case .completingRebalance:
            // The leader may have been sent the old member id: rebalance so assignments match.
            group.prepareRebalance(&step)
        case .preparingRebalance:
            break
        case .empty, .dead:
            group.maybePrepareRebalance(&step)
        }
    }

    private mutating func syncGroup(_ request: SyncGroupRequest, token: RequestToken, _ step: inout GroupStep) {
        func fail(_ error: KafkaErrorCode) {
            step.outcome.respond(token, .syncGroup(SyncGroupResponse(errorCode: error.rawValue)))
        }
        let memberId = request.memberId
        guard !request.groupId.isEmpty else { return fail(.invalidGroupId) }
        // While loading the rebalance's state is lost: REBALANCE_IN_PROGRESS makes the member
        // rejoin (older clients do not expect COORDINATOR_LOAD_IN_PROGRESS here).
        guard !isLoading else { return fail(.rebalanceInProgress) }
        guard var group = groups[request.groupId] else { return fail(.unknownMemberId) }
        guard !group.isStaticMemberFenced(memberId: memberId, groupInstanceId: request.groupInstanceId) else { return fail(.fencedInstanceId) }
        guard let i = group.index(of: memberId) else { return fail(.unknownMemberId) }
        guard request.generationId == group.generationId else { return fail(.illegalGeneration) }
        switch group.state {
        case .empty, .dead:
            return fail(.unknownMemberId)
        case .preparingRebalance:
            return fail(.rebalanceInProgress)
        case .completingRebalance:
            if let parked = group.members[i].awaitingSync, parked != token {
                step.outcome.respond(parked, .syncGroup(SyncGroupResponse(errorCode: KafkaErrorCode.rebalanceInProgress.rawValue)))
            }
            group.members[i].awaitingSync = token
            group.removePendingSync(memberId)
            if group.isLeader(memberId) {
                var assignments: [String: ByteBuffer] = [:]
                for entry in request.assignments where assignments[entry.memberId] == nil {
                    assignments[entry.memberId] = entry.assignment
                }
                group.completeSync(assignments: assignments, &step)
            }
        case .stable:
            group.removePendingSync(memberId)
            step.outcome.respond(token, .syncGroup(SyncGroupResponse(assignment: group.members[i].assignment)))
            group.members[i].heartbeatDeadline = step.now + Int64(group.members[i].sessionTimeoutMs)
        }
        groups[request.groupId] = group
    }

    private mutating func heartbeatGroup(_ request: HeartbeatRequest, _ step: inout GroupStep) -> KafkaErrorCode {
        guard !request.groupId.isEmpty else { return .invalidGroupId }
        // Kafka answers heartbeats blindly while loading.
        guard !isLoading else { return .none }
        guard var group = groups[request.groupId] else { return .unknownMemberId }
        guard !group.isStaticMemberFenced(memberId: request.memberId, groupInstanceId: request.groupInstanceId) else { return .fencedInstanceId }
        guard let i = group.index(of: request.memberId) else { return .unknownMemberId }
        guard request.generationId == group.generationId else { return .illegalGeneration }
        let answer: KafkaErrorCode
        switch group.state {
        case .empty, .dead:
            return .unknownMemberId
        case .completingRebalance, .stable:
            answer = .none
        case .preparingRebalance:
            answer = .rebalanceInProgress
        }
        group.members[i].heartbeatDeadline = step.now + Int64(group.members[i].sessionTimeoutMs)
        groups[request.groupId] = group
        return answer
    }

    private mutating func leaveGroup(
        _ groupId: String, _ identities: [LeaveGroupRequest.MemberIdentity], _ step: inout GroupStep
    ) -> (KafkaErrorCode, [LeaveGroupResponse.MemberResponse]) {
        func result(_ identity: LeaveGroupRequest.MemberIdentity, _ error: KafkaErrorCode) -> LeaveGroupResponse.MemberResponse {
            LeaveGroupResponse.MemberResponse(memberId: identity.memberId, groupInstanceId: identity.groupInstanceId, errorCode: error.rawValue)
        }
        guard !groupId.isEmpty else { return (.invalidGroupId, []) }
        guard !isLoading else { return (.coordinatorLoadInProgress, []) }
        guard var group = groups[groupId] else { return (.none, identities.map { result($0, .unknownMemberId) }) }
        var results: [LeaveGroupResponse.MemberResponse] = []
        for identity in identities {
            let memberId = identity.memberId
            if memberId == JoinGroupRequest.unknownMemberId {
                // Administrative removal of a static member by its instance id.
                if let instance = identity.groupInstanceId, let current = group.staticMemberId(instance) {
                    group.removeMemberAndUpdateGroup(current, &step)
                    results.append(result(identity, .none))
                } else {
                    results.append(result(identity, .unknownMemberId))
                }
            } else if group.pendingMembers[memberId] != nil {
                group.removePendingMemberAndUpdateGroup(memberId, &step)
                results.append(result(identity, .none))
            } else if group.isStaticMemberFenced(memberId: memberId, groupInstanceId: identity.groupInstanceId) {
                results.append(result(identity, .fencedInstanceId))
            } else if group.has(memberId) {
                group.removeMemberAndUpdateGroup(memberId, &step)
                results.append(result(identity, .none))
            } else {
                results.append(result(identity, .unknownMemberId))
            }
        }
        groups[groupId] = group
        return (.none, results)
    }
}
