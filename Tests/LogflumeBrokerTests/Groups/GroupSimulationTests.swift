import LogflumeBroker
import LogflumeWire
import NIOCore
import Testing

/// Clients that behave like consumers (rejoin on REBALANCE_IN_PROGRESS, reset on
/// UNKNOWN_MEMBER_ID, the leader assigns) plus crashes, restarts and silences, driven by a seeded
/// generator: after every step the group's invariants hold, no request is answered twice, and
/// at the end every request has been answered and the log replays to the same groups.
@Suite struct GroupSimulationTests {
    struct Random {
        var state: UInt64
        mutating func next(_ bound: Int) -> Int {
            state &+= 0x9e37_79b9_7f4a_7c15
            var z = state
            z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
            z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
            return Int((z ^ (z >> 31)) % UInt64(bound))
        }
    }

    struct Client {
        var name: String
        var instance: String?
        var version: Int16
        var memberId = ""
        var generation: Int32 = -1
        var leaderMembers: [String]?
        var joinToken: Token?
        var syncToken: Token?
        var needsJoin = true
        var needsSync = false
    }

    func checkInvariants(_ state: GroupCoordinatorState, sourceLocation: SourceLocation = #_sourceLocation) {
        for (id, group) in state.groups {
            let ids = group.members.map(\.memberId)
            #expect(Set(ids).count == ids.count, "\(id): member ids unique", sourceLocation: sourceLocation)
            let instances = group.members.compactMap(\.groupInstanceId)
            #expect(Set(instances).count == instances.count, "\(id): one member per instance", sourceLocation: sourceLocation)
            #expect(group.leaderId.map(ids.contains) ?? ids.isEmpty, "\(id): the leader is a member", sourceLocation: sourceLocation)
            #expect(group.pendingSyncMembers.isSubset(of: Set(ids)), sourceLocation: sourceLocation)
            #expect((group.joinDeadline != nil) == (group.state == .preparingRebalance), "\(id): join deadline in \(group.state)", sourceLocation: sourceLocation)
            #expect(group.syncDeadline == nil || !group.pendingSyncMembers.isEmpty, sourceLocation: sourceLocation)
            switch group.state {
            case .empty:
                #expect(ids.isEmpty, sourceLocation: sourceLocation)
            case .preparingRebalance:
                #expect(group.members.allSatisfy { $0.awaitingSync == nil }, sourceLocation: sourceLocation)
            case .completingRebalance, .stable:
                #expect(group.members.allSatisfy { $0.awaitingJoin == nil }, sourceLocation: sourceLocation)
                #expect(group.protocolName != nil && group.generationId > 0, sourceLocation: sourceLocation)
                if group.state == .stable {
                    #expect(group.members.allSatisfy { $0.awaitingSync == nil }, sourceLocation: sourceLocation)
                }
            case .dead:
                Issue.record("dead groups are removed", sourceLocation: sourceLocation)
            }
        }
    }

    /// What was persisted: Stable groups and Empty groups past generation 0 as their records say,
    /// and every group's offsets.
    func expectLogMatchesState(_ h: GroupHarness, sourceLocation: SourceLocation = #_sourceLocation) {
        var loaded = GroupCoordinatorState(config: h.state.config, randomSeed: 1)
        loaded.beginLoading()
        for record in h.log { loaded.replay(record) }
        loaded.finishLoading(now: h.now)
        for (id, group) in h.state.groups {
            #expect(loaded.groups[id]?.offsets ?? [:] == group.offsets, "offsets of \(id)", sourceLocation: sourceLocation)
            if group.state == .stable || (group.state == .empty && group.generationId > 0) {
                #expect(loaded.groups[id]?.metadataValue == group.metadataValue, "metadata of \(id)", sourceLocation: sourceLocation)
            }
        }
        for id in loaded.groups.keys where h.state.groups[id] == nil {
            Issue.record("\(id) was deleted but replays", sourceLocation: sourceLocation)
        }
    }

