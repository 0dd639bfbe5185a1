import ArgumentParser
import Foundation
import LogflumeStorage

/// The quick start's "run" command for now: appends in a child process with fsync per append,
/// SIGKILLs it at random moments, reopens the log after each kill and proves that every
/// acknowledged record survived and that the log is an exact prefix of what was written.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Append, SIGKILL, recover and read back a partition log."
    )

    @Option(name: .customLong("data-dir"), help: "Where the demo partition lives.")
    var dataDirectory = "./demo-data"

    @Option(help: "How many times to kill the appender.")
    var rounds = 5

    @Option(help: "Longest time, in milliseconds, the appender runs before each kill.")
    var maxRunMs = 600

    @Flag(help: "Keep the data from an earlier run and append to it.")
    var keep = false

    func run() throws {
        let partition = dataDirectory + "/demo-events-0"
        if !keep { try? FileManager.default.removeItem(atPath: partition) }
        try FileManager.default.createDirectory(atPath: partition, withIntermediateDirectories: true)
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        print("logflume demo: a partition log under SIGKILL")
        print("partition directory \(partition) (segment.bytes 1 MiB, fsync per append)")
        var generator = SystemRandomNumberGenerator()
        for round in 1...rounds {
            let acksPath = dataDirectory + "/acks-\(round).txt"
            guard FileManager.default.createFile(atPath: acksPath, contents: nil) else {
                throw ValidationError("cannot create \(acksPath)")
            }
            let acks = try FileHandle(forWritingTo: URL(fileURLWithPath: acksPath))
            let child = Process()
            child.executableURL = URL(fileURLWithPath: executable)
            child.arguments = ["log", "append-numbered", "--data-dir", partition]
            child.standardOutput = acks
            let started = Date()
            try child.run()
            let runMs = Int.random(in: max(50, maxRunMs / 4)...max(50, maxRunMs), using: &generator)
            usleep(UInt32(runMs * 1000))
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
            try acks.close()
            let ran = Date().timeIntervalSince(started)
            let lastAcked = Self.lastAcknowledged(in: acksPath)

            let reopenStart = Date()
            let log = try PartitionLog.open(directory: partition, logger: makeLogger(level: .warning))
            let reopenMs = Date().timeIntervalSince(reopenStart) * 1000
            let end = log.logEndOffset
            let wrong = try NumberedRecords.mismatches(in: log)
            let verification = try log.verify()
            try log.close()
            print(String(format: "round %d: appender (pid %d) killed after %.2f s; last acknowledged offset %@", round, child.processIdentifier, ran, lastAcked.map(String.init) ?? "none"))
            print(String(format: "         reopened in %.1f ms: log end offset %lld, %@, %@", reopenMs, end,
                         wrong.isEmpty ? "every offset holds its own record" : "\(wrong.count) offsets hold the wrong record",
                         verification.isConsistent ? "indexes agree with the log" : "PROBLEMS: \(verification.problems)"))
            guard (lastAcked ?? -1) < end else {
                print("LOST acknowledged records: last acknowledged \(lastAcked!) but the log ends at \(end)")
                throw ExitCode(1)
            }
            guard wrong.isEmpty, verification.isConsistent else { throw ExitCode(1) }
            try? FileManager.default.removeItem(atPath: acksPath)
        }
        let log = try PartitionLog.open(directory: partition, logger: makeLogger(level: .warning))
        let report = try log.verify()
        print("read back: \(report.records) records in \(report.segments) segments (\(report.bytes) bytes), offsets \(log.logStartOffset)..<\(log.logEndOffset), nothing acknowledged was lost")
        try log.close()
        print("inspect it with: logflume log verify \(partition)")
    }

    /// The last complete line of the appender's acknowledgements (a kill may cut the last one).
    static func lastAcknowledged(in path: String) -> Int64? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        let complete = text.hasSuffix("\n") ? text : String(text[..<(text.lastIndex(of: "\n") ?? text.startIndex)])
        return complete.split(separator: "\n").last.flatMap { Int64($0) }
    }
}
