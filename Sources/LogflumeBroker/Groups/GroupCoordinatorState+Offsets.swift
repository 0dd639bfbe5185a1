public import LogflumeWire

extension GroupCoordinatorState {
    /// OffsetCommit (v2-7). Members commit with their generation and member id (a valid commit
    /// also counts as a heartbeat); a consumer outside group management (`assign`) commits with
    /// generation -1 and an empty member id, which only an Empty (or unknown) group accepts.
    /// The records are in the outcome; the response must follow their append.
    public mutating func commitOffsets(_ request: OffsetCommitRequest, version: Int16, token: RequestToken, now: Int64) -> Outcome {
        var step = begin(now)
        let results = commit(request, version: version, &step)
        let topics = request.topics.map { topic in
            OffsetCommitResponse.OffsetCommitResponseTopic(name: topic.name, partitions: topic.partitions.map { partition in
                let error = results[TopicPartition(topic: topic.name, partition: partition.partitionIndex)] ?? .none
                return OffsetCommitResponse.OffsetCommitResponsePartition(partitionIndex: partition.partitionIndex, errorCode: error.rawValue)
            })
        }
        step.outcome.respond(token, .offsetCommit(OffsetCommitResponse(topics: topics)))
        return finish(step)
    }

    /// OffsetFetch (v1-5): the named partitions, or with `topics == nil` (v2+) every partition
    /// the group has committed, each with its metadata string and leader epoch. A partition
    /// without a commit answers offset -1.
    public mutating func fetchOffsets(_ request: OffsetFetchRequest, version: Int16, token: RequestToken, now: Int64) -> Outcome {
        var step = begin(now)
        var response = OffsetFetchResponse()
        if isLoading {
            response.errorCode = KafkaErrorCode.coordinatorLoadInProgress.rawValue
            // v1 has no group-level error: each requested partition carries it.
            if version < 2 {
                response.topics = (request.topics ?? []).map { topic in
                    OffsetFetchResponse.OffsetFetchResponseTopic(name: topic.name, partitions: topic.partitionIndexes.map {
                        OffsetFetchResponse.OffsetFetchResponsePartition(partitionIndex: $0, errorCode: response.errorCode)
                    })
                }
            }
        } else {
            let offsets = groups[request.groupId]?.offsets ?? [:]
            func answer(_ partition: TopicPartition) -> OffsetFetchResponse.OffsetFetchResponsePartition {
                guard let committed = offsets[partition] else { return .init(partitionIndex: partition.partition) }
                return .init(
                    partitionIndex: partition.partition, committedOffset: committed.offset,
                    committedLeaderEpoch: committed.leaderEpoch, metadata: committed.metadata
                )
            }
            if let topics = request.topics {
                response.topics = topics.map { topic in
                    OffsetFetchResponse.OffsetFetchResponseTopic(name: topic.name, partitions: topic.partitionIndexes.map {
                        answer(TopicPartition(topic: topic.name, partition: $0))
                    })
                }
            } else {
                var byTopic: [(String, [TopicPartition])] = []
                for partition in offsets.keys.sorted() {
                    if byTopic.last?.0 == partition.topic {
                        byTopic[byTopic.count - 1].1.append(partition)
                    } else {
                        byTopic.append((partition.topic, [partition]))
                    }
                }
                response.topics = byTopic.map { name, partitions in
                    OffsetFetchResponse.OffsetFetchResponseTopic(name: name, partitions: partitions.map(answer))
                }
            }
        }
        step.outcome.respond(token, .offsetFetch(response))
        return finish(step)
    }

