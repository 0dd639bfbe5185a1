import Synchronization

/// The lines of one read from one file, on their way to the broker. The file's checkpoint may
/// move past `endOffset` only when every line in it, and in every earlier chunk of the file,
/// is safe: acknowledged by the broker, written to the fsynced spool, or dropped because the
/// configuration says so.
final class ShippedChunk: Sendable {
    /// File offset just past the chunk's last line.
    let endOffset: Int64
    private let outstanding: Atomic<Int>

    init(endOffset: Int64, records: Int) {
        self.endOffset = endOffset
        self.outstanding = Atomic(records)
    }

    func recordsSettled(_ count: Int = 1) {
        outstanding.subtract(count, ordering: .releasing)
    }

    var isSettled: Bool { outstanding.load(ordering: .acquiring) <= 0 }
}

/// A file's chunks in read order; the safe offset is the end of the longest settled prefix.
struct FileProgress {
    private var chunks: [ShippedChunk] = []
    private var head = 0
    /// Everything before this offset is safe.
    private(set) var safeOffset: Int64

    init(safeOffset: Int64) {
        self.safeOffset = safeOffset
    }

    mutating func append(_ chunk: ShippedChunk) {
        chunks.append(chunk)
    }

    /// Moves `safeOffset` over settled chunks at the front.
    mutating func advance() {
        while head < chunks.count, chunks[head].isSettled {
            safeOffset = chunks[head].endOffset
            head += 1
        }
        if head > 64 && head * 2 > chunks.count {
            chunks.removeFirst(head)
            head = 0
        }
    }

    var inFlight: Int { chunks.count - head }

    /// Forgets chunks (the file was truncated and starts again at `offset`); their deliveries
    /// still settle but no longer move this file's checkpoint.
    mutating func restart(at offset: Int64) {
        chunks.removeAll()
        head = 0
        safeOffset = offset
    }
}
