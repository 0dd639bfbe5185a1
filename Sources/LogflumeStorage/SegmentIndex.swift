#if canImport(Glibc)
import Glibc
#endif

/// One fixed-size entry of a sparse segment index, in Kafka's on-disk layout (big-endian).
protocol SegmentIndexEntry: Equatable, Sendable {
    static var size: Int { get }
    /// Whether an all-zero first entry is real (offset 0 at position 0) rather than preallocated space.
    static var zeroIsValidFirstEntry: Bool { get }
    /// The value entries are ordered and searched by.
    var key: Int64 { get }
    init(loading raw: UnsafeRawBufferPointer)
    func store(into raw: UnsafeMutableRawBufferPointer)
}

/// `.index`: relative offset (4 bytes) to file position (4 bytes).
struct OffsetPosition: SegmentIndexEntry {
    var relativeOffset: UInt32
    var position: UInt32

    static let size = 8
    static let zeroIsValidFirstEntry = true
    var key: Int64 { Int64(relativeOffset) }

    init(relativeOffset: UInt32, position: UInt32) {
        self.relativeOffset = relativeOffset
        self.position = position
    }

    init(loading raw: UnsafeRawBufferPointer) {
        relativeOffset = UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt32.self))
        position = UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
    }

    func store(into raw: UnsafeMutableRawBufferPointer) {
        raw.storeBytes(of: relativeOffset.bigEndian, toByteOffset: 0, as: UInt32.self)
        raw.storeBytes(of: position.bigEndian, toByteOffset: 4, as: UInt32.self)
    }
}

/// `.timeindex`: max timestamp so far (8 bytes) to the relative offset holding it (4 bytes).
struct TimestampOffset: SegmentIndexEntry {
    var timestamp: Int64
    var relativeOffset: UInt32

    static let size = 12
    static let zeroIsValidFirstEntry = false
    var key: Int64 { timestamp }

    init(timestamp: Int64, relativeOffset: UInt32) {
        self.timestamp = timestamp
        self.relativeOffset = relativeOffset
    }

    init(loading raw: UnsafeRawBufferPointer) {
        timestamp = Int64(bigEndian: raw.loadUnaligned(fromByteOffset: 0, as: Int64.self))
        relativeOffset = UInt32(bigEndian: raw.loadUnaligned(fromByteOffset: 8, as: UInt32.self))
    }

    func store(into raw: UnsafeMutableRawBufferPointer) {
        raw.storeBytes(of: timestamp.bigEndian, toByteOffset: 0, as: Int64.self)
        raw.storeBytes(of: relativeOffset.bigEndian, toByteOffset: 8, as: UInt32.self)
    }
}

/// A sparse index file kept in memory for lookups and written with positioned I/O.
///
/// Entries are appended with `pwrite` into a file preallocated to `maxEntries`, and the file is
/// trimmed when the segment stops being active. Lookups binary-search the in-memory copy, which
/// for the defaults (one entry per 4 KiB of log) costs 2 MiB per 1 GiB segment.
struct SegmentIndex<Entry: SegmentIndexEntry> {
    let file: ManagedFile
    let maxEntries: Int
    private(set) var entries: [Entry] = []

    init(file: ManagedFile, maxBytes: Int) {
        self.file = file
        self.maxEntries = max(1, maxBytes / Entry.size)
    }

    var isFull: Bool { entries.count >= maxEntries }
    var last: Entry? { entries.last }

    /// Preallocates the file so appends never extend it (an index never half-grows on a full disk).
    func preallocate() throws(LogError) {
        try file.acquire().truncate(to: Int64(max(maxEntries, entries.count) * Entry.size))
    }

    mutating func append(_ entry: Entry) throws(LogError) {
        guard !isFull else { return }
        var raw = (UInt64(0), UInt64(0))
        let file = try file.acquire()
        let position = Int64(entries.count * Entry.size)
        try withLogErrors {
            try withUnsafeMutableBytes(of: &raw) { buffer in
                let slot = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Entry.size])
                entry.store(into: slot)
                try file.write(UnsafeRawBufferPointer(slot), at: position)
            }
        }
        self.file.markDirty()
        entries.append(entry)
    }

    /// The last entry whose key is at most `key`; nil when every entry is above it.
    func floor(_ key: Int64) -> Entry? {
        entries.lastIndex(withKeyAtMost: key) { $0.key }.map { entries[$0] }
    }

    /// The last entry whose key is strictly below `key`.
    func lower(_ key: Int64) -> Entry? { floor(key - 1) }

    /// Drops entries for which `keep` is false from the end (truncation of the log).
    mutating func removeLast(while shouldRemove: (Entry) -> Bool) {
        while let last = entries.last, shouldRemove(last) { entries.removeLast() }
    }

    mutating func removeAll() { entries.removeAll() }

    /// Shrinks the file to its entries once no more will be appended.
    func trim() throws(LogError) {
        try file.acquire().truncate(to: Int64(entries.count * Entry.size))
    }

    func sync() throws(LogError) { try file.sync() }

    /// Loads entries written earlier. Entries must increase strictly and pass `isPlausible`;
    /// a zero-filled preallocated tail ends the list. Anything else means the file is corrupt.
    mutating func load(isPlausible: (Entry) -> Bool) throws(LogError) -> Bool {
        let handle = try file.acquire()
        let size = Int(try handle.size())
        guard size % Entry.size == 0 else { return false }
        var bytes = [UInt8](repeating: 0, count: size)
        let read = try withLogErrors { try bytes.withUnsafeMutableBytes { raw in try handle.read(into: raw, at: 0) } }
        guard read == size else { return false }
        var loaded: [Entry] = []
        loaded.reserveCapacity(size / Entry.size)
        let ok = bytes.withUnsafeBytes { raw -> Bool in
            var index = 0
            while index + Entry.size <= raw.count {
                let slot = UnsafeRawBufferPointer(rebasing: raw[index..<index + Entry.size])
                if slot.allSatisfy({ $0 == 0 }) && (!loaded.isEmpty || !Entry.zeroIsValidFirstEntry) { break }
                let entry = Entry(loading: slot)
                if let last = loaded.last, entry.key <= last.key { return false }
                guard isPlausible(entry) else { return false }
                loaded.append(entry)
                index += Entry.size
            }
            return true
        }
        guard ok else { return false }
        entries = loaded
        return true
    }
}
