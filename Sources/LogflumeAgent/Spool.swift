import LogflumeClient
import LogflumeStorage
import LogflumeWire
import NIOCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The on-disk buffer for records the broker has not taken while it is slow or unreachable.
///
/// Segment files `<20-digit sequence>.spool` hold frames `[u32 length][u32 crc32c][record]`.
/// `append` writes and fsyncs before returning, so a file's checkpoint may move past spooled
/// lines. The drainer reads frames in order and hands them to the producer; a segment is deleted
/// once every frame in it is acknowledged. After a crash every remaining frame is sent again
/// (at-least-once: the unacknowledged part of one segment may be duplicated), and a torn last
/// frame is cut off.
final class Spool: Sendable {
    /// A segment's frames handed out by `read`; acknowledged one by one.
    final class Segment: Sendable {
        let sequence: UInt64
        let path: String
        let settled = Atomic<Int>(0)
        init(sequence: UInt64, path: String) {
            self.sequence = sequence
            self.path = path
        }
    }

    private struct SegmentState {
        let segment: Segment
        let descriptor: Int32
        var size: Int64
        var readOffset: Int64 = 0
        var framesRead = 0
    }

    private struct State {
        var segments: [SegmentState] = []
        var bytes: Int64 = 0
        var nextSequence: UInt64 = 0
    }

    static let suffix = ".spool"

    let directory: String
    let maxBytes: Int64
    let segmentBytes: Int64
    private let state = Mutex(State())

    init(directory: String, maxBytes: Int64, segmentBytes: Int64 = 8 << 20) throws(AgentError) {
        self.directory = directory
        self.maxBytes = maxBytes
        self.segmentBytes = segmentBytes
        if mkdir(directory, 0o750) != 0 && errno != EEXIST {
            throw .spool(path: directory, reason: "cannot create: \(SystemError(errno: errno))")
        }
        try recover()
    }

    deinit {
        state.withLock { for segment in $0.segments { close(segment.descriptor) } }
    }

    /// Bytes on disk in the spool.
    var bytes: Int64 { state.withLock { $0.bytes } }

    /// Whether frames remain that were not handed to the producer yet.
    var hasUnread: Bool { state.withLock { $0.segments.contains { $0.readOffset < $0.size } } }

    /// Whether nothing is left in the spool (every frame acknowledged and its segment deleted).
    var isEmpty: Bool { state.withLock { $0.segments.allSatisfy { $0.size == 0 } } }

    /// Appends and fsyncs `records`; false (nothing written) when they do not fit in `maxBytes`.
    func append(_ records: [ProducerRecord]) throws(AgentError) -> Bool {
        var buffer = ByteBufferAllocator().buffer(capacity: records.reduce(0) { $0 + $1.estimatedSize + $1.topic.utf8.count + 16 })
        for record in records { Self.encodeFrame(record, into: &buffer) }
        let frameBytes = Int64(buffer.readableBytes)
        return try state.withLock { (state: inout State) throws(AgentError) -> Bool in
            // One oversized chunk may go into an empty spool, or it could never be shipped.
            guard state.bytes + frameBytes <= maxBytes || state.bytes == 0 else { return false }
            if state.segments.last.map({ $0.size >= segmentBytes }) ?? true {
                try openSegment(&state)
            }
            let index = state.segments.count - 1
            let descriptor = state.segments[index].descriptor
            let offset = state.segments[index].size
            let written = buffer.withUnsafeReadableBytes { bytes in writeFully(descriptor, bytes, at: offset) }
            if let failure = written {
                // Cut back whatever part of the frames reached the file; the lines stay unshipped
                // and the caller retries (or pauses) with them.
                _ = ftruncate(descriptor, off_t(offset))
                throw .spool(path: state.segments[index].segment.path, reason: "write failed: \(failure)")
            }
            guard fsync(descriptor) == 0 else {
                throw .spool(path: state.segments[index].segment.path, reason: "fsync failed: \(SystemError(errno: errno))")
            }
            state.segments[index].size += frameBytes
            state.bytes += frameBytes
            return true
        }
    }

