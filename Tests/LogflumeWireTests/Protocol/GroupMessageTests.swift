import NIOCore
import Testing
@testable import LogflumeWire

/// Samples of the consumer-group messages: every field a version carries is set to a non-default
/// value and every field it does not carry keeps its default, so a round trip proves each field is
/// read and written at exactly the versions its schema lists.
enum GroupSamples {
    static func bytes(_ seed: UInt8, count: Int = 9) -> ByteBuffer {
        ByteBuffer(bytes: (0..<count).map { UInt8(truncatingIfNeeded: Int($0) &* 37 &+ Int(seed)) })
    }

    static let subscription = ConsumerProtocolSubscription(
        topics: ["events", "logs"], userData: ByteBuffer(bytes: [9, 8]),
        ownedPartitions: [.init(topic: "events", partitions: [0, 2])], generationId: 12, rackId: "rack-b"
    )
    static let assignment = ConsumerProtocolAssignment(assignedPartitions: [.init(topic: "events", partitions: [0, 1, 2])])

    static func joinGroupRequest(_ v: Int16) -> JoinGroupRequest {
        var r = JoinGroupRequest(groupId: "aggregators", sessionTimeoutMs: 10_000, memberId: "m-1", protocolType: "consumer", protocols: [
            .init(name: "range", metadata: subscription.encoded(version: 1)),
            .init(name: "roundrobin", metadata: ByteBuffer()),
        ])
        if v >= 1 { r.rebalanceTimeoutMs = 300_000 }
        if v >= 5 { r.groupInstanceId = "host-1" }
        return r
    }

    static func joinGroupResponse(_ v: Int16) -> JoinGroupResponse {
        var members: [JoinGroupResponse.JoinGroupResponseMember] = [
            .init(memberId: "m-1", metadata: bytes(1)),
            .init(memberId: "m-2", metadata: ByteBuffer()),
        ]
        if v >= 5 { members[0].groupInstanceId = "host-1" }
        var r = JoinGroupResponse(errorCode: 0, generationId: 4, protocolName: "range", leader: "m-1", memberId: "m-1", members: members)
        if v >= 2 { r.throttleTimeMs = 11 }
        return r
    }

    static func syncGroupRequest(_ v: Int16) -> SyncGroupRequest {
        var r = SyncGroupRequest(groupId: "aggregators", generationId: 4, memberId: "m-1", assignments: [
            .init(memberId: "m-1", assignment: assignment.encoded(version: 0)),
            .init(memberId: "m-2", assignment: ByteBuffer()),
        ])
        if v >= 3 { r.groupInstanceId = "host-1" }
        return r
    }

    static func syncGroupResponse(_ v: Int16) -> SyncGroupResponse {
        var r = SyncGroupResponse(errorCode: 27, assignment: assignment.encoded(version: 1))
        if v >= 1 { r.throttleTimeMs = 12 }
        return r
    }

    static func heartbeatRequest(_ v: Int16) -> HeartbeatRequest {
        var r = HeartbeatRequest(groupId: "aggregators", generationId: 4, memberId: "m-1")
        if v >= 3 { r.groupInstanceId = "host-1" }
        return r
    }

    static func heartbeatResponse(_ v: Int16) -> HeartbeatResponse {
        var r = HeartbeatResponse(errorCode: 22)
        if v >= 1 { r.throttleTimeMs = 13 }
        return r
    }

    static func leaveGroupRequest(_ v: Int16) -> LeaveGroupRequest {
        var r = LeaveGroupRequest(groupId: "aggregators")
        if v <= 2 { r.memberId = "m-1" }
        if v >= 3 { r.members = [.init(memberId: "m-1", groupInstanceId: "host-1"), .init(memberId: "m-2")] }
        return r
    }

    static func leaveGroupResponse(_ v: Int16) -> LeaveGroupResponse {
        var r = LeaveGroupResponse(errorCode: 25)
        if v >= 1 { r.throttleTimeMs = 14 }
        if v >= 3 { r.members = [.init(memberId: "m-1", groupInstanceId: "host-1", errorCode: 0), .init(memberId: "m-9", errorCode: 25)] }
        return r
    }

    static func offsetCommitRequest(_ v: Int16) -> OffsetCommitRequest {
        var p0 = OffsetCommitRequest.OffsetCommitRequestPartition(partitionIndex: 0, committedOffset: 1234, committedMetadata: "hour=12")
        let p1 = OffsetCommitRequest.OffsetCommitRequestPartition(partitionIndex: 3, committedOffset: 7, committedMetadata: nil)
        if v >= 6 { p0.committedLeaderEpoch = 5 }
        var r = OffsetCommitRequest(groupId: "aggregators", generationId: 4, memberId: "m-1", topics: [
            .init(name: "events", partitions: [p0, p1]),
            .init(name: "logs", partitions: []),
        ])
        if v <= 4 { r.retentionTimeMs = 86_400_000 }
        if v >= 7 { r.groupInstanceId = "host-1" }
        return r
    }

