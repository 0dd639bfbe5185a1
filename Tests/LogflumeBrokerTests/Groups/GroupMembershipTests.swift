import LogflumeBroker
import LogflumeWire
import NIOCore
import Testing

@Suite struct GroupMembershipTests {
    @Test func threeMembersJoinTheLeaderAssignsAndEachMemberGetsItsShare() {
        var h = GroupHarness()
        let start = h.now
        let m1 = h.joinNewMember(client: "c1", protocols: [("range", subscription(["events"]))])
        h.now += 100
        let m2 = h.joinNewMember(client: "c2", protocols: [("range", subscription(["events", "audit"]))])
        h.now += 100
        let m3 = h.joinNewMember(client: "c3", protocols: [("range", subscription(["audit"]))])
        #expect(h.group()?.state == .preparingRebalance)
        #expect(h.unanswered == [m1.token, m2.token, m3.token], "joins are parked during the rebalance")

        // The initial delay (3 s) is extended once because members kept arriving, then the
        // join phase ends with one generation for all three.
        h.now = start + 2_999
        h.apply(h.state.tick(now: h.now))
        #expect(h.last.isEmpty)
        h.now = start + 3_000
        h.apply(h.state.tick(now: h.now))
        #expect(h.last.responses.isEmpty, "members joined during the delay: it is extended")
        h.now = start + 6_000
        h.apply(h.state.tick(now: h.now))
        #expect(h.last.responses.count == 3)
        #expect(h.last.recordsToAppend.isEmpty, "nothing is persisted before the assignment")

        let answers = [m1, m2, m3].map { h.joinResponse($0.token)! }
        for (answer, member) in zip(answers, [m1, m2, m3]) {
            #expect(answer.errorCode == 0)
            #expect(answer.generationId == 1)
            #expect(answer.protocolName == "range")
            #expect(answer.leader == m1.memberId)
            #expect(answer.memberId == member.memberId)
        }
        #expect(answers[0].members.map(\.memberId) == [m1.memberId, m2.memberId, m3.memberId], "the leader gets every member")
        #expect(answers[0].members.map(\.metadata) == [subscription(["events"]), subscription(["events", "audit"]), subscription(["audit"])])
        #expect(answers[1].members.isEmpty && answers[2].members.isEmpty)
        #expect(h.group()?.state == .completingRebalance)

        // Followers sync first and wait for the leader's assignment.
        let s2 = h.sync(generation: 1, member: m2.memberId)
        let s3 = h.sync(generation: 1, member: m3.memberId)
        #expect(h.syncResponse(s2) == nil && h.syncResponse(s3) == nil)
        let shares = [m1.memberId: assignment("events", [0]), m2.memberId: assignment("events", [1]), m3.memberId: assignment("audit", [0])]
        let s1 = h.sync(generation: 1, member: m1.memberId, assignments: shares)

        // The leader's sync persists the group, then answers all three.
        #expect(h.last.recordsToAppend.count == 1)
        guard case .groupMetadata(let key, let value?)? = h.last.recordsToAppend.first else {
            Issue.record("the rebalance must end with a group metadata record")
            return
        }
        #expect(key.group == "g")
        #expect(value.generation == 1 && value.protocol == "range" && value.leader == m1.memberId && value.protocolType == "consumer")
        #expect(value.members.map(\.memberId) == [m1.memberId, m2.memberId, m3.memberId])
        #expect(value.members.map(\.assignment) == [shares[m1.memberId]!, shares[m2.memberId]!, shares[m3.memberId]!])
        #expect(value.members.map(\.clientId) == ["c1", "c2", "c3"])
        #expect(value.members[1].subscription == subscription(["events", "audit"]))
        #expect(value.members[0].sessionTimeout == 10_000 && value.members[0].rebalanceTimeout == 60_000)
        #expect(h.syncResponse(s1)?.assignment == shares[m1.memberId])
        #expect(h.syncResponse(s2)?.assignment == shares[m2.memberId])
        #expect(h.syncResponse(s3)?.assignment == shares[m3.memberId])
        #expect(h.group()?.state == .stable)

        // Heartbeats keep every member through many session timeouts.
        for _ in 0..<10 {
            h.now += 4_000
            for member in [m1, m2, m3] {
                #expect(h.heartbeat(generation: 1, member: member.memberId) == .none)
            }
        }
        #expect(h.group()?.members.count == 3)
        #expect(h.heartbeat(generation: 0, member: m1.memberId) == .illegalGeneration)
        #expect(h.heartbeat(generation: 1, member: "stranger") == .unknownMemberId)
        #expect(h.heartbeat("nope", generation: 1, member: m1.memberId) == .unknownMemberId)

        // A follower that syncs again in a Stable group gets its assignment straight away.
        let again = h.sync(generation: 1, member: m3.memberId)
        #expect(h.syncResponse(again)?.assignment == shares[m3.memberId])

        // One member leaves (LeaveGroup v0-2 shape): the others hear of the rebalance through
        // their heartbeats and rejoin; the group completes generation 2 as soon as both have.
        let leaveToken = h.token()
        h.apply(h.state.leave(LeaveGroupRequest(groupId: "g", memberId: m2.memberId), version: 1, token: leaveToken, now: h.now))
        #expect(h.answers[leaveToken] == .leaveGroup(LeaveGroupResponse(errorCode: 0)))
        #expect(h.group()?.state == .preparingRebalance)
        #expect(h.heartbeat(generation: 1, member: m1.memberId) == .rebalanceInProgress)
        #expect(h.heartbeat(generation: 1, member: m3.memberId) == .rebalanceInProgress)
        let r3 = h.join(member: m3.memberId, protocols: [("range", subscription(["audit"]))])
        #expect(h.joinResponse(r3) == nil)
        let r1 = h.join(member: m1.memberId, protocols: [("range", subscription(["events"]))])
        #expect(h.joinResponse(r1)?.generationId == 2)
        #expect(h.joinResponse(r3)?.generationId == 2)
        #expect(h.joinResponse(r1)?.members.map(\.memberId) == [m1.memberId, m3.memberId])
        #expect(h.heartbeat(generation: 1, member: m2.memberId) == .unknownMemberId)
        #expect(h.unanswered.isEmpty)
    }

