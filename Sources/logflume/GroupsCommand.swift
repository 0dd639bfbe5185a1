import ArgumentParser
import LogflumeClient

/// `logflume groups`: what consumer groups exist, who reads what, and how far behind they are.
struct GroupsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "groups",
        abstract: "List and describe consumer groups (committed offsets, log end, lag, members).",
        subcommands: [List.self, Describe.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List consumer groups.")
        @OptionGroup var cluster: ClusterOptions

        func run() async throws {
            let groups = try await cluster.withCluster { try await Admin(cluster: $0).listGroups() }
            for group in groups { print("\(group.groupId)\t\(group.protocolType.isEmpty ? "-" : group.protocolType)") }
        }
    }

    struct Describe: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per partition: committed offset, log end offset, lag, member and host."
        )
        @OptionGroup var cluster: ClusterOptions
        @Option(help: "The consumer group.") var group: String

        func run() async throws {
            let groupId = group
            let description = try await cluster.withCluster { try await Admin(cluster: $0).describeGroup(groupId) }
            print("group \(description.groupId): state \(description.state), protocol \(description.protocolType.isEmpty ? "-" : description.protocolType)/\(description.assignmentProtocol.isEmpty ? "-" : description.assignmentProtocol), \(description.members.count) members")
            print(["TOPIC", "PARTITION", "COMMITTED", "LOG-END", "LAG", "MEMBER", "HOST", "METADATA"].joined(separator: "\t"))
            for row in description.partitions {
                print([
                    row.topicPartition.topic, String(row.topicPartition.partition),
                    row.committedOffset >= 0 ? String(row.committedOffset) : "-",
                    row.logEndOffset >= 0 ? String(row.logEndOffset) : "-",
                    row.lag.map(String.init) ?? "-", row.memberId ?? "-", row.host ?? "-", row.metadata ?? "",
                ].joined(separator: "\t"))
            }
        }
    }
}