    static func offsetCommitResponse(_ v: Int16) -> OffsetCommitResponse {
        var r = OffsetCommitResponse(topics: [
            .init(name: "events", partitions: [.init(partitionIndex: 0), .init(partitionIndex: 3, errorCode: 12)]),
        ])
        if v >= 3 { r.throttleTimeMs = 15 }
        return r
    }

    static func offsetFetchRequest(_ v: Int16) -> OffsetFetchRequest {
        OffsetFetchRequest(groupId: "aggregators", topics: [
            .init(name: "events", partitionIndexes: [0, 1, 2]),
            .init(name: "logs", partitionIndexes: []),
        ])
    }

    static func offsetFetchResponse(_ v: Int16) -> OffsetFetchResponse {
        var p0 = OffsetFetchResponse.OffsetFetchResponsePartition(partitionIndex: 0, committedOffset: 1234, metadata: "hour=12")
        let p1 = OffsetFetchResponse.OffsetFetchResponsePartition(partitionIndex: 1, committedOffset: -1, metadata: nil, errorCode: 0)
        let p2 = OffsetFetchResponse.OffsetFetchResponsePartition(partitionIndex: 2, metadata: "", errorCode: 3)
        if v >= 5 { p0.committedLeaderEpoch = 5 }
        var r = OffsetFetchResponse(topics: [.init(name: "events", partitions: [p0, p1, p2])])
        if v >= 2 { r.errorCode = 16 }
        if v >= 3 { r.throttleTimeMs = 16 }
        return r
    }

    static func describeGroupsRequest(_ v: Int16) -> DescribeGroupsRequest {
        var r = DescribeGroupsRequest(groups: ["aggregators", "missing"])
        if v >= 3 { r.includeAuthorizedOperations = true }
        return r
    }

    static func describeGroupsResponse(_ v: Int16) -> DescribeGroupsResponse {
        var member = DescribeGroupsResponse.DescribedGroupMember(
            memberId: "m-1", clientId: "rdkafka", clientHost: "/10.0.0.7",
            memberMetadata: subscription.encoded(version: 0), memberAssignment: assignment.encoded(version: 0)
        )
        if v >= 4 { member.groupInstanceId = "host-1" }
        var stable = DescribeGroupsResponse.DescribedGroup(
            groupId: "aggregators", groupState: "Stable", protocolType: "consumer", protocolData: "range",
            members: [member, .init(memberId: "m-2", clientId: "kafka-python", clientHost: "/10.0.0.8")]
        )
        var dead = DescribeGroupsResponse.DescribedGroup(errorCode: 0, groupId: "missing", groupState: "Dead")
        if v >= 3 {
            stable.authorizedOperations = 0x0F8
            dead.authorizedOperations = 0
        }
        var r = DescribeGroupsResponse(groups: [stable, dead])
        if v >= 1 { r.throttleTimeMs = 17 }
        return r
    }

    static func listGroupsRequest(_ v: Int16) -> ListGroupsRequest { ListGroupsRequest() }

    static func listGroupsResponse(_ v: Int16) -> ListGroupsResponse {
        var r = ListGroupsResponse(errorCode: 0, groups: [.init(groupId: "aggregators", protocolType: "consumer"), .init(groupId: "connect", protocolType: "")])
        if v >= 1 { r.throttleTimeMs = 18 }
        return r
    }

    static func deleteGroupsRequest(_ v: Int16) -> DeleteGroupsRequest {
        DeleteGroupsRequest(groupsNames: ["aggregators", "old"])
    }

    static func deleteGroupsResponse(_ v: Int16) -> DeleteGroupsResponse {
        DeleteGroupsResponse(throttleTimeMs: 19, results: [.init(groupId: "aggregators", errorCode: 68), .init(groupId: "old")])
    }

    static func offsetCommitValue(_ v: Int16) -> OffsetCommitValue {
        var value = OffsetCommitValue(offset: 1234, metadata: "hour=12", commitTimestamp: 1_700_000_000_000)
        if v == 1 { value.expireTimestamp = 1_700_086_400_000 }
        if v >= 3 { value.leaderEpoch = 5 }
        return value
    }

    static func groupMetadataValue(_ v: Int16) -> GroupMetadataValue {
        var member = GroupMetadataValue.MemberMetadata(
            memberId: "m-1", clientId: "rdkafka", clientHost: "/10.0.0.7", sessionTimeout: 10_000,
            subscription: subscription.encoded(version: 1), assignment: assignment.encoded(version: 0)
        )
        if v >= 1 { member.rebalanceTimeout = 300_000 }
        if v >= 3 { member.groupInstanceId = "host-1" }
        var value = GroupMetadataValue(protocolType: "consumer", generation: 4, protocol: "range", leader: "m-1", members: [
            member, .init(memberId: "m-2", clientId: "c2", clientHost: "/10.0.0.8", sessionTimeout: 45_000),
        ])
        if v >= 1 { value.members[1].rebalanceTimeout = 60_000 }
        if v >= 2 { value.currentStateTimestamp = 1_700_000_000_123 }
        return value
    }
}

