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
                if version == 0 {
                    do {
                        answer.oldStyleOffsets = try legacyOffsets(partition, before: query.timestamp, max: query.maxNumOffsets)
                    } catch {
                        answer.errorCode = KafkaErrorCode.kafkaStorageError.rawValue
                    }
                    return answer
                }
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

    /// ListOffsets v0 ("offsets before"): Kafka answers with segment base offsets, newest first,
    /// led by the log end for "latest". Here: earliest gives the log start; latest gives the high
    /// watermark and then every segment's base offset; a time gives the base offsets of the
    /// segments that start before the first record at or after it (all of them, led by the high
    /// watermark, when no record is that new). At most `max` offsets.
    func legacyOffsets(_ partition: Partition, before timestamp: Int64, max: Int32) throws -> [Int64] {
        guard max > 0 else { return [] }
        let start = partition.logStartOffset
        let end = partition.highWatermark
        if timestamp == Self.earliestTimestamp { return [start] }
        var bases = partition.log.segmentBaseOffsets.map { Swift.max($0, start) }.filter { $0 < end }
        var offsets: [Int64] = []
        if timestamp != Self.latestTimestamp, let found = try partition.log.offset(forTimestamp: timestamp), found.offset < end {
            bases = bases.filter { $0 <= found.offset }
        } else {
            offsets.append(end)
        }
        for base in Set(bases).sorted(by: >) where base != offsets.last { offsets.append(base) }
        return Array(offsets.prefix(Int(max)))
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