    @Test func leaveGroupV3RemovesSeveralMembersAndTheRestRejoin() {
        var h = GroupHarness()
        let (members, generation) = h.stableGroup(count: 4)
        #expect(generation == 1)
        let response = h.leave(members: [(members[2], nil), (members[3], nil), ("ghost", nil)])
        #expect(response?.errorCode == 0)
        #expect(response?.members.map(\.errorCode) == [0, 0, KafkaErrorCode.unknownMemberId.rawValue])
        #expect(h.group()?.members.map(\.memberId) == [members[0], members[1]])
        #expect(h.group()?.state == .preparingRebalance)

        #expect(h.heartbeat(generation: 1, member: members[0]) == .rebalanceInProgress)
        #expect(h.heartbeat(generation: 1, member: members[1]) == .rebalanceInProgress)
        let r0 = h.join(member: members[0])
        let r1 = h.join(member: members[1])
        #expect(h.joinResponse(r0)?.generationId == 2 && h.joinResponse(r1)?.generationId == 2)
        #expect(h.joinResponse(r0)?.leader == members[0])
        #expect(h.joinResponse(r0)?.members.count == 2)
        h.sync(generation: 2, member: members[1])
        h.sync(generation: 2, member: members[0], assignments: [members[0]: assignment("events", [0, 1]), members[1]: assignment("events", [2, 3])])
        #expect(h.group()?.state == .stable && h.group()?.generationId == 2)
        #expect(h.heartbeat(generation: 2, member: members[1]) == .none)

        // Everyone leaves: the group is Empty at the next generation, and that is persisted.
        let all = h.leave(members: [(members[0], nil), (members[1], nil)])
        #expect(all?.members.map(\.errorCode) == [0, 0])
        #expect(h.group()?.state == .empty)
        #expect(h.group()?.generationId == 3)
        guard case .groupMetadata(_, let value?)? = h.last.recordsToAppend.last else {
            Issue.record("an emptied group is persisted")
            return
        }
        #expect(value.generation == 3 && value.members.isEmpty && value.protocol == nil && value.leader == nil)
        #expect(h.unanswered.isEmpty)
    }

