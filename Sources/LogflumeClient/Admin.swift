import LogflumeWire

/// Where a config value comes from (DescribeConfigs `config_source`).
public enum ConfigSource: Int8, Sendable, CustomStringConvertible {
    case unknown = 0
    /// Set on the topic itself.
    case topic = 1
    case dynamicBroker = 2
    case dynamicDefaultBroker = 3
    /// The broker's configuration file.
    case staticBroker = 4
    /// Kafka's built-in default.
    case `default` = 5
    case dynamicBrokerLogger = 6

    public var description: String {
        switch self {
        case .unknown: return "unknown"
        case .topic: return "topic"
        case .dynamicBroker: return "dynamic broker"
        case .dynamicDefaultBroker: return "dynamic broker default"
        case .staticBroker: return "broker"
        case .default: return "default"
        case .dynamicBrokerLogger: return "broker logger"
        }
    }
}

/// One config of a topic.
public struct ConfigEntry: Equatable, Sendable {
    public var name: String
    /// nil for sensitive values and configs without a value.
    public var value: String?
    public var source: ConfigSource
    public var isDefault: Bool
    public var isReadOnly: Bool
    public var isSensitive: Bool

    public init(name: String, value: String?, source: ConfigSource, isDefault: Bool, isReadOnly: Bool = false, isSensitive: Bool = false) {
        self.name = name
        self.value = value
        self.source = source
        self.isDefault = isDefault
        self.isReadOnly = isReadOnly
        self.isSensitive = isSensitive
    }
}

/// A partition as `describeTopic` reports it.
public struct PartitionDescription: Equatable, Sendable {
    public var partition: Int32
    public var leader: Int32
    public var leaderEpoch: Int32
    public var replicas: [Int32]
    public var inSyncReplicas: [Int32]
    public var offlineReplicas: [Int32]
    /// -1 when the leader could not be asked.
    public var logStartOffset: Int64
    /// The high watermark; -1 when the leader could not be asked.
    public var logEndOffset: Int64
}

/// A topic with its partitions, offsets and configs.
public struct TopicDescription: Equatable, Sendable {
    public var name: String
    public var isInternal: Bool
    public var partitions: [PartitionDescription]
    public var configs: [ConfigEntry]

    /// Configs set on the topic or by the broker rather than Kafka's defaults.
    public var nonDefaultConfigs: [ConfigEntry] { configs.filter { !$0.isDefault } }
    public var replicationFactor: Int { partitions.map(\.replicas.count).max() ?? 0 }
}

/// Topic administration: create, delete, list, describe, configs.
public struct Admin: Sendable {
    public let cluster: KafkaCluster
    /// How long the broker may take to create or delete a topic. Default: 30000.
    public var timeoutMs: Int32

    static let topicResource: Int8 = 2

    public init(cluster: KafkaCluster, timeoutMs: Int32 = 30_000) {
        self.cluster = cluster
        self.timeoutMs = timeoutMs
    }

    var responseTimeoutMs: Int64 { Int64(timeoutMs) + cluster.configuration.requestTimeoutMs }

    /// Creates a topic. -1 partitions or replication factor leave the choice to the broker
    /// (CreateTopics v4+; older brokers get 1).
    /// - Throws: `KafkaClientError.broker(.topicAlreadyExists, ...)` and other refusals.
    public func createTopic(
        name: String, partitions: Int32 = -1, replicationFactor: Int16 = -1, configs: [String: String] = [:], validateOnly: Bool = false
    ) async throws {
        for attempt in 1...3 {
            let connection = try await controllerConnection(refresh: attempt > 1)
            let version = try connection.version(for: .createTopics)
            let topic = CreateTopicsRequest.CreatableTopic(
                name: name, numPartitions: version < 4 && partitions < 0 ? 1 : partitions,
                replicationFactor: version < 4 && replicationFactor < 0 ? 1 : replicationFactor,
                configs: configs.sorted { $0.key < $1.key }.map { .init(name: $0.key, value: $0.value) }
            )
            if validateOnly && version < 1 {
                throw KafkaClientError.invalidArgument("\(connection.address) cannot validate without creating (CreateTopics v0)")
            }
            let response = try await connection.send(
                CreateTopicsRequest(topics: [topic], timeoutMs: timeoutMs, validateOnly: validateOnly), version: version,
                as: CreateTopicsResponse.self, timeoutMs: responseTimeoutMs
            )
            guard let result = response.topics.first(where: { $0.name == name }) else {
                throw KafkaClientError.protocolViolation(broker: connection.address, reason: "CreateTopics answer without topic '\(name)'")
            }
            let code = KafkaErrorCode(code: result.errorCode)
            if code == .none { return }
            if code == .notController && attempt < 3 { continue }
            throw KafkaClientError.broker(code, message: result.errorMessage, context: "create topic '\(name)'")
        }
    }

