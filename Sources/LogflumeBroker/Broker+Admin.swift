import LogflumeConfig
public import LogflumeWire

extension Broker {
    public func createTopics(_ request: CreateTopicsRequest, version: Int16) -> CreateTopicsResponse {
        CreateTopicsResponse(topics: request.topics.map { topic in
            let partitions = topic.numPartitions == -1 ? config.numPartitions : topic.numPartitions
            var replicationFactor = topic.replicationFactor
            if !topic.assignments.isEmpty {
                guard topic.numPartitions == -1 || Int(topic.numPartitions) == topic.assignments.count,
                      topic.assignments.allSatisfy({ $0.brokerIds == [config.nodeId] })
                else {
                    return .init(name: topic.name, errorCode: KafkaErrorCode.invalidReplicaAssignment.rawValue,
                                 errorMessage: "replicas must be exactly [\(config.nodeId)] on this single-node broker")
                }
                replicationFactor = 1
            }
            let outcome = topics.create(
                name: topic.name, partitions: topic.assignments.isEmpty ? partitions : Int32(topic.assignments.count),
                replicationFactor: replicationFactor, configs: topic.configs.map { ($0.name, $0.value) },
                validateOnly: request.validateOnly
            )
            switch outcome {
            case .created: return .init(name: topic.name)
            case .failed(let code, let message): return .init(name: topic.name, errorCode: code.rawValue, errorMessage: message)
            }
        })
    }

    public func deleteTopics(_ request: DeleteTopicsRequest) -> DeleteTopicsResponse {
        DeleteTopicsResponse(responses: request.topicNames.map { name in
            .init(name: name, errorCode: topics.delete(name: name).rawValue)
        })
    }

    /// AlterConfigs: replaces a topic's overrides (keys not named revert to defaults).
    public func alterConfigs(_ request: AlterConfigsRequest) -> AlterConfigsResponse {
        AlterConfigsResponse(responses: request.resources.map { resource in
            var answer = AlterConfigsResponse.AlterConfigsResourceResponse(resourceType: resource.resourceType, resourceName: resource.resourceName)
            guard resource.resourceType == Self.topicResource else {
                answer.errorCode = KafkaErrorCode.invalidRequest.rawValue
                answer.errorMessage = "only topic configs can be altered; broker settings live in its config file"
                return answer
            }
            let (code, message) = topics.alterConfigs(
                name: resource.resourceName, configs: resource.configs.map { ($0.name, $0.value) }, validateOnly: request.validateOnly
            )
            answer.errorCode = code.rawValue
            answer.errorMessage = message
            return answer
        })
    }

    static let topicResource: Int8 = 2
    static let brokerResource: Int8 = 4

    /// DescribeConfigs for topics (every topic config with its source) and for this broker.
    public func describeConfigs(_ request: DescribeConfigsRequest, version: Int16) -> DescribeConfigsResponse {
        DescribeConfigsResponse(results: request.resources.map { resource in
            var result = DescribeConfigsResponse.DescribeConfigsResult(resourceType: resource.resourceType, resourceName: resource.resourceName)
            let wanted = resource.configurationKeys.map(Set.init)
            switch resource.resourceType {
            case Self.topicResource:
                guard let topic = topics.topic(resource.resourceName) else {
                    result.errorCode = KafkaErrorCode.unknownTopicOrPartition.rawValue
                    result.errorMessage = "unknown topic '\(resource.resourceName)'"
                    return result
                }
                result.configs = TopicConfig.Key.allCases.filter { wanted?.contains($0.rawValue) ?? true }.map { key in
                    let isDefault = topic.config.isDefault(key)
                    let source: Int8 = isDefault ? (config.topicDefaults[key] != TopicConfig.kafkaDefaults[key] ? 4 : 5) : 1
                    return .init(
                        name: key.rawValue, value: topic.config.value(key), readOnly: false, isDefault: isDefault,
                        configSource: source, isSensitive: false, synonyms: [], configType: Self.configType(key), documentation: nil
                    )
                }
            case Self.brokerResource:
                guard resource.resourceName.isEmpty || resource.resourceName == String(config.nodeId) else {
                    result.errorCode = KafkaErrorCode.invalidRequest.rawValue
                    result.errorMessage = "this is broker \(config.nodeId)"
                    return result
                }
                result.configs = BrokerConfig.schema.keys.filter { wanted?.contains($0.name) ?? true }.map { key in
                    .init(name: key.name, value: brokerValue(key.name) ?? key.defaultValue, readOnly: true, isDefault: false,
                          configSource: 4, isSensitive: false, synonyms: [], configType: Self.brokerConfigType(key), documentation: key.documentation)
                }
            default:
                result.errorCode = KafkaErrorCode.invalidRequest.rawValue
                result.errorMessage = "resource type \(resource.resourceType) is not supported"
            }
            return result
        })
    }

    func brokerValue(_ name: String) -> String? {
        switch name {
        case "listen": return config.listen.description
        case "advertised.listener": return config.advertised.description
        case "data.dir": return config.dataDirectory
        case "node.id": return String(config.nodeId)
        case "num.partitions": return String(config.numPartitions)
        case "auto.create.topics.enable": return String(config.autoCreateTopics)
        case "socket.request.max.bytes": return String(config.socketRequestMaxBytes)
        case "fetch.max.bytes": return String(config.fetchMaxBytes)
        default:
            return BrokerConfig.topicKey(forBrokerKey: name).map { config.topicDefaults[$0] ?? "" }
        }
    }

    /// A broker key's ConfigType: a topic default's (`log.*`) is its topic key's; otherwise by
    /// kind, sizes and counts INT as Kafka has them (`socket.request.max.bytes`,
    /// `fetch.max.bytes`, `num.partitions`), durations LONG.
    static func brokerConfigType(_ key: ConfigSchema.Key) -> Int8 {
        if let topicKey = BrokerConfig.topicKey(forBrokerKey: key.name) { return configType(topicKey) }
        switch key.kind {
        case .boolean: return 1
        case .integer, .size: return 3
        case .duration: return 5
        case .stringArray: return 7
        default: return 2
        }
    }

    /// Kafka's ConfigType ids: BOOLEAN 1, STRING 2, INT 3, LONG 5, DOUBLE 6, LIST 7.
    static func configType(_ key: TopicConfig.Key) -> Int8 {
        switch key {
        case .uncleanLeaderElectionEnable, .preallocate: return 1
        case .cleanupPolicy: return 7
        case .compressionType, .messageTimestampType: return 2
        case .minCleanableDirtyRatio: return 6
        case .indexIntervalBytes, .maxMessageBytes, .minInsyncReplicas, .segmentBytes, .segmentIndexBytes: return 3
        default: return 5
        }
    }
}
