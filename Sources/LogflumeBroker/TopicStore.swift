import Foundation
public import Logging
public import LogflumeStorage
public import LogflumeWire
import Synchronization

/// The broker's topics and their partition logs under one data directory.
///
/// Partition `p` of topic `t` lives in `<data-dir>/t-p/`, as in Kafka. Topic definitions (id,
/// partition count, config overrides, leader epochs) are kept in `<data-dir>/__cluster/topics.json`,
/// replaced atomically on every change; the cluster id sits beside it.
public final class TopicStore: Sendable {
    public let dataDirectory: String
    public let clusterId: String
    let defaults: [TopicConfig.Key: String]
    let clock: any WallClock
    let budget: FileDescriptorBudget
    let logger: Logger
    private let state: Mutex<[String: Topic]>

    public struct Topic: Sendable {
        public var name: String
        public var id: UUIDBytes
        public var config: TopicConfig
        public var partitions: [Partition]
    }

    struct StoredTopic: Codable {
        var name: String
        var id: String
        var partitions: Int
        var leaderEpoch: Int32
        var configs: [String: String]
    }

    private var metadataDirectory: String { dataDirectory + "/__cluster" }
    private var topicsFile: String { metadataDirectory + "/topics.json" }

    /// Opens every topic found in the metadata, recovering partition logs as needed.
    public init(
        dataDirectory: String, defaults: [TopicConfig.Key: String] = TopicConfig.kafkaDefaults,
        clock: any WallClock = SystemWallClock(), budget: FileDescriptorBudget = .shared, logger: Logger
    ) throws {
        self.dataDirectory = dataDirectory
        self.defaults = defaults
        self.clock = clock
        self.budget = budget
        self.logger = logger
        try FileManager.default.createDirectory(atPath: dataDirectory + "/__cluster", withIntermediateDirectories: true)
        let clusterIdFile = dataDirectory + "/__cluster/cluster.id"
        if let bytes = try AtomicFile.read(clusterIdFile), !bytes.isEmpty {
            clusterId = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        } else {
            clusterId = Self.newClusterId()
            try AtomicFile.write(clusterId + "\n", to: clusterIdFile)
        }
        var topics: [String: Topic] = [:]
        if let bytes = try AtomicFile.read(dataDirectory + "/__cluster/topics.json") {
            let stored = try JSONDecoder().decode([StoredTopic].self, from: Data(bytes))
            for entry in stored {
                var overrides: [TopicConfig.Key: String] = [:]
                for (key, value) in entry.configs { if let key = TopicConfig.Key(rawValue: key) { overrides[key] = value } }
                let config = TopicConfig(defaults: defaults, overrides: overrides)
                var partitions: [Partition] = []
                for index in 0..<entry.partitions {
                    partitions.append(try Self.openPartition(
                        dataDirectory: dataDirectory, topic: entry.name, index: Int32(index), leaderEpoch: entry.leaderEpoch,
                        config: config, clock: clock, budget: budget, logger: logger
                    ))
                }
                topics[entry.name] = Topic(name: entry.name, id: UUIDBytes(hex: entry.id) ?? .random(), config: config, partitions: partitions)
            }
        }
        state = Mutex(topics)
        logger.info("opened topics", metadata: ["topics": "\(topics.count)", "data.dir": "\(dataDirectory)"])
    }

    static func openPartition(
        dataDirectory: String, topic: String, index: Int32, leaderEpoch: Int32, config: TopicConfig,
        clock: any WallClock, budget: FileDescriptorBudget, logger: Logger
    ) throws -> Partition {
        let log = try PartitionLog.open(
            directory: "\(dataDirectory)/\(topic)-\(index)", config: config.logConfig, clock: clock, budget: budget, logger: logger
        )
        return try Partition(topic: topic, index: index, log: log, leaderEpoch: leaderEpoch, config: config, logger: logger)
    }

    // MARK: Queries

    public var topicNames: [String] { state.withLock { Array($0.keys).sorted() } }
    public func topic(_ name: String) -> Topic? { state.withLock { $0[name] } }
    public var allTopics: [Topic] { state.withLock { Array($0.values).sorted { $0.name < $1.name } } }

    public func partition(_ topic: String, _ index: Int32) -> Partition? {
        state.withLock { topics in
            guard let partitions = topics[topic]?.partitions, index >= 0, Int(index) < partitions.count else { return nil }
            return partitions[Int(index)]
        }
    }

    public var allPartitions: [Partition] { state.withLock { $0.values.flatMap(\.partitions) } }

    // MARK: Changes

    public enum CreateOutcome: Equatable, Sendable {
        case created
        case failed(KafkaErrorCode, String)
    }

