import LogflumeClient
import LogflumeTestSupport
import Testing

/// The cooperative-sticky assignor, one rebalance at a time and as a simulated group that
/// follows the cooperative protocol round after round.
@Suite struct StickyAssignmentTests {
    static func partitions(_ topic: String, _ numbers: ClosedRange<Int32>) -> [TopicPartition] {
        numbers.map { TopicPartition(topic, $0) }
    }

    static func assign(_ members: [AssignorMember], _ counts: [String: Int32]) -> [String: [TopicPartition]] {
        PartitionAssignor.cooperativeSticky.assign(members: members, partitionCounts: counts)
    }

    @Test func aNewGroupIsBalanced() {
        let members = ["c", "a", "b"].map { AssignorMember(memberId: $0, topics: ["t"]) }
        let result = Self.assign(members, ["t": 7])
        #expect(result.values.map(\.count).sorted() == [2, 2, 3])
        #expect(Set(result.values.flatMap { $0 }) == Set(Self.partitions("t", 0...6)))
        // Kafka's member order breaks the tie: "a" comes first and takes the extra partition.
        #expect(result["a"]?.count == 3)
    }

    @Test func aStableGroupKeepsEverything() {
        let owned: [String: [TopicPartition]] = [
            "a": [TopicPartition("t", 5), TopicPartition("t", 1)],
            "b": [TopicPartition("t", 0), TopicPartition("t", 3)],
            "c": [TopicPartition("t", 2), TopicPartition("t", 4)],
        ]
        let members = owned.keys.sorted().map { AssignorMember(memberId: $0, topics: ["t"], ownedPartitions: owned[$0]!, generation: 4) }
        let result = Self.assign(members, ["t": 6])
        for (member, partitions) in owned { #expect(result[member] == partitions.sorted()) }
    }

    /// A member joins a balanced group of two: only what the newcomer needs moves, and in the
    /// first round it is only taken away (its owners still hold it); the second round hands it
    /// over.
    @Test func aJoiningMemberGetsPartitionsInTwoRounds() {
        var owned: [String: [TopicPartition]] = ["a": Self.partitions("t", 0...2), "b": Self.partitions("t", 3...5)]
        func members(generation: Int32) -> [AssignorMember] {
            ["a", "b", "new"].map { AssignorMember(memberId: $0, topics: ["t"], ownedPartitions: owned[$0] ?? [], generation: generation) }
        }
        let first = Self.assign(members(generation: 1), ["t": 6])
        #expect(first["new"] == [])
        let given = Set(Self.partitions("t", 0...5)).subtracting(first["a"]! + first["b"]!)
        #expect(given.count == 2, "the newcomer's share is taken from the others, nothing more")
        #expect(first["a"]!.count == 2 && first["b"]!.count == 2)
        #expect(Set(first["a"]!).isSubset(of: owned["a"]!) && Set(first["b"]!).isSubset(of: owned["b"]!))
        owned = first
        let second = Self.assign(members(generation: 2), ["t": 6])
        #expect(Set(second["new"]!) == given)
        #expect(second["a"] == first["a"] && second["b"] == first["b"])
    }

    @Test func aLeavingMembersPartitionsMoveAtOnce() {
        let owned: [String: [TopicPartition]] = ["a": Self.partitions("t", 0...1), "b": Self.partitions("t", 2...3)]
        let members = owned.keys.sorted().map { AssignorMember(memberId: $0, topics: ["t"], ownedPartitions: owned[$0]!, generation: 3) }
        // "c" (which held 4 and 5) is gone: nobody claims them, so they are assigned right away.
        let result = Self.assign(members, ["t": 6])
        #expect(result["a"]!.count == 3 && result["b"]!.count == 3)
        #expect(Set(result["a"]!).isSuperset(of: owned["a"]!) && Set(result["b"]!).isSuperset(of: owned["b"]!))
    }

    /// Two members claim one partition (one missed a rebalance): the newer generation's claim
    /// wins, and the stale claimant is not handed it again.
    @Test func theNewestClaimWins() {
        let members = [
            AssignorMember(memberId: "a", topics: ["t"], ownedPartitions: [TopicPartition("t", 0)], generation: 7),
            AssignorMember(memberId: "b", topics: ["t"], ownedPartitions: [TopicPartition("t", 0), TopicPartition("t", 1)], generation: 5),
        ]
        let result = Self.assign(members, ["t": 2])
        #expect(result["a"] == [TopicPartition("t", 0)])
        #expect(result["b"] == [TopicPartition("t", 1)])
        // The same generation on both sides: neither claim wins, and the partition goes to
        // nobody until one of them lets go.
        let tied = [
            AssignorMember(memberId: "a", topics: ["t"], ownedPartitions: [TopicPartition("t", 0)], generation: 5),
            AssignorMember(memberId: "b", topics: ["t"], ownedPartitions: [TopicPartition("t", 0)], generation: 5),
        ]
        let tiedResult = Self.assign(tied, ["t": 2])
        #expect(!(tiedResult["a"]! + tiedResult["b"]!).contains(TopicPartition("t", 0)))
    }

    @Test func onlySubscribersGetATopic() {
        let members = [
            AssignorMember(memberId: "a", topics: ["x"]),
            AssignorMember(memberId: "b", topics: ["x", "y"]),
            AssignorMember(memberId: "c", topics: ["y"], ownedPartitions: [TopicPartition("x", 0)], generation: 2),
        ]
        let result = Self.assign(members, ["x": 4, "y": 2])
        #expect(result["a"]!.allSatisfy { $0.topic == "x" })
        #expect(result["c"]!.allSatisfy { $0.topic == "y" })
        // "c" still claims x-0 (it unsubscribed): whoever gets x-0 gets it only once "c" let go.
        #expect(!(result["a"]! + result["b"]!).contains(TopicPartition("x", 0)))
        #expect(result.values.map(\.count).reduce(0, +) == 5)
    }

    @Test func theRebalanceProtocolFollowsTheAssignors() {
        #expect(PartitionAssignor.rebalanceProtocol(of: [.cooperativeSticky]) == .cooperative)
        #expect(PartitionAssignor.rebalanceProtocol(of: [.range, .cooperativeSticky]) == .eager)
        #expect(PartitionAssignor.rebalanceProtocol(of: [.range, .roundrobin]) == .eager)
    }

    /// A group run through a seeded sequence of joins, leaves, crashes (a member's stale claim
    /// comes back) and topic growth. Each round every member adopts what it was given, as the
    /// cooperative protocol does; members that lost partitions make the next round happen.
    /// Invariants: a partition is never given to a member while another member still claims it;
    /// after the rounds settle every partition has exactly one owner and loads differ by at most
    /// one; a settled group that rebalances again moves nothing.
    @Test(arguments: [UInt64(1), 2, 3, 4, 5, 6, 7, 8])
    func simulatedGroupsStayConsistent(seed: UInt64) {
        var random = SplitMix64(seed: seed)
        var owned: [String: [TopicPartition]] = [:]
        var generationOf: [String: Int32] = [:]
        var partitionCount: Int32 = Int32.random(in: 1...12, using: &random)
        var generation: Int32 = 0
        var nextMember = 0
        var departed: [(String, [TopicPartition], Int32)] = []

        func round(_ extra: [AssignorMember] = []) -> (moved: Int, revoked: Bool) {
            generation += 1
            let members = owned.keys.sorted().map {
                AssignorMember(memberId: $0, topics: ["t"], ownedPartitions: owned[$0]!, generation: generationOf[$0] ?? -1)
            } + extra
            let result = Self.assign(members, ["t": partitionCount])
            var moved = 0
            var revoked = false
            for member in members {
                let received = result[member.memberId] ?? []
                for tp in received where !member.ownedPartitions.contains(tp) {
                    moved += 1
                    let otherClaims = members.filter { $0.memberId != member.memberId && $0.ownedPartitions.contains(tp) }
                    #expect(otherClaims.isEmpty, "seed \(seed): \(tp) given to \(member.memberId) while \(otherClaims.map(\.memberId)) claim it")
                }
                if member.ownedPartitions.contains(where: { !received.contains($0) }) { revoked = true }
                if owned[member.memberId] != nil {
                    owned[member.memberId] = received
                    generationOf[member.memberId] = generation
                }
            }
            return (moved, revoked)
        }

        func settle() {
            var rounds = 0
            while round().revoked {
                rounds += 1
                #expect(rounds < 5, "seed \(seed): the group did not settle")
                if rounds >= 5 { return }
            }
            // One more round: a settled group would still have an unowned partition to place.
            _ = round()
            let all = owned.values.flatMap { $0 }
            #expect(all.count == Set(all).count, "seed \(seed): a partition has two owners")
            if !owned.isEmpty {
                #expect(Set(all) == Set((0..<partitionCount).map { TopicPartition("t", $0) }), "seed \(seed): not every partition is owned")
                let loads = owned.values.map(\.count)
                #expect(loads.max()! - loads.min()! <= 1, "seed \(seed): unbalanced \(loads)")
            }
            let before = owned
            #expect(round().moved == 0 && owned == before, "seed \(seed): a settled group moved partitions")
        }

        for _ in 0..<40 {
            switch Int.random(in: 0..<10, using: &random) {
            case 0...3:
                let id = "member-\(nextMember)"
                nextMember += 1
                owned[id] = []
            case 4...5:
                if let id = owned.keys.sorted().randomElement(using: &random) {
                    departed.append((id, owned[id]!, generationOf[id] ?? -1))
                    owned[id] = nil
                    generationOf[id] = nil
                }
            case 6:
                // A member that was dropped comes back claiming what it held: the newer claims win.
                if let (id, stale, staleGeneration) = departed.popLast(), owned[id] == nil {
                    let zombie = AssignorMember(memberId: id, topics: ["t"], ownedPartitions: stale, generation: staleGeneration)
                    owned[id] = []
                    let result = Self.assign(
                        owned.keys.filter { $0 != id }.sorted().map {
                            AssignorMember(memberId: $0, topics: ["t"], ownedPartitions: owned[$0]!, generation: generationOf[$0] ?? -1)
                        } + [zombie], ["t": partitionCount]
                    )
                    for tp in result[id] ?? [] where !stale.contains(tp) {
                        #expect(!owned.values.contains { $0.contains(tp) }, "seed \(seed): a stale member was given \(tp), owned elsewhere")
                    }
                    // It adopts what it was given (the stale rest is revoked).
                    owned[id] = (result[id] ?? []).filter { tp in !owned.contains { $0.key != id && $0.value.contains(tp) } }
                    generationOf[id] = generation
                }
            case 7:
                partitionCount += Int32.random(in: 1...4, using: &random)
            default:
                break
            }
            settle()
        }
    }
}