    /// Validates and applies a commit; returns the error of every partition that has one.
    private mutating func commit(_ request: OffsetCommitRequest, version: Int16, _ step: inout GroupStep) -> [TopicPartition: KafkaErrorCode] {
        let partitions = request.topics.flatMap { topic in
            topic.partitions.map { (TopicPartition(topic: topic.name, partition: $0.partitionIndex), $0) }
        }
        func failAll(_ error: KafkaErrorCode) -> [TopicPartition: KafkaErrorCode] {
            Dictionary(partitions.map { ($0.0, error) }, uniquingKeysWith: { a, _ in a })
        }
        guard !isLoading else { return failAll(.coordinatorLoadInProgress) }
        let groupId = request.groupId
        var group: Group
        if let existing = groups[groupId] {
            group = existing
        } else if request.generationId < 0 {
            // A consumer that only stores offsets here.
            group = Group(groupId: groupId, now: step.now)
        } else {
            // A commit from a generation this coordinator does not know.
            return failAll(.illegalGeneration)
        }
        if let error = validateCommit(request, group) { return failAll(error) }
        if request.generationId < 0 && group.state == .empty {
            // Kafka's "simple" commit: nothing to check against.
        } else if group.state == .completingRebalance {
            // The member has its new generation but not its assignment yet.
            return failAll(.rebalanceInProgress)
        } else if let i = group.index(of: request.memberId) {
            group.members[i].heartbeatDeadline = step.now + Int64(group.members[i].sessionTimeoutMs)
        }
        let expireTimestamp: Int64? = version <= 4 && request.retentionTimeMs != OffsetCommitRequest.defaultRetentionTime
            ? step.now + request.retentionTimeMs : nil
        var errors: [TopicPartition: KafkaErrorCode] = [:]
        for (partition, commit) in partitions {
            let metadata = commit.committedMetadata ?? ""
            guard metadata.utf16.count <= config.offsetMetadataMaxBytes else {
                errors[partition] = .offsetMetadataTooLarge
                continue
            }
            let committed = CommittedOffset(
                offset: commit.committedOffset, leaderEpoch: commit.committedLeaderEpoch, metadata: metadata,
                commitTimestamp: step.now, expireTimestamp: expireTimestamp
            )
            group.offsets[partition] = committed
            step.outcome.append(.offsetCommit(OffsetCommitKey(group: groupId, topic: partition.topic, partition: partition.partition), committed.value))
        }
        groups[groupId] = group
        return errors
    }

    /// Kafka's `validateOffsetCommit`: a commit naming a member (or generation) must come from
    /// a current member of the current generation; one without may only target an Empty group.
    private func validateCommit(_ request: OffsetCommitRequest, _ group: Group) -> KafkaErrorCode? {
        if request.generationId >= 0 || request.memberId != JoinGroupRequest.unknownMemberId || request.groupInstanceId != nil {
            if let instance = request.groupInstanceId {
                guard let current = group.staticMemberId(instance) else { return .unknownMemberId }
                if current != request.memberId { return .fencedInstanceId }
            } else if !group.has(request.memberId) {
                return .unknownMemberId
            }
            return request.generationId == group.generationId ? nil : .illegalGeneration
        }
        return group.state == .empty ? nil : .unknownMemberId
    }

    /// Kafka's offset expiry (KIP-211) and empty-group cleanup, at `now`: an Empty group's
    /// offsets expire `offsets.retention.minutes` after it became Empty; a Stable consumer
    /// group's offsets of topics it no longer subscribes to, and the offsets of a group that
    /// only stores offsets, that long after their commit; an offset committed with an explicit
    /// retention at its expire timestamp. Expired offsets get tombstones; an Empty group left
    /// without offsets is removed, with a tombstone for its metadata if it ever had a
    /// generation.
    mutating func expireOffsetsAndGroups(_ step: inout GroupStep) {
        let now = step.now
        let retention = config.offsetsRetentionMs
        for groupId in groups.keys.sorted() {
            guard var group = groups[groupId] else { continue }
            let subscribed = group.subscribedTopics
            let base: ((CommittedOffset) -> Int64)?
            var keep: Set<String> = []
            switch (group.protocolType, group.state) {
            case (.some, .empty):
                base = { group.currentStateTimestamp ?? $0.commitTimestamp }
            case (.some(ConsumerProtocol.protocolType), .stable) where subscribed != nil:
                base = { $0.commitTimestamp }
                keep = subscribed!
            case (nil, _):
                base = { $0.commitTimestamp }
            default:
                base = nil
            }
            if let base {
                for (partition, committed) in group.offsets.sorted(by: { $0.key < $1.key }) where !keep.contains(partition.topic) {
                    let expired = committed.expireTimestamp.map { now >= $0 } ?? (now - base(committed) >= retention)
                    guard expired else { continue }
                    group.offsets[partition] = nil
                    step.outcome.append(.offsetCommit(OffsetCommitKey(group: groupId, topic: partition.topic, partition: partition.partition), nil))
                }
            }
            if group.state == .empty && group.offsets.isEmpty && group.pendingMembers.isEmpty {
                groups[groupId] = nil
                if group.generationId > 0 {
                    step.outcome.append(.groupMetadata(GroupMetadataKey(group: groupId), nil))
                }
            } else {
                groups[groupId] = group
            }
        }
    }
}