    /// Deletes a topic.
    public func deleteTopic(_ name: String) async throws {
        for attempt in 1...3 {
            let connection = try await controllerConnection(refresh: attempt > 1)
            let version = try connection.version(for: .deleteTopics)
            let response = try await connection.send(
                DeleteTopicsRequest(topicNames: [name], timeoutMs: timeoutMs), version: version, as: DeleteTopicsResponse.self,
                timeoutMs: responseTimeoutMs
            )
            guard let result = response.responses.first(where: { $0.name == name }) else {
                throw KafkaClientError.protocolViolation(broker: connection.address, reason: "DeleteTopics answer without topic '\(name)'")
            }
            let code = KafkaErrorCode(code: result.errorCode)
            if code == .none { return }
            if code == .notController && attempt < 3 { continue }
            if code == .unknownTopicOrPartition { throw KafkaClientError.unknownTopicOrPartition(topic: name, partition: nil) }
            throw KafkaClientError.broker(code, message: nil, context: "delete topic '\(name)'")
        }
    }

    /// Every topic, sorted by name; internal ones (`__consumer_offsets`) only when asked.
    public func listTopics(includeInternal: Bool = false) async throws -> [TopicMetadata] {
        let metadata = try await cluster.refreshMetadata(topics: nil)
        return metadata.topics.values.filter { includeInternal || !$0.isInternal }.sorted { $0.name < $1.name }
    }

    /// Partitions with leaders and offsets, and the topic's configs.
    public func describeTopic(_ name: String) async throws -> TopicDescription {
        let metadata = try await cluster.refreshMetadata(topics: [name], allowAutoTopicCreation: false)
        guard let topic = metadata.topics[name], topic.error != .unknownTopicOrPartition else {
            throw KafkaClientError.unknownTopicOrPartition(topic: name, partition: nil)
        }
        guard topic.error == .none else { throw KafkaClientError.broker(topic.error, message: nil, context: "describe topic '\(name)'") }
        let partitions = topic.partitions.map { TopicPartition(name, $0.partition) }
        let starts = try await offsets(partitions, at: ListOffsetsRequest.earliestTimestamp)
        let ends = try await offsets(partitions, at: ListOffsetsRequest.latestTimestamp)
        let configs = try await describeConfigs(topic: name)
        return TopicDescription(
            name: name, isInternal: topic.isInternal,
            partitions: topic.partitions.map { partition in
                let tp = TopicPartition(name, partition.partition)
                return PartitionDescription(
                    partition: partition.partition, leader: partition.leader, leaderEpoch: partition.leaderEpoch,
                    replicas: partition.replicas, inSyncReplicas: partition.inSyncReplicas, offlineReplicas: partition.offlineReplicas,
                    logStartOffset: starts[tp] ?? -1, logEndOffset: ends[tp] ?? -1
                )
            },
            configs: configs
        )
    }

    /// Offsets of partitions whose leaders answer; the others are left out.
    private func offsets(_ partitions: [TopicPartition], at timestamp: Int64) async throws -> [TopicPartition: Int64] {
        guard !partitions.isEmpty else { return [:] }
        do {
            let answers = try await cluster.listOffsets(Dictionary(partitions.map { ($0, timestamp) }, uniquingKeysWith: { a, _ in a }))
            return answers.mapValues(\.offset)
        } catch let error as KafkaClientError where error.isRetriable {
            cluster.logger.warning("cannot read offsets", metadata: ["error": "\(error)"])
            return [:]
        }
    }