@Suite struct GroupMessageTests {
    /// `union` is a value with every field of every version set (by default the newest sample).
    func each<M: KafkaEncodableMessage>(_ type: M.Type, _ sample: (Int16) -> M, union: M? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws {
        for version in M.versions {
            try assertRoundTrip(sample(version), version: version, sourceLocation: sourceLocation)
        }
        // Fields a version does not carry are left out: a value with every field set, written at
        // any version, reads back as that version's sample.
        let newest = union ?? sample(M.versions.upperBound)
        for version in M.versions {
            let decoded = try M.decodeExactly(encodeBody(newest, version: version), version: version)
            #expect(decoded == sample(version), "\(M.self) v\(version)", sourceLocation: sourceLocation)
        }
    }

    // MARK: round trips

    @Test func joinGroup() throws {
        try each(JoinGroupRequest.self, GroupSamples.joinGroupRequest)
        try each(JoinGroupResponse.self, GroupSamples.joinGroupResponse)
    }

    @Test func syncGroup() throws {
        try each(SyncGroupRequest.self, GroupSamples.syncGroupRequest)
        try each(SyncGroupResponse.self, GroupSamples.syncGroupResponse)
    }

    @Test func heartbeat() throws {
        try each(HeartbeatRequest.self, GroupSamples.heartbeatRequest)
        try each(HeartbeatResponse.self, GroupSamples.heartbeatResponse)
    }

    @Test func leaveGroup() throws {
        var union = GroupSamples.leaveGroupRequest(3)
        union.memberId = "m-1"
        try each(LeaveGroupRequest.self, GroupSamples.leaveGroupRequest, union: union)
        try each(LeaveGroupResponse.self, GroupSamples.leaveGroupResponse)
    }

    @Test func offsetCommit() throws {
        var union = GroupSamples.offsetCommitRequest(7)
        union.retentionTimeMs = 86_400_000
        try each(OffsetCommitRequest.self, GroupSamples.offsetCommitRequest, union: union)
        try each(OffsetCommitResponse.self, GroupSamples.offsetCommitResponse)
    }

    @Test func offsetFetch() throws {
        try each(OffsetFetchRequest.self, GroupSamples.offsetFetchRequest)
        try each(OffsetFetchResponse.self, GroupSamples.offsetFetchResponse)
        // v2+: null topics (every committed partition) and empty topics differ.
        for version in Int16(2)...5 {
            try assertRoundTrip(OffsetFetchRequest(groupId: "g", topics: nil), version: version)
            try assertRoundTrip(OffsetFetchRequest(groupId: "g", topics: []), version: version)
            #expect(encodeBody(OffsetFetchRequest(groupId: "g", topics: nil), version: version).bytes == str("g") + int32(-1))
        }
        // v1 has no null: nil is written as an empty array, and a null is refused.
        #expect(encodeBody(OffsetFetchRequest(groupId: "g", topics: nil), version: 1).bytes == str("g") + int32(0))
        #expect(throws: KafkaDecodingError.unexpectedNull(field: "topics", position: 3)) {
            _ = try OffsetFetchRequest.decodeExactly(ByteBuffer(bytes: str("g") + int32(-1)), version: 1)
        }
    }

    @Test func describeGroups() throws {
        try each(DescribeGroupsRequest.self, GroupSamples.describeGroupsRequest)
        try each(DescribeGroupsResponse.self, GroupSamples.describeGroupsResponse)
    }

    @Test func listGroups() throws {
        try each(ListGroupsRequest.self, GroupSamples.listGroupsRequest)
        try each(ListGroupsResponse.self, GroupSamples.listGroupsResponse)
        for version in ListGroupsRequest.versions {
            #expect(encodeBody(ListGroupsRequest(), version: version).readableBytes == 0)
        }
    }

    @Test func deleteGroups() throws {
        try each(DeleteGroupsRequest.self, GroupSamples.deleteGroupsRequest)
        try each(DeleteGroupsResponse.self, GroupSamples.deleteGroupsResponse)
    }

    @Test func versionsMatchTheAdvertisedTable() {
        let ranges: [(ApiKey, ClosedRange<Int16>, ClosedRange<Int16>)] = [
            (.offsetCommit, OffsetCommitRequest.versions, OffsetCommitResponse.versions),
            (.offsetFetch, OffsetFetchRequest.versions, OffsetFetchResponse.versions),
            (.joinGroup, JoinGroupRequest.versions, JoinGroupResponse.versions),
            (.heartbeat, HeartbeatRequest.versions, HeartbeatResponse.versions),
            (.leaveGroup, LeaveGroupRequest.versions, LeaveGroupResponse.versions),
            (.syncGroup, SyncGroupRequest.versions, SyncGroupResponse.versions),
            (.describeGroups, DescribeGroupsRequest.versions, DescribeGroupsResponse.versions),
            (.listGroups, ListGroupsRequest.versions, ListGroupsResponse.versions),
            (.deleteGroups, DeleteGroupsRequest.versions, DeleteGroupsResponse.versions),
        ]
        for (key, request, response) in ranges {
            #expect(SupportedVersions.range(of: key) == request, "\(key)")
            #expect(request == response, "\(key)")
            // All below the first flexible version.
            #expect(!key.isFlexible(version: request.upperBound), "\(key)")
            #expect(key.isFlexible(version: request.upperBound + 1), "\(key)")
        }
    }

