/// One member of a consumer group as the leader sees it when assigning partitions.
public struct AssignorMember: Sendable, Equatable {
    public var memberId: String
    public var groupInstanceId: String?
    /// The topics the member subscribed to.
    public var topics: [String]
    /// What the member says it holds (subscription v1+); only the cooperative assignor uses it.
    public var ownedPartitions: [TopicPartition]
    /// The generation in which it held them (subscription v2+), -1 when it did not say.
    public var generation: Int32

    public init(memberId: String, groupInstanceId: String? = nil, topics: [String], ownedPartitions: [TopicPartition] = [], generation: Int32 = -1) {
        self.memberId = memberId
        self.groupInstanceId = groupInstanceId
        self.topics = topics
        self.ownedPartitions = ownedPartitions
        self.generation = generation
    }
}

/// How members hand partitions over in a rebalance (KIP-429).
public enum RebalanceProtocol: Sendable, Equatable {
    /// Every member gives up everything before rejoining.
    case eager
    /// Members keep what they own while the group rebalances and give up only what moves; a
    /// partition moves in two rebalances (revoked from its owner in the first, assigned in the
    /// second), so it never has two owners.
    case cooperative
}

/// The assignors of Kafka's consumer protocol. The eager ones are computed as the Java client
/// (and librdkafka) compute them, so members of different clients in one group agree; the
/// cooperative one follows the same rules (balanced, sticky, never hands a partition to a new
/// member while another still owns it), so any member may lead a mixed group.
public enum PartitionAssignor: String, Sendable, CaseIterable {
    /// Per topic, consecutive ranges of partitions to the subscribed members in member order;
    /// the first `partitions % members` members get one more.
    case range
    /// Every subscribed partition (sorted by topic, then partition) in turn to the next member
    /// (in member order) that subscribed to its topic.
    case roundrobin = "roundrobin"
    /// Balanced (member counts differ by at most one among members subscribed to the same
    /// topics) and sticky (a member keeps what it owns unless balance needs it elsewhere), with
    /// the cooperative protocol.
    case cooperativeSticky = "cooperative-sticky"

    public var name: String { rawValue }

    public var rebalanceProtocol: RebalanceProtocol {
        self == .cooperativeSticky ? .cooperative : .eager
    }

    /// The protocol a member offering `assignors` follows: cooperative only when every one of
    /// them is, as in the Java client (a group upgrading from eager lists both and stays eager).
    public static func rebalanceProtocol(of assignors: [PartitionAssignor]) -> RebalanceProtocol {
        !assignors.isEmpty && assignors.allSatisfy { $0.rebalanceProtocol == .cooperative } ? .cooperative : .eager
    }

    /// Kafka's member order: members with a group instance id first, by that id; then the
    /// others by member id (Java's `String.compareTo`, UTF-16 code units).
    static func precedes(_ a: AssignorMember, _ b: AssignorMember) -> Bool {
        switch (a.groupInstanceId, b.groupInstanceId) {
        case (let x?, let y?):
            if x != y { return x.utf16.lexicographicallyPrecedes(y.utf16) }
            return a.memberId.utf16.lexicographicallyPrecedes(b.memberId.utf16)
        case (.some, nil): return true
        case (nil, .some): return false
        case (nil, nil): return a.memberId.utf16.lexicographicallyPrecedes(b.memberId.utf16)
        }
    }

    /// The partitions of each member (every member has an entry, possibly empty). Topics missing
    /// from `partitionCounts` are not assigned.
    public func assign(members: [AssignorMember], partitionCounts: [String: Int32]) -> [String: [TopicPartition]] {
        var result: [String: [TopicPartition]] = [:]
        for member in members { result[member.memberId] = [] }
        let sorted = members.sorted(by: Self.precedes)
        switch self {
        case .range:
            let topics = Set(members.flatMap(\.topics)).sorted()
            for topic in topics {
                guard let count = partitionCounts[topic], count > 0 else { continue }
                let subscribed = sorted.filter { $0.topics.contains(topic) }
                guard !subscribed.isEmpty else { continue }
                let perMember = Int(count) / subscribed.count
                let extra = Int(count) % subscribed.count
                for (index, member) in subscribed.enumerated() {
                    let start = perMember * index + min(index, extra)
                    let length = perMember + (index < extra ? 1 : 0)
                    for partition in start..<(start + length) {
                        result[member.memberId, default: []].append(TopicPartition(topic, Int32(partition)))
                    }
                }
            }
        case .roundrobin:
            guard !sorted.isEmpty else { return result }
            let topics = Set(members.flatMap(\.topics)).sorted()
            var next = 0
            for topic in topics {
                guard let count = partitionCounts[topic], count > 0 else { continue }
                guard sorted.contains(where: { $0.topics.contains(topic) }) else { continue }
                for partition in 0..<count {
                    while !sorted[next % sorted.count].topics.contains(topic) { next += 1 }
                    result[sorted[next % sorted.count].memberId, default: []].append(TopicPartition(topic, partition))
                    next += 1
                }
            }
        case .cooperativeSticky:
            return StickyAssignment(members: sorted, partitionCounts: partitionCounts).cooperativeAssignment()
        }
        return result
    }
}
