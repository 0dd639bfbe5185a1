import Dispatch
import LogflumeWire
import NIOCore
import NIOPosix
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One part file being compressed and written off the session's task. Each chunk the session
/// hands over becomes an independent gzip member or zstd frame (`ChunkCompressor`), compressed
/// on whichever core is free, and the file takes them in the order given: while the session
/// encodes records, both cores compress, and the bytes are the same as compressing one chunk
/// after the other.
final class CompressedPartFile: Sendable {
    /// Shared by all parts of the process; as many threads as cores. Not Dispatch's global pool,
    /// which Swift concurrency's tasks run on: the session waits in `write` whenever compression
    /// is behind, and there the thread it blocked was one compression could not use, so on two
    /// cores chunks compressed on one (a pool of its own made gzip output 20-45% faster).
    static let workers: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: System.coreCount)
        pool.start()
        return pool
    }()
    /// Chunks handed over and not yet written, per part: bounds memory when compression is the
    /// slower side, and is enough to keep two cores busy on one part.
    private static let maxChunksInFlight = 8

    let staged: String
    private let fd: Int32
    private let compressor: ChunkCompressor
    private let slots = DispatchSemaphore(value: CompressedPartFile.maxChunksInFlight)
    private let inFlight = DispatchGroup()

    /// Sequence number of the next chunk handed over: only the session's side counts, and it
    /// must not wait for the lock a worker holds while writing.
    private let nextChunk = Atomic<Int>(0)

    private struct State {
        /// Sequence number of the next chunk to write; compressed chunks wait here for it.
        var nextToWrite = 0
        var done: [Int: Result<[UInt8], any Error>] = [:]
        var bytes: Int64 = 0
        var crc: UInt32 = 0
        var failure: (any Error)?
        var closed = false
    }
    private let state = Mutex(State())

    init(staged: String, fd: Int32, compressor: ChunkCompressor) {
        self.staged = staged
        self.fd = fd
        self.compressor = compressor
    }

    /// Queues `chunk` (uncompressed) for compression and writing; the caller gives it up.
    func write(_ chunk: LineBuffer) {
        slots.wait()
        let sequence = nextChunk.wrappingAdd(1, ordering: .relaxed).oldValue
        inFlight.enter()
        Self.workers.submit { [self] _ in
            defer {
                slots.signal()
                inFlight.leave()
            }
            let compressed = Result { try compressor.compress(chunk.bytes) }
            state.withLock { state in
                state.done[sequence] = compressed
                // Whoever completes the chunk the file waits for writes it and the ones after it.
                while let next = state.done.removeValue(forKey: state.nextToWrite) {
                    state.nextToWrite += 1
                    guard state.failure == nil, !state.closed else { continue }
                    do {
                        let output = try next.get()
                        try writeAll(fd: fd, output, path: staged)
                        state.bytes += Int64(output.count)
                        state.crc = CRC32C.checksum(output, extending: state.crc)
                    } catch {
                        state.failure = error
                    }
                }
            }
        }
    }

    /// Writes `last` (when it holds anything, or when the file would otherwise be empty: a
    /// compressed file always holds at least one member), waits for every chunk, fsyncs and
    /// closes the file.
    /// - Returns: the compressed size and its CRC-32C.
    func finish(last: LineBuffer) throws -> (bytes: Int64, crc: UInt32) {
        if !last.isEmpty || nextChunk.load(ordering: .relaxed) == 0 { write(last) }
        inFlight.wait()
        return try state.withLock { state throws -> (bytes: Int64, crc: UInt32) in
            defer {
                close(fd)
                state.closed = true
            }
            if let failure = state.failure { throw failure }
            guard fsync(fd) == 0 else { throw LocalFileSystemSink.Failure(operation: "fsync", path: staged, errno: errno) }
            return (state.bytes, state.crc)
        }
    }

    /// Waits for queued chunks and closes the file without finishing it (the caller discards it).
    func abandon() {
        inFlight.wait()
        state.withLock { state in
            if !state.closed { close(fd) }
            state.closed = true
        }
    }
}