    /// Every config of a topic with its value and source.
    public func describeConfigs(topic: String) async throws -> [ConfigEntry] {
        let connection = try await cluster.anyConnection()
        let version = try connection.version(for: .describeConfigs)
        let request = DescribeConfigsRequest(resources: [.init(resourceType: Self.topicResource, resourceName: topic)])
        let response = try await connection.send(request, version: version, as: DescribeConfigsResponse.self, timeoutMs: responseTimeoutMs)
        guard let result = response.results.first else {
            throw KafkaClientError.protocolViolation(broker: connection.address, reason: "DescribeConfigs answer without a result")
        }
        let code = KafkaErrorCode(code: result.errorCode)
        if code == .unknownTopicOrPartition { throw KafkaClientError.unknownTopicOrPartition(topic: topic, partition: nil) }
        guard code == .none else { throw KafkaClientError.broker(code, message: result.errorMessage, context: "describe configs of '\(topic)'") }
        return result.configs.map { config in
            let source: ConfigSource
            if version == 0 {
                source = config.isDefault ? .default : .topic
            } else {
                source = ConfigSource(rawValue: config.configSource) ?? .unknown
            }
            return ConfigEntry(
                name: config.name, value: config.value, source: source, isDefault: version == 0 ? config.isDefault : source == .default,
                isReadOnly: config.readOnly, isSensitive: config.isSensitive
            )
        }.sorted { $0.name < $1.name }
    }

    /// Sets (non-nil values) and removes (nil) configs of a topic, keeping its other overrides.
    /// AlterConfigs replaces a topic's whole set of overrides, so the current ones are read
    /// first and sent along.
    /// - Throws: `KafkaClientError.unsupportedVersion` when the broker has no AlterConfigs.
    public func alterConfigs(topic: String, configs: [String: String?], validateOnly: Bool = false) async throws {
        let current = try await describeConfigs(topic: topic)
        var overrides: [String: String] = [:]
        for entry in current where entry.source == .topic && !entry.isReadOnly {
            if let value = entry.value { overrides[entry.name] = value }
        }
        for (name, value) in configs { overrides[name] = value }
        let connection = try await cluster.anyConnection()
        let version = try await alterConfigsVersion(connection)
        let request = AlterConfigsRequest(
            resources: [.init(
                resourceType: Self.topicResource, resourceName: topic,
                configs: overrides.sorted { $0.key < $1.key }.map { .init(name: $0.key, value: $0.value) }
            )],
            validateOnly: validateOnly
        )
        let response = try await connection.send(request, version: version, as: AlterConfigsResponse.self, timeoutMs: responseTimeoutMs)
        guard let result = response.responses.first else {
            throw KafkaClientError.protocolViolation(broker: connection.address, reason: "AlterConfigs answer without a result")
        }
        let code = KafkaErrorCode(code: result.errorCode)
        if code == .unknownTopicOrPartition { throw KafkaClientError.unknownTopicOrPartition(topic: topic, partition: nil) }
        guard code == .none else { throw KafkaClientError.broker(code, message: result.errorMessage, context: "alter configs of '\(topic)'") }
    }

    /// AlterConfigs is not among the versions the connection negotiated up front, so the
    /// broker's range comes from a fresh ApiVersions request.
    private func alterConfigsVersion(_ connection: BrokerConnection) async throws -> Int16 {
        if let negotiated = connection.versions[.alterConfigs] { return negotiated.upperBound }
        let answer = try await connection.send(
            ApiVersionsRequest(clientSoftwareName: "logflume", clientSoftwareVersion: "0.1"), version: try connection.version(for: .apiVersions),
            as: ApiVersionsResponse.self, timeoutMs: cluster.configuration.requestTimeoutMs
        )
        guard let range = answer.apiKeys.first(where: { $0.apiKey == ApiKey.alterConfigs.rawValue }) else {
            throw KafkaClientError.unsupportedVersion(broker: connection.address, api: .alterConfigs)
        }
        let low = max(range.minVersion, AlterConfigsRequest.versions.lowerBound)
        let high = min(range.maxVersion, AlterConfigsRequest.versions.upperBound)
        guard low <= high else { throw KafkaClientError.unsupportedVersion(broker: connection.address, api: .alterConfigs) }
        return high
    }

    private func controllerConnection(refresh: Bool) async throws -> BrokerConnection {
        var metadata = cluster.metadata
        if refresh || metadata.brokers.isEmpty { metadata = try await cluster.refreshMetadata(topics: []) }
        if metadata.controllerId >= 0, metadata.brokers[metadata.controllerId] != nil {
            return try await cluster.connection(to: metadata.controllerId)
        }
        return try await cluster.anyConnection()
    }
}
