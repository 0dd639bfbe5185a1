import Dispatch
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif
import LogflumeWire

/// One segment of a partition log: a `.log` file of record batches plus its sparse `.index`
/// and `.timeindex`.
///
/// Unchecked-Sendable because the owning `PartitionLog` only touches a segment's mutable state
/// while holding its lock; closed segments are immutable and read by the cleaner outside it.
final class LogSegment: @unchecked Sendable {
    let baseOffset: Int64
    let log: ManagedFile
    private(set) var offsetIndex: SegmentIndex<OffsetPosition>
    private(set) var timeIndex: SegmentIndex<TimestampOffset>
    private let indexIntervalBytes: Int
    /// `preallocateStepBytes` when reserving blocks ahead of appends (the active segment), else 0.
    private var reservationStep = 0
    private let configuredReservationStep: Int
    /// The filesystem the segment lives on, and the reservation failures seen so far.
    private let device: UInt64
    private var suspensionsSeen = 0
    /// Where the reserved blocks end; appends past it reserve the next step.
    private var reservedEnd = 0
    private let writebackBytes: Int
    /// Where the last writeback kick ended.
    private var writebackStart = 0
    private let writebackRequest = WritebackRequest()

    /// Bytes of whole, valid batches; the file is never longer than this after recovery.
    private(set) var size = 0
    /// One past the last offset stored here (the base offset while empty).
    private(set) var nextOffset: Int64
    private(set) var maxTimestamp: Int64 = -1
    private(set) var offsetOfMaxTimestamp: Int64 = -1
    /// Wall-clock time the segment started filling; `segment.ms` counts from here.
    private(set) var rollingBaseTime: Int64?
    private var bytesSinceLastIndexEntry = 0
    /// Bytes from the start whose checksums were verified in this process (appended or scanned),
    /// so reads can promise never to serve corrupt data without re-checking on every fetch.
    private(set) var verifiedSize = 0
    private var corruption: (position: Int, reason: String)?

    /// Where writeback requests wait their turn, in append order, off the append path.
    private static let writeback = DispatchQueue(label: "logflume.segment-writeback")

    private init(directory: String, baseOffset: Int64, config: LogConfig, budget: FileDescriptorBudget, suffix: String = "") {
        self.baseOffset = baseOffset
        self.nextOffset = baseOffset
        self.indexIntervalBytes = config.indexIntervalBytes
        self.configuredReservationStep = config.preallocate ? max(0, config.preallocateStepBytes) : 0
        self.reservationStep = configuredReservationStep
        var st = stat()
        self.device = stat(directory, &st) == 0 ? UInt64(st.st_dev) : 0
        self.writebackBytes = max(0, config.writebackBytes)
        func file(_ kind: String) -> ManagedFile {
            ManagedFile(path: SegmentFileName.path(directory, baseOffset, kind) + suffix, budget: budget)
        }
        self.log = file(SegmentFileName.log)
        self.offsetIndex = SegmentIndex(file: file(SegmentFileName.offsetIndex), maxBytes: config.segmentIndexBytes)
        self.timeIndex = SegmentIndex(file: file(SegmentFileName.timeIndex), maxBytes: config.segmentIndexBytes)
    }

    /// A new, empty segment with preallocated indexes; `suffix` names a cleaner's scratch segment.
    static func create(
        directory: String, baseOffset: Int64, config: LogConfig, budget: FileDescriptorBudget, now: Int64, suffix: String = ""
    ) throws(LogError) -> LogSegment {
        let segment = LogSegment(directory: directory, baseOffset: baseOffset, config: config, budget: budget, suffix: suffix)
        for file in segment.files { try file.create() }
        try segment.log.acquire().truncate(to: 0)
        try segment.offsetIndex.preallocate()
        try segment.timeIndex.preallocate()
        segment.rollingBaseTime = now
        return segment
    }

