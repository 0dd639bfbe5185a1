import Foundation
import Logging
import LogflumeAgent
import LogflumeBroker
import LogflumeClient
import LogflumeConfig
import LogflumeStorage
import LogflumeTestSupport
import NIOCore
import NIOPosix
import ServiceLifecycle
import Testing

/// A fresh directory under /tmp, removed by `cleanup()`.
struct ScratchDirectory {
    let path: String

    init(_ name: String) throws {
        path = NSTemporaryDirectory() + "logflume-agent-\(name)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func cleanup() { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }
}

/// Appends text to a file (creating it), as a log writer would.
func append(_ text: String, to path: String) {
    let fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
    precondition(fd >= 0, "cannot open \(path)")
    _ = text.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
    close(fd)
}

/// Numbered lines `prefix-<n>` for n in `range`, newline-terminated.
func numberedLines(_ prefix: String, _ range: ClosedRange<Int>) -> String {
    range.map { "\(prefix)-\($0)\n" }.joined()
}

/// An agent running in this process against `broker`, with a config written from `inputs`.
final class RunningAgent: Sendable {
    let agent: Agent
    let task: Task<Void, any Error>
    let cluster: KafkaCluster
    let group: MultiThreadedEventLoopGroup

    init(config: AgentConfig, broker: EmbeddedBroker) throws {
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var configuration = ClusterConfiguration(bootstrap: broker.bootstrap)
        configuration.connectTimeoutMs = 1_000
        cluster = try KafkaCluster(configuration: configuration, group: group, logger: testLogger("agent"))
        agent = Agent(config: config, cluster: cluster, logger: testLogger("agent"), shutdownGraceMs: 5_000)
        let agent = self.agent
        task = Task { try await agent.run() }
    }

    func stop() async throws {
        agent.stop()
        try await task.value
        await cluster.close()
        try await group.shutdownGracefully()
    }
}

/// Reads every record of `topic` from the beginning to its current end.
func readTopic(_ broker: EmbeddedBroker, _ topic: String) async throws -> [ConsumerRecord] {
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let cluster = try KafkaCluster(configuration: ClusterConfiguration(bootstrap: broker.bootstrap), group: group, logger: testLogger("reader"))
    defer { Task { await cluster.close(); try? await group.shutdownGracefully() } }
    guard let partitions = try? await cluster.topicMetadata(topic).partitions, !partitions.isEmpty else { return [] }
    let consumer = Consumer(cluster: cluster)
    try await consumer.assign(Dictionary(uniqueKeysWithValues: partitions.map { (TopicPartition(topic, $0.partition), StartPosition.earliest) }))
    let ends = try await consumer.endOffsets()
    var records: [ConsumerRecord] = []
    var positions: [TopicPartition: Int64] = [:]
    while ends.contains(where: { tp, end in (positions[tp] ?? 0) < end }) {
        let batch = try await consumer.poll(maxRecords: 5_000, timeoutMs: 2_000)
        for record in batch { positions[record.topicPartition] = record.offset + 1 }
        records += batch
        if batch.isEmpty { break }
    }
    await consumer.close()
    return records
}

/// Polls `condition` until true or `seconds` pass; these tests wait for real processes and the
/// broker, never on timing assertions.
func eventually(_ seconds: Double = 30, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(100))
    }
    return try await condition()
}

/// The values of `records` as strings.
func values(_ records: [ConsumerRecord]) -> [String] {
    records.map { $0.value.map { String(buffer: $0) } ?? "" }
}

/// An agent config tailing `paths` into `topic`, fast timers for tests.
func testConfig(state: String, broker: EmbeddedBroker, topic: String, paths: [String], tweak: (inout InputConfig) -> Void = { _ in }) -> AgentConfig {
    var config = AgentConfig()
    config.brokers = [broker.bootstrap]
    config.topic = topic
    config.stateDirectory = state
    config.scanIntervalMs = 200
    config.rotateWaitMs = 1_000
    config.checkpointIntervalMs = 200
    config.producer.lingerMs = 5
    var input = InputConfig(paths: paths)
    tweak(&input)
    config.inputs = [input]
    return config
}