    @Test(arguments: [1, 2, 3, 4, 5, 6] as [UInt64])
    func randomClientsKeepTheCoordinatorConsistent(seed: UInt64) {
        var config = GroupCoordinatorConfig()
        config.offsetsRetentionMinutes = 1
        config.offsetsRetentionCheckIntervalMs = 1_000
        var h = GroupHarness(config: config)
        var random = Random(state: seed)
        var clients = (0..<5).map { i in
            Client(name: "c\(i)", instance: i < 2 ? "host-\(i)" : nil, version: i < 2 ? 5 : [3, 4, 5][i % 3])
        }

        func react(_ c: inout Client, _ h: GroupHarness) {
            if let token = c.joinToken, let answer = h.joinResponse(token) {
                c.joinToken = nil
                switch KafkaErrorCode(code: answer.errorCode) {
                case .none:
                    c.memberId = answer.memberId
                    c.generation = answer.generationId
                    c.leaderMembers = answer.leader == answer.memberId ? answer.members.map(\.memberId) : nil
                    c.needsJoin = false
                    c.needsSync = true
                case .memberIdRequired:
                    c.memberId = answer.memberId
                case .unknownMemberId, .fencedInstanceId:
                    c.memberId = ""
                default:
                    break
                }
            }
            if let token = c.syncToken, let answer = h.syncResponse(token) {
                c.syncToken = nil
                c.needsSync = false
                if answer.errorCode != 0 { c.needsJoin = true }
                if answer.errorCode == KafkaErrorCode.unknownMemberId.rawValue { c.memberId = "" }
            }
        }

        for step in 0..<1_500 {
            let i = random.next(clients.count)
            var c = clients[i]
            switch random.next(20) {
            case 0..<5:
                h.advance(by: Int64(random.next(2_500)))
            case 5..<9 where c.needsJoin && c.joinToken == nil:
                c.joinToken = h.join(member: c.memberId, instance: c.instance, client: c.name, version: c.version, session: 10_000, rebalance: 15_000)
            case 9..<11 where c.needsSync && c.syncToken == nil && c.joinToken == nil:
                var shares: [String: ByteBuffer] = [:]
                for (n, member) in (c.leaderMembers ?? []).enumerated() { shares[member] = assignment("events", [Int32(n)]) }
                c.syncToken = h.sync(generation: c.generation, member: c.memberId, instance: c.instance, assignments: shares)
            case 11..<16 where !c.memberId.isEmpty && c.generation > 0:
                switch h.heartbeat(generation: c.generation, member: c.memberId, instance: c.instance) {
                case .rebalanceInProgress, .illegalGeneration: c.needsJoin = true
                case .unknownMemberId, .fencedInstanceId: c.needsJoin = true; c.memberId = ""
                default: break
                }
            case 16..<18:
                _ = h.commit("g", generation: c.generation, member: c.memberId, instance: c.instance, [("events", Int32(i), Int64(step), "s\(step)")])
            case 18:
                // A crash: the client forgets everything; its requests may still be parked.
                c = Client(name: c.name, instance: c.instance, version: c.version)
            case 19 where !c.memberId.isEmpty && c.joinToken == nil:
                _ = h.leave(members: [(c.memberId, c.instance)])
                c = Client(name: c.name, instance: c.instance, version: c.version)
            default:
                break
            }
            clients[i] = c
            for n in clients.indices { react(&clients[n], h) }
            checkInvariants(h.state)
            if step % 100 == 0 { expectLogMatchesState(h) }
        }

        // Everyone goes quiet: sessions and rebalances run out, the group empties, every
        // parked request is answered, and the offsets expire a minute later.
        for _ in 0..<20 { h.advance(by: 5_000) }
        checkInvariants(h.state)
        #expect(h.unanswered.isEmpty)
        expectLogMatchesState(h)
        #expect(h.group()?.members.isEmpty ?? true)
        h.advance(by: 120_000)
        #expect(h.group() == nil)
        expectLogMatchesState(h)
    }

    @Test func lateTicksGiveTheSameResultAsTimelyOnes() {
        // The same inputs, once with a tick every 100 ms and once with no ticks at all: every
        // input fires the deadlines due before it, each at its own time.
        func run(ticking: Bool) -> (GroupCoordinatorState, [Token: GroupCoordinatorState.Response]) {
            var h = GroupHarness()
            func wait(_ h: inout GroupHarness, _ ms: Int64) {
                if ticking {
                    for _ in 0..<(ms / 100) { h.advance(by: 100) }
                } else {
                    h.now += ms
                }
            }
            let a = h.joinNewMember(client: "a")
            wait(&h, 1_000)
            let b = h.joinNewMember(client: "b")
            wait(&h, 7_000)
            let sa = h.sync(generation: 1, member: a.memberId, assignments: [a.memberId: assignment("t", [0]), b.memberId: assignment("t", [1])])
            wait(&h, 5_000)
            _ = h.heartbeat(generation: 1, member: a.memberId)
            wait(&h, 9_000)
            _ = h.heartbeat(generation: 1, member: a.memberId)
            _ = h.join(member: a.memberId)
            wait(&h, 70_000)
            _ = h.list()
            _ = sa
            return (h.state, h.answers)
        }
        let (ticked, tickedAnswers) = run(ticking: true)
        let (late, lateAnswers) = run(ticking: false)
        #expect(ticked.groups == late.groups)
        #expect(tickedAnswers == lateAnswers)
        // b never synced or heartbeated and was dropped (generation 2 for a alone); then a
        // went silent too and the group emptied (generation 3).
        #expect(late.groups["g"]?.generationId == 3 && late.groups["g"]?.state == .empty)
        #expect(lateAnswers.count == 9, "every one of the 9 requests answered")
    }
}
