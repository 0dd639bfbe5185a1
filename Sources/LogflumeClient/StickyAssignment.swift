/// One cooperative-sticky rebalance as the leader computes it.
///
/// 1. Ownership: each partition stays with the member that says it owns it (its subscription's
///    owned partitions), if that member still subscribes to the topic. When several claim one
///    partition (a member that was out of touch and missed a rebalance), the claim of the newest
///    generation wins; a tie leaves it to be assigned afresh.
/// 2. The partitions nobody keeps go one by one (topic, then partition order) to the eligible
///    member holding the fewest.
/// 3. Balance: while some member holds two or more partitions more than an eligible member
///    could take one, one moves from the most loaded. Every move lowers the sum of squared
///    loads, so this ends; it moves nothing a balanced group already has, which is what makes
///    the assignment sticky.
/// 4. Cooperation: a partition that ends up with a new member while its owner (or, when no
///    claim won, any claimant) still holds it is left out of this round; the owner sees it
///    missing, gives it up and rejoins, and the next round (where nobody claims it) hands it
///    over. So no partition is handed to a member while another still reads it. A stale
///    claim that lost to a newer one does not hold its partition back from the winner.
struct StickyAssignment {
    /// In Kafka's member order, so ties break the same way on every leader.
    let members: [AssignorMember]
    let partitionCounts: [String: Int32]

    func cooperativeAssignment() -> [String: [TopicPartition]] {
        let subscribed = members.map { Set($0.topics) }
        var eligible: [String: [Int]] = [:]
        var all: [TopicPartition] = []
        for topic in Set(members.flatMap(\.topics)).sorted() {
            guard let count = partitionCounts[topic], count > 0 else { continue }
            eligible[topic] = members.indices.filter { subscribed[$0].contains(topic) }
            all.append(contentsOf: (0..<count).map { TopicPartition(topic, $0) })
        }

        var claimers: [TopicPartition: [Int]] = [:]
        for (index, member) in members.enumerated() {
            for tp in Set(member.ownedPartitions) { claimers[tp, default: []].append(index) }
        }

        var owner: [TopicPartition: Int] = [:]
        var held: [[TopicPartition]] = Array(repeating: [], count: members.count)
        var unowned: [TopicPartition] = []
        for tp in all {
            let valid = (claimers[tp] ?? []).filter { subscribed[$0].contains(tp.topic) }
            let newest = valid.map { members[$0].generation }.max()
            let winners = valid.filter { members[$0].generation == newest }
            if winners.count == 1 {
                owner[tp] = winners[0]
                held[winners[0]].append(tp)
            } else {
                unowned.append(tp)
            }
        }

        func leastLoaded(_ candidates: [Int]) -> Int? {
            candidates.min { held[$0].count != held[$1].count ? held[$0].count < held[$1].count : $0 < $1 }
        }
        for tp in unowned {
            guard let member = leastLoaded(eligible[tp.topic] ?? []) else { continue }
            held[member].append(tp)
        }

        balancing: while true {
            let byLoad = members.indices.sorted { held[$0].count != held[$1].count ? held[$0].count > held[$1].count : $0 < $1 }
            for from in byLoad {
                // The highest partitions move first, so the ones a member has had longest
                // (usually its lowest) stay.
                for tp in held[from].sorted().reversed() {
                    guard let to = leastLoaded(eligible[tp.topic] ?? []), held[to].count + 1 < held[from].count else { continue }
                    held[from].removeAll { $0 == tp }
                    held[to].append(tp)
                    continue balancing
                }
            }
            break
        }

        var result: [String: [TopicPartition]] = [:]
        for member in members { result[member.memberId] = [] }
        for (index, partitions) in held.enumerated() {
            result[members[index].memberId] = partitions.filter { tp in
                if let owner = owner[tp] { return owner == index }
                return (claimers[tp] ?? []).allSatisfy { $0 == index }
            }.sorted()
        }
        return result
    }
}
