public import LogflumeWire

/// One consumer group as `logflume groups describe` shows it.
public struct GroupDescription: Sendable {
    public struct Member: Sendable {
        public var memberId: String
        public var groupInstanceId: String?
        public var clientId: String
        public var host: String
        public var assignment: [TopicPartition]
    }

    /// Per partition: what the group committed, where the log ends, and who reads it now.
    public struct PartitionLag: Sendable {
        public var topicPartition: TopicPartition
        public var committedOffset: Int64
        public var metadata: String?
        public var logEndOffset: Int64
        public var lag: Int64?
        public var memberId: String?
        public var host: String?
    }

    public var groupId: String
    public var state: String
    public var protocolType: String
    public var assignmentProtocol: String
    public var members: [Member]
    public var partitions: [PartitionLag]
}

extension Admin {
    /// Every consumer group known to the cluster's brokers.
    public func listGroups() async throws -> [(groupId: String, protocolType: String)] {
        let metadata = try await cluster.refreshMetadata(topics: [])
        var groups: [(String, String)] = []
        for brokerId in metadata.brokers.keys.sorted() {
            let connection = try await cluster.connection(to: brokerId)
            let response = try await connection.send(
                ListGroupsRequest(), version: try connection.version(for: .listGroups), as: ListGroupsResponse.self,
                timeoutMs: responseTimeoutMs
            )
            let code = KafkaErrorCode(code: response.errorCode)
            guard code == .none else { throw KafkaClientError.broker(code, message: nil, context: "list groups on \(connection.address)") }
            groups += response.groups.map { ($0.groupId, $0.protocolType) }
        }
        return groups.sorted { $0.0 < $1.0 }
    }

    /// A group's state, members and, per committed partition, offset, log end and lag.
    public func describeGroup(_ groupId: String) async throws -> GroupDescription {
        let coordinator = try await coordinatorConnection(for: groupId)
        let described = try await coordinator.send(
            DescribeGroupsRequest(groups: [groupId]), version: try coordinator.version(for: .describeGroups),
            as: DescribeGroupsResponse.self, timeoutMs: responseTimeoutMs
        )
        guard let group = described.groups.first else {
            throw KafkaClientError.protocolViolation(broker: coordinator.address, reason: "DescribeGroups answer without the group")
        }
        let code = KafkaErrorCode(code: group.errorCode)
        guard code == .none else { throw KafkaClientError.broker(code, message: nil, context: "describe group '\(groupId)'") }
        let members = group.members.map { member in
            let assigned = (try? ConsumerProtocolAssignment(from: member.memberAssignment))?.assignedPartitions ?? []
            return GroupDescription.Member(
                memberId: member.memberId, groupInstanceId: member.groupInstanceId, clientId: member.clientId,
                host: member.clientHost,
                assignment: assigned.flatMap { tp in tp.partitions.map { TopicPartition(tp.topic, $0) } }
            )
        }
        let fetched = try await coordinator.send(
            OffsetFetchRequest(groupId: groupId, topics: nil), version: try coordinator.version(for: .offsetFetch),
            as: OffsetFetchResponse.self, timeoutMs: responseTimeoutMs
        )
        var committed: [TopicPartition: (Int64, String?)] = [:]
        for topic in fetched.topics {
            for partition in topic.partitions where partition.committedOffset >= 0 {
                committed[TopicPartition(topic.name, partition.partitionIndex)] = (partition.committedOffset, partition.metadata)
            }
        }
        var owners: [TopicPartition: GroupDescription.Member] = [:]
        for member in members { for tp in member.assignment { owners[tp] = member } }
        let wanted = Set(committed.keys).union(owners.keys)
        let ends = try await cluster.listOffsets(Dictionary(uniqueKeysWithValues: wanted.map { ($0, Int64(-1)) }))
        let partitions = wanted.sorted().map { tp -> GroupDescription.PartitionLag in
            let end = ends[tp]?.offset ?? -1
            let offset = committed[tp]?.0 ?? -1
            return GroupDescription.PartitionLag(
                topicPartition: tp, committedOffset: offset, metadata: committed[tp]?.1, logEndOffset: end,
                lag: offset >= 0 && end >= 0 ? max(0, end - offset) : nil,
                memberId: owners[tp]?.memberId, host: owners[tp]?.host
            )
        }
        return GroupDescription(
            groupId: groupId, state: group.groupState, protocolType: group.protocolType, assignmentProtocol: group.protocolData,
            members: members, partitions: partitions
        )
    }

    /// The broker coordinating `groupId` (FindCoordinator), as Kafka clients find it.
    func coordinatorConnection(for groupId: String) async throws -> BrokerConnection {
        let any = try await cluster.anyConnection()
        let found = try await any.send(
            FindCoordinatorRequest(key: groupId, keyType: 0), version: try any.version(for: .findCoordinator),
            as: FindCoordinatorResponse.self, timeoutMs: responseTimeoutMs
        )
        let code = KafkaErrorCode(code: found.errorCode)
        guard code == .none else { throw KafkaClientError.broker(code, message: found.errorMessage, context: "find the coordinator of '\(groupId)'") }
        return try await cluster.coordinatorConnection(to: found.nodeId)
    }
}
