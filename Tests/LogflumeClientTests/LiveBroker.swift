import Foundation
import Logging
import LogflumeClient
import LogflumeTestSupport
import NIOCore
import NIOPosix
import Testing

/// A real `logflume broker` in a child process on a free port, for tests that need sockets.
/// The client test target does not depend on the executable: run `swift build --product
/// logflume` first; without the binary these tests are skipped.
final class LiveBroker: @unchecked Sendable {
    let port: Int
    let dataDirectory: String
    private var process: Process?
    private let logPath: String
    private let configPath: String?

    var bootstrap: String { "127.0.0.1:\(port)" }

    /// The built `logflume` next to the test binary, or nil.
    static let binary: URL? = {
        guard let testBinary = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
        var directory = URL(fileURLWithPath: testBinary).deletingLastPathComponent()
        for _ in 0..<3 {
            let candidate = directory.appendingPathComponent("logflume")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory = directory.deletingLastPathComponent()
        }
        return nil
    }()

    static var isAvailable: Bool { binary != nil }

    /// - Parameter config: the text of a `--config` file (conf/broker.toml keys), if any.
    init(config: String? = nil) throws {
        port = try freeLoopbackPort()
        var template = Array("/tmp/logflume-client-XXXXXX".utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else { throw LiveTestError("mkdtemp failed") }
        dataDirectory = String(cString: template.withUnsafeBufferPointer { $0.baseAddress! })
        logPath = dataDirectory + "/broker.log"
        if let config {
            configPath = dataDirectory + "/broker.toml"
            try config.write(toFile: configPath!, atomically: true, encoding: .utf8)
        } else {
            configPath = nil
        }
        try start()
    }

    deinit {
        stop(signal: SIGKILL)
        try? FileManager.default.removeItem(atPath: dataDirectory)
    }

    func start() throws {
        guard let binary = Self.binary else { throw LiveTestError("logflume binary not built") }
        let child = Process()
        child.executableURL = binary
        child.arguments = ["broker", "--listen", bootstrap, "--data-dir", dataDirectory + "/data"] + (configPath.map { ["--config", $0] } ?? [])
        if !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        child.standardOutput = log
        child.standardError = log
        try child.run()
        process = child
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if Self.canConnect(port: port) { return }
            guard child.isRunning else { throw LiveTestError("broker exited: \(brokerLog)") }
            usleep(20_000)
        }
        throw LiveTestError("broker did not listen on \(bootstrap) within 20 s: \(brokerLog)")
    }

    func stop(signal: Int32 = SIGTERM) {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        self.process = nil
    }

    var brokerLog: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    static func canConnect(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    /// A one-partition topic written in `flushes` rounds of `recordsPerFlush` records, each
    /// round flushed (so mostly a batch each); `value(round, index)` gives each record's value.
    func createTopicOfFlushes(_ topic: String, flushes: Int, recordsPerFlush: Int, value: @Sendable (Int, Int) -> String) async throws {
        try await withCluster { cluster in
            try await Admin(cluster: cluster).createTopic(name: topic, partitions: 1, replicationFactor: 1)
            let producer = try Producer(cluster: cluster)
            for round in 0..<flushes {
                for i in 0..<recordsPerFlush {
                    try await producer.enqueue(ProducerRecord(topic: topic, partition: 0, value: ByteBuffer(string: value(round, i))))
                }
                try await producer.flush()
            }
            await producer.close()
        }
    }

    /// Rewrites one byte of the second batch in a partition's first segment, behind the
    /// broker's back (a failing disk, or a log an older writer left); `position` counts from the
    /// batch's first byte. Returns the batch's base offset, read from its header: a producer may
    /// have split the first flush's records over more batches than the test sent.
    func rewriteSecondBatch(of topic: String, partition: Int32 = 0, at position: Int, _ change: (UInt8) -> UInt8) throws -> Int64 {
        let segment = dataDirectory + "/data/\(topic)-\(partition)/" + String(repeating: "0", count: 20) + ".log"
        let file = try FileHandle(forUpdating: URL(fileURLWithPath: segment))
        defer { try? file.close() }
        guard let header = try file.read(upToCount: 12), header.count == 12 else { throw LiveTestError("\(segment) holds no batch") }
        let secondBatch = UInt64(header[8..<12].reduce(0) { $0 << 8 | Int($1) } + 12)
        try file.seek(toOffset: secondBatch)
        guard let secondHeader = try file.read(upToCount: 8), secondHeader.count == 8 else { throw LiveTestError("\(segment) holds one batch") }
        try file.seek(toOffset: secondBatch + UInt64(position))
        guard let byte = try file.read(upToCount: 1)?.first else { throw LiveTestError("\(segment) ends before byte \(position) of its second batch") }
        try file.seek(toOffset: secondBatch + UInt64(position))
        try file.write(contentsOf: Data([change(byte)]))
        return Int64(secondHeader.reduce(0) { $0 << 8 | Int($1) })
    }

    /// Runs `body` with a cluster client for this broker, closing it afterwards.
    func withCluster<T>(_ body: (KafkaCluster) async throws -> T) async throws -> T {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let logger = testLogger("test")
        let cluster = try KafkaCluster(configuration: ClusterConfiguration(bootstrap: bootstrap, clientId: "client-tests"), group: group, logger: logger)
        do {
            let result = try await body(cluster)
            await cluster.close()
            try await group.shutdownGracefully()
            return result
        } catch {
            await cluster.close()
            try? await group.shutdownGracefully()
            throw error
        }
    }

    /// Runs the logflume binary with `arguments`, feeding `input`; returns exit status, stdout, stderr.
    static func run(_ arguments: [String], input: Data = Data()) throws -> (status: Int32, stdout: Data, stderr: Data) {
        try runProcess(binary!, arguments, input: input)
    }
}

/// Runs a program to completion, with stdout and stderr collected through files (no pipe
/// deadlocks on large outputs).
func runProcess(_ executable: URL, _ arguments: [String], input: Data = Data()) throws -> (status: Int32, stdout: Data, stderr: Data) {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("logflume-run-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let inPath = directory.appendingPathComponent("in")
    let outPath = directory.appendingPathComponent("out")
    let errPath = directory.appendingPathComponent("err")
    try input.write(to: inPath)
    _ = FileManager.default.createFile(atPath: outPath.path, contents: nil)
    _ = FileManager.default.createFile(atPath: errPath.path, contents: nil)
    let child = Process()
    child.executableURL = executable
    child.arguments = arguments
    child.standardInput = try FileHandle(forReadingFrom: inPath)
    child.standardOutput = try FileHandle(forWritingTo: outPath)
    child.standardError = try FileHandle(forWritingTo: errPath)
    try child.run()
    child.waitUntilExit()
    return (child.terminationStatus, try Data(contentsOf: outPath), try Data(contentsOf: errPath))
}

func which(_ program: String) -> URL? {
    for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
        let candidate = URL(fileURLWithPath: String(directory)).appendingPathComponent(program)
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
    }
    return nil
}

struct LiveTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
