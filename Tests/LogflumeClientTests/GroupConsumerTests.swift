import Foundation
import Logging
import LogflumeClient
import NIOCore
import NIOPosix
import Synchronization
import Testing

@Suite struct PartitionAssignorTests {
    static func names(_ result: [String: [TopicPartition]], _ member: String) -> [String] {
        (result[member] ?? []).sorted().map(\.description)
    }

    @Test func rangeSplitsFivePartitionsThreeAndTwo() {
        let members = [AssignorMember(memberId: "b", topics: ["t"]), AssignorMember(memberId: "a", topics: ["t"])]
        let result = PartitionAssignor.range.assign(members: members, partitionCounts: ["t": 5])
        #expect(Self.names(result, "a") == ["t-0", "t-1", "t-2"])
        #expect(Self.names(result, "b") == ["t-3", "t-4"])
    }

    /// The example of Kafka's RangeAssignor documentation: two topics of three partitions.
    @Test func rangeAssignsPerTopic() {
        let members = [AssignorMember(memberId: "C0", topics: ["t0", "t1"]), AssignorMember(memberId: "C1", topics: ["t0", "t1"])]
        let result = PartitionAssignor.range.assign(members: members, partitionCounts: ["t0": 3, "t1": 3])
        #expect(Self.names(result, "C0") == ["t0-0", "t0-1", "t1-0", "t1-1"])
        #expect(Self.names(result, "C1") == ["t0-2", "t1-2"])
    }

    /// The examples of Kafka's RoundRobinAssignor documentation.
    @Test func roundRobinMatchesKafkaDocumentation() {
        let same = [AssignorMember(memberId: "C0", topics: ["t0", "t1"]), AssignorMember(memberId: "C1", topics: ["t1", "t0"])]
        let first = PartitionAssignor.roundrobin.assign(members: same, partitionCounts: ["t0": 3, "t1": 3])
        #expect(Self.names(first, "C0") == ["t0-0", "t0-2", "t1-1"])
        #expect(Self.names(first, "C1") == ["t0-1", "t1-0", "t1-2"])

        let different = [
            AssignorMember(memberId: "C2", topics: ["t0", "t1", "t2"]),
            AssignorMember(memberId: "C0", topics: ["t0"]),
            AssignorMember(memberId: "C1", topics: ["t0", "t1"]),
        ]
        let second = PartitionAssignor.roundrobin.assign(members: different, partitionCounts: ["t0": 1, "t1": 2, "t2": 3])
        #expect(Self.names(second, "C0") == ["t0-0"])
        #expect(Self.names(second, "C1") == ["t1-0"])
        #expect(Self.names(second, "C2") == ["t1-1", "t2-0", "t2-1", "t2-2"])
    }

    @Test func staticMembersComeFirstAndUnknownTopicsAreSkipped() {
        let members = [
            AssignorMember(memberId: "a", topics: ["t", "missing"]),
            AssignorMember(memberId: "z", groupInstanceId: "instance", topics: ["t"]),
        ]
        let result = PartitionAssignor.range.assign(members: members, partitionCounts: ["t": 3])
        #expect(Self.names(result, "z") == ["t-0", "t-1"])
        #expect(Self.names(result, "a") == ["t-2"])
        let more = PartitionAssignor.range.assign(members: members + [AssignorMember(memberId: "idle", topics: [])], partitionCounts: ["t": 3])
        #expect(more["idle"] == [])
    }
}

@Suite(.serialized, .enabled(if: LiveBroker.isAvailable, "build the logflume binary first: swift build --product logflume"))
struct GroupConsumerTests {
    /// Offsets read so far by all members, per partition.
    final class Seen: Sendable {
        private let state = Mutex<[String: [Int64]]>([:])
        var count: Int { state.withLock { $0.values.reduce(0) { $0 + $1.count } } }
        func add(_ records: [ConsumerRecord]) {
            state.withLock { state in for record in records { state[record.topicPartition.description, default: []].append(record.offset) } }
        }
    }

    /// A cluster client of its own (each group member has its own connections, as separate
    /// processes would).
    static func withCluster<T>(_ broker: LiveBroker, _ body: (KafkaCluster) async throws -> T) async throws -> T {
        try await broker.withCluster(body)
    }

    static func produce(_ cluster: KafkaCluster, topic: String, range: Range<Int>) async throws {
        let producer = try Producer(cluster: cluster)
        for i in range {
            try await producer.enqueue(ProducerRecord(topic: topic, partition: Int32(i % 4), value: ByteBuffer(string: "record-\(i)")))
        }
        try await producer.flush()
        await producer.close()
    }

    static func fastConfiguration() -> GroupConsumerConfiguration {
        var configuration = GroupConsumerConfiguration()
        configuration.heartbeatIntervalMs = 200
        configuration.sessionTimeoutMs = 6_000
        configuration.rebalanceTimeoutMs = 10_000
        return configuration
    }

