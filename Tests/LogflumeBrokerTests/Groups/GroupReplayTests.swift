import LogflumeBroker
import LogflumeWire
import NIOCore
import Testing

@Suite struct GroupReplayTests {
    /// A coordinator that has seen some life: a stable group with a restarted static member,
    /// a group whose members left, a group that only commits, a deleted group, expired offsets.
    func busyHistory() -> GroupHarness {
        var config = GroupCoordinatorConfig()
        config.offsetsRetentionMinutes = 10
        config.offsetsRetentionCheckIntervalMs = 1_000
        var h = GroupHarness(config: config)
        let (members, generation) = h.stableGroup(count: 3)
        _ = h.commit(generation: generation, member: members[0], [("events", 0, 100, "a"), ("events", 1, 200, "b")])
        _ = h.commit(generation: generation, member: members[2], [("events", 2, 300, nil)])

        func keepAlive(_ h: inout GroupHarness) {
            for member in members { _ = h.heartbeat(generation: generation, member: member) }
            if let id = h.group("static")?.staticMemberId("host-1") {
                _ = h.heartbeat("static", generation: 1, member: id, instance: "host-1")
            }
        }

        let s = h.join("static", instance: "host-1", client: "s1")
        h.advance(by: 3_000)
        let staticId = h.joinResponse(s)!.memberId
        h.sync("static", generation: 1, member: staticId, instance: "host-1", assignments: [staticId: assignment("events", [0])])
        _ = h.join("static", instance: "host-1", client: "s1")
        keepAlive(&h)

        let (leaving, leavingGeneration) = h.stableGroup("leaving", count: 2)
        keepAlive(&h)
        _ = h.commit("leaving", generation: leavingGeneration, member: leaving[1], [("audit", 0, 7, "seven")])
        _ = h.leave("leaving", members: [(leaving[0], nil), (leaving[1], nil)])

        _ = h.commit("standalone", [("logs", 0, 1, nil)])
        _ = h.commit("short-lived", [("logs", 0, 1, nil)])
        _ = h.delete(["short-lived"])
        _ = h.commit("expiring", version: 2, retentionMs: 5_000, [("logs", 3, 3, nil)])
        for _ in 0..<4 {
            h.advance(by: 2_500)
            keepAlive(&h)
        }
        _ = h.commit("standalone", [("logs", 0, 2, "latest")])
        return h
    }

    func replayed(_ log: [GroupMetadataRecord], config: GroupCoordinatorConfig, now: Int64) throws -> GroupCoordinatorState {
        var fresh = GroupCoordinatorState(config: config, randomSeed: 7)
        fresh.beginLoading()
        for record in log {
            let (key, value) = ConsumerOffsetsTopic.encode(record)
            try fresh.replay(key: key, value: value)
        }
        fresh.finishLoading(now: now)
        return fresh
    }

    func expectSamePersistedState(_ a: GroupCoordinatorState, _ b: GroupCoordinatorState, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(a.groups.keys.sorted() == b.groups.keys.sorted(), sourceLocation: sourceLocation)
        for (id, group) in a.groups {
            guard let other = b.groups[id] else { continue }
            #expect(group.offsets == other.offsets, "offsets of \(id)", sourceLocation: sourceLocation)
            #expect(group.state == other.state, "state of \(id)", sourceLocation: sourceLocation)
            if group.state == .stable || group.generationId > 0 {
                #expect(group.metadataValue == other.metadataValue, "metadata of \(id)", sourceLocation: sourceLocation)
            }
        }
    }

    @Test func replayingTheLogRebuildsGroupsAndOffsets() throws {
        let h = busyHistory()
        #expect(h.state.groups.keys.sorted() == ["g", "leaving", "standalone", "static"], "short-lived was deleted, expiring expired")
        // Every group is Stable or Empty here; replay reproduces what was persisted.
        #expect(h.state.groups.values.allSatisfy { $0.state == .stable || $0.state == .empty })
        let loaded = try replayed(h.log, config: h.state.config, now: h.now)
        expectSamePersistedState(h.state, loaded)
        #expect(loaded.groups["g"]?.members.count == 3)
        #expect(loaded.groups["g"]?.generationId == 1)
        #expect(loaded.groups["static"]?.members.first?.memberId == h.group("static")?.members.first?.memberId, "the replaced static member id")
        #expect(loaded.groups["leaving"]?.state == .empty && loaded.groups["leaving"]?.generationId == 2)
        #expect(loaded.groups["leaving"]?.offsets[.init(topic: "audit", partition: 0)]?.metadata == "seven")
        #expect(loaded.groups["standalone"]?.offsets[.init(topic: "logs", partition: 0)]?.metadata == "latest")

        // A compacted log (the latest record per key, tombstones gone) loads the same.
        var latest: [GroupMetadataRecordKey: (Int, GroupMetadataRecord)] = [:]
        for (i, record) in h.log.enumerated() { latest[record.key] = (i, record) }
        let compacted = latest.values.sorted { $0.0 < $1.0 }.map(\.1).filter { !$0.isTombstone }
        #expect(compacted.count < h.log.count)
        expectSamePersistedState(h.state, try replayed(compacted, config: h.state.config, now: h.now))
    }

