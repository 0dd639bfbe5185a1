public import LogflumeWire
import NIOCore

extension GroupCoordinatorState {
    /// The group operations (READ, DELETE, DESCRIBE) as DescribeGroups v3+ reports them when
    /// asked: every one is allowed, as on a broker without an authorizer.
    public static let groupAuthorizedOperations: Int32 = 1 << 3 | 1 << 6 | 1 << 8

    /// DescribeGroups (v0-4). An unknown group is described as Dead without error; member
    /// metadata and assignments are filled in only while the group is Stable.
    public mutating func describe(_ request: DescribeGroupsRequest, version: Int16, token: RequestToken, now: Int64) -> Outcome {
        var step = begin(now)
        let operations = version >= 3 && request.includeAuthorizedOperations
            ? Self.groupAuthorizedOperations : DescribeGroupsResponse.authorizedOperationsOmitted
        let described = request.groups.map { groupId -> DescribeGroupsResponse.DescribedGroup in
            if isLoading {
                return .init(errorCode: KafkaErrorCode.coordinatorLoadInProgress.rawValue, groupId: groupId, authorizedOperations: operations)
            }
            guard let group = groups[groupId] else {
                return .init(groupId: groupId, groupState: GroupState.dead.rawValue, authorizedOperations: operations)
            }
            let stable = group.state == .stable
            let protocolName = stable ? group.protocolName ?? "" : ""
            return .init(
                groupId: groupId, groupState: group.state.rawValue, protocolType: group.protocolType ?? "", protocolData: protocolName,
                members: group.members.map { member in
                    .init(
                        memberId: member.memberId, groupInstanceId: member.groupInstanceId, clientId: member.clientId,
                        clientHost: member.clientHost,
                        memberMetadata: stable ? member.metadata(for: protocolName) ?? ByteBuffer() : ByteBuffer(),
                        memberAssignment: stable ? member.assignment : ByteBuffer()
                    )
                },
                authorizedOperations: operations
            )
        }
        step.outcome.respond(token, .describeGroups(DescribeGroupsResponse(groups: described)))
        return finish(step)
    }

    /// ListGroups (v0-2): every group, by id. While loading, COORDINATOR_LOAD_IN_PROGRESS with
    /// the groups loaded so far.
    public mutating func list(_ request: ListGroupsRequest, version: Int16, token: RequestToken, now: Int64) -> Outcome {
        var step = begin(now)
        let listed = groups.keys.sorted().map { ListGroupsResponse.ListedGroup(groupId: $0, protocolType: groups[$0]!.protocolType ?? "") }
        let error: KafkaErrorCode = isLoading ? .coordinatorLoadInProgress : .none
        step.outcome.respond(token, .listGroups(ListGroupsResponse(errorCode: error.rawValue, groups: listed)))
        return finish(step)
    }

    /// DeleteGroups (v0-1): an Empty group is removed with tombstones for its offsets and its
    /// metadata (the response must follow their append); a group with members is refused
    /// NON_EMPTY_GROUP, an unknown one GROUP_ID_NOT_FOUND.
    public mutating func delete(_ request: DeleteGroupsRequest, version: Int16, token: RequestToken, now: Int64) -> Outcome {
        var step = begin(now)
        var seen: Set<String> = []
        var results: [DeleteGroupsResponse.DeletableGroupResult] = []
        for groupId in request.groupsNames where seen.insert(groupId).inserted {
            let error: KafkaErrorCode
            if isLoading {
                error = .coordinatorLoadInProgress
            } else if let group = groups[groupId] {
                if group.state == .empty {
                    for partition in group.offsets.keys.sorted() {
                        step.outcome.append(.offsetCommit(OffsetCommitKey(group: groupId, topic: partition.topic, partition: partition.partition), nil))
                    }
                    // A group that never had a generation only stored offsets: it has no
                    // metadata record to delete.
                    if group.generationId > 0 {
                        step.outcome.append(.groupMetadata(GroupMetadataKey(group: groupId), nil))
                    }
                    groups[groupId] = nil
                    error = .none
                } else {
                    error = .nonEmptyGroup
                }
            } else {
                error = .groupIdNotFound
            }
            results.append(.init(groupId: groupId, errorCode: error.rawValue))
        }
        step.outcome.respond(token, .deleteGroups(DeleteGroupsResponse(results: results)))
        return finish(step)
    }
}
