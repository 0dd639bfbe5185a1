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

    /// `close()` while the member's first JoinGroup is held by the coordinator (the group's
    /// initial rebalance delay): the poll waiting in it returns nothing, and the member does not
    /// join again behind the LeaveGroup it sent.
    @Test func closingDuringAJoinLeavesTheGroupForGood() async throws {
        let broker = try LiveBroker()
        let topic = "closing"
        let group = "closing-group"
        try await broker.withCluster { cluster in
            try await Admin(cluster: cluster).createTopic(name: topic, partitions: 2, replicationFactor: 1)
            let member = GroupConsumer(cluster: cluster, groupId: group, topics: [topic], configuration: Self.fastConfiguration())
            let polling = Task { try await member.poll(maxRecords: 10, timeoutMs: 10_000) }
            try await Task.sleep(for: .milliseconds(800))
            await member.close()
            #expect(try await polling.value.isEmpty)
            // Past the 3 s initial delay, when a join still in progress would have completed.
            try await Task.sleep(for: .seconds(4))
            let description = try await Admin(cluster: cluster).describeGroup(group)
            #expect(description.members.isEmpty, "\(description.members)")
            #expect(await member.assignment.isEmpty)
        }
    }

    /// Eager protocol: a rejoin hands every partition to the listener as revoked, and the
    /// listener takes its time; `close()` arriving meanwhile waits for it (so its commits land
    /// before the member leaves) and does not report the partitions again.
    @Test func closingWhileTheListenerHandlesARevocationReportsItOnce() async throws {
        let broker = try LiveBroker()
        let topic = "revoking"
        try await broker.withCluster { cluster in
            try await Admin(cluster: cluster).createTopic(name: topic, partitions: 2, replicationFactor: 1)
            let member = GroupConsumer(cluster: cluster, groupId: "revoking-group", topics: [topic], configuration: Self.fastConfiguration())
            let log = EventLog()
            let listenerFinished = Flag()
            await member.onRebalance { event in
                log.add(event)
                if case .revoked = event {
                    try? await Task.sleep(for: .milliseconds(500))
                    listenerFinished.set()
                }
            }
            for _ in 0..<50 where await member.assignment.isEmpty { _ = try await member.poll(maxRecords: 1, timeoutMs: 200) }
            #expect(await member.assignment.count == 2)
            let rejoining = Task { try await member.join() }
            try await Task.sleep(for: .milliseconds(100))
            await member.close()
            #expect(listenerFinished.isSet, "close() returned while the listener was still handling the revocation")
            _ = try? await rejoining.value
            #expect(log.revoked.count == 1, "\(log.events)")
            #expect(log.revoked.first?.count == 2)
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

    final class Flag: Sendable {
        private let value = Atomic<Bool>(false)
        func set() { value.store(true, ordering: .releasing) }
        var isSet: Bool { value.load(ordering: .acquiring) }
    }

    /// Rebalance events, in order, per member.
    final class EventLog: Sendable {
        private let state = Mutex<[RebalanceEvent]>([])
        var events: [RebalanceEvent] { state.withLock { $0 } }
        func add(_ event: RebalanceEvent) { state.withLock { $0.append(event) } }
        var revoked: [[TopicPartition]] {
            events.compactMap { if case .revoked(let partitions, _) = $0 { return partitions } else { return nil } }
        }
    }

    /// A second member joins a member that holds all six partitions. Eager: the first gives up
    /// all six, then gets three back. Cooperative: it gives up only the three that move and keeps
    /// reading the rest where it was. Either way, with commits after each batch, every record is
    /// read exactly once and the listener sees revocations before the new assignment.
    @Test(arguments: [PartitionAssignor.range, .cooperativeSticky])
    func aJoiningMemberTakesOverHalfTheRecordsAndEventsSayWhatMoved(assignor: PartitionAssignor) async throws {
        let broker = try LiveBroker()
        let topic = "rebalanced"
        let group = "rebalance-\(assignor.name)"
        let partitions = (0..<6).map { TopicPartition(topic, Int32($0)) }
        try await broker.withCluster { cluster in
            try await Admin(cluster: cluster).createTopic(name: topic, partitions: 6, replicationFactor: 1)
            try await Self.produceSpread(cluster, topic: topic, range: 0..<300, partitions: 6)
        }
        var configuration = Self.fastConfiguration()
        configuration.assignors = [assignor]
        let shared = Shared()
        let firstLog = EventLog()
        let secondLog = EventLog()
        let deadline = Date().addingTimeInterval(60)

        async let first = Self.rebalancedMember(broker, group: group, topic: topic, configuration: configuration, log: firstLog, shared: shared, waitForTurn: false, deadline: deadline)
        async let second = Self.rebalancedMember(broker, group: group, topic: topic, configuration: configuration, log: secondLog, shared: shared, waitForTurn: true, deadline: deadline)
        // More records once both are in the group.
        while !shared.secondMayJoin && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        try await Task.sleep(for: .milliseconds(500))
        try await broker.withCluster { cluster in try await Self.produceSpread(cluster, topic: topic, range: 300..<600, partitions: 6) }
        let (firstAssignment, secondAssignment) = try await (first, second)

        let read = shared.read
        #expect(read.count == 600, "records read: \(read.count)")
        #expect(Set(read).count == read.count, "a record was read twice")
        #expect(firstAssignment.count == 3 && secondAssignment.count == 3)
        #expect(Set(firstAssignment + secondAssignment) == Set(partitions))

        // The first member's story: all six, then the rebalance.
        let events = firstLog.events
        guard case .assigned(let initial, _)? = events.first else {
            Issue.record("first event of the first member: \(events)")
            return
        }
        #expect(Set(initial) == Set(partitions))
        let revokedBeforeClose = firstLog.revoked.dropLast()  // the last revocation is close()'s
        switch assignor.rebalanceProtocol {
        case .eager:
            #expect(revokedBeforeClose.first.map(Set.init) == Set(partitions), "eager: everything is revoked: \(events)")
        case .cooperative:
            #expect(revokedBeforeClose.count == 1, "one revocation: \(events)")
            #expect(revokedBeforeClose.first?.count == 3, "cooperative: only the three that move: \(events)")
            #expect(Set(revokedBeforeClose.first ?? []) == Set(secondAssignment))
        }
        // The second member got its three partitions (and, when cooperative, only after the
        // first gave them up).
        let secondAssigned = secondLog.events.compactMap { if case .assigned(let p, _) = $0 { return p } else { return nil } }.flatMap { $0 }
        #expect(Set(secondAssigned) == Set(secondAssignment))
        #expect(secondLog.events.allSatisfy { if case .lost = $0 { return false } else { return true } })
    }

    /// What the two members of the rebalance test share.
    final class Shared: Sendable {
        private let state = Mutex<(read: [String], done: Int, secondMayJoin: Bool)>(([], 0, false))
        var read: [String] { state.withLock { $0.read } }
        var done: Int { state.withLock { $0.done } }
        var secondMayJoin: Bool { state.withLock { $0.secondMayJoin } }
        func add(_ records: [ConsumerRecord]) -> Int {
            state.withLock { state in
                state.read += records.map { "\($0.topicPartition)@\($0.offset)" }
                if state.read.count >= 300 { state.secondMayJoin = true }
                return state.read.count
            }
        }
        func finish() { state.withLock { $0.done += 1 } }
    }

    /// One member of the rebalance test: reads and commits after each batch until the group
    /// has read all 600 records and the member has held three partitions for ten polls.
    static func rebalancedMember(
        _ broker: LiveBroker, group: String, topic: String, configuration: GroupConsumerConfiguration,
        log: EventLog, shared: Shared, waitForTurn: Bool, deadline: Date
    ) async throws -> [TopicPartition] {
        if waitForTurn {
            while !shared.secondMayJoin && Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        }
        return try await withCluster(broker) { cluster in
            let member = GroupConsumer(cluster: cluster, groupId: group, topics: [topic], configuration: configuration)
            await member.onRebalance { log.add($0) }
            var settledPolls = 0
            while Date() < deadline {
                let batch = try await member.poll(maxRecords: 20, timeoutMs: 200)
                let total = shared.add(batch)
                if !batch.isEmpty { try await member.commit() }
                if total >= 600, await member.assignment.count == 3 {
                    settledPolls += 1
                    if settledPolls >= 10 { break }
                }
            }
            let assignment = await member.assignment
            try await member.commit()
            // Both stay until both are done, so the first to leave does not move partitions back.
            shared.finish()
            while Date() < deadline, shared.done < 2 {
                _ = try await member.poll(maxRecords: 1, timeoutMs: 100)
            }
            await member.close()
            return assignment
        }
    }

    static func produceSpread(_ cluster: KafkaCluster, topic: String, range: Range<Int>, partitions: Int) async throws {
        let producer = try Producer(cluster: cluster)
        for i in range {
            try await producer.enqueue(ProducerRecord(topic: topic, partition: Int32(i % partitions), value: ByteBuffer(string: "record-\(i)")))
        }
        try await producer.flush()
        await producer.close()
    }

    /// Pause holds a partition back without leaving the group; resume lets its records through.
    /// Async commits land in call order and a later sync commit waits for them.
    @Test func pauseResumeAndAsyncCommits() async throws {
        let broker = try LiveBroker()
        let topic = "paused"
        try await broker.withCluster { cluster in
            try await Admin(cluster: cluster).createTopic(name: topic, partitions: 2, replicationFactor: 1)
            try await Self.produceSpread(cluster, topic: topic, range: 0..<40, partitions: 2)
            let member = GroupConsumer(cluster: cluster, groupId: "pauser", topics: [topic], configuration: Self.fastConfiguration())
            let held = TopicPartition(topic, 0)
            let flowing = TopicPartition(topic, 1)
            while await member.assignment.count < 2 { _ = try await member.poll(maxRecords: 0, timeoutMs: 100) }
            await member.pause([held])
            #expect(await member.paused == [held])
            var records: [ConsumerRecord] = []
            let until = Date().addingTimeInterval(20)
            while records.count < 20 && Date() < until { records += try await member.poll(maxRecords: 100, timeoutMs: 300) }
            for _ in 0..<5 { records += try await member.poll(maxRecords: 100, timeoutMs: 200) }
            #expect(records.count == 20 && records.allSatisfy { $0.topicPartition == flowing })
            await member.resume([held])
            #expect(await member.paused.isEmpty)
            while records.count < 40 && Date() < until { records += try await member.poll(maxRecords: 100, timeoutMs: 300) }
            #expect(records.filter { $0.topicPartition == held }.map(\.offset) == Array(0..<20))

            let completions = Mutex<[Int64]>([])
            for offset in stride(from: Int64(2), through: 20, by: 2) {
                await member.commitAsync(offsets: [held: offset], metadata: "async-\(offset)") { result in
                    if case .success = result { completions.withLock { $0.append(offset) } }
                }
            }
            try await member.commit(offsets: [flowing: 20])
            #expect(completions.withLock { $0 } == Array(stride(from: Int64(2), through: 20, by: 2)), "async commits complete in call order, before the sync one")
            let committed = try await member.committed([held, flowing])
            #expect(committed[held] == 20 && committed[flowing] == 20)
            await member.close()
        }
    }
}
