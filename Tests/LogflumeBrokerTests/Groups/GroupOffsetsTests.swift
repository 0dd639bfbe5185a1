import LogflumeBroker
import LogflumeWire
import NIOCore
import Testing

@Suite struct GroupOffsetsTests {
    func errors(_ response: OffsetCommitResponse?) -> [KafkaErrorCode] {
        (response?.topics ?? []).flatMap { $0.partitions.map { KafkaErrorCode(code: $0.errorCode) } }
    }

    @Test func membersCommitWithTheirGenerationAndOthersAreRefused() {
        var h = GroupHarness()
        let (members, generation) = h.stableGroup(count: 2)
        let good = h.commit(generation: generation, member: members[0], [("events", 0, 42, "host-a@12:00"), ("events", 1, 7, nil)])
        #expect(errors(good) == [.none, .none])
        #expect(h.last.recordsToAppend == [
            .offsetCommit(
                OffsetCommitKey(group: "g", topic: "events", partition: 0),
                OffsetCommitValue(offset: 42, leaderEpoch: 3, metadata: "host-a@12:00", commitTimestamp: h.now)
            ),
            .offsetCommit(
                OffsetCommitKey(group: "g", topic: "events", partition: 1),
                OffsetCommitValue(offset: 7, leaderEpoch: 3, metadata: "", commitTimestamp: h.now)
            ),
        ])
        #expect(h.last.responses.count == 1, "answered in the same outcome, after its records")

        let before = h.log.count
        #expect(errors(h.commit(generation: generation - 1, member: members[0], [("events", 0, 1, nil)])) == [.illegalGeneration])
        #expect(errors(h.commit(generation: generation, member: "stranger", [("events", 0, 1, nil)])) == [.unknownMemberId])
        #expect(errors(h.commit(generation: -1, member: "", [("events", 0, 1, nil)])) == [.unknownMemberId], "a group with members only takes members' commits")
        #expect(errors(h.commit("never-seen", generation: 4, member: "m", [("events", 0, 1, nil)])) == [.illegalGeneration])
        #expect(h.log.count == before, "refused commits write nothing")
        #expect(h.group("never-seen") == nil)

        let long = String(repeating: "x", count: 4_097)
        let mixed = h.commit(generation: generation, member: members[1], [("events", 0, 50, long), ("events", 1, 9, "ok")])
        #expect(errors(mixed) == [.offsetMetadataTooLarge, .none])
        #expect(h.group()?.offsets[.init(topic: "events", partition: 0)]?.offset == 42)
        #expect(h.group()?.offsets[.init(topic: "events", partition: 1)]?.offset == 9)

        // During PreparingRebalance members still commit with their old generation; once the
        // join phase is over and the assignment is pending, commits wait.
        h.join(member: members[0])
        #expect(h.group()?.state == .preparingRebalance)
        #expect(errors(h.commit(generation: generation, member: members[1], [("events", 1, 10, nil)])) == [.none])
        h.join(member: members[1])
        #expect(h.group()?.state == .completingRebalance)
        #expect(errors(h.commit(generation: generation + 1, member: members[1], [("events", 1, 11, nil)])) == [.rebalanceInProgress])
        #expect(h.unanswered.isEmpty)
    }

    @Test func aCommitKeepsTheMemberAlive() {
        var h = GroupHarness()
        let (members, generation) = h.stableGroup(count: 1)
        for _ in 0..<5 {
            h.advance(by: 6_000)
            #expect(errors(h.commit(generation: generation, member: members[0], [("events", 0, 1, nil)])) == [.none])
        }
        #expect(h.group()?.state == .stable)
    }

    @Test func staticMembersCommitUnderTheirInstanceId() {
        var h = GroupHarness()
        let join = h.join(instance: "host-a", client: "a")
        h.advance(by: 3_000)
        let id = h.joinResponse(join)!.memberId
        h.sync(generation: 1, member: id, instance: "host-a", assignments: [id: assignment("events", [0])])
        #expect(errors(h.commit(generation: 1, member: id, instance: "host-a", [("events", 0, 5, nil)])) == [.none])
        #expect(errors(h.commit(generation: 1, member: "old-incarnation", instance: "host-a", [("events", 0, 5, nil)])) == [.fencedInstanceId])
        #expect(errors(h.commit(generation: 1, member: id, instance: "host-b", [("events", 0, 5, nil)])) == [.unknownMemberId])
    }

    @Test func simpleCommitsWorkWithoutMembership() {
        var h = GroupHarness()
        // A consumer using assign(): generation -1, no member id.
        #expect(errors(h.commit("standalone", [("logs", 0, 100, "first"), ("logs", 1, 200, nil)])) == [.none, .none])
        #expect(h.group("standalone")?.state == .empty)
        #expect(h.group("standalone")?.protocolType == nil)
        #expect(h.group("standalone")?.generationId == 0)
        h.now += 1_000
        #expect(errors(h.commit("standalone", [("logs", 0, 150, "second")])) == [.none])
        let fetched = h.fetch("standalone", topics: [("logs", [0, 1])])
        #expect(fetched?.topics.first?.partitions.map(\.committedOffset) == [150, 200])
        #expect(fetched?.topics.first?.partitions.map(\.metadata) == ["second", ""])

        // A consumer group whose members all left takes simple commits again.
        let (members, generation) = h.stableGroup(count: 1)
        #expect(errors(h.commit("g", [("events", 0, 1, nil)])) == [.unknownMemberId])
        _ = h.leave(members: [(members[0], nil)])
        #expect(h.group()?.state == .empty && h.group()?.generationId == generation + 1)
        #expect(errors(h.commit("g", [("events", 0, 3, nil)])) == [.none])
        #expect(errors(h.commit(generation: generation + 1, member: members[0], [("events", 0, 4, nil)])) == [.unknownMemberId])
    }

    @Test func fetchReturnsEveryCommittedPartitionWithMetadata() {
        var h = GroupHarness()
        _ = h.commit("fetcher", [("zeta", 2, 20, "z2"), ("alpha", 1, 11, "a1"), ("alpha", 0, 10, nil), ("mid", 0, 5, "m0")])
        let all = h.fetch("fetcher", topics: nil)
        #expect(all?.errorCode == 0)
        #expect(all?.topics.map(\.name) == ["alpha", "mid", "zeta"])
        #expect(all?.topics[0].partitions == [
            .init(partitionIndex: 0, committedOffset: 10, committedLeaderEpoch: 3, metadata: ""),
            .init(partitionIndex: 1, committedOffset: 11, committedLeaderEpoch: 3, metadata: "a1"),
        ])
        #expect(all?.topics[2].partitions == [.init(partitionIndex: 2, committedOffset: 20, committedLeaderEpoch: 3, metadata: "z2")])

        let named = h.fetch("fetcher", topics: [("mid", [0, 7]), ("nothing", [0])])
        #expect(named?.topics[0].partitions == [
            .init(partitionIndex: 0, committedOffset: 5, committedLeaderEpoch: 3, metadata: "m0"),
            .init(partitionIndex: 7, committedOffset: -1, metadata: ""),
        ])
        #expect(named?.topics[1].partitions == [.init(partitionIndex: 0, committedOffset: -1, metadata: "")])
        #expect(h.fetch("unknown-group", topics: nil)?.topics == [])
        #expect(h.fetch("unknown-group", topics: [("t", [3])])?.topics[0].partitions == [.init(partitionIndex: 3)])
        #expect(h.fetch("fetcher", topics: [("alpha", [1])], version: 1)?.topics[0].partitions[0].metadata == "a1")
    }

    @Test func offsetsOfAGroupThatOnlyCommitsExpireAfterTheRetention() {
        var config = GroupCoordinatorConfig()
        config.offsetsRetentionMinutes = 1
        config.offsetsRetentionCheckIntervalMs = 1_000
        var h = GroupHarness(config: config)
        _ = h.commit("standalone", [("logs", 0, 1, nil), ("logs", 1, 2, nil)])
        h.advance(by: 30_000)
        _ = h.commit("standalone", [("logs", 1, 3, nil)])
        h.advance(by: 29_000)
        #expect(h.group("standalone")?.offsets.count == 2)
        let before = h.log.count
        h.advance(by: 1_000)
        #expect(Array(h.log[before...]) == [.offsetCommit(OffsetCommitKey(group: "standalone", topic: "logs", partition: 0), nil)])
        #expect(h.group("standalone")?.offsets.count == 1)
        h.advance(by: 30_000)
        // The last offset goes, and with it the group; it never had a generation, so there is
        // no group record to delete.
        #expect(Array(h.log[before...]) == [
            .offsetCommit(OffsetCommitKey(group: "standalone", topic: "logs", partition: 0), nil),
            .offsetCommit(OffsetCommitKey(group: "standalone", topic: "logs", partition: 1), nil),
        ])
        #expect(h.group("standalone") == nil)
        #expect(h.list()?.groups == [])
    }

    @Test func offsetsOfAConsumerGroupExpireAfterItEmptiesOrForTopicsItLeft() {
        var config = GroupCoordinatorConfig()
        config.offsetsRetentionMinutes = 1
        config.offsetsRetentionCheckIntervalMs = 1_000
        var h = GroupHarness(config: config)
        let (members, generation) = h.stableGroup(count: 1)
        _ = h.commit(generation: generation, member: members[0], [("events", 0, 10, nil), ("retired", 0, 99, nil)])
        // Stable and subscribed to "events" only: "retired" expires a minute after its commit.
        for _ in 0..<13 {
            h.advance(by: 5_000)
            #expect(h.heartbeat(generation: generation, member: members[0]) == .none)
        }
        #expect(h.group()?.offsets.keys.map(\.topic) == ["events"])
        #expect(h.log.contains(.offsetCommit(OffsetCommitKey(group: "g", topic: "retired", partition: 0), nil)))

        // Once the group is Empty its offsets expire a minute after it emptied, whatever
        // their commit time, and the group goes with them.
        _ = h.leave(members: [(members[0], nil)])
        #expect(h.group()?.state == .empty)
        h.advance(by: 59_000)
        #expect(h.group()?.offsets.count == 1)
        let before = h.log.count
        h.advance(by: 1_000)
        #expect(Array(h.log[before...]) == [
            .offsetCommit(OffsetCommitKey(group: "g", topic: "events", partition: 0), nil),
            .groupMetadata(GroupMetadataKey(group: "g"), nil),
        ])
        #expect(h.group() == nil)
    }

    @Test func anExplicitRetentionTimeSetsTheExpireTimestamp() {
        var config = GroupCoordinatorConfig()
        config.offsetsRetentionCheckIntervalMs = 1_000
        var h = GroupHarness(config: config)
        let start = h.now
        _ = h.commit("old-client", version: 2, retentionMs: 5_000, [("logs", 0, 1, nil)])
        #expect(h.group("old-client")?.offsets[.init(topic: "logs", partition: 0)]?.expireTimestamp == start + 5_000)
        let encoded = h.last.encodedRecords()
        #expect(encoded.first?.value?.getInteger(at: encoded[0].value!.readerIndex, as: Int16.self) == 1, "written as value v1, the version with expire_timestamp")
        h.advance(by: 4_000)
        #expect(h.group("old-client") != nil)
        h.advance(by: 1_000)
        #expect(h.group("old-client") == nil)
    }

    @Test func deleteGroupsRemovesOnlyEmptyGroups() {
        var h = GroupHarness()
        let (members, _) = h.stableGroup(count: 1)
        _ = h.commit("standalone", [("logs", 1, 5, nil), ("logs", 0, 4, nil)])
        var response = h.delete(["g", "standalone", "nope", "standalone"])
        #expect(response?.results == [
            .init(groupId: "g", errorCode: KafkaErrorCode.nonEmptyGroup.rawValue),
            .init(groupId: "standalone"),
            .init(groupId: "nope", errorCode: KafkaErrorCode.groupIdNotFound.rawValue),
        ])
        #expect(h.last.recordsToAppend == [
            .offsetCommit(OffsetCommitKey(group: "standalone", topic: "logs", partition: 0), nil),
            .offsetCommit(OffsetCommitKey(group: "standalone", topic: "logs", partition: 1), nil),
        ])
        #expect(h.group("standalone") == nil)

        _ = h.commit(generation: 1, member: members[0], [("events", 0, 8, nil)])
        _ = h.leave(members: [(members[0], nil)])
        response = h.delete(["g"])
        #expect(response?.results == [.init(groupId: "g")])
        #expect(h.last.recordsToAppend == [
            .offsetCommit(OffsetCommitKey(group: "g", topic: "events", partition: 0), nil),
            .groupMetadata(GroupMetadataKey(group: "g"), nil),
        ])
        #expect(h.fetch("g", topics: nil)?.topics == [])
    }

    @Test func aFailedAppendAnswersWithTheError() {
        var h = GroupHarness()
        _ = h.commit("s", [("logs", 0, 1, nil)])
        let failed = h.last.failed(with: .coordinatorNotAvailable)
        guard case .offsetCommit(let response)? = failed.first?.response else {
            Issue.record("expected a commit response")
            return
        }
        #expect(errors(response) == [.coordinatorNotAvailable])
        #expect(failed.first?.token == h.last.responses.first?.token)
    }
}
