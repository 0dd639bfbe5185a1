public import LogflumeWire

extension Broker {
    /// Metadata: this broker is every partition's leader; unknown topics are created when
    /// `auto.create.topics.enable` is on and the client allows it (always before v4).
    public func metadata(_ request: MetadataRequest, version: Int16) -> MetadataResponse {
        let names: [String]
        if let requested = request.topics, !(version == 0 && requested.isEmpty) {
            names = requested.map(\.name)
        } else {
            names = topics.topicNames
        }
        let allowCreate = config.autoCreateTopics && (version < 4 || request.allowAutoTopicCreation)
        var answered: [MetadataResponse.Topic] = []
        for name in names {
            if topics.topic(name) == nil && allowCreate {
                if case .failed(let code, let message) = topics.create(
                    name: name, partitions: config.numPartitions, replicationFactor: 1, configs: []
                ), code != .topicAlreadyExists {
                    logger.info("auto-creating topic failed", metadata: ["topic": "\(name)", "reason": "\(message)"])
                    answered.append(MetadataResponse.Topic(errorCode: code.rawValue, name: name, isInternal: false, partitions: []))
                    continue
                }
            }
            guard let topic = topics.topic(name) else {
                answered.append(MetadataResponse.Topic(
                    errorCode: KafkaErrorCode.unknownTopicOrPartition.rawValue, name: name, isInternal: false, partitions: []
                ))
                continue
            }
            answered.append(MetadataResponse.Topic(
                errorCode: 0, name: name, isInternal: name.hasPrefix("__"),
                partitions: topic.partitions.map { partition in
                    MetadataResponse.Partition(
                        errorCode: 0, partitionIndex: partition.index, leaderId: config.nodeId, leaderEpoch: partition.leaderEpoch,
                        replicaNodes: [config.nodeId], isrNodes: [config.nodeId], offlineReplicas: []
                    )
                }
            ))
        }
        return MetadataResponse(
            throttleTimeMs: 0, brokers: [advertisedBroker], clusterId: topics.clusterId, controllerId: config.nodeId,
            topics: answered
        )
    }
}
