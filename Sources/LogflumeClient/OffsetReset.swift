public import LogflumeWire

/// Where `logflume groups reset-offsets` moves a group's committed offsets.
public enum OffsetResetTarget: Sendable, Equatable {
    case earliest
    case latest
    /// The first offset whose timestamp is at or after this time (ms); the end when none is.
    case datetime(Int64)
    case offset(Int64)
    case shiftBy(Int64)
}

/// One partition's move, shown in a dry run and applied with `--execute`.
public struct OffsetResetMove: Sendable, Equatable {
    public var topicPartition: TopicPartition
    public var current: Int64?
    public var new: Int64
}

extension Admin {
    /// Computes the new committed offsets without changing anything. Offsets are clamped to the
    /// partition's [log start, log end], as Kafka's tool does.
    public func planOffsetReset(group: String, topic: String, partitions: [Int32]?, to target: OffsetResetTarget) async throws -> [OffsetResetMove] {
        let metadata = try await cluster.topicMetadata(topic)
        let chosen = (partitions ?? metadata.partitions.map(\.partition)).sorted()
        let tps = chosen.map { TopicPartition(topic, $0) }
        let earliest = try await cluster.listOffsets(Dictionary(uniqueKeysWithValues: tps.map { ($0, Int64(-2)) }))
        let latest = try await cluster.listOffsets(Dictionary(uniqueKeysWithValues: tps.map { ($0, Int64(-1)) }))
        let committed = try await committedOffsets(group: group, topicPartitions: tps)
        var byTime: [TopicPartition: ClusterListedOffset] = [:]
        if case .datetime(let ms) = target {
            byTime = try await cluster.listOffsets(Dictionary(uniqueKeysWithValues: tps.map { ($0, ms) }))
        }
        return tps.map { tp in
            let low = earliest[tp]?.offset ?? 0
            let high = latest[tp]?.offset ?? 0
            let current = committed[tp]
            let wanted: Int64
            switch target {
            case .earliest: wanted = low
            case .latest: wanted = high
            case .datetime: wanted = (byTime[tp]?.offset).flatMap { $0 >= 0 ? $0 : nil } ?? high
            case .offset(let offset): wanted = offset
            case .shiftBy(let delta): wanted = (current ?? low) + delta
            }
            return OffsetResetMove(topicPartition: tp, current: current, new: min(max(wanted, low), high))
        }
    }

    /// Commits the planned offsets, refusing while the group has live members (their commits
    /// would overwrite the reset, and their positions would not move).
    public func executeOffsetReset(group: String, moves: [OffsetResetMove]) async throws {
        let description = try await describeGroup(group)
        guard description.members.isEmpty else {
            throw KafkaClientError.invalidArgument(
                "group '\(group)' has \(description.members.count) live member(s) (state \(description.state)); stop its consumers before resetting offsets"
            )
        }
        let coordinator = try await coordinatorConnection(for: group)
        let byTopic = Dictionary(grouping: moves, by: \.topicPartition.topic)
        let request = OffsetCommitRequest(groupId: group, topics: byTopic.sorted { $0.key < $1.key }.map { topic, moves in
            .init(name: topic, partitions: moves.map { .init(partitionIndex: $0.topicPartition.partition, committedOffset: $0.new) })
        })
        let response = try await coordinator.send(
            request, version: try coordinator.version(for: .offsetCommit), as: OffsetCommitResponse.self, timeoutMs: responseTimeoutMs
        )
        for topic in response.topics {
            for partition in topic.partitions where partition.errorCode != 0 {
                throw KafkaClientError.broker(KafkaErrorCode(code: partition.errorCode), message: nil,
                                              context: "commit the reset offset of \(topic.name)-\(partition.partitionIndex)")
            }
        }
    }

    /// The group's committed offsets for these partitions (absent when none is committed).
    public func committedOffsets(group: String, topicPartitions: [TopicPartition]) async throws -> [TopicPartition: Int64] {
        let coordinator = try await coordinatorConnection(for: group)
        let byTopic = Dictionary(grouping: topicPartitions, by: \.topic)
        let response = try await coordinator.send(
            OffsetFetchRequest(groupId: group, topics: byTopic.map { .init(name: $0.key, partitionIndexes: $0.value.map(\.partition)) }),
            version: try coordinator.version(for: .offsetFetch), as: OffsetFetchResponse.self, timeoutMs: responseTimeoutMs
        )
        var result: [TopicPartition: Int64] = [:]
        for topic in response.topics {
            for partition in topic.partitions where partition.committedOffset >= 0 {
                result[TopicPartition(topic.name, partition.partitionIndex)] = partition.committedOffset
            }
        }
        return result
    }
}

public typealias ClusterListedOffset = KafkaCluster.ListedOffset