    /// An existing segment, trusted as cleanly closed: size from the file, indexes from disk.
    /// Returns nil when the indexes are missing or implausible, so the caller rebuilds them.
    static func openClean(
        directory: String, baseOffset: Int64, config: LogConfig, budget: FileDescriptorBudget
    ) throws(LogError) -> LogSegment? {
        let segment = LogSegment(directory: directory, baseOffset: baseOffset, config: config, budget: budget)
        let logFile = try segment.log.acquire()
        segment.size = Int(try logFile.size())
        guard segment.offsetIndex.file.exists(), segment.timeIndex.file.exists() else { return nil }
        let size = segment.size
        guard try segment.offsetIndex.load(isPlausible: { Int($0.position) < size }) else { return nil }
        guard try segment.timeIndex.load(isPlausible: { _ in true }) else { return nil }
        // The last batch lies after the last index entry; walk the headers from there.
        var position = Int(segment.offsetIndex.last?.position ?? 0)
        while position < size {
            guard let header = try segment.header(at: position, in: logFile) else { return nil }
            segment.nextOffset = header.nextOffset
            if header.maxTimestamp > segment.maxTimestamp {
                segment.maxTimestamp = header.maxTimestamp
                segment.offsetOfMaxTimestamp = header.lastOffset
            }
            position += header.sizeInBytes
        }
        guard position == size else { return nil }
        if let last = segment.timeIndex.last, last.timestamp >= segment.maxTimestamp {
            segment.maxTimestamp = last.timestamp
            segment.offsetOfMaxTimestamp = baseOffset + Int64(last.relativeOffset)
        }
        segment.bytesSinceLastIndexEntry = size - Int(segment.offsetIndex.last?.position ?? 0)
        segment.rollingBaseTime = try segment.firstBatchTime(in: logFile)
        return segment
    }

    /// `segment.ms` counts from the segment's first batch; after a restart its timestamp stands in
    /// for the wall-clock time the segment started, so frequent restarts cannot postpone rolls.
    private func firstBatchTime(in file: OpenFile) throws(LogError) -> Int64? {
        guard let first = try header(at: 0, in: file), first.maxTimestamp > 0 else { return nil }
        return first.maxTimestamp
    }

    /// Rebuilds a segment of unknown state by scanning every batch, truncating the file at the
    /// first invalid one. Returns the segment and, if it truncated, where and why.
    static func recover(
        directory: String, baseOffset: Int64, config: LogConfig, budget: FileDescriptorBudget
    ) throws(LogError) -> (LogSegment, truncatedAt: (position: Int, reason: String)?) {
        let segment = LogSegment(directory: directory, baseOffset: baseOffset, config: config, budget: budget)
        let logFile = try segment.log.acquire()
        let fileSize = Int(try logFile.size())
        // Indexes are rebuilt from the log, so missing ones are simply created.
        try segment.offsetIndex.file.create()
        try segment.timeIndex.file.create()
        try segment.offsetIndex.file.acquire().truncate(to: 0)
        try segment.timeIndex.file.acquire().truncate(to: 0)
        var scanner = SegmentScanner(file: logFile, maxBatchBytes: Int(Int32.max))
        defer { scanner.release() }
        var expectedOffset = baseOffset
        var orderError: String?
        let outcome = try scanner.scan(from: 0, to: fileSize) { summary, position throws(LogError) in
            guard summary.baseOffset >= expectedOffset, summary.lastOffset - baseOffset <= Int64(Int32.max) else {
                orderError = "batch base offset \(summary.baseOffset) does not follow \(expectedOffset - 1)"
                return false
            }
            try segment.indexAppended(summary, at: position)
            expectedOffset = summary.nextOffset
            return true
        }
        var truncatedAt: (Int, String)?
        switch outcome {
        case .complete(let end):
            if let orderError { truncatedAt = (end, orderError) }
        case .invalid(let position, let reason):
            truncatedAt = (position, reason)
        }
        if truncatedAt != nil { try logFile.truncate(to: Int64(segment.size)) }
        segment.verifiedSize = segment.size
        segment.rollingBaseTime = try segment.firstBatchTime(in: logFile)
        return (segment, truncatedAt)
    }

    // MARK: Appending