    @Test func versionsOutsideTheCodecAreRefused() {
        var empty = ByteBuffer()
        #expect(throws: KafkaDecodingError.unsupportedVersion(apiKey: .joinGroup, version: 6)) { _ = try JoinGroupRequest(from: &empty, version: 6) }
        #expect(throws: KafkaDecodingError.unsupportedVersion(apiKey: .offsetCommit, version: 1)) { _ = try OffsetCommitRequest(from: &empty, version: 1) }
        #expect(throws: KafkaDecodingError.unsupportedVersion(apiKey: .offsetCommit, version: 8)) { _ = try OffsetCommitResponse(from: &empty, version: 8) }
        #expect(throws: KafkaDecodingError.unsupportedVersion(apiKey: .offsetFetch, version: 0)) { _ = try OffsetFetchRequest(from: &empty, version: 0) }
        #expect(throws: KafkaDecodingError.unsupportedVersion(apiKey: .listGroups, version: 3)) { _ = try ListGroupsRequest(from: &empty, version: 3) }
        #expect(throws: KafkaDecodingError.unsupportedVersion(apiKey: .deleteGroups, version: 2)) { _ = try DeleteGroupsResponse(from: &empty, version: 2) }
    }

    // MARK: known answers

    /// JoinGroup v5 as kafka-python 3.0.12's encoder writes it (group "g", session 10 s,
    /// rebalance 300 s, no member id yet, instance "i", one protocol "range" with metadata "abc").
    @Test func joinGroupV5RequestKnownAnswer() throws {
        let expected =
            str("g")                                 // group_id
            + int32(10_000)                          // session_timeout_ms
            + int32(300_000)                         // rebalance_timeout_ms (v1+)
            + str("")                                // member_id
            + str("i")                               // group_instance_id (v5+)
            + str("consumer")                        // protocol_type
            + int32(1) + str("range") + int32(3) + Array("abc".utf8)
        #expect(expected == hexBytes("00016700002710000493e000000001690008636f6e73756d657200000001000572616e676500000003616263"))
        let request = JoinGroupRequest(
            groupId: "g", sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 300_000, memberId: "", groupInstanceId: "i",
            protocolType: "consumer", protocols: [.init(name: "range", metadata: ByteBuffer(string: "abc"))]
        )
        #expect(encodeBody(request, version: 5).bytes == expected)
        #expect(try JoinGroupRequest.decodeExactly(ByteBuffer(bytes: expected), version: 5) == request)
        // v4 has the same fields without group_instance_id; v0 also drops rebalance_timeout_ms.
        let v4 = str("g") + int32(10_000) + int32(300_000) + str("") + str("consumer") + int32(1) + str("range") + int32(3) + Array("abc".utf8)
        #expect(encodeBody(request, version: 4).bytes == v4)
        let v0 = str("g") + int32(10_000) + str("") + str("consumer") + int32(1) + str("range") + int32(3) + Array("abc".utf8)
        #expect(encodeBody(request, version: 0).bytes == v0)
        var expectedV0 = request
        expectedV0.rebalanceTimeoutMs = -1
        expectedV0.groupInstanceId = nil
        #expect(try JoinGroupRequest.decodeExactly(ByteBuffer(bytes: v0), version: 0) == expectedV0)
        // A null group_instance_id (a dynamic member).
        let dynamic = JoinGroupRequest(groupId: "g", sessionTimeoutMs: 10_000, rebalanceTimeoutMs: 300_000, protocolType: "consumer")
        #expect(encodeBody(dynamic, version: 5).bytes == str("g") + int32(10_000) + int32(300_000) + str("") + int16(-1) + str("consumer") + int32(0))
    }

    @Test func leaveGroupSwitchesToAMembersArrayAtV3() {
        let request = LeaveGroupRequest(groupId: "g", memberId: "m", members: [.init(memberId: "m", groupInstanceId: "i"), .init(memberId: "n")])
        #expect(encodeBody(request, version: 2).bytes == str("g") + str("m"))
        #expect(encodeBody(request, version: 3).bytes == str("g") + int32(2) + str("m") + str("i") + str("n") + int16(-1))
        let response = LeaveGroupResponse(throttleTimeMs: 1, errorCode: 0, members: [.init(memberId: "m", groupInstanceId: "i", errorCode: 25)])
        #expect(encodeBody(response, version: 0).bytes == int16(0))
        #expect(encodeBody(response, version: 2).bytes == int32(1) + int16(0))
        #expect(encodeBody(response, version: 3).bytes == int32(1) + int16(0) + int32(1) + str("m") + str("i") + int16(25))
    }