    /// Up to about `maxBytes` of unread records, oldest first, with the segment that settles them.
    func read(maxBytes: Int) -> [(Segment, [ProducerRecord])] {
        state.withLock { state in
            var result: [(Segment, [ProducerRecord])] = []
            var budget = maxBytes
            for index in state.segments.indices where budget > 0 {
                let unread = state.segments[index].size - state.segments[index].readOffset
                guard unread > 0 else { continue }
                let length = Int(min(unread, Int64(max(budget, 1 << 16))))
                var bytes = [UInt8](repeating: 0, count: length)
                let descriptor = state.segments[index].descriptor
                let readOffset = state.segments[index].readOffset
                let got = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, length, off_t(readOffset)) }
                guard got > 0 else { continue }
                var buffer = ByteBuffer(bytes: bytes[0..<got])
                var records: [ProducerRecord] = []
                var consumed = 0
                while let record = Self.decodeFrame(&buffer) {
                    records.append(record)
                    consumed = got - buffer.readableBytes
                }
                guard !records.isEmpty else { continue }
                state.segments[index].readOffset += Int64(consumed)
                state.segments[index].framesRead += records.count
                budget -= consumed
                result.append((state.segments[index].segment, records))
            }
            return result
        }
    }

    /// Deletes segments that are fully read and fully acknowledged; the next append opens a
    /// new segment.
    func removeSettledSegments() {
        state.withLock { state in
            var removedBytes: Int64 = 0
            state.segments.removeAll { segment in
                let done = segment.size > 0 && segment.readOffset == segment.size
                    && segment.segment.settled.load(ordering: .acquiring) >= segment.framesRead
                guard done else { return false }
                close(segment.descriptor)
                unlink(segment.segment.path)
                removedBytes += segment.size
                return true
            }
            state.bytes -= removedBytes
        }
    }

    // MARK: Files

    private func openSegment(_ state: inout State) throws(AgentError) {
        let sequence = state.nextSequence
        state.nextSequence += 1
        let path = SegmentFileName.path(directory, Int64(sequence), Self.suffix)
        let descriptor = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        guard descriptor >= 0 else { throw .spool(path: path, reason: "cannot create: \(SystemError(errno: errno))") }
        state.segments.append(SegmentState(segment: Segment(sequence: sequence, path: path), descriptor: descriptor, size: 0))
    }

    private func recover() throws(AgentError) {
        guard let handle = opendir(directory) else { throw .spool(path: directory, reason: "cannot list: \(SystemError(errno: errno))") }
        var sequences: [UInt64] = []
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if let sequence = SegmentFileName.baseOffset(of: name, suffix: Self.suffix) { sequences.append(UInt64(sequence)) }
        }
        closedir(handle)
        try state.withLock { (state: inout State) throws(AgentError) in
            for sequence in sequences.sorted() {
                let path = SegmentFileName.path(directory, Int64(sequence), Self.suffix)
                let descriptor = open(path, O_RDWR | O_CLOEXEC)
                guard descriptor >= 0 else { throw .spool(path: path, reason: "cannot open: \(SystemError(errno: errno))") }
                let valid = Self.validLength(descriptor)
                if let status = FileStatus.of(descriptor: descriptor), status.size > valid {
                    _ = ftruncate(descriptor, off_t(valid))
                }
                state.segments.append(SegmentState(segment: Segment(sequence: sequence, path: path), descriptor: descriptor, size: valid))
                state.bytes += valid
                state.nextSequence = sequence + 1
            }
        }
    }

    /// Length of the run of whole, CRC-correct frames at the start of a segment.
    private static func validLength(_ descriptor: Int32) -> Int64 {
        guard let status = FileStatus.of(descriptor: descriptor), status.size > 0 else { return 0 }
        var bytes = [UInt8](repeating: 0, count: Int(status.size))
        let got = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        guard got > 0 else { return 0 }
        var buffer = ByteBuffer(bytes: bytes[0..<got])
        while decodeFrame(&buffer) != nil {}
        return Int64(got - buffer.readableBytes)
    }

    // MARK: Frames

    static func encodeFrame(_ record: ProducerRecord, into buffer: inout ByteBuffer) {
        let start = buffer.writerIndex
        buffer.writeInteger(UInt32(0))
        buffer.writeInteger(UInt32(0))
        let payloadStart = buffer.writerIndex
        buffer.writeInteger(UInt16(record.topic.utf8.count))
        buffer.writeString(record.topic)
        buffer.writeInteger(record.timestamp ?? -1)
        buffer.writeInteger(record.partition ?? -1)
        writeBytes(record.key, into: &buffer)
        writeBytes(record.value, into: &buffer)
        buffer.writeInteger(UInt16(record.headers.count))
        for header in record.headers {
            buffer.writeInteger(UInt16(header.key.utf8.count))
            buffer.writeString(header.key)
            writeBytes(header.value, into: &buffer)
        }
        let length = buffer.writerIndex - payloadStart
        let crc = buffer.withUnsafeReadableBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[(payloadStart - buffer.readerIndex)...])) }
        buffer.setInteger(UInt32(length), at: start)
        buffer.setInteger(crc, at: start + 4)
    }

    private static func writeBytes(_ bytes: ByteBuffer?, into buffer: inout ByteBuffer) {
        guard var bytes else {
            buffer.writeInteger(Int32(-1))
            return
        }
        buffer.writeInteger(Int32(bytes.readableBytes))
        buffer.writeBuffer(&bytes)
    }

    /// The next whole, CRC-correct frame, or nil (nothing consumed) at a torn or corrupt one.
    static func decodeFrame(_ buffer: inout ByteBuffer) -> ProducerRecord? {
        let saved = buffer.readerIndex
        func fail() -> ProducerRecord? {
            buffer.moveReaderIndex(to: saved)
            return nil
        }
        guard let length = buffer.readInteger(as: UInt32.self), let crc = buffer.readInteger(as: UInt32.self),
            length <= UInt32(Int32.max), var payload = buffer.readSlice(length: Int(length))
        else { return fail() }
        guard payload.withUnsafeReadableBytes({ CRC32C.checksum($0) }) == crc else { return fail() }
        guard let topicLength = payload.readInteger(as: UInt16.self), let topic = payload.readString(length: Int(topicLength)),
            let timestamp = payload.readInteger(as: Int64.self), let partition = payload.readInteger(as: Int32.self),
            let key = readBytes(&payload), let value = readBytes(&payload), let headerCount = payload.readInteger(as: UInt16.self)
        else { return fail() }
        var headers: [RecordHeader] = []
        for _ in 0..<headerCount {
            guard let keyLength = payload.readInteger(as: UInt16.self), let headerKey = payload.readString(length: Int(keyLength)),
                let headerValue = readBytes(&payload)
            else { return fail() }
            headers.append(RecordHeader(key: headerKey, value: headerValue))
        }
        return ProducerRecord(
            topic: topic, partition: partition >= 0 ? partition : nil, key: key, value: value, headers: headers,
            timestamp: timestamp >= 0 ? timestamp : nil
        )
    }

    /// `.some(nil)` for a null field, nil for a torn one.
    private static func readBytes(_ buffer: inout ByteBuffer) -> ByteBuffer?? {
        guard let length = buffer.readInteger(as: Int32.self) else { return nil }
        if length < 0 { return .some(nil) }
        guard let bytes = buffer.readSlice(length: Int(length)) else { return nil }
        return .some(bytes)
    }
}

/// Writes all of `bytes` at `offset`, or returns why not.
func writeFully(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int64) -> SystemError? {
    var done = 0
    while done < bytes.count {
        let n = pwrite(descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset + Int64(done)))
        if n < 0 {
            if errno == EINTR { continue }
            return SystemError(errno: errno)
        }
        done += n
    }
    return nil
}