    /// Writes a batch whose offsets were assigned; on a write failure the file is cut back so the
    /// segment still ends at a whole batch.
    func append(_ batch: RecordBatch, now: Int64) throws(LogError) {
        try append(header: batch.stampedHeader(baseOffset: batch.baseOffset), of: batch, now: now)
    }

    /// Writes `header` (the batch's stamped 61 bytes) followed by the batch's records section,
    /// so the caller's buffer is never copied to stamp offsets into it.
    func append(header: [UInt8], of batch: RecordBatch, now: Int64) throws(LogError) {
        let file = try log.acquire()
        let position = size
        if reservationStep > 0, BlockReservation.suspensions != suspensionsSeen {
            suspensionsSeen = BlockReservation.suspensions
            if BlockReservation.isSuspended(device: device) {
                // Another segment found this disk full: reservations would only hold space back.
                reservationStep = 0
                try? releaseReservation()
            }
        }
        if reservationStep > 0, position + batch.sizeInBytes > reservedEnd {
            // The batch plus room that grows with the segment (4 KiB, then as much as is already
            // written, up to the configured step), so ten thousand quiet partitions reserve next
            // to nothing while a busy one soon reserves whole steps.
            let length = batch.sizeInBytes + min(reservationStep, max(position, 4096))
            if file.reserve(from: Int64(position), length: Int64(length)) {
                reservedEnd = position + length
            } else {
                // No room (or no support): stop reserving in every segment on this filesystem,
                // and give back what a partial reservation may have taken, so writes see all the
                // space there is.
                BlockReservation.suspend(device: device)
                reservationStep = 0
                try? file.truncate(to: Int64(position))
                reservedEnd = position
            }
        }
        do {
            try withLogErrors {
                try header.withUnsafeBytes { head in
                    try batch.bytes.withUnsafeReadableBytes { raw in
                        try file.write([head, UnsafeRawBufferPointer(rebasing: raw[RecordBatch.headerSize...])], at: Int64(position))
                    }
                }
            }
        } catch {
            try? file.truncate(to: Int64(position))
            throw error
        }
        log.markDirty()
        if rollingBaseTime == nil { rollingBaseTime = now }
        try indexAppended(header.withUnsafeBytes { RecordBatchSummary(uncheckedHeader: $0) }, at: position)
        verifiedSize = size
        if writebackBytes > 0, size - writebackStart >= writebackBytes {
            // sync_file_range blocks while the device's queue is full; appends must not (they
            // run on the broker's event loops), so a thread of its own asks for the writeback.
            // A segment has at most one request waiting; later kicks widen it.
            if writebackRequest.cover(from: Int64(writebackStart), to: Int64(size)) {
                let request = writebackRequest
                Self.writeback.async { request.run(on: file) }
            }
            writebackStart = size
        }
    }

    /// Records a batch now present at `position` in the size, offsets and indexes.
    private func indexAppended(_ summary: RecordBatchSummary, at position: Int) throws(LogError) {
        if summary.maxTimestamp > maxTimestamp {
            maxTimestamp = summary.maxTimestamp
            offsetOfMaxTimestamp = summary.lastOffset
        }
        // A full index only makes lookups scan further: a segment written under larger index
        // settings must still recover whole, so entries stop rather than the data.
        if bytesSinceLastIndexEntry > indexIntervalBytes && !offsetIndex.isFull {
            try offsetIndex.append(OffsetPosition(relativeOffset: relative(summary.lastOffset), position: UInt32(position)))
            try appendTimeIndexEntryIfAdvanced()
            bytesSinceLastIndexEntry = 0
        }
        bytesSinceLastIndexEntry += summary.sizeInBytes
        size = position + summary.sizeInBytes
        nextOffset = summary.nextOffset
    }

    private func appendTimeIndexEntryIfAdvanced() throws(LogError) {
        guard maxTimestamp >= 0, maxTimestamp > (timeIndex.last?.timestamp ?? -1), !timeIndex.isFull else { return }
        try timeIndex.append(TimestampOffset(timestamp: maxTimestamp, relativeOffset: relative(offsetOfMaxTimestamp)))
    }

    private func relative(_ offset: Int64) -> UInt32 { UInt32(offset - baseOffset) }

