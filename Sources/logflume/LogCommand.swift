import ArgumentParser
import Foundation
import Logging
import LogflumeStorage
import LogflumeWire
import NIOCore

/// Operator tools for a partition directory on disk.
struct LogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log",
        abstract: "Inspect and exercise partition log directories.",
        subcommands: [LogVerifyCommand.self, LogAppendCommand.self]
    )
}

/// Checks every batch checksum and index entry of a partition directory, like Kafka's
/// DumpLogSegments --verify; exits non-zero when anything disagrees.
struct LogVerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "verify", abstract: "Verify a partition directory.")

    @Argument(help: "The partition directory (segments named by base offset).")
    var directory: String

    func run() throws {
        let log = try PartitionLog.open(directory: directory, logger: makeLogger(level: .warning))
        defer { try? log.close() }
        let report = try log.verify()
        print("\(directory): \(report.segments) segments, \(report.batches) batches, \(report.records) records, \(report.bytes) bytes")
        print("log start offset \(log.logStartOffset), log end offset \(log.logEndOffset)")
        for problem in report.problems { print("problem: \(problem)") }
        if !report.isConsistent { throw ExitCode(1) }
        print("consistent")
    }
}

/// Appends numbered records forever (until killed), printing each acknowledged last offset.
/// The record at offset N has the value `r-N`, so a checker can prove the log is a prefix of
/// what was appended. Used by the demo and the crash tests as the process to SIGKILL.
struct LogAppendCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "append-numbered",
        abstract: "Append numbered records until killed (crash drills).",
        shouldDisplay: false
    )

    @Option(name: .customLong("data-dir"), help: "Partition directory.")
    var directory: String

    @Option(help: "Records per batch.")
    var recordsPerBatch = 10

    @Option(help: "Bytes per record value (padded).")
    var valueBytes = 100

    @Option(help: "segment.bytes for the log.")
    var segmentBytes = 1 << 20

    @Flag(inversion: .prefixedNo, help: "fsync every append before acknowledging it.")
    var fsyncPerAppend = true

    @Option(help: "Stop after this many batches (default: run until killed).")
    var maxBatches: Int?

    func run() throws {
        var config = LogConfig()
        config.segmentBytes = segmentBytes
        config.flushMessages = fsyncPerAppend ? 1 : .max
        let log = try PartitionLog.open(directory: directory, config: config, logger: makeLogger(level: .warning))
        var batches = 0
        while maxBatches.map({ batches < $0 }) ?? true {
            let base = log.logEndOffset
            let batch = try NumberedRecords.batch(from: base, count: recordsPerBatch, valueBytes: valueBytes)
            let info = try log.append(batch)
            let line = "\(info.lastOffset)\n"
            _ = line.withCString { write(1, $0, strlen($0)) }
            batches += 1
        }
        try log.close()
    }
}

/// The numbered-record convention shared by the appender and its checkers.
enum NumberedRecords {
    static func value(for offset: Int64, valueBytes: Int) -> [UInt8] {
        var bytes = Array("r-\(offset)".utf8)
        if bytes.count < valueBytes { bytes += [UInt8](repeating: UInt8(ascii: " "), count: valueBytes - bytes.count) }
        return bytes
    }

    static func batch(from base: Int64, count: Int, valueBytes: Int) throws -> RecordBatch {
        var builder = RecordBatchBuilder(baseOffset: base)
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        for i in 0..<count {
            builder.append(key: nil, value: value(for: base + Int64(i), valueBytes: valueBytes), timestamp: now)
        }
        return try builder.build()
    }

    /// Offsets whose record does not carry its own number (empty when the log is a clean prefix).
    static func mismatches(in log: PartitionLog) throws -> [Int64] {
        var wrong: [Int64] = []
        var expected = log.logStartOffset
        try log.forEachRecord(from: expected) { record, _ in
            let text = record.value.map { String(buffer: $0) } ?? ""
            if !text.hasPrefix("r-\(record.offset)") || record.offset != expected { wrong.append(record.offset) }
            expected = record.offset + 1
        }
        return wrong
    }
}

func makeLogger(level: Logger.Level) -> Logger {
    var logger = Logger(label: "logflume") { StreamLogHandler.standardError(label: $0) }
    logger.logLevel = level
    return logger
}
