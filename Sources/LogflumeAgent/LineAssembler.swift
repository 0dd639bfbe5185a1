#if canImport(Glibc)
import Glibc
#endif

/// Cuts a file's byte stream into lines, sans I/O.
///
/// A line is emitted without its `\n`, byte for byte. Lines longer than `maxLineBytes` are cut
/// to that size and emitted once their newline arrives, with their full length, so the file
/// keeps being read and nothing is dropped. An unfinished last line stays pending until its
/// newline comes or the caller gives up waiting (`takeUnterminated`).
struct LineAssembler {
    /// One line as handed to `feed`'s callback.
    struct Line {
        var bytes: UnsafeRawBufferPointer
        /// The line's full length; larger than `bytes.count` when it was cut.
        var fullLength: Int
        var isTruncated: Bool { fullLength > bytes.count }
    }

    let maxLineBytes: Int
    /// The kept bytes of an unfinished line (at most `maxLineBytes`).
    private var pending: [UInt8] = []
    /// The unfinished line's full length so far, including bytes past `maxLineBytes`.
    private(set) var pendingLength = 0

    init(maxLineBytes: Int) {
        self.maxLineBytes = maxLineBytes
    }

    var hasPending: Bool { pendingLength > 0 }

    /// Feeds bytes read from the file; `emit` gets each completed line and how many bytes of the
    /// stream it ended (its length plus the newline), in order.
    mutating func feed(_ chunk: UnsafeRawBufferPointer, emit: (Line, _ consumed: Int) -> Void) {
        guard let base = chunk.baseAddress, chunk.count > 0 else { return }
        var start = 0
        while start < chunk.count {
            let remaining = chunk.count - start
            guard let found = memchr(base + start, 0x0A, remaining) else {
                appendPending(UnsafeRawBufferPointer(rebasing: chunk[start...]))
                return
            }
            let newline = base.distance(to: UnsafeRawPointer(found))
            let piece = UnsafeRawBufferPointer(rebasing: chunk[start..<newline])
            if pendingLength == 0 {
                let kept = UnsafeRawBufferPointer(rebasing: piece.prefix(maxLineBytes))
                emit(Line(bytes: kept, fullLength: piece.count), piece.count + 1)
            } else {
                appendPending(piece)
                let consumed = pendingLength + 1
                let fullLength = pendingLength
                pending.withUnsafeBytes { emit(Line(bytes: $0, fullLength: fullLength), consumed) }
                pending.removeAll(keepingCapacity: pending.capacity <= 64 << 10)
                pendingLength = 0
            }
            start = newline + 1
        }
    }

    /// Hands out the unfinished line as it is (for the partial-line timeout, or a file that is
    /// going away) and forgets it.
    mutating func takeUnterminated(emit: (Line, _ consumed: Int) -> Void) {
        guard pendingLength > 0 else { return }
        let consumed = pendingLength
        pending.withUnsafeBytes { emit(Line(bytes: $0, fullLength: consumed), consumed) }
        reset()
    }

    /// Drops an unfinished line (the file was truncated under it).
    mutating func reset() {
        pending.removeAll(keepingCapacity: false)
        pendingLength = 0
    }

    private mutating func appendPending(_ bytes: UnsafeRawBufferPointer) {
        let room = maxLineBytes - pending.count
        if room > 0 { pending.append(contentsOf: bytes.prefix(room)) }
        pendingLength += bytes.count
    }
}