    /// Whether appending a batch of this size and extent needs a new segment first.
    func needsRoll(batchSize: Int, lastOffset: Int64, config: LogConfig, now: Int64) -> Bool {
        guard size > 0 else { return false }
        if size + batchSize > config.segmentBytes { return true }
        if let start = rollingBaseTime, now - start >= config.segmentMs { return true }
        if offsetIndex.isFull || timeIndex.isFull { return true }
        return lastOffset - baseOffset > Int64(Int32.max)
    }

    /// Called when a newer segment takes over appends: the final time entry is written so the
    /// segment's max timestamp survives a clean restart, and the preallocated space is returned.
    func becomeInactive() throws(LogError) {
        try appendTimeIndexEntryIfAdvanced()
        try offsetIndex.trim()
        try timeIndex.trim()
        try releaseReservation()
        reservationStep = 0
    }

    /// Gives back blocks reserved past the data (truncating to the current size frees them), on
    /// roll, on close, and when a segment left by a crash becomes active again.
    func releaseReservation() throws(LogError) {
        guard reservedEnd > size || reservationStep > 0 else { return }
        try log.acquire().truncate(to: Int64(size))
        reservedEnd = size
    }

    /// Reclaims index space again when this segment becomes the active one after a restart.
    func becomeActive() throws(LogError) {
        try offsetIndex.preallocate()
        try timeIndex.preallocate()
        try releaseReservation()
        reservationStep = BlockReservation.isSuspended(device: device) ? 0 : configuredReservationStep
    }

    func flush() throws(LogError) {
        try log.sync()
        try offsetIndex.sync()
        try timeIndex.sync()
    }

    // MARK: Reading

    /// The header of the batch at `position`, without checksum validation.
    func header(at position: Int, in file: OpenFile) throws(LogError) -> RecordBatchSummary? {
        guard position + RecordBatch.headerSize <= size else { return nil }
        var raw = [UInt8](repeating: 0, count: RecordBatch.headerSize)
        let read = try withLogErrors { try raw.withUnsafeMutableBytes { buffer in try file.read(into: buffer, at: Int64(position)) } }
        guard read == RecordBatch.headerSize else { return nil }
        let summary = raw.withUnsafeBytes { RecordBatchSummary(uncheckedHeader: $0) }
        guard summary.sizeInBytes >= RecordBatch.headerSize, position + summary.sizeInBytes <= size else { return nil }
        return summary
    }

    /// Position and header of the first batch holding an offset at or above `offset`, starting
    /// from the nearest index entry below it; nil when the segment ends first.
    func locate(offset: Int64, in file: OpenFile) throws(LogError) -> (position: Int, header: RecordBatchSummary)? {
        var position = Int(offsetIndex.floor(offset - baseOffset)?.position ?? 0)
        while let header = try header(at: position, in: file) {
            if header.lastOffset >= offset { return (position, header) }
            position += header.sizeInBytes
        }
        return nil
    }

    /// File position where batches holding offsets at or above `offset` begin (the size if none).
    func position(of offset: Int64, in file: OpenFile) throws(LogError) -> Int {
        try locate(offset: offset, in: file)?.position ?? size
    }

    /// Makes sure bytes up to `end` passed their checksum in this process, verifying forward from
    /// what is already known good. Returns the end of the valid prefix (less than `end` when a
    /// corrupt batch stands in the way).
    func verify(upTo end: Int, in file: OpenFile, logger: Logger) throws(LogError) -> Int {
        if let corruption, corruption.position < end { return corruption.position }
        guard verifiedSize < end else { return end }
        var scanner = SegmentScanner(file: file, maxBatchBytes: Int(Int32.max), windowBytes: min(4 << 20, max(end - verifiedSize, 4096)))
        defer { scanner.release() }
        let outcome = try scanner.scan(from: verifiedSize, to: size) { summary, position in
            position < end
        }
        switch outcome {
        case .complete(let reached):
            verifiedSize = max(verifiedSize, reached)
        case .invalid(let position, let reason):
            verifiedSize = position
            corruption = (position, reason)
            logger.error("corrupt batch will not be served", metadata: [
                "file": "\(file.path)", "position": "\(position)", "reason": "\(reason)",
            ])
        }
        return min(end, verifiedSize)
    }

