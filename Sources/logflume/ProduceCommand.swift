import ArgumentParser
import Foundation
import LogflumeClient
import LogflumeWire
import NIOCore
import NIOPosix

/// `logflume produce`: every line of standard input becomes one record.
struct ProduceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "produce",
        abstract: "Produce the lines of standard input as records.",
        discussion: """
            Each line (without its newline) is one record's value; with --key-separator the part \
            before the first separator is the key. Exits non-zero when any record was not \
            delivered. A summary (records, bytes, seconds) goes to standard error.
            """
    )

    @OptionGroup var cluster: ClusterOptions

    @Option(help: "Topic to produce to.")
    var topic: String

    @Option(name: .customLong("key-separator"), help: "Split each line into key and value at the first SEP (\\t, \\xHH escapes allowed).")
    var keySeparator: String?

    @Option(help: "Partition for every record (default: murmur2 of the key, sticky for lines without a key).")
    var partition: Int32?

    @Option(help: "Compression: none, gzip, snappy, lz4 or zstd.")
    var codec: String = "none"

    @Option(help: "Acknowledgements: 0, 1 or all. Idempotence is on with all.")
    var acks: String = "all"

    @Option(name: .customLong("linger-ms"), help: "How long a batch waits for more lines.")
    var lingerMs: Int64 = 5

    @Option(name: .customLong("batch-bytes"), help: "Largest batch before compression.")
    var batchBytes: Int = 1 << 20

    @Option(name: .customLong("header"), help: "KEY=VALUE header for every record; repeat for more.")
    var headers: [String] = []

    func validate() throws {
        guard CompressionCodec(name: codec) != nil else { throw ValidationError("--codec must be none, gzip, snappy, lz4 or zstd") }
        guard ProducerConfiguration.Acks(name: acks) != nil else { throw ValidationError("--acks must be 0, 1 or all") }
        if let keySeparator, unescape(keySeparator).isEmpty { throw ValidationError("--key-separator must not be empty") }
        if let partition, partition < 0 { throw ValidationError("--partition must be >= 0") }
    }

    func run() async throws {
        var configuration = ProducerConfiguration()
        configuration.acks = ProducerConfiguration.Acks(name: acks)!
        configuration.compression = CompressionCodec(name: codec)!
        configuration.lingerMs = lingerMs
        configuration.batchBytes = batchBytes
        let separator = keySeparator.map(unescape) ?? []
        let recordHeaders = try parseConfigs(headers).sorted { $0.key < $1.key }.map { RecordHeader(key: $0.key, value: ByteBuffer(string: $0.value)) }
        let topic = self.topic
        let partition = self.partition

        let started = Date()
        let outcome = try await cluster.withCluster { cluster -> ProduceSummary in
            // Fail fast when no broker answers or the topic does not exist (and is not being
            // created by the broker's auto.create.topics.enable).
            let deadline = Date().addingTimeInterval(5)
            while true {
                do {
                    _ = try await cluster.topicMetadata(topic, allowAutoTopicCreation: true)
                    break
                } catch KafkaClientError.unknownTopicOrPartition, KafkaClientError.broker(.leaderNotAvailable, _, _) {
                    guard Date() < deadline else { throw KafkaClientError.unknownTopicOrPartition(topic: topic, partition: nil) }
                    try await Task.sleep(nanoseconds: 200_000_000)
                }
            }
            let producer = try Producer(cluster: cluster, configuration: configuration)
            var summary = ProduceSummary()
            do {
                try await StandardInputLines.forEach { line in
                    var key: ByteBuffer?
                    var value = line
                    if !separator.isEmpty, let at = line.firstIndex(of: separator) {
                        key = line.getSlice(at: line.readerIndex, length: at)
                        value = line.getSlice(at: line.readerIndex + at + separator.count, length: line.readableBytes - at - separator.count)!
                    }
                    try await producer.enqueue(ProducerRecord(topic: topic, partition: partition, key: key, value: value, headers: recordHeaders))
                    summary.records += 1
                    summary.bytes += line.readableBytes
                }
                try await producer.flush()
            } catch let error as ProducerError {
                summary.failure = error
            } catch {
                await producer.close()
                throw error
            }
            await producer.close()
            return summary
        }
        let seconds = max(Date().timeIntervalSince(started), 1e-6)
        let rate = Double(outcome.records) / seconds
        let megabytes = Double(outcome.bytes) / 1e6 / seconds
        FileHandle.standardError.write(Data((String(
            format: "logflume produce: %d records, %d bytes in %.2f s (%.0f records/s, %.1f MB/s)\n",
            outcome.records, outcome.bytes, seconds, rate, megabytes
        )).utf8))
        if let failure = outcome.failure {
            FileHandle.standardError.write(Data("logflume produce: \(failure)\n".utf8))
            throw ExitCode.failure
        }
    }
}

