import Foundation
import LogflumeStorage
import LogflumeWire
import NIOCore
import Testing

/// The real thing: the logflume binary appends numbered records in a child process and is
/// SIGKILLed at random moments. After every kill the log must reopen as an exact prefix of what
/// was appended, hold every acknowledged record, and have indexes that agree with the segments.
@Suite(.serialized) struct CrashTests {
    @Test func sigkillDuringFsyncedAppendsNeverLosesAcknowledgedRecords() throws {
        try crashRounds(rounds: 20, fsyncPerAppend: true)
    }

    @Test func sigkillWithoutFsyncStillLeavesAPrefix() throws {
        // Without fsync, a killed process's writes are still in the page cache, so the log must
        // remain a prefix; only a power loss could take unflushed records.
        try crashRounds(rounds: 5, fsyncPerAppend: false)
    }

    func crashRounds(rounds: Int, fsyncPerAppend: Bool) throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let partition = dir + "/p-0"
        var rng = SystemRandomNumberGenerator()
        var previousEnd: Int64 = 0
        var totalAcknowledged: Int64 = -1
        for round in 0..<rounds {
            let acksPath = dir + "/acks-\(round)"
            FileManager.default.createFile(atPath: acksPath, contents: nil)
            let acks = try FileHandle(forWritingTo: URL(fileURLWithPath: acksPath))
            let child = Process()
            child.executableURL = try logflumeBinary()
            child.arguments = ["log", "append-numbered", "--data-dir", partition, "--segment-bytes", "65536",
                               "--records-per-batch", String(Int.random(in: 1...20, using: &rng))]
                + (fsyncPerAppend ? [] : ["--no-fsync-per-append"])
            child.standardOutput = acks
            try child.run()
            // Wait for the first acknowledgement, then kill at a random moment.
            let deadline = Date().addingTimeInterval(20)
            while fileSize(acksPath) == 0 && Date() < deadline && child.isRunning { usleep(2_000) }
            usleep(UInt32.random(in: 0...150_000, using: &rng))
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
            try acks.close()
            #expect(child.terminationReason == .uncaughtSignal)
            let lastAcked = lastAcknowledged(acksPath)
            try #require(lastAcked != nil, "round \(round): the appender acknowledged nothing")
            totalAcknowledged = max(totalAcknowledged, lastAcked!)

            let log = try PartitionLog.open(directory: partition)
            #expect(log.logEndOffset > totalAcknowledged, "round \(round): acknowledged \(totalAcknowledged) but the log ends at \(log.logEndOffset)")
            #expect(log.logEndOffset >= previousEnd, "round \(round): the log shrank below what an earlier reopen saw")
            previousEnd = log.logEndOffset
            try expectNumberedPrefix(log, round: round)
            let verification = try log.verify()
            #expect(verification.isConsistent, "round \(round): \(verification.problems)")
            #expect(verification.records == log.logEndOffset)
            // Every offset is reachable through the rebuilt indexes.
            for offset in stride(from: Int64(0), to: log.logEndOffset, by: Int64.Stride(max(1, log.logEndOffset / 50))) {
                let batch = try #require(try log.readBatches(from: offset, maxBytes: 1).first)
                #expect(batch.baseOffset <= offset && offset <= batch.lastOffset)
            }
            // Some rounds close cleanly, so reopening trusts the files; others stay "crashed".
            if round % 3 == 0 { try log.close() }
        }
    }

    func expectNumberedPrefix(_ log: PartitionLog, round: Int) throws {
        var expected: Int64 = 0
        while expected < log.logEndOffset {
            let batches = try log.readBatches(from: expected, maxBytes: 1 << 20)
            guard !batches.isEmpty else { break }
            for batch in batches {
                for record in try batch.records() {
                    let value = String(buffer: record.value ?? ByteBuffer())
                    if record.offset != expected || !value.hasPrefix("r-\(expected) ") && value != "r-\(expected)" {
                        Issue.record("round \(round): offset \(record.offset) holds \(value.prefix(20)), expected r-\(expected)")
                        return
                    }
                    expected += 1
                }
            }
        }
        #expect(expected == log.logEndOffset)
    }
}

func logflumeBinary() throws -> URL {
    let testBinary = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    var directory = URL(fileURLWithPath: testBinary).deletingLastPathComponent()
    // The xctest bundle's binary may sit inside `<name>.xctest/`; the products are beside it.
    for _ in 0..<3 {
        let candidate = directory.appendingPathComponent("logflume")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        directory = directory.deletingLastPathComponent()
    }
    throw CLITestError("logflume binary not found next to \(testBinary)")
}

func temporaryDirectory() throws -> String {
    var template = Array("/tmp/logflume-cli-XXXXXX".utf8CString)
    guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else { throw CLITestError("mkdtemp failed") }
    return String(cString: template.withUnsafeBufferPointer { $0.baseAddress! })
}

func fileSize(_ path: String) -> Int {
    (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
}

func lastAcknowledged(_ path: String) -> Int64? {
    let text = String(decoding: FileManager.default.contents(atPath: path) ?? Data(), as: UTF8.self)
    let complete = text.hasSuffix("\n") ? Substring(text) : text[..<(text.lastIndex(of: "\n") ?? text.startIndex)]
    return complete.split(separator: "\n").last.flatMap { Int64($0) }
}

struct CLITestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
