import LogflumeWire

/// The versions of each API this client can encode and decode (the codec's ranges).
enum ClientVersions {
    static let supported: [ApiKey: ClosedRange<Int16>] = [
        .apiVersions: ApiVersionsRequest.versions,
        .metadata: MetadataRequest.versions,
        .produce: ProduceRequest.versions,
        .fetch: FetchRequest.versions,
        .listOffsets: ListOffsetsRequest.versions,
        .createTopics: CreateTopicsRequest.versions,
        .deleteTopics: DeleteTopicsRequest.versions,
        .describeConfigs: DescribeConfigsRequest.versions,
        .initProducerId: InitProducerIdRequest.versions,
        .findCoordinator: FindCoordinatorRequest.versions,
        .alterConfigs: AlterConfigsRequest.versions,
        .listGroups: ListGroupsRequest.versions,
        .describeGroups: DescribeGroupsRequest.versions,
        .offsetFetch: OffsetFetchRequest.versions,
        .offsetCommit: OffsetCommitRequest.versions,
        .joinGroup: JoinGroupRequest.versions,
        .syncGroup: SyncGroupRequest.versions,
        .heartbeat: HeartbeatRequest.versions,
        .leaveGroup: LeaveGroupRequest.versions,
    ]
}
