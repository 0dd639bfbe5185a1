/// Kafka API keys (the `request_api_key` of every request header).
///
/// The broker advertises a subset (see `SupportedVersions`); the others are named so logs and
/// error replies can say what a client asked for.
public enum ApiKey: Int16, Sendable, CaseIterable, CustomStringConvertible {
    case produce = 0
    case fetch = 1
    case listOffsets = 2
    case metadata = 3
    case leaderAndIsr = 4
    case stopReplica = 5
    case updateMetadata = 6
    case controlledShutdown = 7
    case offsetCommit = 8
    case offsetFetch = 9
    case findCoordinator = 10
    case joinGroup = 11
    case heartbeat = 12
    case leaveGroup = 13
    case syncGroup = 14
    case describeGroups = 15
    case listGroups = 16
    case saslHandshake = 17
    case apiVersions = 18
    case createTopics = 19
    case deleteTopics = 20
    case deleteRecords = 21
    case initProducerId = 22
    case offsetForLeaderEpoch = 23
    case addPartitionsToTxn = 24
    case addOffsetsToTxn = 25
    case endTxn = 26
    case writeTxnMarkers = 27
    case txnOffsetCommit = 28
    case describeAcls = 29
    case createAcls = 30
    case deleteAcls = 31
    case describeConfigs = 32
    case alterConfigs = 33
    case alterReplicaLogDirs = 34
    case describeLogDirs = 35
    case saslAuthenticate = 36
    case createPartitions = 37
    case createDelegationToken = 38
    case renewDelegationToken = 39
    case expireDelegationToken = 40
    case describeDelegationToken = 41
    case deleteGroups = 42
    case electLeaders = 43
    case incrementalAlterConfigs = 44
    case alterPartitionReassignments = 45
    case listPartitionReassignments = 46
    case offsetDelete = 47
    case describeClientQuotas = 48
    case alterClientQuotas = 49
    case describeUserScramCredentials = 50
    case alterUserScramCredentials = 51
    case describeQuorum = 55
    case alterPartition = 56
    case updateFeatures = 57
    case envelope = 58
    case describeCluster = 60
    case describeProducers = 61
    case unregisterBroker = 64
    case describeTransactions = 65
    case listTransactions = 66
    case allocateProducerIds = 67
    case consumerGroupHeartbeat = 68
    case consumerGroupDescribe = 69
    case getTelemetrySubscriptions = 71
    case pushTelemetry = 72