    @Test func aMemberWhoseSessionExpiresIsRemovedAndTheGroupRebalances() {
        var h = GroupHarness()
        let (members, _) = h.stableGroup(count: 3, session: 10_000, rebalance: 20_000)
        // Members 0 and 1 heartbeat every 3 s; member 2 has gone silent.
        for _ in 0..<3 {
            h.advance(by: 3_000)
            #expect(h.heartbeat(generation: 1, member: members[0]) == .none)
            #expect(h.heartbeat(generation: 1, member: members[1]) == .none)
        }
        #expect(h.group()?.members.count == 3)
        h.advance(by: 1_500)
        #expect(h.group()?.members.map(\.memberId) == [members[0], members[1]], "member 2's session (10 s) ran out")
        #expect(h.group()?.state == .preparingRebalance)
        #expect(h.heartbeat(generation: 1, member: members[0]) == .rebalanceInProgress)

        // Member 0 rejoins; member 1 keeps heartbeating but does not rejoin within the
        // rebalance timeout (20 s from the rebalance's start), so it is dropped.
        let r0 = h.join(member: members[0])
        #expect(h.joinResponse(r0) == nil)
        for _ in 0..<6 {
            h.advance(by: 3_000)
            #expect(h.heartbeat(generation: 1, member: members[1]) == .rebalanceInProgress)
            #expect(h.joinResponse(r0) == nil, "parked until the rebalance timeout")
        }
        h.advance(by: 3_000)
        #expect(h.joinResponse(r0)?.generationId == 2)
        #expect(h.joinResponse(r0)?.members.map(\.memberId) == [members[0]])
        #expect(h.heartbeat(generation: 1, member: members[1]) == .unknownMemberId)
        #expect(h.heartbeat(generation: 1, member: members[2]) == .unknownMemberId)
        #expect(h.unanswered.isEmpty)
    }

    @Test func membersThatNeverSyncAreRemovedAfterTheRebalanceTimeout() {
        var h = GroupHarness()
        let a = h.joinNewMember(client: "a", rebalance: 8_000)
        let b = h.joinNewMember(client: "b", rebalance: 8_000)
        h.advance(by: 3_000)
        h.advance(by: 5_000)
        #expect(h.joinResponse(a.token)?.generationId == 1 && h.joinResponse(b.token)?.generationId == 1)
        let leader = h.joinResponse(a.token)!.leader
        let follower = leader == a.memberId ? b.memberId : a.memberId
        h.sync(generation: 1, member: leader, assignments: [leader: assignment("events", [0]), follower: assignment("events", [1])])
        #expect(h.group()?.state == .stable)
        #expect(h.group()?.pendingSyncMembers == [follower])
        // The follower heartbeats but never syncs.
        h.advance(by: 4_000)
        #expect(h.heartbeat(generation: 1, member: follower) == .none)
        #expect(h.heartbeat(generation: 1, member: leader) == .none)
        h.advance(by: 4_000)
        #expect(h.group()?.members.map(\.memberId) == [leader])
        #expect(h.group()?.state == .preparingRebalance)
    }