    @Test func offsetCommitRetentionAndLeaderEpochByVersion() {
        let request = OffsetCommitRequest(groupId: "g", generationId: 2, memberId: "m", groupInstanceId: "i", retentionTimeMs: -1, topics: [
            .init(name: "t", partitions: [.init(partitionIndex: 1, committedOffset: 10, committedLeaderEpoch: 3, committedMetadata: nil)]),
        ])
        let head = str("g") + int32(2) + str("m")
        #expect(encodeBody(request, version: 2).bytes == head + int64(-1) + int32(1) + str("t") + int32(1) + int32(1) + int64(10) + int16(-1))
        #expect(encodeBody(request, version: 5).bytes == head + int32(1) + str("t") + int32(1) + int32(1) + int64(10) + int16(-1))
        #expect(encodeBody(request, version: 6).bytes == head + int32(1) + str("t") + int32(1) + int32(1) + int64(10) + int32(3) + int16(-1))
        #expect(encodeBody(request, version: 7).bytes == head + str("i") + int32(1) + str("t") + int32(1) + int32(1) + int64(10) + int32(3) + int16(-1))
    }

    @Test func offsetFetchResponseLayout() {
        let response = OffsetFetchResponse(throttleTimeMs: 5, topics: [
            .init(name: "t", partitions: [.init(partitionIndex: 0, committedOffset: 42, committedLeaderEpoch: 7, metadata: "x", errorCode: 0)]),
        ], errorCode: 15)
        let partitionV1 = int32(0) + int64(42) + str("x") + int16(0)
        #expect(encodeBody(response, version: 1).bytes == int32(1) + str("t") + int32(1) + partitionV1)
        #expect(encodeBody(response, version: 2).bytes == int32(1) + str("t") + int32(1) + partitionV1 + int16(15))
        #expect(encodeBody(response, version: 3).bytes == int32(5) + int32(1) + str("t") + int32(1) + partitionV1 + int16(15))
        let partitionV5 = int32(0) + int64(42) + int32(7) + str("x") + int16(0)
        #expect(encodeBody(response, version: 5).bytes == int32(5) + int32(1) + str("t") + int32(1) + partitionV5 + int16(15))
    }

    @Test func deleteGroupsResponseHasThrottleFromV0() {
        let response = DeleteGroupsResponse(throttleTimeMs: 3, results: [.init(groupId: "g", errorCode: 69)])
        #expect(encodeBody(response, version: 0).bytes == int32(3) + int32(1) + str("g") + int16(69))
    }

    // MARK: the consumer protocol

    @Test func consumerProtocolRoundTrips() throws {
        for version in ConsumerProtocolSubscription.versions {
            var expected = GroupSamples.subscription
            if version < 1 { expected.ownedPartitions = [] }
            if version < 2 { expected.generationId = -1 }
            if version < 3 { expected.rackId = nil }
            let bytes = GroupSamples.subscription.encoded(version: version)
            #expect(try ConsumerProtocolSubscription(from: bytes) == expected)
            assertEveryTruncationThrows(bytes) { (b: inout ByteBuffer) throws(KafkaDecodingError) in _ = try ConsumerProtocolSubscription(from: b) }
            let nullUserData = ConsumerProtocolSubscription(topics: ["t"])
            #expect(try ConsumerProtocolSubscription(from: nullUserData.encoded(version: version)) == nullUserData)
        }
        for version in ConsumerProtocolAssignment.versions {
            let value = ConsumerProtocolAssignment(assignedPartitions: GroupSamples.assignment.assignedPartitions, userData: ByteBuffer(bytes: [1]))
            let bytes = value.encoded(version: version)
            #expect(try ConsumerProtocolAssignment(from: bytes) == value)
            assertEveryTruncationThrows(bytes) { (b: inout ByteBuffer) throws(KafkaDecodingError) in _ = try ConsumerProtocolAssignment(from: b) }
        }
    }

    @Test func consumerProtocolKnownAnswers() throws {
        let subscription = ConsumerProtocolSubscription(topics: ["t"], userData: nil, ownedPartitions: [.init(topic: "t", partitions: [1])])
        #expect(subscription.encoded(version: 0).bytes == int16(0) + int32(1) + str("t") + int32(-1))
        #expect(subscription.encoded(version: 1).bytes == int16(1) + int32(1) + str("t") + int32(-1) + int32(1) + str("t") + int32(1) + int32(1))
        let assignment = ConsumerProtocolAssignment(assignedPartitions: [.init(topic: "t", partitions: [0, 2])], userData: ByteBuffer(bytes: [7]))
        let assignmentBytes = int32(1) + str("t") + int32(2) + int32(0) + int32(2) + int32(1) + [7]
        #expect(assignment.encoded(version: 0).bytes == int16(0) + assignmentBytes)
        #expect(assignment.encoded(version: 1).bytes == int16(1) + assignmentBytes)
    }