    /// Creates a topic; with `validateOnly` only checks that it could be created.
    public func create(
        name: String, partitions: Int32, replicationFactor: Int16, configs: [(String, String?)], validateOnly: Bool = false
    ) -> CreateOutcome {
        if let problem = Self.invalidTopicName(name) { return .failed(.invalidTopicException, problem) }
        guard partitions >= 1, partitions <= 100_000 else {
            return .failed(.invalidPartitions, "partition count \(partitions) must be between 1 and 100000")
        }
        guard replicationFactor == 1 || replicationFactor == -1 else {
            return .failed(.invalidReplicationFactor, "replication factor \(replicationFactor) is larger than the 1 available broker")
        }
        let config: TopicConfig
        do { config = try TopicConfig(defaults: defaults, settings: configs) } catch {
            return .failed(.invalidConfig, error.description)
        }
        return state.withLock { topics -> CreateOutcome in
            if topics[name] != nil { return .failed(.topicAlreadyExists, "topic '\(name)' already exists") }
            if let clash = topics.keys.first(where: { Self.collides($0, name) }) {
                return .failed(.invalidTopicException, "topic '\(name)' collides with '\(clash)' ('.' and '_' are interchangeable in metric names)")
            }
            if validateOnly { return .created }
            var created: [Partition] = []
            do {
                for index in 0..<partitions {
                    created.append(try Self.openPartition(
                        dataDirectory: dataDirectory, topic: name, index: index, leaderEpoch: 0, config: config,
                        clock: clock, budget: budget, logger: logger
                    ))
                }
                topics[name] = Topic(name: name, id: .random(), config: config, partitions: created)
                try persist(topics)
            } catch {
                // Nothing of a half-created topic may stay open or on disk.
                topics[name] = nil
                for partition in created { try? partition.log.delete() }
                return .failed(.kafkaStorageError, "creating '\(name)': \(error)")
            }
            logger.info("created topic", metadata: ["topic": "\(name)", "partitions": "\(partitions)"])
            return .created
        }
    }

    /// Deletes a topic and its partition directories.
    public func delete(name: String) -> KafkaErrorCode {
        // The directories go while the lock is held, so a topic re-created under the same name
        // can never open (and later lose) the old partition files.
        let removed: Topic? = state.withLock { topics in
            guard let topic = topics.removeValue(forKey: name) else { return nil }
            do { try persist(topics) } catch {
                topics[name] = topic
                return nil
            }
            for partition in topic.partitions { try? partition.log.delete() }
            return topic
        }
        guard removed != nil else { return topic(name) == nil ? .unknownTopicOrPartition : .kafkaStorageError }
        logger.info("deleted topic", metadata: ["topic": "\(name)"])
        return .none
    }

    /// Replaces a topic's overrides (AlterConfigs semantics: unspecified keys revert to defaults).
    public func alterConfigs(name: String, configs: [(String, String?)], validateOnly: Bool) -> (KafkaErrorCode, String?) {
        let config: TopicConfig
        do { config = try TopicConfig(defaults: defaults, settings: configs) } catch {
            return (.invalidConfig, error.description)
        }
        return state.withLock { topics -> (KafkaErrorCode, String?) in
            guard var topic = topics[name] else { return (.unknownTopicOrPartition, "unknown topic '\(name)'") }
            if validateOnly { return (.none, nil) }
            let previous = topic
            topic.config = config
            topics[name] = topic
            // Persist first: a config the broker could not record must not take effect.
            do { try persist(topics) } catch {
                topics[name] = previous
                return (.kafkaStorageError, "\(error)")
            }
            for partition in topic.partitions { partition.updateConfig(config) }
            return (.none, nil)
        }
    }

    private func persist(_ topics: [String: Topic]) throws {
        let stored = topics.values.sorted { $0.name < $1.name }.map { topic in
            StoredTopic(
                name: topic.name, id: topic.id.hex, partitions: topic.partitions.count,
                leaderEpoch: topic.partitions.first?.leaderEpoch ?? 0,
                configs: Dictionary(uniqueKeysWithValues: topic.config.overrides.map { ($0.key.rawValue, $0.value) })
            )
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(Array(try encoder.encode(stored)), to: topicsFile)
    }

    /// Flushes and closes every partition, leaving clean-shutdown markers.
    public func close() {
        for partition in allPartitions {
            do {
                try partition.snapshotProducerState(force: true)
                try partition.log.close()
            } catch {
                logger.error("closing partition failed", metadata: ["partition": "\(partition.topic)-\(partition.index)", "error": "\(error)"])
            }
        }
    }

    // MARK: Names

    /// Kafka's rules: 1-249 characters of [a-zA-Z0-9._-], not "." or "..".
    public static func invalidTopicName(_ name: String) -> String? {
        if name.isEmpty { return "topic name is empty" }
        if name == "." || name == ".." { return "topic name cannot be '.' or '..'" }
        if name.utf8.count > 249 { return "topic name is longer than 249 characters" }
        if let bad = name.first(where: { !($0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "_" || $0 == "-")) }) {
            return "topic name '\(name)' contains '\(bad)'; only ASCII letters, digits, '.', '_' and '-' are allowed"
        }
        return nil
    }

    static func collides(_ a: String, _ b: String) -> Bool {
        a != b && a.replacingOccurrences(of: ".", with: "_") == b.replacingOccurrences(of: ".", with: "_")
    }

    static func newClusterId() -> String {
        // Kafka cluster ids are 22-character URL-safe base64 of 16 random bytes.
        let bytes = UUIDBytes.random().bytes
        return Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }
}

/// A 16-byte topic id, as Kafka's Uuid.
public struct UUIDBytes: Equatable, Hashable, Sendable {
    public var bytes: [UInt8]

    public static func random() -> UUIDBytes {
        var generator = SystemRandomNumberGenerator()
        return UUIDBytes(bytes: (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }

    public var hex: String { bytes.map { String(format: "%02x", $0) }.joined() }

    public init(bytes: [UInt8]) { self.bytes = bytes }

    public init?(hex: String) {
        guard hex.count == 32 else { return nil }
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            guard let byte = UInt8(hex[index..<next], radix: 16) else { return nil }
            bytes.append(byte)
            index = next
        }
        self.bytes = bytes
    }
}