    @Test func memberIdRequiredRoundTrip() {
        var h = GroupHarness()
        // v4+: a dynamic member without an id gets one, and nothing else happens yet.
        let first = h.join(client: "rdkafka", version: 4)
        let answer = h.joinResponse(first)
        #expect(answer?.errorCode == KafkaErrorCode.memberIdRequired.rawValue)
        #expect(answer?.generationId == -1)
        let memberId = answer?.memberId ?? ""
        #expect(memberId.hasPrefix("rdkafka-") && memberId.count == "rdkafka-".count + 36)
        #expect(h.group()?.state == .empty)
        #expect(h.group()?.pendingMembers.keys.sorted() == [memberId])
        #expect(h.heartbeat(generation: 0, member: memberId) == .unknownMemberId, "not a member until it joins again")

        let second = h.join(member: memberId, client: "rdkafka", version: 4)
        #expect(h.joinResponse(second) == nil)
        #expect(h.group()?.members.map(\.memberId) == [memberId])
        h.advance(by: 3_000)
        #expect(h.joinResponse(second)?.generationId == 1)
        #expect(h.joinResponse(second)?.leader == memberId)

        // Before v4 the id is handed out with the join itself.
        let old = h.join("older", client: "kafka-python", version: 3)
        #expect(h.joinResponse(old) == nil)
        h.advance(by: 3_000)
        #expect(h.joinResponse(old)?.errorCode == 0)
        #expect(h.joinResponse(old)?.memberId.hasPrefix("kafka-python-") == true)

        // A handed-out id that is not used within the session timeout is forgotten.
        let late = h.join("late", client: "slow", version: 5, session: 6_000)
        let lateId = h.joinResponse(late)!.memberId
        h.advance(by: 6_000)
        #expect(h.group("late")?.pendingMembers.isEmpty == true)
        let retry = h.join("late", member: lateId, client: "slow", version: 5, session: 6_000)
        #expect(h.joinResponse(retry)?.errorCode == KafkaErrorCode.unknownMemberId.rawValue)
        #expect(h.unanswered.isEmpty)
    }

