import ArgumentParser
import Foundation
import LogflumeClient
import LogflumeWire
import NIOCore

/// `logflume consume`: prints records of a topic's partitions.
struct ConsumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consume",
        abstract: "Print the records of a topic.",
        discussion: """
            --format value prints each value on a line of its own; --format full prints \
            partition, offset, timestamp, key, value and headers (k=v,k=v) separated by tabs, \
            with \\N for null. --from takes earliest, latest, an offset (negative: that many \
            before the end), or @TIMESTAMP_MS for the first record at or after that time.
            """
    )

    enum Format: String, ExpressibleByArgument, CaseIterable {
        case value
        case full
    }

    @OptionGroup var cluster: ClusterOptions

    @Option(help: "Topic to read.")
    var topic: String

    @Option(help: "Partition to read (default: all).")
    var partition: Int32?

    @Option(help: "Where to start: earliest, latest, OFFSET or @TIMESTAMP_MS.")
    var from: String = "earliest"

    @Option(help: "value or full.")
    var format: Format = .value

    @Flag(name: .customLong("exit-at-end"), help: "Stop at the end offsets the partitions have when reading starts.")
    var exitAtEnd = false

    @Option(name: .customLong("max-records"), help: "Stop after this many records.")
    var maxRecords: Int?

    @Option(help: "Consume as a member of this consumer group: read the partitions the group assigns, from its committed offsets (--from earliest or latest applies where none is), committing after each batch.")
    var group: String?

    @Option(help: "With --group: the assignors to offer, in order of preference, comma-separated (range, roundrobin, cooperative-sticky). cooperative-sticky alone makes the member cooperative: a rebalance takes only the partitions that move.")
    var assignor: String = "range,roundrobin"

    func parseAssignors() throws -> [PartitionAssignor] {
        let names = assignor.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let assignors = try names.map { name in
            guard let assignor = PartitionAssignor(rawValue: name) else {
                throw ValidationError("--assignor: unknown assignor '\(name)' (known: \(PartitionAssignor.allCases.map(\.name).joined(separator: ", ")))")
            }
            return assignor
        }
        guard !assignors.isEmpty else { throw ValidationError("--assignor needs at least one assignor") }
        return assignors
    }

    /// Records asked for per poll: each poll is a hop to the consumer's actor and a write.
    static let pollSize = 4096

    enum Start {
        case position(StartPosition)
        case fromEnd(Int64)
    }

    func parseStart() throws -> Start {
        switch from.lowercased() {
        case "earliest", "beginning": return .position(.earliest)
        case "latest", "end": return .position(.latest)
        default:
            if from.hasPrefix("@"), let time = Int64(from.dropFirst()) { return .position(.timestamp(time)) }
            if let offset = Int64(from) { return offset >= 0 ? .position(.offset(offset)) : .fromEnd(-offset) }
            throw ValidationError("--from must be earliest, latest, an offset or @TIMESTAMP_MS, not '\(from)'")
        }
    }

    func validate() throws {
        _ = try parseStart()
        if let maxRecords, maxRecords < 0 { throw ValidationError("--max-records must be >= 0") }
        _ = try parseAssignors()
        if group != nil {
            if partition != nil { throw ValidationError("--partition cannot be used with --group (the group assigns partitions)") }
            if case .position(let start) = try parseStart(), start == .earliest || start == .latest {} else {
                throw ValidationError("with --group, --from must be earliest or latest")
            }
        }
    }

    /// `--group`: a group member that prints each poll's records, then commits them.
    func runGroup(_ groupId: String) async throws {
        let topic = self.topic
        let exitAtEnd = self.exitAtEnd
        let limit = maxRecords ?? .max
        let format = self.format
        var configuration = GroupConsumerConfiguration()
        configuration.assignors = try parseAssignors()
        if case .position(.latest) = try parseStart() { configuration.autoOffsetReset = .latest }
        try await cluster.withCluster { cluster in
            _ = try await cluster.topicMetadata(topic)
            let member = GroupConsumer(cluster: cluster, groupId: groupId, topics: [topic], configuration: configuration)
            // Rebalances go to stderr, one line each, so a person (or a test) sees what moved.
            await member.onRebalance { event in
                FileHandle.standardError.write(Data("logflume: rebalance: \(event)\n".utf8))
            }
            let output = StandardOutput()
            var printed = 0
            do {
                while printed < limit {
                    let runs = try await member.pollRecords(maxRecords: min(Self.pollSize, limit - printed), timeoutMs: 500)
                    printed += try output.append(runs, format: format)
                    try output.flush()
                    if !runs.isEmpty { try await member.commit() }
                    if exitAtEnd && runs.isEmpty {
                        let assigned = await member.assignment
                        let ends = try await cluster.listOffsets(Dictionary(assigned.map { ($0, Int64(-1)) }, uniquingKeysWith: { a, _ in a }))
                        var atEnd = true
                        for tp in assigned {
                            let position = await member.position(of: tp) ?? -1
                            if position < (ends[tp]?.offset ?? 0) { atEnd = false }
                        }
                        if atEnd { break }
                    }
                }
                try output.flush()
                try await member.commit()
            } catch {
                await member.close()
                throw error
            }
            await member.close()
        }
    }

    func run() async throws {
        if let group { return try await runGroup(group) }
        let start = try parseStart()
        let topic = self.topic
        let partition = self.partition
        let exitAtEnd = self.exitAtEnd
        let limit = maxRecords ?? .max
        let format = self.format
        try await cluster.withCluster { cluster in
            let metadata = try await cluster.topicMetadata(topic)
            let partitions: [TopicPartition]
            if let partition {
                guard metadata.partition(partition) != nil else {
                    throw KafkaClientError.unknownTopicOrPartition(topic: topic, partition: partition)
                }
                partitions = [TopicPartition(topic, partition)]
            } else {
                partitions = metadata.partitions.map { TopicPartition(topic, $0.partition) }
            }
            let consumer = Consumer(cluster: cluster)
            var ends: [TopicPartition: Int64] = [:]
            switch start {
            case .position(let position):
                try await consumer.assign(Dictionary(partitions.map { ($0, position) }, uniquingKeysWith: { a, _ in a }))
                if exitAtEnd { ends = try await consumer.endOffsets(partitions) }
            case .fromEnd(let count):
                try await consumer.assign(Dictionary(partitions.map { ($0, StartPosition.latest) }, uniquingKeysWith: { a, _ in a }))
                ends = try await consumer.endOffsets(partitions)
                for tp in partitions { try await consumer.seek(tp, to: .offset(max(0, (ends[tp] ?? 0) - count))) }
            }
            var unfinished = Set(partitions)
            let output = StandardOutput()
            var printed = 0
            func updateFinished() async {
                guard exitAtEnd else { return }
                for tp in unfinished {
                    if let end = ends[tp], let position = await consumer.position(of: tp), position >= end { unfinished.remove(tp) }
                }
            }
            await updateFinished()
            while printed < limit && !(exitAtEnd && unfinished.isEmpty) {
                let runs = try await consumer.pollRecords(maxRecords: min(Self.pollSize, limit - printed), timeoutMs: 500)
                printed += try output.append(runs, format: format, before: exitAtEnd ? ends : [:])
                try output.flush()
                await updateFinished()
            }
            try output.flush()
            await consumer.close()
        }
    }
}