    public var description: String {
        switch self {
        case .produce: return "Produce"
        case .fetch: return "Fetch"
        case .listOffsets: return "ListOffsets"
        case .metadata: return "Metadata"
        case .leaderAndIsr: return "LeaderAndIsr"
        case .stopReplica: return "StopReplica"
        case .updateMetadata: return "UpdateMetadata"
        case .controlledShutdown: return "ControlledShutdown"
        case .offsetCommit: return "OffsetCommit"
        case .offsetFetch: return "OffsetFetch"
        case .findCoordinator: return "FindCoordinator"
        case .joinGroup: return "JoinGroup"
        case .heartbeat: return "Heartbeat"
        case .leaveGroup: return "LeaveGroup"
        case .syncGroup: return "SyncGroup"
        case .describeGroups: return "DescribeGroups"
        case .listGroups: return "ListGroups"
        case .saslHandshake: return "SaslHandshake"
        case .apiVersions: return "ApiVersions"
        case .createTopics: return "CreateTopics"
        case .deleteTopics: return "DeleteTopics"
        case .deleteRecords: return "DeleteRecords"
        case .initProducerId: return "InitProducerId"
        case .offsetForLeaderEpoch: return "OffsetForLeaderEpoch"
        case .addPartitionsToTxn: return "AddPartitionsToTxn"
        case .addOffsetsToTxn: return "AddOffsetsToTxn"
        case .endTxn: return "EndTxn"
        case .writeTxnMarkers: return "WriteTxnMarkers"
        case .txnOffsetCommit: return "TxnOffsetCommit"
        case .describeAcls: return "DescribeAcls"
        case .createAcls: return "CreateAcls"
        case .deleteAcls: return "DeleteAcls"
        case .describeConfigs: return "DescribeConfigs"
        case .alterConfigs: return "AlterConfigs"
        case .alterReplicaLogDirs: return "AlterReplicaLogDirs"
        case .describeLogDirs: return "DescribeLogDirs"
        case .saslAuthenticate: return "SaslAuthenticate"
        case .createPartitions: return "CreatePartitions"
        case .createDelegationToken: return "CreateDelegationToken"
        case .renewDelegationToken: return "RenewDelegationToken"
        case .expireDelegationToken: return "ExpireDelegationToken"
        case .describeDelegationToken: return "DescribeDelegationToken"
        case .deleteGroups: return "DeleteGroups"
        case .electLeaders: return "ElectLeaders"
        case .incrementalAlterConfigs: return "IncrementalAlterConfigs"
        case .alterPartitionReassignments: return "AlterPartitionReassignments"
        case .listPartitionReassignments: return "ListPartitionReassignments"
        case .offsetDelete: return "OffsetDelete"
        case .describeClientQuotas: return "DescribeClientQuotas"
        case .alterClientQuotas: return "AlterClientQuotas"
        case .describeUserScramCredentials: return "DescribeUserScramCredentials"
        case .alterUserScramCredentials: return "AlterUserScramCredentials"
        case .describeQuorum: return "DescribeQuorum"
        case .alterPartition: return "AlterPartition"
        case .updateFeatures: return "UpdateFeatures"
        case .envelope: return "Envelope"
        case .describeCluster: return "DescribeCluster"
        case .describeProducers: return "DescribeProducers"
        case .unregisterBroker: return "UnregisterBroker"
        case .describeTransactions: return "DescribeTransactions"
        case .listTransactions: return "ListTransactions"
        case .allocateProducerIds: return "AllocateProducerIds"
        case .consumerGroupHeartbeat: return "ConsumerGroupHeartbeat"
        case .consumerGroupDescribe: return "ConsumerGroupDescribe"
        case .getTelemetrySubscriptions: return "GetTelemetrySubscriptions"
        case .pushTelemetry: return "PushTelemetry"
        }
    }

    /// The first version of this API that is "flexible" (KIP-482: compact strings and arrays,
    /// tagged fields, request header v2 / response header v1), or nil when the API has no
    /// flexible version (SaslHandshake, OffsetDelete) or this codec does not track it (old
    /// inter-broker and delegation-token APIs). Versions at or above this one are flexible whether
    /// or not we support them, which is what header decoding needs. Checked against the message
    /// schemas of Apache Kafka 4.x.
    public var firstFlexibleVersion: Int16? {
        switch self {
        case .produce: return 9
        case .fetch: return 12
        case .listOffsets: return 6
        case .metadata: return 9
        case .offsetCommit: return 8
        case .offsetFetch: return 6
        case .findCoordinator: return 3
        case .joinGroup: return 6
        case .heartbeat: return 4
        case .leaveGroup: return 4
        case .syncGroup: return 4
        case .describeGroups: return 5
        case .listGroups: return 3
        case .apiVersions: return 3
        case .createTopics: return 5
        case .deleteTopics: return 4
        case .initProducerId: return 2
        case .describeConfigs: return 4
        case .saslAuthenticate: return 2
        case .deleteGroups: return 2
        case .deleteRecords: return 2
        case .offsetForLeaderEpoch: return 4
        case .addPartitionsToTxn: return 3
        case .addOffsetsToTxn: return 3
        case .endTxn: return 3
        case .writeTxnMarkers: return 1
        case .txnOffsetCommit: return 3
        case .describeAcls, .createAcls, .deleteAcls: return 2
        case .alterConfigs: return 2
        case .alterReplicaLogDirs: return 2
        case .describeLogDirs: return 2
        case .createPartitions: return 2
        case .electLeaders: return 2
        case .incrementalAlterConfigs: return 1
        case .describeClientQuotas, .alterClientQuotas: return 1
        case .saslHandshake, .offsetDelete: return nil
        // APIs that were born flexible.
        case .alterPartitionReassignments, .listPartitionReassignments, .describeQuorum, .alterPartition,
             .updateFeatures, .envelope, .describeCluster, .describeProducers, .unregisterBroker,
             .describeTransactions, .listTransactions, .allocateProducerIds, .consumerGroupHeartbeat,
             .consumerGroupDescribe, .getTelemetrySubscriptions, .pushTelemetry,
             .alterUserScramCredentials, .describeUserScramCredentials:
            return 0
        // Inter-broker APIs of the ZooKeeper era and delegation tokens: not tracked.
        case .leaderAndIsr, .stopReplica, .updateMetadata, .controlledShutdown, .createDelegationToken,
             .renewDelegationToken, .expireDelegationToken, .describeDelegationToken:
            return nil
        }
    }