struct ProduceSummary: Sendable {
    var records = 0
    var bytes = 0
    var failure: ProducerError?
}

/// Turns `\t`, `\n`, `\r`, `\\` and `\xHH` into bytes, so separators can be typed.
func unescape(_ text: String) -> [UInt8] {
    var out: [UInt8] = []
    var bytes = Array(text.utf8)[...]
    while let byte = bytes.popFirst() {
        guard byte == UInt8(ascii: "\\"), let next = bytes.first else {
            out.append(byte)
            continue
        }
        switch next {
        case UInt8(ascii: "t"): out.append(9); bytes.removeFirst()
        case UInt8(ascii: "n"): out.append(10); bytes.removeFirst()
        case UInt8(ascii: "r"): out.append(13); bytes.removeFirst()
        case UInt8(ascii: "\\"): out.append(92); bytes.removeFirst()
        case UInt8(ascii: "x") where bytes.count >= 3:
            if let value = UInt8(String(decoding: bytes.dropFirst().prefix(2), as: UTF8.self), radix: 16) {
                out.append(value)
                bytes.removeFirst(3)
            } else {
                out.append(byte)
            }
        default:
            out.append(byte)
        }
    }
    return out
}

extension ByteBuffer {
    /// Index (relative to the reader index) of the first occurrence of `needle`.
    func firstIndex(of needle: [UInt8]) -> Int? {
        guard let first = needle.first else { return nil }
        return withUnsafeReadableBytes { haystack -> Int? in
            guard let base = haystack.baseAddress else { return nil }
            var from = 0
            while haystack.count - from >= needle.count, let hit = memchr(base + from, Int32(first), haystack.count - from - needle.count + 1) {
                let at = base.distance(to: UnsafeRawPointer(hit))
                if needle.count == 1 || memcmp(base + at, needle, needle.count) == 0 { return at }
                from = at + 1
            }
            return nil
        }
    }
}

/// Standard input in 1 MiB reads on a thread of its own (reads block), one read ahead of the
/// lines being handed out; each line is a slice of its chunk, copied only when it spans two.
enum StandardInputLines {
    static let chunkSize = 1 << 20

    static func forEach(_ body: (ByteBuffer) async throws -> Void) async throws {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        defer { pool.shutdownGracefully { _ in } }
        var carry: ByteBuffer?
        var next = Task { try await pool.runIfActive { try readChunk() } }
        while true {
            let chunk = try await next.value
            if chunk.readableBytes == 0 {
                if let carry { try await body(carry) }
                return
            }
            next = Task { try await pool.runIfActive { try readChunk() } }
            let newlines = chunk.withUnsafeReadableBytes { raw -> [Int] in
                var positions: [Int] = []
                positions.reserveCapacity(raw.count / 64)
                var from = 0
                while from < raw.count, let hit = memchr(raw.baseAddress! + from, 10, raw.count - from) {
                    let at = raw.baseAddress!.distance(to: UnsafeRawPointer(hit))
                    positions.append(at)
                    from = at + 1
                }
                return positions
            }
            var start = 0
            for at in newlines {
                let piece = chunk.getSlice(at: chunk.readerIndex + start, length: at - start)!
                if var pending = carry {
                    pending.writeImmutableBuffer(piece)
                    carry = nil
                    try await body(pending)
                } else {
                    try await body(piece)
                }
                start = at + 1
            }
            if start < chunk.readableBytes {
                let rest = chunk.getSlice(at: chunk.readerIndex + start, length: chunk.readableBytes - start)!
                if carry == nil { carry = ByteBuffer() }
                carry!.writeImmutableBuffer(rest)
            }
        }
    }

    /// One read(2) of up to `chunkSize` bytes; empty at end of input.
    static func readChunk() throws -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: chunkSize)
        try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: chunkSize) { raw -> Int in
            while true {
                let count = read(0, raw.baseAddress, raw.count)
                if count >= 0 { return count }
                if errno == EINTR { continue }
                throw ValidationError("reading standard input: \(String(cString: strerror(errno)))")
            }
        }
        return buffer
    }
}