    // MARK: Truncation and files

    /// Drops the batches holding `offset` and everything after it.
    func truncate(to offset: Int64) throws(LogError) {
        let file = try log.acquire()
        guard let (position, _) = try locate(offset: offset, in: file) else { return }
        try file.truncate(to: Int64(position))
        offsetIndex.removeLast { Int($0.position) >= position }
        timeIndex.removeLast { baseOffset + Int64($0.relativeOffset) >= offset }
        let keptOffsets = offsetIndex.entries.count
        // Rebuild state from the remaining headers: cheap, and avoids keeping history in memory.
        size = 0
        nextOffset = baseOffset
        maxTimestamp = -1
        offsetOfMaxTimestamp = -1
        bytesSinceLastIndexEntry = 0
        var scanPosition = 0
        size = position
        while scanPosition < position {
            guard let header = try header(at: scanPosition, in: file) else { break }
            if header.maxTimestamp > maxTimestamp {
                maxTimestamp = header.maxTimestamp
                offsetOfMaxTimestamp = header.lastOffset
            }
            nextOffset = header.nextOffset
            scanPosition += header.sizeInBytes
        }
        size = position
        writebackStart = min(writebackStart, size)
        verifiedSize = min(verifiedSize, size)
        if corruption.map({ $0.position >= position }) == true { corruption = nil }
        bytesSinceLastIndexEntry = size - Int(offsetIndex.last?.position ?? 0)
        try offsetIndex.file.acquire().truncate(to: Int64(keptOffsets * OffsetPosition.size))
        try timeIndex.file.acquire().truncate(to: Int64(timeIndex.entries.count * TimestampOffset.size))
        try becomeActive()
    }

    var files: [ManagedFile] { [log, offsetIndex.file, timeIndex.file] }

    /// Renames every file of the segment by appending `suffix` (e.g. `.deleted`).
    func renameFiles(appending suffix: String) throws(LogError) {
        for file in files where file.exists() { try file.rename(to: file.path + suffix) }
    }

    /// Renames every file by replacing the trailing `old` suffix with `new` (the cleaner's swap).
    func renameFiles(replacingSuffix old: String, with new: String) throws(LogError) {
        for file in files where file.exists() && file.path.hasSuffix(old) {
            try file.rename(to: String(file.path.dropLast(old.count)) + new)
        }
    }

    func deleteFiles() {
        for file in files { file.delete() }
    }
}

/// Whether segments reserve blocks ahead of appends: off on a filesystem for the rest of the
/// process once a reservation there fails (a full disk, or no fallocate support).
enum BlockReservation {
    private static let suspendedDevices = Mutex<Set<UInt64>>([])
    private static let suspensionCount = Atomic<Int>(0)

    /// Changes whenever a filesystem is added, so segments look up the set only then.
    static var suspensions: Int { suspensionCount.load(ordering: .relaxed) }

    static func suspend(device: UInt64) {
        suspendedDevices.withLock { _ = $0.insert(device) }
        suspensionCount.wrappingAdd(1, ordering: .relaxed)
    }

    static func isSuspended(device: UInt64) -> Bool {
        suspendedDevices.withLock { $0.contains(device) }
    }
}

/// The writeback a segment has asked for and the writeback thread has not started yet.
final class WritebackRequest: Sendable {
    private let range = Mutex<(from: Int64, to: Int64)?>(nil)

    /// Adds bytes to the waiting request; true when none was waiting (the caller queues one).
    func cover(from: Int64, to: Int64) -> Bool {
        range.withLock { range in
            if let waiting = range {
                range = (min(waiting.from, from), max(waiting.to, to))
                return false
            }
            range = (from, to)
            return true
        }
    }

    func run(on file: OpenFile) {
        guard let taken = range.withLock({ range -> (from: Int64, to: Int64)? in
            defer { range = nil }
            return range
        }) else { return }
        file.startWriteback(from: taken.from, length: taken.to - taken.from)
    }
}
