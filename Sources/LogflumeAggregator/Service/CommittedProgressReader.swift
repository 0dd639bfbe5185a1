import LogflumeClient
import LogflumeWire

/// Reads a group's committed offsets together with their metadata strings, which
/// `GroupConsumer.committed` leaves out: the metadata carries each partition's closed range and
/// fences (`ProgressMetadata`).
struct CommittedProgressReader {
    let cluster: KafkaCluster
    let groupId: String

    struct Committed: Equatable {
        var offset: Int64
        var metadata: String?
    }

    func fetch(_ partitions: [TopicPartition]) async throws -> [TopicPartition: Committed] {
        guard !partitions.isEmpty else { return [:] }
        let any = try await cluster.anyConnection()
        let timeoutMs = cluster.configuration.requestTimeoutMs
        let found = try await any.send(
            FindCoordinatorRequest(key: groupId, keyType: 0), version: try any.version(for: .findCoordinator),
            as: FindCoordinatorResponse.self, timeoutMs: timeoutMs
        )
        let findCode = KafkaErrorCode(code: found.errorCode)
        guard findCode == .none else {
            throw KafkaClientError.broker(findCode, message: found.errorMessage, context: "find the coordinator of '\(groupId)'")
        }
        let coordinator = try await cluster.connection(to: found.nodeId)
        let byTopic = Dictionary(grouping: partitions, by: \.topic)
        let response = try await coordinator.send(
            OffsetFetchRequest(groupId: groupId, topics: byTopic.keys.sorted().map { .init(name: $0, partitionIndexes: byTopic[$0]!.map(\.partition)) }),
            version: try coordinator.version(for: .offsetFetch), as: OffsetFetchResponse.self, timeoutMs: timeoutMs
        )
        let code = KafkaErrorCode(code: response.errorCode)
        guard code == .none else { throw KafkaClientError.broker(code, message: nil, context: "fetch the committed offsets of '\(groupId)'") }
        var result: [TopicPartition: Committed] = [:]
        for topic in response.topics {
            for partition in topic.partitions {
                let partitionCode = KafkaErrorCode(code: partition.errorCode)
                guard partitionCode == .none else {
                    throw KafkaClientError.broker(partitionCode, message: nil, context: "fetch the committed offset of \(topic.name)-\(partition.partitionIndex)")
                }
                if partition.committedOffset >= 0 {
                    result[TopicPartition(topic.name, partition.partitionIndex)] = Committed(offset: partition.committedOffset, metadata: partition.metadata)
                }
            }
        }
        return result
    }
}