    public func isFlexible(version: Int16) -> Bool {
        guard let first = firstFlexibleVersion else { return false }
        return version >= first
    }

    /// Request header version for `version` of this API: 2 when flexible, else 1 (0 only for
    /// ControlledShutdown v0, the one request without a client id).
    public func requestHeaderVersion(_ version: Int16) -> Int16 {
        if self == .controlledShutdown && version == 0 { return 0 }
        return isFlexible(version: version) ? 2 : 1
    }

    /// Response header version for `version` of this API: 1 (with tagged fields) when flexible,
    /// except that ApiVersions responses always use header v0 (KIP-511): a client that does not
    /// yet know the broker's versions must be able to read the correlation id.
    public func responseHeaderVersion(_ version: Int16) -> Int16 {
        if self == .apiVersions { return 0 }
        return isFlexible(version: version) ? 1 : 0
    }
}

/// One row of an ApiVersions table: an API and the inclusive version range supported.
public struct ApiVersionRange: Equatable, Hashable, Sendable {
    public var apiKey: Int16
    public var minVersion: Int16
    public var maxVersion: Int16

    public init(apiKey: Int16, minVersion: Int16, maxVersion: Int16) {
        self.apiKey = apiKey
        self.minVersion = minVersion
        self.maxVersion = maxVersion
    }

    public init(_ apiKey: ApiKey, _ versions: ClosedRange<Int16>) {
        self.init(apiKey: apiKey.rawValue, minVersion: versions.lowerBound, maxVersion: versions.upperBound)
    }

    public func contains(_ version: Int16) -> Bool { version >= minVersion && version <= maxVersion }
}

/// What the broker advertises in ApiVersions, and therefore the only versions `KafkaRequest`
/// decodes. Every range is implemented field for field; no gaps (old librdkafka probes single
/// versions: Produce 3 and Fetch 4 for batch v2, Produce 7 and Fetch 10 for zstd, InitProducerId 0
/// for idempotence). Only ApiVersions v3 is flexible among these.
public enum SupportedVersions {
    public static let table: [ApiVersionRange] = [
        ApiVersionRange(.produce, 0...8),
        ApiVersionRange(.fetch, 4...11),
        ApiVersionRange(.listOffsets, 0...5),
        ApiVersionRange(.metadata, 0...8),
        ApiVersionRange(.offsetCommit, 2...7),
        ApiVersionRange(.offsetFetch, 1...5),
        ApiVersionRange(.findCoordinator, 0...2),
        ApiVersionRange(.joinGroup, 0...5),
        ApiVersionRange(.heartbeat, 0...3),
        ApiVersionRange(.leaveGroup, 0...3),
        ApiVersionRange(.syncGroup, 0...3),
        ApiVersionRange(.describeGroups, 0...4),
        ApiVersionRange(.listGroups, 0...2),
        ApiVersionRange(.apiVersions, 0...3),
        ApiVersionRange(.createTopics, 0...4),
        ApiVersionRange(.deleteTopics, 0...3),
        ApiVersionRange(.initProducerId, 0...1),
        ApiVersionRange(.describeConfigs, 0...3),
        ApiVersionRange(.deleteGroups, 0...1),
    ]

    public static func range(of apiKey: ApiKey) -> ClosedRange<Int16>? {
        guard let row = table.first(where: { $0.apiKey == apiKey.rawValue }) else { return nil }
        return row.minVersion...row.maxVersion
    }

    public static func supports(_ apiKey: ApiKey, version: Int16) -> Bool {
        range(of: apiKey)?.contains(version) ?? false
    }
}
