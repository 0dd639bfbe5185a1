public import LogflumeWire
public import NIOCore

extension GroupCoordinatorState {
    /// Starts rebuilding the state from `__consumer_offsets`: every group is dropped (parked
    /// joins and syncs are answered NOT_COORDINATOR, as when Kafka unloads a group) and
    /// requests are answered COORDINATOR_LOAD_IN_PROGRESS until `finishLoading(now:)`.
    @discardableResult
    public mutating func beginLoading() -> Outcome {
        var outcome = Outcome()
        for groupId in groups.keys.sorted() {
            for member in groups[groupId]!.members {
                if let token = member.awaitingJoin {
                    outcome.respond(token, .joinGroup(JoinGroupResponse(errorCode: KafkaErrorCode.notCoordinator.rawValue, memberId: member.memberId)))
                }
                if let token = member.awaitingSync {
                    outcome.respond(token, .syncGroup(SyncGroupResponse(errorCode: KafkaErrorCode.notCoordinator.rawValue)))
                }
            }
        }
        groups = [:]
        isLoading = true
        return outcome
    }

    /// Applies one record of `__consumer_offsets` (records in offset order; the latest record
    /// of a key wins and a tombstone deletes). A group record with members loads the group as
    /// Stable, without members as Empty; offsets without a group record make a group that
    /// only stores offsets.
    public mutating func replay(_ record: GroupMetadataRecord) {
        switch record {
        case .offsetCommit(let key, let value):
            let partition = TopicPartition(topic: key.topic, partition: key.partition)
            if let value {
                var group = groups[key.group] ?? Group(groupId: key.group, now: nil)
                group.offsets[partition] = CommittedOffset(value)
                groups[key.group] = group
            } else if var group = groups[key.group] {
                group.offsets[partition] = nil
                let onlyStoredOffsets = group.state == .empty && group.generationId == 0 && group.protocolType == nil && group.members.isEmpty
                groups[key.group] = onlyStoredOffsets && group.offsets.isEmpty ? nil : group
            }
        case .groupMetadata(let key, let value):
            let offsets = groups[key.group]?.offsets ?? [:]
            var group: Group
            if let value {
                group = Group(loading: value, groupId: key.group)
            } else {
                guard !offsets.isEmpty else {
                    groups[key.group] = nil
                    return
                }
                group = Group(groupId: key.group, now: nil)
            }
            group.offsets = offsets
            groups[key.group] = group
        }
    }

    /// Decodes and applies one record of `__consumer_offsets` (nil value = tombstone).
    public mutating func replay(key: ByteBuffer, value: ByteBuffer?) throws(KafkaDecodingError) {
        replay(try GroupMetadataRecord(key: key, value: value))
    }

    /// Ends loading: the loaded members' sessions start now, and requests are served again.
    public mutating func finishLoading(now: Int64) {
        for groupId in groups.keys {
            for i in groups[groupId]!.members.indices where groups[groupId]!.members[i].heartbeatDeadline == nil {
                groups[groupId]!.members[i].heartbeatDeadline = now + Int64(groups[groupId]!.members[i].sessionTimeoutMs)
            }
        }
        isLoading = false
        if nextOffsetExpirationCheck == nil { nextOffsetExpirationCheck = now + config.offsetsRetentionCheckIntervalMs }
    }
}

extension GroupCoordinatorState.Group {
    /// A group as its record describes it: Stable with its members and their assignments, or
    /// Empty. A member's protocols are the chosen one with its subscription.
    init(loading value: GroupMetadataValue, groupId: String) {
        self.init(groupId: groupId, now: value.currentStateTimestamp == -1 ? nil : value.currentStateTimestamp)
        protocolType = value.protocolType.isEmpty ? nil : value.protocolType
        generationId = value.generation
        protocolName = value.protocol
        leaderId = value.leader
        members = value.members.map { member in
            GroupCoordinatorState.Member(
                memberId: member.memberId, groupInstanceId: member.groupInstanceId, clientId: member.clientId, clientHost: member.clientHost,
                sessionTimeoutMs: member.sessionTimeout,
                // v0 records have no rebalance timeout; Kafka's readers use the session timeout.
                rebalanceTimeoutMs: member.rebalanceTimeout == 0 ? member.sessionTimeout : member.rebalanceTimeout,
                protocolType: value.protocolType,
                protocols: [JoinGroupRequest.JoinGroupRequestProtocol(name: value.protocol ?? "", metadata: member.subscription)],
                assignment: member.assignment, awaitingJoin: nil, awaitingSync: nil, isNew: false, heartbeatDeadline: nil
            )
        }
        if let leaderId, !has(leaderId) { self.leaderId = members.first?.memberId }
        state = members.isEmpty ? .empty : .stable
    }
}
