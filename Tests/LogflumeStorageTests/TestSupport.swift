import Foundation
import Logging
import LogflumeStorage
import LogflumeWire
import NIOCore
import Synchronization

/// A fresh directory under /tmp, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init(_ name: String = "log") {
        var template = Array("/tmp/logflume-test-\(name)-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(made != nil, "mkdtemp failed")
        path = String(cString: template.withUnsafeBufferPointer { $0.baseAddress! })
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }
}

/// Log lines captured for assertions about what operators are told.
final class LogCapture: Sendable {
    let lines = Mutex<[String]>([])

    var logger: Logger {
        var logger = Logger(label: "test") { _ in CapturingHandler(capture: self) }
        logger.logLevel = .debug
        return logger
    }

    var all: [String] { lines.withLock { $0 } }

    struct CapturingHandler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .debug
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let merged = metadata.merging(event.metadata ?? [:]) { $1 }
            let text = "\(event.level) \(event.message) " + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            capture.lines.withLock { $0.append(text) }
        }
    }
}

/// A batch of `count` records whose values are "<prefix>-<i>", timestamps from `timestamp` on.
func makeBatch(
    _ prefix: String, count: Int = 1, timestamp: Int64 = 1_000, keys: [String?]? = nil, valueBytes: Int = 0,
    compression: CompressionCodec = .none
) -> RecordBatch {
    var builder = RecordBatchBuilder(compression: compression)
    for i in 0..<count {
        var value = Array("\(prefix)-\(i)".utf8)
        if valueBytes > value.count { value += Array(repeating: UInt8(ascii: "x"), count: valueBytes - value.count) }
        let key = keys?[i].map { Array($0.utf8) }
        builder.append(key: key, value: value, timestamp: timestamp + Int64(i))
    }
    return try! builder.build()
}

extension PartitionLog {
    /// Every record value from `offset` to the end, as strings, without makeBatch's "x" padding.
    func values(from offset: Int64 = 0) throws -> [String] {
        try records(from: offset).map { record in
            var text = String(buffer: record.value ?? ByteBuffer())
            while text.hasSuffix("x") { text.removeLast() }
            return text
        }
    }

    func records(from offset: Int64 = 0) throws -> [Record] {
        var result: [Record] = []
        var next = max(offset, logStartOffset)
        while next < logEndOffset {
            let batches = try readBatches(from: next, maxBytes: 1 << 20)
            guard let last = batches.last else { break }
            for batch in batches { result += try batch.records().filter { $0.offset >= next } }
            next = last.nextOffset
        }
        return result
    }
}

func fileSize(_ path: String) -> Int {
    (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? -1
}

func listing(_ directory: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
}
