import ArgumentParser
import Foundation
import Logging
import LogflumeClient
import LogflumeWire
import NIOCore
import NIOPosix

/// `--bootstrap`, shared by the client subcommands.
struct ClusterOptions: ParsableArguments {
    @Option(help: "Comma-separated HOST:PORT list of brokers to bootstrap from.")
    var bootstrap: String = "127.0.0.1:9092"

    /// Runs `body` with a cluster client on one event loop thread, closing both afterwards.
    func withCluster<T: Sendable>(_ body: (KafkaCluster) async throws -> T) async throws -> T {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let level = ProcessInfo.processInfo.environment["LOGFLUME_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        let cluster: KafkaCluster
        do {
            cluster = try KafkaCluster(configuration: ClusterConfiguration(bootstrap: bootstrap), group: group, logger: makeLogger(level: level))
        } catch {
            try? await group.shutdownGracefully()
            throw ValidationError("\(error)")
        }
        do {
            let result = try await body(cluster)
            await cluster.close()
            try? await group.shutdownGracefully()
            return result
        } catch {
            await cluster.close()
            try? await group.shutdownGracefully()
            throw error
        }
    }
}

/// Parses repeated `--config k=v` options.
func parseConfigs(_ pairs: [String]) throws -> [String: String] {
    var configs: [String: String] = [:]
    for pair in pairs {
        guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
            throw ValidationError("--config '\(pair)' is not KEY=VALUE")
        }
        configs[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
    }
    return configs
}

/// `logflume topics`: create, list, describe, delete topics and change their configs.
struct TopicsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topics",
        abstract: "Create, list, describe, delete and configure topics on a Kafka-compatible cluster.",
        subcommands: [Create.self, List.self, Describe.self, Delete.self, AlterConfig.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a topic.")

        @Argument(help: "Topic name.")
        var topic: String

        @OptionGroup var cluster: ClusterOptions

        @Option(help: "Number of partitions (default: the broker's num.partitions).")
        var partitions: Int32?

        @Option(name: .customLong("replication-factor"), help: "Replicas per partition (default: the broker's).")
        var replicationFactor: Int16?

        @Option(name: .customLong("config"), help: "Topic config KEY=VALUE; repeat for more.")
        var configs: [String] = []

        @Flag(name: .customLong("validate-only"), help: "Check the request without creating the topic.")
        var validateOnly = false

        func run() async throws {
            let configs = try parseConfigs(self.configs)
            try await cluster.withCluster { cluster in
                try await Admin(cluster: cluster).createTopic(
                    name: topic, partitions: partitions ?? -1, replicationFactor: replicationFactor ?? -1, configs: configs,
                    validateOnly: validateOnly
                )
            }
            print(validateOnly ? "topic \(topic) can be created (validate only)" : "created topic \(topic)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List topics, one per line.")

        @OptionGroup var cluster: ClusterOptions

        @Flag(help: "Include internal topics such as __consumer_offsets.")
        var includeInternal = false

        func run() async throws {
            let topics = try await cluster.withCluster { cluster in
                try await Admin(cluster: cluster).listTopics(includeInternal: includeInternal).map(\.name)
            }
            for topic in topics { print(topic) }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a topic's partitions (leader, epoch, replicas, offsets) and its non-default configs."
        )

        @Argument(help: "Topic name.")
        var topic: String

        @OptionGroup var cluster: ClusterOptions

        func run() async throws {
            let description = try await cluster.withCluster { cluster in
                try await Admin(cluster: cluster).describeTopic(topic)
            }
            let configs = description.nonDefaultConfigs.map { entry in
                "\(entry.name)=\(entry.isSensitive ? "(sensitive)" : entry.value ?? "null") (\(entry.source))"
            }
            print("Topic: \(description.name)\tPartitionCount: \(description.partitions.count)\tReplicationFactor: \(description.replicationFactor)\tConfigs: \(configs.joined(separator: ", "))")
            for partition in description.partitions {
                let replicas = partition.replicas.map(String.init).joined(separator: ",")
                let isr = partition.inSyncReplicas.map(String.init).joined(separator: ",")
                var line = "\tPartition: \(partition.partition)\tLeader: \(partition.leader)\tLeaderEpoch: \(partition.leaderEpoch)"
                line += "\tReplicas: \(replicas)\tIsr: \(isr)"
                if !partition.offlineReplicas.isEmpty { line += "\tOffline: \(partition.offlineReplicas.map(String.init).joined(separator: ","))" }
                line += "\tLogStartOffset: \(partition.logStartOffset)\tLogEndOffset: \(partition.logEndOffset)"
                print(line)
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a topic.")

        @Argument(help: "Topic name.")
        var topic: String

        @OptionGroup var cluster: ClusterOptions

        func run() async throws {
            try await cluster.withCluster { cluster in
                try await Admin(cluster: cluster).deleteTopic(topic)
            }
            print("deleted topic \(topic)")
        }
    }

    struct AlterConfig: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "alter-config",
            abstract: "Set or remove topic configs; the topic's other overrides stay."
        )

        @Argument(help: "Topic name.")
        var topic: String

        @OptionGroup var cluster: ClusterOptions

        @Option(name: .customLong("config"), help: "Topic config KEY=VALUE to set; repeat for more.")
        var configs: [String] = []

        @Option(name: .customLong("delete-config"), help: "Topic config KEY to return to its default; repeat for more.")
        var deleteConfigs: [String] = []

        func validate() throws {
            if configs.isEmpty && deleteConfigs.isEmpty { throw ValidationError("give at least one --config KEY=VALUE or --delete-config KEY") }
        }

        func run() async throws {
            var changes: [String: String?] = try parseConfigs(configs).mapValues { Optional($0) }
            for key in deleteConfigs { changes[key] = .some(nil) }
            do {
                try await cluster.withCluster { cluster in
                    try await Admin(cluster: cluster).alterConfigs(topic: topic, configs: changes)
                }
            } catch KafkaClientError.unsupportedVersion(let broker, .alterConfigs) {
                throw KafkaClientError.invalidArgument("alter-config is not supported by this broker yet (\(broker) does not offer AlterConfigs)")
            }
            print("altered configs of topic \(topic)")
        }
    }
}
