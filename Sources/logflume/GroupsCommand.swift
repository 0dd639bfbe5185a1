import ArgumentParser
import Foundation
import LogflumeClient

/// `logflume groups`: what consumer groups exist, who reads what, and how far behind they are.
struct GroupsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "groups",
        abstract: "List and describe consumer groups (committed offsets, log end, lag, members).",
        subcommands: [List.self, Describe.self, ResetOffsets.self]
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

    /// Moves a group's committed offsets: the on-call tool for replaying after an outage. A dry
    /// run by default; `--execute` applies, refused while the group has live members.
    struct ResetOffsets: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reset-offsets",
            abstract: "Reset a group's committed offsets (dry run unless --execute)."
        )
        @OptionGroup var cluster: ClusterOptions
        @Option(help: "The consumer group.") var group: String
        @Option(help: "TOPIC or TOPIC:P1,P2 (default: all partitions).") var topic: String
        @Flag(help: "To each partition's log start.") var toEarliest = false
        @Flag(help: "To each partition's end.") var toLatest = false
        @Option(help: "To the first record at or after this time, e.g. 2026-11-20T10:00:00Z.") var toDatetime: String?
        @Option(help: "To this offset (clamped to the partition's range).") var toOffset: Int64?
        @Option(parsing: .unconditional, help: "Move the committed offsets by N (negative to go back).") var shiftBy: Int64?
        @Option(help: "To the first record newer than this long ago, ISO 8601 (PT1H, P1DT2H, PT30M).") var byDuration: String?
        @Flag(help: "Apply the change (otherwise only print it).") var execute = false

        func target() throws -> OffsetResetTarget {
            var targets: [OffsetResetTarget] = []
            if toEarliest { targets.append(.earliest) }
            if toLatest { targets.append(.latest) }
            if let toDatetime {
                guard let date = ISO8601DateFormatter().date(from: toDatetime) else {
                    throw ValidationError("--to-datetime '\(toDatetime)' is not an ISO 8601 time like 2026-11-20T10:00:00Z")
                }
                targets.append(.datetime(Int64(date.timeIntervalSince1970 * 1000)))
            }
            if let toOffset { targets.append(.offset(toOffset)) }
            if let shiftBy { targets.append(.shiftBy(shiftBy)) }
            if let byDuration {
                guard let ms = Self.isoDurationMilliseconds(byDuration) else {
                    throw ValidationError("--by-duration '\(byDuration)' is not an ISO 8601 duration like PT1H or P1DT30M")
                }
                targets.append(.datetime(Int64(Date().timeIntervalSince1970 * 1000) - ms))
            }
            guard targets.count == 1 else {
                throw ValidationError("give exactly one of --to-earliest, --to-latest, --to-datetime, --to-offset, --shift-by, --by-duration")
            }
            return targets[0]
        }

        /// PnDTnHnMnS (weeks and years are not accepted: they are ambiguous for offsets in time).
        static func isoDurationMilliseconds(_ text: String) -> Int64? {
            guard text.hasPrefix("P") else { return nil }
            var total: Int64 = 0
            var number = ""
            var inTime = false
            for c in text.dropFirst() {
                if c.isNumber { number.append(c); continue }
                if c == "T" { inTime = true; continue }
                guard let value = Int64(number) else { return nil }
                number = ""
                switch (c, inTime) {
                case ("D", false): total += value * 86_400_000
                case ("H", true): total += value * 3_600_000
                case ("M", true): total += value * 60_000
                case ("S", true): total += value * 1000
                default: return nil
                }
            }
            return number.isEmpty && total > 0 ? total : nil
        }

        func run() async throws {
            let target = try target()
            let parts = topic.split(separator: ":", maxSplits: 1)
            let name = String(parts[0])
            var partitions: [Int32]?
            if parts.count == 2 {
                partitions = try parts[1].split(separator: ",").map { piece in
                    guard let p = Int32(piece) else { throw ValidationError("bad partition '\(piece)' in --topic") }
                    return p
                }
            }
            let groupId = group
            let execute = self.execute
            let moves = try await cluster.withCluster { cluster in
                let admin = Admin(cluster: cluster)
                let moves = try await admin.planOffsetReset(group: groupId, topic: name, partitions: partitions, to: target)
                if execute { try await admin.executeOffsetReset(group: groupId, moves: moves) }
                return moves
            }
            print(["TOPIC", "PARTITION", "CURRENT", "NEW"].joined(separator: "\t"))
            for move in moves {
                print("\(move.topicPartition.topic)\t\(move.topicPartition.partition)\t\(move.current.map(String.init) ?? "-")\t\(move.new)")
            }
            print(execute ? "applied" : "dry run: nothing changed (add --execute to apply)")
        }
    }
}