    /// v2 generation_id and v3 rack_id are read; anything later is read as the newest layout
    /// known, ignoring what follows, as Kafka's ConsumerProtocol does.
    @Test func consumerProtocolToleratesNewerVersions() throws {
        let v3 = int16(3) + int32(1) + str("t") + int32(-1) + int32(1) + str("t") + int32(1) + int32(4)
            + int32(9)          // generation_id (v2+)
            + str("rack-a")     // rack_id (v3+)
        let subscription = try ConsumerProtocolSubscription(from: ByteBuffer(bytes: v3))
        #expect(subscription == ConsumerProtocolSubscription(
            topics: ["t"], userData: nil, ownedPartitions: [.init(topic: "t", partitions: [4])], generationId: 9, rackId: "rack-a"
        ))
        let v4 = int16(4) + Array(v3.dropFirst(2)) + [0xBE, 0xEF]
        #expect(try ConsumerProtocolSubscription(from: ByteBuffer(bytes: v4)) == subscription)
        // Trailing bytes after a known version's fields are ignored too.
        let v0 = int16(0) + int32(1) + str("t") + int32(0) + [0xDE, 0xAD]
        #expect(try ConsumerProtocolSubscription(from: ByteBuffer(bytes: v0)) == ConsumerProtocolSubscription(topics: ["t"], userData: ByteBuffer()))
        let assignment = int16(3) + int32(1) + str("t") + int32(1) + int32(0) + int32(-1) + [1, 2, 3]
        #expect(try ConsumerProtocolAssignment(from: ByteBuffer(bytes: assignment)) == ConsumerProtocolAssignment(assignedPartitions: [.init(topic: "t", partitions: [0])]))
        // A negative version is refused.
        #expect(throws: KafkaDecodingError.self) { _ = try ConsumerProtocolSubscription(from: ByteBuffer(bytes: int16(-1) + int32(0) + int32(-1))) }
        #expect(throws: KafkaDecodingError.self) { _ = try ConsumerProtocolAssignment(from: ByteBuffer(bytes: int16(-2) + int32(0) + int32(-1))) }
    }

    // MARK: __consumer_offsets records

    @Test func offsetCommitValueV3KnownAnswer() throws {
        let value = OffsetCommitValue(offset: 42, leaderEpoch: 5, metadata: "m", commitTimestamp: 1_700_000_000_000)
        let expected = int16(3) + int64(42) + int32(5) + str("m") + int64(1_700_000_000_000)
        #expect(value.preferredVersion == 3)
        #expect(value.encoded().bytes == expected)
        #expect(try OffsetCommitValue(from: ByteBuffer(bytes: expected)) == value)
        // v1 (explicit retention) adds expire_timestamp at the end and has no leader epoch.
        var retained = value
        retained.expireTimestamp = 1_700_086_400_000
        #expect(retained.preferredVersion == 1)
        #expect(retained.encoded().bytes == int16(1) + int64(42) + str("m") + int64(1_700_000_000_000) + int64(1_700_086_400_000))
        #expect(value.encoded(version: 0).bytes == int16(0) + int64(42) + str("m") + int64(1_700_000_000_000))
        #expect(value.encoded(version: 2).bytes == int16(2) + int64(42) + str("m") + int64(1_700_000_000_000))
    }

    @Test func groupMetadataValueV3KnownAnswer() throws {
        let value = GroupMetadataValue(
            protocolType: "consumer", generation: 7, protocol: "range", leader: "m-1", currentStateTimestamp: 1_700_000_000_000,
            members: [.init(memberId: "m-1", groupInstanceId: "host-1", clientId: "c", clientHost: "/10.0.0.1",
                            rebalanceTimeout: 300_000, sessionTimeout: 10_000, subscription: ByteBuffer(bytes: [0, 1]), assignment: ByteBuffer(bytes: [2]))]
        )
        let expected =
            int16(3)                                  // version
            + str("consumer")                         // protocol_type
            + int32(7)                                // generation
            + str("range")                            // protocol
            + str("m-1")                              // leader
            + int64(1_700_000_000_000)                // current_state_timestamp (v2+)
            + int32(1)                                // members
            + str("m-1")                              // member_id
            + str("host-1")                           // group_instance_id (v3+)
            + str("c")                                // client_id
            + str("/10.0.0.1")                        // client_host
            + int32(300_000)                          // rebalance_timeout (v1+)
            + int32(10_000)                           // session_timeout
            + int32(2) + [0, 1]                       // subscription
            + int32(1) + [2]                          // assignment
        #expect(value.encoded().bytes == expected)
        #expect(try GroupMetadataValue(from: ByteBuffer(bytes: expected)) == value)
        // An empty group: no protocol, no leader, no members.
        let empty = GroupMetadataValue(protocolType: "consumer", generation: 8, protocol: nil, leader: nil, currentStateTimestamp: 5)
        #expect(empty.encoded().bytes == int16(3) + str("consumer") + int32(8) + int16(-1) + int16(-1) + int64(5) + int32(0))
        // v0: no current_state_timestamp, group_instance_id or rebalance_timeout.
        let v0 = int16(0) + str("consumer") + int32(7) + str("range") + str("m-1") + int32(1)
            + str("m-1") + str("c") + str("/10.0.0.1") + int32(10_000) + int32(2) + [0, 1] + int32(1) + [2]
        #expect(value.encoded(version: 0).bytes == v0)
    }

    @Test func recordValuesRoundTripAtEveryVersion() throws {
        for version in OffsetCommitValue.versions {
            let value = GroupSamples.offsetCommitValue(version)
            let bytes = value.encoded(version: version)
            #expect(try OffsetCommitValue(from: bytes) == value, "v\(version)")
            assertEveryTruncationThrows(bytes) { (b: inout ByteBuffer) throws(KafkaDecodingError) in _ = try OffsetCommitValue(from: b) }
            let newest = GroupSamples.offsetCommitValue(3)
            var expected = newest
            if version < 3 { expected.leaderEpoch = -1 }
            #expect(try OffsetCommitValue(from: newest.encoded(version: version)) == expected, "v\(version)")
        }
        for version in GroupMetadataValue.versions {
            let value = GroupSamples.groupMetadataValue(version)
            let bytes = value.encoded(version: version)
            #expect(try GroupMetadataValue(from: bytes) == value, "v\(version)")
            assertEveryTruncationThrows(bytes) { (b: inout ByteBuffer) throws(KafkaDecodingError) in _ = try GroupMetadataValue(from: b) }
            #expect(try GroupMetadataValue(from: GroupSamples.groupMetadataValue(3).encoded(version: version)) == value, "v\(version)")
        }
        // Unknown versions and trailing bytes are refused.
        #expect(throws: KafkaDecodingError.self) { _ = try OffsetCommitValue(from: ByteBuffer(bytes: int16(4) + int64(0) + str("") + int64(0))) }
        #expect(throws: KafkaDecodingError.self) { _ = try GroupMetadataValue(from: ByteBuffer(bytes: int16(-1))) }
        var long = GroupSamples.offsetCommitValue(3).encoded(version: 3)
        long.writeInteger(UInt8(0))
        #expect(throws: KafkaDecodingError.self) { _ = try OffsetCommitValue(from: long) }
    }

    @Test func recordKeysAndTombstones() throws {
        let offsetKey = OffsetCommitKey(group: "g", topic: "t", partition: 3)
        #expect(GroupMetadataRecordKey.offsetCommit(offsetKey).encoded().bytes == int16(1) + str("g") + str("t") + int32(3))
        let groupKey = GroupMetadataKey(group: "g")
        #expect(GroupMetadataRecordKey.groupMetadata(groupKey).encoded().bytes == int16(2) + str("g"))
        // Version 0 offset keys (the same layout) keep their version, so they re-encode identically.
        let v0Key = ByteBuffer(bytes: int16(0) + str("g") + str("t") + int32(3))
        let decodedV0 = try GroupMetadataRecordKey(from: v0Key)
        #expect(decodedV0 == .offsetCommit(OffsetCommitKey(group: "g", topic: "t", partition: 3, version: 0)))
        #expect(decodedV0.encoded() == v0Key)
        #expect(decodedV0.group == "g")

        let value = GroupSamples.offsetCommitValue(3)
        let record = try GroupMetadataRecord(key: GroupMetadataRecordKey.offsetCommit(offsetKey).encoded(), value: value.encoded())
        #expect(record == .offsetCommit(offsetKey, value))
        #expect(!record.isTombstone)
        let tombstone = try GroupMetadataRecord(key: GroupMetadataRecordKey.offsetCommit(offsetKey).encoded(), value: nil)
        #expect(tombstone == .offsetCommit(offsetKey, nil))
        #expect(tombstone.isTombstone && tombstone.key == .offsetCommit(offsetKey))
        let groupRecord = try GroupMetadataRecord(key: GroupMetadataRecordKey.groupMetadata(groupKey).encoded(), value: GroupSamples.groupMetadataValue(3).encoded())
        #expect(groupRecord == .groupMetadata(groupKey, GroupSamples.groupMetadataValue(3)))
        #expect(try GroupMetadataRecord(key: GroupMetadataRecordKey.groupMetadata(groupKey).encoded(), value: nil) == .groupMetadata(groupKey, nil))
        // An empty value is not a tombstone (Kafka's tombstone is a null value): it is refused.
        #expect(throws: KafkaDecodingError.self) { _ = try GroupMetadataRecord(key: GroupMetadataRecordKey.groupMetadata(groupKey).encoded(), value: ByteBuffer()) }

        // Unknown key versions (the newer group coordinator's record types) and bad keys are refused.
        #expect(throws: KafkaDecodingError.self) { _ = try GroupMetadataRecordKey(from: ByteBuffer(bytes: int16(3) + str("g"))) }
        #expect(throws: KafkaDecodingError.self) { _ = try GroupMetadataRecordKey(from: ByteBuffer(bytes: int16(2) + str("g") + [0])) }
        for key in [GroupMetadataRecordKey.offsetCommit(offsetKey), .groupMetadata(groupKey)] {
            assertEveryTruncationThrows(key.encoded()) { (b: inout ByteBuffer) throws(KafkaDecodingError) in _ = try GroupMetadataRecordKey(from: b) }
        }
    }

    // MARK: request and response dispatch

    @Test func kafkaRequestDecodesEveryGroupApi() throws {
        func check<M: KafkaEncodableMessage>(_ sample: (Int16) -> M, _ wrap: (M) -> KafkaRequest) throws {
            for version in M.versions {
                let request = wrap(sample(version))
                let frame = request.encodeFrame(version: version, correlationId: 77, clientId: "test")
                let (header, result) = KafkaRequest.decode(frame: frame.getSlice(at: 4, length: frame.readableBytes - 4)!)
                #expect(header?.apiKey == M.apiKey && header?.requestApiVersion == version && header?.correlationId == 77)
                #expect(try result.get() == request, "\(M.apiKey) v\(version)")
            }
        }
        try check(GroupSamples.offsetCommitRequest, KafkaRequest.offsetCommit)
        try check(GroupSamples.offsetFetchRequest, KafkaRequest.offsetFetch)
        try check(GroupSamples.joinGroupRequest, KafkaRequest.joinGroup)
        try check(GroupSamples.heartbeatRequest, KafkaRequest.heartbeat)
        try check(GroupSamples.leaveGroupRequest, KafkaRequest.leaveGroup)
        try check(GroupSamples.syncGroupRequest, KafkaRequest.syncGroup)
        try check(GroupSamples.describeGroupsRequest, KafkaRequest.describeGroups)
        try check(GroupSamples.listGroupsRequest, KafkaRequest.listGroups)
        try check(GroupSamples.deleteGroupsRequest, KafkaRequest.deleteGroups)
    }

    @Test func kafkaResponseDecodesEveryGroupApi() throws {
        func check<M: KafkaEncodableMessage>(_ sample: (Int16) -> M, _ wrap: (M) -> KafkaResponse) throws {
            for version in M.versions {
                let response = wrap(sample(version))
                let frame = flatten(response.encodeFrame(correlationId: 78, version: version))
                let (header, decoded) = try KafkaResponse.decode(frame: frame.getSlice(at: 4, length: frame.readableBytes - 4)!, apiKey: M.apiKey, version: version)
                #expect(header.correlationId == 78)
                #expect(decoded == response, "\(M.apiKey) v\(version)")
            }
        }
        try check(GroupSamples.offsetCommitResponse, KafkaResponse.offsetCommit)
        try check(GroupSamples.offsetFetchResponse, KafkaResponse.offsetFetch)
        try check(GroupSamples.joinGroupResponse, KafkaResponse.joinGroup)
        try check(GroupSamples.heartbeatResponse, KafkaResponse.heartbeat)
        try check(GroupSamples.leaveGroupResponse, KafkaResponse.leaveGroup)
        try check(GroupSamples.syncGroupResponse, KafkaResponse.syncGroup)
        try check(GroupSamples.describeGroupsResponse, KafkaResponse.describeGroups)
        try check(GroupSamples.listGroupsResponse, KafkaResponse.listGroups)
        try check(GroupSamples.deleteGroupsResponse, KafkaResponse.deleteGroups)
    }

    // MARK: hostile input

    /// Random mutations of valid messages and records: decoding either succeeds or throws a typed
    /// error, never traps.
    @Test func mutatedGroupMessagesNeverTrap() {
        var rng = SeededRandom(seed: 4242)
        func seed<M: KafkaEncodableMessage>(_ sample: (Int16) -> M) -> (ByteBuffer, (inout ByteBuffer) throws(KafkaDecodingError) -> Void) {
            let version = M.versions.upperBound
            return (encodeBody(sample(version), version: version), { (b: inout ByteBuffer) throws(KafkaDecodingError) in _ = try M(from: &b, version: version) })
        }
        let seeds: [(ByteBuffer, (inout ByteBuffer) throws(KafkaDecodingError) -> Void)] = [
            seed(GroupSamples.joinGroupRequest), seed(GroupSamples.joinGroupResponse),
            seed(GroupSamples.syncGroupRequest), seed(GroupSamples.leaveGroupRequest), seed(GroupSamples.leaveGroupResponse),
            seed(GroupSamples.offsetCommitRequest), seed(GroupSamples.offsetFetchResponse), seed(GroupSamples.describeGroupsResponse),
            (GroupSamples.subscription.encoded(version: 1), { (b: inout ByteBuffer) throws(KafkaDecodingError) in _ = try ConsumerProtocolSubscription(from: b) }),
            (GroupSamples.assignment.encoded(version: 1), { (b: inout ByteBuffer) throws(KafkaDecodingError) in _ = try ConsumerProtocolAssignment(from: b) }),
            (GroupSamples.groupMetadataValue(3).encoded(), { (b: inout ByteBuffer) throws(KafkaDecodingError) in _ = try GroupMetadataValue(from: b) }),
            (GroupSamples.offsetCommitValue(3).encoded(), { (b: inout ByteBuffer) throws(KafkaDecodingError) in _ = try OffsetCommitValue(from: b) }),
        ]
        var refused = 0
        for (original, decode) in seeds {
            let bytes = original.bytes
            for _ in 0..<1000 {
                var mutated = bytes
                for _ in 0..<(1 + Int(rng.next() % 4)) {
                    let i = Int(rng.next() % UInt64(mutated.count))
                    switch rng.next() % 3 {
                    case 0: mutated[i] = UInt8(truncatingIfNeeded: rng.next())
                    case 1: mutated[i] = [0x00, 0xFF, 0x7F, 0x80][Int(rng.next() % 4)]
                    default: mutated.removeSubrange(i...)
                    }
                    if mutated.isEmpty { break }
                }
                var buffer = ByteBuffer(bytes: mutated)
                do throws(KafkaDecodingError) { try decode(&buffer) } catch { refused += 1 }
            }
        }
        #expect(refused > 0)
    }
}
