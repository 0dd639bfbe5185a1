/// One chunk of output lines, written through a raw pointer. A line is written by reserving
/// its worst-case size once and then storing bytes without per-byte capacity or uniqueness
/// checks, which `[UInt8].append` pays on every call: formatting was most of the session's
/// CPU per record when lines went through arrays.
///
/// Owned by one writer at a time: the session fills it, then hands it whole to a compression
/// worker and starts a new one.
final class LineBuffer: @unchecked Sendable {
    private var base: UnsafeMutableRawPointer
    private var capacity: Int
    private(set) var count = 0

    init(capacity: Int) {
        self.capacity = max(capacity, 64)
        base = .allocate(byteCount: self.capacity, alignment: 16)
    }

    deinit { base.deallocate() }

    var isEmpty: Bool { count == 0 }

    /// The bytes written so far; valid until the next write.
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// Writes one line of at most `maximumBytes` through `body`, which returns where it stopped.
    func write(atMost maximumBytes: Int, _ body: (inout LineCursor) -> Void) {
        if count + maximumBytes > capacity { grow(toFit: count + maximumBytes) }
        var cursor = LineCursor(at: base + count)
        body(&cursor)
        let written = cursor.position - (base + count)
        precondition(written >= 0 && written <= maximumBytes, "a line overran the space it reserved")
        count += written
    }

    private func grow(toFit needed: Int) {
        var newCapacity = capacity
        while newCapacity < needed { newCapacity *= 2 }
        let grown = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        grown.copyMemory(from: base, byteCount: count)
        base.deallocate()
        base = grown
        capacity = newCapacity
    }
}

/// Where the next byte of a line goes; space was reserved by `LineBuffer.write`.
struct LineCursor {
    fileprivate(set) var position: UnsafeMutableRawPointer

    fileprivate init(at position: UnsafeMutableRawPointer) {
        self.position = position
    }

    /// Goes back to an earlier position of the same line, dropping what was written after it.
    mutating func rewind(to earlier: UnsafeMutableRawPointer) {
        precondition(earlier <= position, "rewinding forward")
        position = earlier
    }

    @inline(__always)
    mutating func put(_ byte: UInt8) {
        position.storeBytes(of: byte, as: UInt8.self)
        position += 1
    }

    /// Stores 8 bytes without moving: the caller advances past those that count. Only for a
    /// line whose reservation holds them.
    @inline(__always)
    mutating func putWord(_ word: UInt64) {
        position.storeBytes(of: word, as: UInt64.self)
    }

    @inline(__always)
    mutating func advance(by count: Int) {
        position += count
    }

    @inline(__always)
    mutating func put(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, bytes.count > 0 else { return }
        position.copyMemory(from: source, byteCount: bytes.count)
        position += bytes.count
    }

    @inline(__always)
    mutating func put(_ text: StaticString) {
        position.copyMemory(from: text.utf8Start, byteCount: text.utf8CodeUnitCount)
        position += text.utf8CodeUnitCount
    }
}
