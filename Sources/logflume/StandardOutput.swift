import ArgumentParser
import Foundation
import LogflumeClient
import LogflumeStorage
import LogflumeWire
import NIOCore

/// What `logflume consume` prints, written to standard output in large gathered writes; a closed
/// pipe ends the command quietly.
///
/// Values of at least `referenceBytes` are not copied: the write points into the fetched
/// buffers themselves (their storage is retained until written), so printing costs no pass over
/// the bytes in user space. Shorter values, newlines and `--format full` lines are copied into a
/// staging buffer, which costs less than a vector entry each.
final class StandardOutput {
    private static let flushBytes = 1 << 20
    private static let referenceBytes = 256

    /// A stretch of output: `length` bytes of the staging buffer from `start` (`base` nil), or of
    /// a fetched buffer at `base`.
    private struct Segment {
        var base: UnsafeRawPointer?
        var start: Int
        var length: Int
    }

    private var staging: [UInt8] = []
    /// Where the staged bytes not yet in a segment begin.
    private var stagedFrom = 0
    private var segments: [Segment] = []
    /// Storage of the fetched buffers segments point into, retained once per run of segments
    /// sharing it (records of one fetch share one buffer).
    private var retained: [Unmanaged<AnyObject>] = []
    private var pendingBytes = 0

    init() { staging.reserveCapacity(Self.flushBytes + (64 << 10)) }

    deinit { releaseRetained() }

    /// Appends the records of `runs` below their partition's offset in `ends` (all of a
    /// partition that has none); returns how many. Polls ask for no more than `--max-records`
    /// leaves, so every record handed over is printed.
    func append(_ runs: [ConsumedRecords], format: ConsumeCommand.Format, before ends: [TopicPartition: Int64] = [:]) throws -> Int {
        var count = 0
        for run in runs {
            let end = ends[run.topicPartition] ?? .max
            for record in run.records {
                if record.offset >= end { break }
                try append(record, partition: run.topicPartition.partition, format: format)
                count += 1
            }
        }
        return count
    }

    /// `value`: the value and a newline. `full`: partition, offset, timestamp, key, value and
    /// headers, tab-separated.
    private func append(_ record: Record, partition: Int32, format: ConsumeCommand.Format) throws {
        let before = staging.count
        switch format {
        case .value:
            if let value = record.value {
                if value.readableBytes >= Self.referenceBytes { reference(value) } else { stage(value) }
            }
        case .full:
            staging.append(contentsOf: "\(partition)\t\(record.offset)\t\(record.timestamp)\t".utf8)
            stageNullable(record.key)
            staging.append(9)
            stageNullable(record.value)
            staging.append(9)
            for (index, header) in record.headers.enumerated() {
                if index > 0 { staging.append(UInt8(ascii: ",")) }
                staging.append(contentsOf: header.key.utf8)
                staging.append(UInt8(ascii: "="))
                stageNullable(header.value)
            }
        }
        staging.append(10)
        pendingBytes += staging.count - before
        if pendingBytes >= Self.flushBytes { try flush() }
    }

    private func stageNullable(_ buffer: ByteBuffer?) {
        if let buffer { stage(buffer) } else { staging.append(contentsOf: "\\N".utf8) }
    }

    private func stage(_ buffer: ByteBuffer) {
        buffer.withUnsafeReadableBytes { staging.append(contentsOf: $0) }
    }

    private func reference(_ buffer: ByteBuffer) {
        closeStagedSegment()
        buffer.withUnsafeReadableBytesWithStorageManagement { bytes, storage in
            if retained.last?.toOpaque() != storage.toOpaque() { retained.append(storage.retain()) }
            segments.append(Segment(base: UnsafeRawPointer(bytes.baseAddress), start: 0, length: bytes.count))
            pendingBytes += bytes.count
        }
    }

    private func closeStagedSegment() {
        guard staging.count > stagedFrom else { return }
        segments.append(Segment(base: nil, start: stagedFrom, length: staging.count - stagedFrom))
        stagedFrom = staging.count
    }

    private func releaseRetained() {
        for storage in retained { storage.release() }
        retained.removeAll(keepingCapacity: true)
    }

    func flush() throws {
        closeStagedSegment()
        defer {
            staging.removeAll(keepingCapacity: true)
            stagedFrom = 0
            segments.removeAll(keepingCapacity: true)
            releaseRetained()
            pendingBytes = 0
        }
        let code = staging.withUnsafeBytes { staged in
            let vectors = segments.map { segment in
                iovec(iov_base: UnsafeMutableRawPointer(mutating: (segment.base ?? staged.baseAddress!) + segment.start), iov_len: segment.length)
            }
            return GatheredWrite.writeAll(vectors) { vectors, _ in (writev(1, vectors.baseAddress!, Int32(vectors.count)), errno) }
        }
        switch code {
        case 0: return
        case EPIPE: throw ExitCode.success
        default: throw ValidationError("writing standard output: \(String(cString: strerror(code)))")
        }
    }
}