    @Test func loadedMembersCarryOnWithoutARebalance() throws {
        let h = busyHistory()
        var r = GroupHarness(config: h.state.config)
        r.now = h.now + 1_000
        r.state = try replayed(h.log, config: h.state.config, now: r.now)
        let members = h.group()!.members.map(\.memberId)
        for member in members { #expect(r.heartbeat(generation: 1, member: member) == .none) }
        let sync = r.sync(generation: 1, member: members[1])
        #expect(r.syncResponse(sync)?.assignment == assignment("events", [1]))
        let fetched = r.fetch("g", topics: nil)
        #expect(fetched?.topics.first?.partitions.map(\.committedOffset) == [100, 200, 300])
        #expect(fetched?.topics.first?.partitions.map(\.metadata) == ["a", "b", ""])

        // Members that do not come back after the restart expire like any other.
        r.advance(by: 9_000)
        #expect(r.heartbeat(generation: 1, member: members[0]) == .none)
        r.advance(by: 2_000)
        #expect(r.group()?.members.map(\.memberId) == [members[0]])
        #expect(r.group()?.state == .preparingRebalance)
    }

    @Test func requestsDuringLoadingAreAskedToWait() {
        var h = GroupHarness()
        let (members, _) = h.stableGroup(count: 1)
        let parked = h.join(member: members[0])
        let second = h.joinNewMember(client: "late")
        #expect(h.joinResponse(second.token) == nil)
        // Unloading answers the parked joins; everything else waits for the load to finish.
        h.apply(h.state.beginLoading())
        #expect(h.joinResponse(parked)?.generationId == 2, "a lone leader's rejoin completes at once")
        #expect(h.joinResponse(second.token)?.errorCode == KafkaErrorCode.notCoordinator.rawValue)
        #expect(h.unanswered.isEmpty)
        #expect(h.state.isLoading && h.state.groups.isEmpty)

        let join = h.join()
        #expect(h.joinResponse(join)?.errorCode == KafkaErrorCode.coordinatorLoadInProgress.rawValue)
        #expect(h.heartbeat(generation: 1, member: members[0]) == .none, "heartbeats are answered blindly")
        let sync = h.sync(generation: 1, member: members[0])
        #expect(h.syncResponse(sync)?.errorCode == KafkaErrorCode.rebalanceInProgress.rawValue)
        #expect(h.leave(members: [(members[0], nil)])?.errorCode == KafkaErrorCode.coordinatorLoadInProgress.rawValue)
        #expect(h.commit("g", [("t", 0, 1, nil)])?.topics[0].partitions[0].errorCode == KafkaErrorCode.coordinatorLoadInProgress.rawValue)
        #expect(h.fetch(topics: nil)?.errorCode == KafkaErrorCode.coordinatorLoadInProgress.rawValue)
        #expect(h.fetch(topics: [("t", [0, 1])], version: 1)?.topics[0].partitions.map(\.errorCode) == [14, 14])
        #expect(h.describe(["g"])?.groups[0].errorCode == KafkaErrorCode.coordinatorLoadInProgress.rawValue)
        #expect(h.list()?.errorCode == KafkaErrorCode.coordinatorLoadInProgress.rawValue)
        #expect(h.delete(["g"])?.results[0].errorCode == KafkaErrorCode.coordinatorLoadInProgress.rawValue)
        #expect(h.state.nextDeadline == nil)

        for record in h.log { h.state.replay(record) }
        h.state.finishLoading(now: h.now)
        #expect(!h.state.isLoading)
        #expect(h.group()?.state == .stable)
        #expect(h.heartbeat(generation: 1, member: members[0]) == .none)
    }

    @Test func recordsUseKafkasLayout() throws {
        var h = GroupHarness()
        let (members, _) = h.stableGroup(count: 1)
        _ = h.commit(generation: 1, member: members[0], [("events", 0, 5, "m")])
        let pairs = h.last.encodedRecords()
        #expect(pairs.count == 1)
        var key = pairs[0].key
        #expect(key.readInteger(as: Int16.self) == 1, "offset keys are written at v1")
        var value = pairs[0].value!
        #expect(value.readInteger(as: Int16.self) == 3, "offset values without expiry at v3")
        #expect(try GroupMetadataRecord(key: pairs[0].key, value: pairs[0].value) == h.last.recordsToAppend[0])

        guard let group = h.log.first(where: { if case .groupMetadata = $0 { return true } else { return false } }) else {
            Issue.record("no group record")
            return
        }
        let (groupKey, groupValue) = ConsumerOffsetsTopic.encode(group)
        #expect(groupKey.getInteger(at: groupKey.readerIndex, as: Int16.self) == 2)
        #expect(groupValue?.getInteger(at: groupValue!.readerIndex, as: Int16.self) == 3)
        let tombstone = ConsumerOffsetsTopic.encode(.groupMetadata(GroupMetadataKey(group: "g"), nil))
        #expect(tombstone.value == nil)
    }
}
