import Dispatch
import LogflumeWire
#if canImport(Glibc)
import Glibc
#endif

/// One part file being compressed and written off the session's task: the session encodes
/// records while this compresses the previous chunks on the shared compression queue, so the
/// two halves of the work run on two cores. Chunks are compressed in the order given, so the
/// file's bytes are the same as compressing inline.
///
/// Everything mutable is touched only on `queue` (hence the unchecked Sendable); the session
/// waits for the queue in `finish` and `abandon`, which is also where a write error surfaces.
final class CompressedPartFile: @unchecked Sendable {
    /// One serial queue for all parts of the process: compression gets one core, the session the other.
    static let queue = DispatchQueue(label: "logflume.aggregator.compression")
    /// Chunks handed over and not yet compressed, per part: bounds memory when compression is
    /// the slower half.
    private static let maxChunksInFlight = 16

    let staged: String
    private let fd: Int32
    private var compressor: StreamCompressor
    private var bytes: Int64 = 0
    private var crc: UInt32 = 0
    private var failure: (any Error)?
    private var closed = false
    private let slots = DispatchSemaphore(value: CompressedPartFile.maxChunksInFlight)

    init(staged: String, fd: Int32, compressor: StreamCompressor) {
        self.staged = staged
        self.fd = fd
        self.compressor = compressor
    }

    /// Queues `chunk` (uncompressed) for compression and writing.
    func write(_ chunk: [UInt8]) {
        slots.wait()
        Self.queue.async { [self] in
            defer { slots.signal() }
            guard failure == nil else { return }
            do {
                try compressor.write(chunk, finish: false) { output in
                    try writeAll(fd: fd, output, path: staged)
                    bytes += Int64(output.count)
                    crc = CRC32C.checksum(output, extending: crc)
                }
            } catch {
                failure = error
            }
        }
    }

    /// Compresses `last` with the end of the stream, fsyncs and closes the file.
    /// - Returns: the compressed size and its CRC-32C.
    func finish(last: [UInt8]) throws -> (bytes: Int64, crc: UInt32) {
        try Self.queue.sync { [self] () throws -> (bytes: Int64, crc: UInt32) in
            defer { close(fd); closed = true }
            if let failure { throw failure }
            try compressor.write(last, finish: true) { output in
                try writeAll(fd: fd, output, path: staged)
                bytes += Int64(output.count)
                crc = CRC32C.checksum(output, extending: crc)
            }
            guard fsync(fd) == 0 else { throw LocalFileSystemSink.Failure(operation: "fsync", path: staged, errno: errno) }
            return (bytes, crc)
        }
    }

    /// Waits for queued chunks and closes the file without finishing it (the caller discards it).
    func abandon() {
        Self.queue.sync { [self] in
            if !closed { close(fd) }
            closed = true
        }
    }
}