    @Test func aPendingMemberHoldsBackTheEndOfTheJoinPhaseUntilItRejoins() {
        var h = GroupHarness()
        let (members, _) = h.stableGroup(count: 2)
        // A third member is handed its id; then the leader starts a rebalance and both old
        // members rejoin: the join phase still waits for the pending member.
        let first = h.join(client: "new")
        let newId = h.joinResponse(first)!.memberId
        #expect(h.heartbeat(generation: 1, member: members[0]) == .none, "a pending member is not a member yet")
        let r0 = h.join(member: members[0])
        let r1 = h.join(member: members[1])
        #expect(h.joinResponse(r0) == nil && h.joinResponse(r1) == nil)
        let second = h.join(member: newId, client: "new")
        for token in [r0, r1, second] { #expect(h.joinResponse(token)?.generationId == 2) }
        #expect(h.joinResponse(r0)?.members.map(\.memberId) == [members[0], members[1], newId])
        #expect(h.unanswered.isEmpty)
    }

    @Test func staticMemberRestartWithinTheSessionTimeoutKeepsItsAssignment() {
        var h = GroupHarness()
        // Static members (v5 with group.instance.id) skip MEMBER_ID_REQUIRED.
        let a = h.join(instance: "host-a", client: "a", protocols: [("range", subscription(["events"]))])
        let b = h.join(instance: "host-b", client: "b", protocols: [("range", subscription(["events"]))])
        h.advance(by: 3_000)
        h.advance(by: 3_000)
        let aId = h.joinResponse(a)!.memberId
        let bId = h.joinResponse(b)!.memberId
        #expect(h.joinResponse(a)?.members.map(\.groupInstanceId) == ["host-a", "host-b"])
        h.sync(generation: 1, member: bId, instance: "host-b")
        h.sync(generation: 1, member: aId, instance: "host-a", assignments: [aId: assignment("events", [0, 1]), bId: assignment("events", [2, 3])])
        #expect(h.group()?.state == .stable)
        let recordsBefore = h.log.count

        // host-b restarts: it lost its member id but keeps its instance id, and is back
        // within its 10 s session.
        h.advance(by: 2_000)
        #expect(h.heartbeat(generation: 1, member: aId, instance: "host-a") == .none)
        h.advance(by: 5_000)
        let rejoin = h.join(instance: "host-b", client: "b")
        let answer = h.joinResponse(rejoin)
        #expect(answer?.errorCode == 0)
        #expect(answer?.generationId == 1, "no rebalance")
        #expect(answer?.leader == aId)
        #expect(answer?.members.isEmpty == true)
        let newBId = answer?.memberId ?? ""
        #expect(newBId != bId && newBId.hasPrefix("b-"))
        #expect(h.log.count == recordsBefore + 1, "the replacement is persisted")
        guard case .groupMetadata(_, let value?)? = h.log.last else {
            Issue.record("missing group record")
            return
        }
        #expect(value.members.map(\.memberId) == [aId, newBId] && value.generation == 1)

        let resync = h.sync(generation: 1, member: newBId, instance: "host-b")
        #expect(h.syncResponse(resync)?.assignment == assignment("events", [2, 3]))
        #expect(h.group()?.state == .stable && h.group()?.generationId == 1)
        #expect(h.heartbeat(generation: 1, member: aId, instance: "host-a") == .none, "the leader never hears of a rebalance")
        #expect(h.heartbeat(generation: 1, member: newBId, instance: "host-b") == .none)
        // The old incarnation is fenced.
        #expect(h.heartbeat(generation: 1, member: bId, instance: "host-b") == .fencedInstanceId)
        let stale = h.sync(generation: 1, member: bId, instance: "host-b")
        #expect(h.syncResponse(stale)?.errorCode == KafkaErrorCode.fencedInstanceId.rawValue)
        let staleJoin = h.join(member: bId, instance: "host-b", client: "b")
        #expect(h.joinResponse(staleJoin)?.errorCode == KafkaErrorCode.fencedInstanceId.rawValue)

        // A restart that takes longer than the session: the member is gone and the group
        // rebalances when it comes back.
        for _ in 0..<3 {
            h.advance(by: 3_000)
            #expect(h.heartbeat(generation: 1, member: aId, instance: "host-a") == .none)
        }
        h.advance(by: 3_000)
        #expect(h.heartbeat(generation: 1, member: aId, instance: "host-a") == .rebalanceInProgress)
        #expect(h.group()?.members.map(\.groupInstanceId) == ["host-a"])
        #expect(h.group()?.state == .preparingRebalance)
        #expect(h.unanswered.isEmpty)
    }

    @Test func aStaticMemberMayBeRemovedByInstanceId() {
        var h = GroupHarness()
        let a = h.join(instance: "host-a", client: "a")
        h.advance(by: 3_000)
        let aId = h.joinResponse(a)!.memberId
        h.sync(generation: 1, member: aId, instance: "host-a", assignments: [aId: assignment("events", [0])])
        let response = h.leave(members: [("", "host-a"), ("", "host-z")])
        #expect(response?.members.map(\.errorCode) == [0, KafkaErrorCode.unknownMemberId.rawValue])
        #expect(h.group()?.state == .empty)
    }

    @Test func initialDelayIsCappedByTheRebalanceTimeout() {
        var h = GroupHarness()
        let start = h.now
        // Rebalance timeout 5 s: the 3 s initial delay may be extended by only 2 s more.
        var tokens: [Token] = []
        for i in 0..<12 {
            tokens.append(h.joinNewMember(client: "c\(i)", rebalance: 5_000).token)
            h.advance(by: 400)
        }
        // 12 joins over 4.8 s, and the phase ends at 5 s however many more would come.
        #expect(h.now - start == 4_800)
        #expect(tokens.allSatisfy { h.joinResponse($0) == nil })
        h.advance(by: 200)
        #expect(tokens.allSatisfy { h.joinResponse($0)?.generationId == 1 })
        #expect(h.group()?.state == .completingRebalance && h.group()?.members.count == 12)
    }

    @Test func aStartingGroupCompletesOneGeneration() {
        var h = GroupHarness()
        let (members, generation) = h.stableGroup(count: 3)
        #expect(generation == 1)
        #expect(h.group()?.generationId == 1)
        let records = h.log.filter { if case .groupMetadata = $0 { return true } else { return false } }
        #expect(records.count == 1, "one rebalance, one group record")
        h.advance(by: 5_000)
        for member in members { #expect(h.heartbeat(generation: 1, member: member) == .none) }
    }

    @Test func zeroInitialDelayCompletesAtOnce() {
        var config = GroupCoordinatorConfig()
        config.initialRebalanceDelayMs = 0
        var h = GroupHarness(config: config)
        let m = h.joinNewMember()
        #expect(h.joinResponse(m.token)?.generationId == 1)
    }

    @Test func theProtocolEveryMemberSupportsIsChosenByVotes() {
        var h = GroupHarness()
        let both = [("roundrobin", subscription(["t"])), ("range", subscription(["t"]))]
        let a = h.joinNewMember(client: "a", protocols: both)
        let b = h.joinNewMember(client: "b", protocols: both)
        let c = h.joinNewMember(client: "c", protocols: [("range", subscription(["t"])), ("roundrobin", subscription(["t"]))])
        // Not one protocol in common with the group, or another protocol type.
        let odd = h.join(client: "d", protocols: [("sticky", subscription(["t"]))])
        #expect(h.joinResponse(odd)?.errorCode == KafkaErrorCode.inconsistentGroupProtocol.rawValue)
        let connect = h.join(client: "e", protocolType: "connect", protocols: [("range", ByteBuffer())])
        #expect(h.joinResponse(connect)?.errorCode == KafkaErrorCode.inconsistentGroupProtocol.rawValue)
        h.advance(by: 6_000)
        for token in [a.token, b.token, c.token] {
            #expect(h.joinResponse(token)?.protocolName == "roundrobin", "two votes to one")
        }

        // A new group's first member must name a protocol type and at least one protocol.
        let bare = h.join("fresh", protocols: [])
        #expect(h.joinResponse(bare)?.errorCode == KafkaErrorCode.inconsistentGroupProtocol.rawValue)
        #expect(h.group("fresh") == nil)
    }

    @Test func joinValidation() {
        var h = GroupHarness()
        let noGroup = h.join("")
        let tooShort = h.join(session: 5_999)
        let tooLong = h.join(session: 1_800_001)
        let madeUp = h.join(member: "made-up")
        #expect(h.joinResponse(noGroup)?.errorCode == KafkaErrorCode.invalidGroupId.rawValue)
        #expect(h.joinResponse(tooShort)?.errorCode == KafkaErrorCode.invalidSessionTimeout.rawValue)
        #expect(h.joinResponse(tooLong)?.errorCode == KafkaErrorCode.invalidSessionTimeout.rawValue)
        #expect(h.joinResponse(madeUp)?.errorCode == KafkaErrorCode.unknownMemberId.rawValue)
        #expect(h.state.groups.isEmpty)

        var small = GroupCoordinatorConfig()
        small.maxSize = 1
        var s = GroupHarness(config: small)
        _ = s.joinNewMember()
        let refused = s.join(client: "second")
        #expect(s.joinResponse(refused)?.errorCode == KafkaErrorCode.groupMaxSizeReached.rawValue)
    }

    @Test func theLeaderRejoiningAStableGroupStartsARebalance() {
        var h = GroupHarness()
        let (members, _) = h.stableGroup(count: 2)
        // An unchanged follower rejoining a Stable group just gets the current generation.
        let follower = h.join(member: members[1])
        #expect(h.joinResponse(follower)?.generationId == 1)
        #expect(h.group()?.state == .stable)
        // The leader rejoining asks for a new assignment.
        let leader = h.join(member: members[0])
        #expect(h.joinResponse(leader) == nil)
        #expect(h.group()?.state == .preparingRebalance)
        #expect(h.heartbeat(generation: 1, member: members[1]) == .rebalanceInProgress)
        let again = h.join(member: members[1])
        #expect(h.joinResponse(leader)?.generationId == 2 && h.joinResponse(again)?.generationId == 2)
    }

    @Test func aRebalanceDuringCompletingRebalanceAnswersParkedSyncs() {
        var h = GroupHarness()
        let a = h.joinNewMember(client: "a")
        let b = h.joinNewMember(client: "b")
        h.advance(by: 6_000)
        let leader = h.joinResponse(a.token)!.leader
        let follower = leader == a.memberId ? b.memberId : a.memberId
        let parked = h.sync(generation: 1, member: follower)
        #expect(h.syncResponse(parked) == nil)
        // A third member arrives before the leader's assignment.
        let c = h.joinNewMember(client: "c")
        #expect(h.syncResponse(parked)?.errorCode == KafkaErrorCode.rebalanceInProgress.rawValue)
        #expect(h.group()?.state == .preparingRebalance)
        let sync = h.sync(generation: 1, member: leader, assignments: [:])
        #expect(h.syncResponse(sync)?.errorCode == KafkaErrorCode.rebalanceInProgress.rawValue)
        h.join(member: a.memberId)
        h.join(member: b.memberId)
        #expect(h.joinResponse(c.token)?.generationId == 2)
    }

    @Test func describeAndListGroups() {
        var h = GroupHarness()
        let (members, _) = h.stableGroup(count: 2)
        _ = h.commit("offsets-only", [("events", 0, 5, nil)])
        let described = h.describe(["g", "offsets-only", "unknown"])
        let stable = described?.groups[0]
        #expect(stable?.groupState == "Stable" && stable?.protocolType == "consumer" && stable?.protocolData == "range")
        #expect(stable?.members.map(\.memberId) == members)
        #expect(stable?.members.map(\.clientId) == ["c1", "c2"])
        #expect(stable?.members.first?.clientHost == "/10.0.0.1")
        #expect(stable?.members.map(\.memberAssignment) == [assignment("events", [0]), assignment("events", [1])])
        #expect(stable?.members.first?.memberMetadata == subscription(["events"]))
        #expect(described?.groups[1].groupState == "Empty" && described?.groups[1].protocolType == "")
        #expect(described?.groups[2] == .init(groupId: "unknown", groupState: "Dead"))

        // While rebalancing, members are listed without metadata or assignment.
        h.join(member: members[0])
        let rebalancing = h.describe(["g"])?.groups[0]
        #expect(rebalancing?.groupState == "PreparingRebalance" && rebalancing?.protocolData == "")
        #expect(rebalancing?.members.allSatisfy { $0.memberAssignment.readableBytes == 0 && $0.memberMetadata.readableBytes == 0 } == true)

        let listed = h.list()
        #expect(listed?.errorCode == 0)
        #expect(listed?.groups == [.init(groupId: "g", protocolType: "consumer"), .init(groupId: "offsets-only", protocolType: "")])

        let withOperations = h.describe(["g"], version: 3)
        #expect(withOperations?.groups[0].authorizedOperations == DescribeGroupsResponse.authorizedOperationsOmitted)
        let token = h.token()
        h.apply(h.state.describe(DescribeGroupsRequest(groups: ["g"], includeAuthorizedOperations: true), version: 3, token: token, now: h.now))
        guard case .describeGroups(let asked)? = h.answers[token] else {
            Issue.record("no describe answer")
            return
        }
        #expect(asked.groups[0].authorizedOperations == GroupCoordinatorState.groupAuthorizedOperations)
    }

    @Test func nextDeadlineNamesTheNextTimer() {
        var h = GroupHarness()
        #expect(h.state.nextDeadline == nil)
        let m = h.joinNewMember()
        #expect(h.state.nextDeadline == h.now + 3_000)
        h.now = h.state.nextDeadline!
        h.apply(h.state.tick(now: h.now))
        #expect(h.joinResponse(m.token)?.generationId == 1)
        // Now the member's session and the sync phase are the deadlines.
        #expect(h.state.nextDeadline == h.now + 10_000)
    }
}