    /// Polls until the members together hold `total` records, committing after each batch.
    static func consume(_ member: GroupConsumer, seen: Seen, total: Int, deadline: Date) async throws -> [ConsumerRecord] {
        var mine: [ConsumerRecord] = []
        while Date() < deadline {
            if seen.count >= total { break }
            let batch = try await member.poll(maxRecords: 50, timeoutMs: 300)
            guard !batch.isEmpty else { continue }
            mine += batch
            seen.add(batch)
            try await member.commit()
        }
        return mine
    }

    /// A member that joined before its topic existed gets the topic's partitions once it is
    /// created: the leader notices the new topic and rejoins.
    @Test func aTopicCreatedAfterTheGroupFormedIsAssigned() async throws {
        let broker = try LiveBroker()
        let topic = "created-later"
        try await broker.withCluster { cluster in
            let member = GroupConsumer(cluster: cluster, groupId: "early-group", topics: [topic], configuration: Self.fastConfiguration())
            _ = try await member.poll(maxRecords: 10, timeoutMs: 500)
            #expect(await member.assignment.isEmpty)
            try await broker.withCluster { other in
                try await Admin(cluster: other).createTopic(name: topic, partitions: 4, replicationFactor: 1)
                try await Self.produce(other, topic: topic, range: 0..<40)
            }
            let seen = Seen()
            _ = try await Self.consume(member, seen: seen, total: 40, deadline: Date().addingTimeInterval(30))
            #expect(seen.count == 40)
            #expect(await member.assignment.count == 4)
            await member.close()
        }
    }

    @Test func twoMembersSplitPartitionsAndANewMemberResumesAtCommittedOffsets() async throws {
        let broker = try LiveBroker()
        let topic = "grouped"
        let group = "group-test"
        let total = 400
        try await broker.withCluster { cluster in
            try await Admin(cluster: cluster).createTopic(name: topic, partitions: 4, replicationFactor: 1)
            try await Self.produce(cluster, topic: topic, range: 0..<total)
        }
        let seen = Seen()
        let deadline = Date().addingTimeInterval(60)
        let results: [(records: [ConsumerRecord], assignment: [TopicPartition])] = try await withThrowingTaskGroup(
            of: (records: [ConsumerRecord], assignment: [TopicPartition]).self
        ) { tasks in
            for _ in 0..<2 {
                tasks.addTask {
                    try await Self.withCluster(broker) { cluster in
                        let member = GroupConsumer(cluster: cluster, groupId: group, topics: [topic], configuration: Self.fastConfiguration())
                        let records = try await Self.consume(member, seen: seen, total: total, deadline: deadline)
                        // Stay in the group until both have read everything, then report the final split.
                        while Date() < deadline, seen.count < total {
                            try await Task.sleep(for: .milliseconds(100))
                        }
                        // Let the group settle on both members, then read the final split.
                        var assignment: [TopicPartition] = []
                        for _ in 0..<30 {
                            _ = try await member.poll(maxRecords: 1, timeoutMs: 200)
                            assignment = await member.assignment
                            if assignment.count == 2 { break }
                        }
                        try await member.commit()
                        await member.close()
                        return (records, assignment)
                    }
                }
            }
            var all: [(records: [ConsumerRecord], assignment: [TopicPartition])] = []
            for try await result in tasks { all.append(result) }
            return all
        }
        let records = results.flatMap(\.records)
        #expect(records.count == total)
        let keys = Set(records.map { "\($0.topicPartition)@\($0.offset)" })
        #expect(keys.count == total, "every record exactly once")
        let values = Set(records.compactMap { $0.value.map { String(buffer: $0) } })
        #expect(values == Set((0..<total).map { "record-\($0)" }))
        #expect(results.allSatisfy { $0.assignment.count == 2 })
        #expect(Set(results.flatMap(\.assignment)) == Set((0..<4).map { TopicPartition(topic, Int32($0)) }))

        // A new member resumes where the group committed.
        try await broker.withCluster { cluster in
            try await Self.produce(cluster, topic: topic, range: total..<(total + 40))
            let member = GroupConsumer(cluster: cluster, groupId: group, topics: [topic], configuration: Self.fastConfiguration())
            let committed = try await Admin(cluster: cluster).committedOffsets(group: group, topicPartitions: (0..<4).map { TopicPartition(topic, Int32($0)) })
            #expect(committed.values.reduce(0, +) == Int64(total))
            var fresh: [ConsumerRecord] = []
            let until = Date().addingTimeInterval(30)
            while fresh.count < 40 && Date() < until {
                fresh += try await member.poll(maxRecords: 100, timeoutMs: 500)
            }
            #expect(await member.assignment.count == 4)
            #expect(fresh.count == 40)
            #expect(Set(fresh.compactMap { $0.value.map { String(buffer: $0) } }) == Set((total..<(total + 40)).map { "record-\($0)" }))
            for record in fresh { #expect(record.offset >= committed[record.topicPartition] ?? 0) }
            try await member.commit()
            await member.close()
            let after = try await Admin(cluster: cluster).committedOffsets(group: group, topicPartitions: (0..<4).map { TopicPartition(topic, Int32($0)) })
            #expect(after.values.reduce(0, +) == Int64(total + 40))
        }
    }
}
