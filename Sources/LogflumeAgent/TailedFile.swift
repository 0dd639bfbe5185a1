import LogflumeClient
import LogflumeWire
#if canImport(Glibc)
import Glibc
#endif

/// One open file being tailed. The descriptor stays open across renames and deletion, so a
/// rotated file is read to its end before it is let go.
final class TailedFile {
    let key: FileKey
    let input: Int
    private(set) var descriptor: Int32
    /// The path it was last seen at.
    var path: String
    /// `host` and `path` headers, rebuilt when the path changes.
    var headers: [RecordHeader]
    var fingerprint: Fingerprint
    /// Where the next read starts.
    var readOffset: Int64
    var assembler: LineAssembler
    var progress: FileProgress
    /// The size at the last look, to tell growth from truncation and to count lost bytes.
    var lastSize: Int64
    /// The file's modification time at the last look: older files of an input are read first.
    var modifiedNs: Int64 = 0
    /// Wall-clock ms of the last time the file grew (or was opened).
    var lastGrowthAt: Int64
    /// Set when no glob matches it any more: renamed away or deleted.
    var goneSince: Int64?
    /// Records of a chunk the shipper has not taken yet (backpressure); offered again before
    /// anything more is read.
    var stalled: (records: ArraySlice<ProducerRecord>, chunk: ShippedChunk)?

    init(key: FileKey, input: Int, descriptor: Int32, path: String, headers: [RecordHeader], fingerprint: Fingerprint, offset: Int64, maxLineBytes: Int, now: Int64, size: Int64) {
        self.key = key
        self.input = input
        self.descriptor = descriptor
        self.path = path
        self.headers = headers
        self.fingerprint = fingerprint
        self.readOffset = offset
        self.assembler = LineAssembler(maxLineBytes: maxLineBytes)
        self.progress = FileProgress(safeOffset: offset)
        self.lastSize = size
        self.lastGrowthAt = now
    }

    deinit { if descriptor >= 0 { close(descriptor) } }

    /// The offset just past the last complete line read.
    var lineBoundary: Int64 { readOffset - Int64(assembler.pendingLength) }

    /// Starts over at offset 0 (the file was truncated or rewritten).
    func restart(fingerprintBytes: Int) {
        readOffset = 0
        assembler.reset()
        progress.restart(at: 0)
        stalled = nil
        lastSize = FileStatus.of(descriptor: descriptor)?.size ?? 0
        fingerprint = Fingerprint.read(descriptor: descriptor, length: Int(min(lastSize, Int64(fingerprintBytes)))) ?? .empty
    }

    /// Extends a short fingerprint as the file grows, so tiny files get told apart too.
    func growFingerprint(limit: Int, size: Int64) {
        guard fingerprint.length < limit, size > Int64(fingerprint.length) else { return }
        if let longer = Fingerprint.read(descriptor: descriptor, length: Int(min(size, Int64(limit)))) {
            fingerprint = longer
        }
    }
}
