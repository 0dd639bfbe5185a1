public import LogflumeWire

extension Broker {
    static let latestTimestamp: Int64 = -1
    static let earliestTimestamp: Int64 = -2

    /// ListOffsets: earliest (-2), latest (-1, the high watermark) or the first offset whose
    /// timestamp is at or after the given time, found through the time index.
    public func listOffsets(_ request: ListOffsetsRequest, version: Int16) -> ListOffsetsResponse {
        ListOffsetsResponse(topics: request.topics.map { topic in
            ListOffsetsResponse.Topic(name: topic.name, partitions: topic.partitions.map { query in
                var answer = ListOffsetsResponse.Partition(partitionIndex: query.partitionIndex)
                guard let partition = topics.partition(topic.name, query.partitionIndex) else {
                    answer.errorCode = KafkaErrorCode.unknownTopicOrPartition.rawValue
                    return answer
                }
                if let code = epochMismatch(requested: query.currentLeaderEpoch, partition: partition) {
                    answer.errorCode = code.rawValue
                    return answer
                }
                answer.leaderEpoch = partition.leaderEpoch
                switch query.timestamp {
                case Self.earliestTimestamp:
                    answer.offset = partition.logStartOffset
                case Self.latestTimestamp:
                    answer.offset = partition.highWatermark
                default:
                    do {
                        if let found = try partition.log.offset(forTimestamp: query.timestamp), found.offset < partition.highWatermark {
                            answer.offset = found.offset
                            answer.timestamp = found.timestamp
                        }
                    } catch {
                        answer.errorCode = KafkaErrorCode.kafkaStorageError.rawValue
                    }
                }
                return answer
            })
        })
    }

    /// KIP-320: a client that knows a newer epoch talks to a stale leader, an older one is fenced.
    func epochMismatch(requested: Int32, partition: Partition) -> KafkaErrorCode? {
        guard requested >= 0 else { return nil }
        let current = partition.leaderEpoch
        if requested > current { return .unknownLeaderEpoch }
        if requested < current { return .fencedLeaderEpoch }
        return nil
    }
}
