import Logging
import Metrics
import LogflumeClient
import LogflumeStorage
import LogflumeWire
import NIOCore
#if canImport(Glibc)
import Glibc
#endif

/// Finds files, follows them through rotation, cuts lines and hands them to the shipper, and
/// keeps the checkpoints. Runs on one task; nothing here is shared.
///
/// Rotation cases, and what happens:
/// - rename + create: the renamed file keeps its descriptor and is read to its end; it is let go
///   `rotate_wait` after its last growth once no glob matches it, or after `close_inactive` idle.
///   The new file at the old path is a new identity and is read from 0.
/// - copytruncate: the copy shows up with the original's first bytes and is held; when the
///   original shrinks below the read position, the copy takes over that position (and the
///   lines in flight) and the original starts again at 0. Bytes written between the copy and the
///   truncation are in neither file: those seen in the original's size are counted in
///   `lost_bytes`; the rest cannot be known.
/// - truncation in place: read again from 0; unread bytes that were seen are counted as lost.
/// - delete + recreate: like rename, through the open descriptor.
/// - inode reuse: the fingerprint differs, so the file is new and read from 0.
final class Tailer {
    let config: AgentConfig
    let factories: [RecordFactory]
    let discovery: FileDiscovery
    let watcher: DirectoryWatcher?
    let shipper: Shipper
    let counters: AgentCounters
    let gauges = AgentGauges()
    let clock: any WallClock
    let logger: Logger

    private(set) var checkpoints: CheckpointStore
    private(set) var files: [FileKey: TailedFile] = [:]
    private var held: [FileKey: HeldCopy] = [:]
    /// Files closed for inactivity, with their size then: reopened only when the size changes.
    private var idle: [FileKey: (size: Int64, path: String)] = [:]
    private var warnings: [String: String] = [:]
    /// Files that may have unread bytes (inotify said so, or the last read filled its chunk).
    private var dirty: Set<FileKey> = []
    private var firstScan = true
    private var nextScanAt: Int64 = 0
    private var nextCheckpointAt: Int64 = 0
    private var lastSaved: [FileKey: CheckpointStore.Entry] = [:]
    private var readBuffer: [UInt8]
    /// Per-file lag gauges, made once per file and path and destroyed when the file is let go.
    private var behindGauges: [FileKey: (path: String, gauge: Gauge)] = [:]

    init(config: AgentConfig, host: String, shipper: Shipper, counters: AgentCounters, clock: any WallClock, logger: Logger) throws {
        self.config = config
        self.factories = config.inputs.map { RecordFactory(input: $0, defaultTopic: config.topic, host: host) }
        self.discovery = FileDiscovery(inputs: config.inputs)
        self.watcher = config.useInotify ? DirectoryWatcher() : nil
        self.shipper = shipper
        self.counters = counters
        self.clock = clock
        self.logger = logger
        self.checkpoints = CheckpointStore(path: config.stateDirectory + "/checkpoints.json")
        self.readBuffer = [UInt8](repeating: 0, count: config.readChunkBytes)
        try checkpoints.load()
        lastSaved = checkpoints.entries
        if config.useInotify && watcher == nil { logger.warning("inotify is unavailable: polling every scan_interval") }
    }

    // MARK: The loop

    /// One pass: rescans when due, reads what may have grown. Returns whether any bytes were read.
    func pass() async -> Bool {
        let now = clock.nowMilliseconds
        var fullPass = watcher == nil
        if let events = watcher?.drain(), !events.isEmpty {
            if events.namespaceChanged || events.overflowed { nextScanAt = now }
            if events.overflowed { fullPass = true }
            if !events.modified.isEmpty {
                for file in files.values where events.modified.contains(file.path) { dirty.insert(file.key) }
                if !held.isEmpty || !idle.isEmpty { nextScanAt = now }
            }
        }
        if now >= nextScanAt {
            rescan(now: now)
            nextScanAt = now + config.scanIntervalMs
            fullPass = true
        }
        var candidates = fullPass ? Set(files.keys) : dirty
        for file in files.values where file.goneSince != nil || file.assembler.hasPending || file.stalled != nil {
            candidates.insert(file.key)
        }
        dirty.removeAll(keepingCapacity: true)
        var readAny = false
        // Within an input, the oldest file with unread bytes goes first and the others wait for
        // the next pass: a rotated file is finished before its successor, so event time reaches
        // the broker roughly in order and downstream hours are not closed under late lines.
        // Different inputs share the reading fairly.
        var servedInputs: Set<Int> = []
        let ordered = candidates.compactMap { files[$0] }.sorted { ($0.input, $0.modifiedNs, $0.key.inode) < ($1.input, $1.modifiedNs, $1.key.inode) }
        for file in ordered {
            if servedInputs.contains(file.input) && file.stalled == nil && !file.assembler.hasPending && file.goneSince == nil {
                dirty.insert(file.key)
                continue
            }
            let read = await pump(file, now: now)
            // A stalled file already waited in the shipper: no extra sleep.
            if read > 0 || file.stalled != nil { readAny = true }
            if read > 0 { servedInputs.insert(file.input) }
            if read >= config.readChunkBytes { dirty.insert(file.key) }
            if file.stalled != nil { break }  // the shipper is full: stop reading anything
        }
        closeFinishedFiles(now: now)
        if now >= nextCheckpointAt {
            checkpoint(now: now)
            nextCheckpointAt = now + config.checkpointIntervalMs
        }
        return readAny
    }

    /// How long to sleep after a pass that read nothing.
    var idleWaitMs: Int64 { watcher != nil ? 50 : min(config.scanIntervalMs, 250) }

    // MARK: Discovery

    /// - Parameter checkingRewrites: false while handling a truncation, which must not recurse.
    func rescan(now: Int64, checkingRewrites: Bool = true) {
        var seen: Set<FileKey> = []
        for (path, inputIndex) in discovery.scan() {
            let status: FileStatus
            switch FileStatus.of(path: path) {
            case .failure(let error):
                if error.errno != ENOENT { warnOnce(path, "cannot stat: \(error)") }
                continue
            case .success(let found): status = found
            }
            if status.isDirectory {
                warnOnce(path, "is a directory, not a file: skipped until a file is there")
                continue
            }
            guard status.isRegular else {
                warnOnce(path, "is not a regular file: skipped")
                continue
            }
            seen.insert(status.key)
            if let file = files[status.key] {
                if file.path != path {
                    logger.info("file renamed: reading on through the same descriptor", metadata: ["from": "\(file.path)", "to": "\(path)"])
                    counters.add(.rotations)
                    file.path = path
                }
                if file.goneSince != nil { file.goneSince = nil }
                continue
            }
            if let copy = held[status.key] {
                copy.path = path
                continue
            }
            if let sleeping = idle[status.key] {
                if sleeping.size == status.size { continue }
                idle[status.key] = nil
            }
            open(path: path, input: inputIndex, status: status, now: now)
        }
        for file in files.values where !seen.contains(file.key) && file.goneSince == nil {
            file.goneSince = now
            logger.info("file no longer matches any path (rotated away or deleted): reading it to its end", metadata: ["path": "\(file.path)"])
        }
        for (key, copy) in held {
            if !seen.contains(key) {
                held[key] = nil
            } else if now - copy.since >= config.rotateWaitMs {
                release(copy, now: now)
            }
        }
        for key in idle.keys where !seen.contains(key) { idle[key] = nil }
        watcher?.watch(discovery.watchedDirectories())
        if checkingRewrites {
            for file in Array(files.values) where file.goneSince == nil { checkRewritten(file, now: now) }
        }
        firstScan = false
    }

    private func open(path: String, input inputIndex: Int, status: FileStatus, now: Int64) {
        let descriptor = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            warnOnce(path, "cannot open: \(SystemError(errno: errno)); trying again every scan")
            return
        }
        guard let opened = FileStatus.of(descriptor: descriptor), opened.key == status.key else {
            close(descriptor)  // replaced between stat and open: the next scan sees the new one
            return
        }
        if warnings.removeValue(forKey: path) != nil { logger.info("file readable again", metadata: ["path": "\(path)"]) }
        let input = config.inputs[inputIndex]
        let fingerprint = Fingerprint.read(descriptor: descriptor, length: Int(min(opened.size, Int64(input.fingerprintBytes)))) ?? .empty

        if let original = liveFile(withPrefixOf: descriptor, size: opened.size, excluding: opened.key) {
            logger.info(
                "new file starts with the same bytes as a tailed file: holding it as that file's copy (copytruncate)",
                metadata: ["path": "\(path)", "original": "\(original.path)"]
            )
            held[opened.key] = HeldCopy(key: opened.key, input: inputIndex, path: path, originalKey: original.key, descriptor: descriptor, since: now)
            return
        }

        var offset: Int64 = 0
        var origin = "new file"
        let openFingerprints = Dictionary(uniqueKeysWithValues: files.values.map { ($0.key, $0.fingerprint) })
        if let entry = checkpoints.entry(for: opened.key, descriptor: descriptor, openFiles: openFingerprints) {
            if entry.key == opened.key && entry.offset > opened.size {
                origin = "checkpoint beyond the end (file was truncated): from the start"
            } else {
                offset = min(entry.offset, opened.size)
                origin = entry.key == opened.key ? "checkpoint" : "checkpoint of \(entry.path) (same first bytes)"
            }
        } else if firstScan && input.startAt == .end {
            offset = opened.size
            origin = "start_at = end"
        }
        let file = TailedFile(
            key: opened.key, input: inputIndex, descriptor: descriptor, path: path, headers: factories[inputIndex].baseHeaders(path: path),
            fingerprint: fingerprint, offset: offset, maxLineBytes: input.maxLineBytes, now: now, size: opened.size
        )
        file.modifiedNs = opened.modifiedNs
        files[opened.key] = file
        dirty.insert(opened.key)
        counters.add(.filesOpened)
        logger.info("tailing", metadata: ["path": "\(path)", "offset": "\(offset)", "from": "\(origin)", "file": "\(opened.key)"])
    }

    /// A tailed file (other than `key`) whose fingerprint the file behind `descriptor` starts with.
    private func liveFile(withPrefixOf descriptor: Int32, size: Int64, excluding key: FileKey) -> TailedFile? {
        var hashed: [Int: Fingerprint?] = [:]
        for file in files.values where file.key != key && file.fingerprint.length > 0 && Int64(file.fingerprint.length) <= size {
            let length = file.fingerprint.length
            if hashed[length] == nil { hashed[length] = Fingerprint.read(descriptor: descriptor, length: length) }
            if hashed[length] == file.fingerprint { return file }
        }
        return nil
    }

    /// A held copy whose original was not truncated: a file of its own after all.
    private func release(_ copy: HeldCopy, now: Int64) {
        held[copy.key] = nil
        let descriptor = copy.takeDescriptor()
        guard let status = FileStatus.of(descriptor: descriptor) else {
            close(descriptor)
            return
        }
        let input = config.inputs[copy.input]
        logger.warning(
            "file starts like another tailed file that was not truncated: reading it as a file of its own (its lines may repeat the other's)",
            metadata: ["path": "\(copy.path)"]
        )
        let fingerprint = Fingerprint.read(descriptor: descriptor, length: Int(min(status.size, Int64(input.fingerprintBytes)))) ?? .empty
        files[copy.key] = TailedFile(
            key: copy.key, input: copy.input, descriptor: descriptor, path: copy.path, headers: factories[copy.input].baseHeaders(path: copy.path),
            fingerprint: fingerprint, offset: 0, maxLineBytes: input.maxLineBytes, now: now, size: status.size
        )
        dirty.insert(copy.key)
        counters.add(.filesOpened)
    }

    /// Same inode, different first bytes: truncated and written again between two looks.
    private func checkRewritten(_ file: TailedFile, now: Int64) {
        // Unchanged size and modification time: nothing was rewritten (saves a read per idle file).
        if let status = FileStatus.of(descriptor: file.descriptor), status.size == file.lastSize, status.modifiedNs == file.modifiedNs,
            file.fingerprint.length > 0
        {
            return
        }
        guard file.fingerprint.length > 0 else {
            file.growFingerprint(limit: config.inputs[file.input].fingerprintBytes, size: file.lastSize)
            return
        }
        if !file.fingerprint.matches(descriptor: file.descriptor) {
            truncated(file, now: now, reason: "its first bytes changed")
        } else if let size = FileStatus.of(descriptor: file.descriptor)?.size {
            file.growFingerprint(limit: config.inputs[file.input].fingerprintBytes, size: size)
        }
    }

    // MARK: Reading

    /// Reads one chunk of `file` and ships its lines. Returns the bytes read.
    private func pump(_ file: TailedFile, now: Int64) async -> Int {
        if let stalled = file.stalled {
            let rest = await shipper.ship(stalled.records, chunk: stalled.chunk)
            file.stalled = rest.isEmpty ? nil : (rest, stalled.chunk)
            if !rest.isEmpty { return 0 }
        }
        guard let status = FileStatus.of(descriptor: file.descriptor) else { return 0 }
        if status.size < file.readOffset {
            truncated(file, now: now, reason: "its size fell below the read position")
            return 0
        }
        let wasAtEnd = file.lastSize <= file.readOffset
        file.modifiedNs = status.modifiedNs
        if status.size > file.lastSize { file.lastGrowthAt = now }
        file.lastSize = status.size
        if status.size == file.readOffset {
            let input = config.inputs[file.input]
            let waited = now - file.lastGrowthAt
            if file.assembler.hasPending && (waited >= input.partialLineTimeoutMs || (file.goneSince != nil && waited >= config.rotateWaitMs)) {
                let batch = cutLines(file, now: now, unterminated: true) { assembler, emit in assembler.takeUnterminated(emit: emit) }
                if let batch { await send(batch, of: file) }
            }
            return 0
        }
        // Growth after a quiet spell is when copytruncate and rewrites show: check the first bytes.
        if wasAtEnd && file.fingerprint.length > 0 && file.readOffset > 0 && !file.fingerprint.matches(descriptor: file.descriptor) {
            truncated(file, now: now, reason: "its first bytes changed")
            return 0
        }
        let want = Int(min(Int64(readBuffer.count), status.size - file.readOffset))
        let descriptor = file.descriptor
        let offset = file.readOffset
        let got = readBuffer.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, want, off_t(offset)) }
        guard got > 0 else {
            if got < 0 { warnOnce(file.path, "read failed: \(SystemError(errno: errno))") }
            return 0
        }
        file.readOffset += Int64(got)
        counters.add(.bytesRead, got)
        let batch = readBuffer.withUnsafeBytes { bytes in
            let chunk = UnsafeRawBufferPointer(rebasing: bytes[0..<got])
            return cutLines(file, now: now) { assembler, emit in assembler.feed(chunk, emit: emit) }
        }
        if let batch { await send(batch, of: file) }
        return got
    }

    /// Turns the lines `produce` emits from the file's assembler into records and one chunk.
    private func cutLines(
        _ file: TailedFile, now: Int64, unterminated: Bool = false,
        lines produce: (inout LineAssembler, (LineAssembler.Line, Int) -> Void) -> Void
    ) -> (records: [ProducerRecord], chunk: ShippedChunk)? {
        let factory = factories[file.input]
        var records: [ProducerRecord] = []
        var counts = LineCounts()
        let headers = file.headers
        var arena = ByteBufferAllocator().buffer(capacity: config.readChunkBytes + file.assembler.pendingLength)
        var rawValues: [(index: Int, at: Range<Int>)] = []
        produce(&file.assembler) { line, _ in
            let made = factory.record(line: line, unterminated: unterminated, headers: headers, readTimeMs: now, counters: &counts, arena: &arena)
            if let at = made.rawValueAt { rawValues.append((records.count, at)) }
            records.append(made.record)
        }
        for (index, at) in rawValues { records[index].value = arena.getSlice(at: at.lowerBound, length: at.count) }
        guard !records.isEmpty else { return nil }
        counters.add(.linesRead, records.count)
        counters.add(.parseErrors, counts.parseErrors)
        counters.add(.truncatedLines, counts.truncated)
        counters.add(.unterminatedLines, counts.unterminated)
        let chunk = ShippedChunk(endOffset: file.lineBoundary, records: records.count)
        file.progress.append(chunk)
        return (records, chunk)
    }

    private func send(_ batch: (records: [ProducerRecord], chunk: ShippedChunk), of file: TailedFile) async {
        let rest = await shipper.ship(batch.records[...], chunk: batch.chunk)
        if !rest.isEmpty { file.stalled = (rest, batch.chunk) }
    }

    // MARK: Truncation and copytruncate

    private func truncated(_ file: TailedFile, now: Int64, reason: String) {
        counters.add(.truncations)
        // The copy copytruncate made may have appeared since the last scan.
        if !held.values.contains(where: { $0.originalKey == file.key }) { rescan(now: now, checkingRewrites: false) }
        if let copy = held.values.first(where: { $0.originalKey == file.key }) {
            held[copy.key] = nil
            let descriptor = copy.takeDescriptor()
            let copySize = FileStatus.of(descriptor: descriptor)?.size ?? 0
            let lost = max(0, file.lastSize - max(copySize, file.readOffset))
            counters.add(.lostBytes, Int(lost))
            counters.add(.copytruncates)
            let successor = TailedFile(
                key: copy.key, input: file.input, descriptor: descriptor, path: copy.path, headers: file.headers,
                fingerprint: file.fingerprint, offset: file.readOffset, maxLineBytes: config.inputs[file.input].maxLineBytes, now: now, size: copySize
            )
            successor.assembler = file.assembler
            successor.progress = file.progress
            successor.stalled = file.stalled
            files[copy.key] = successor
            dirty.insert(copy.key)
            logger.info(
                "copytruncate: reading the rest of the old content from the copy",
                metadata: ["path": "\(file.path)", "copy": "\(copy.path)", "offset": "\(file.readOffset)", "lost_bytes": "\(lost)"]
            )
        } else {
            let lost = max(0, file.lastSize - file.readOffset)
            counters.add(.lostBytes, Int(lost))
            if lost > 0 {
                logger.warning(
                    "file truncated before it was read to the end, and no copy of it matches the paths: bytes lost",
                    metadata: ["path": "\(file.path)", "lost_bytes": "\(lost)", "why": "\(reason)"]
                )
            } else {
                logger.info("file truncated: reading it again from the start", metadata: ["path": "\(file.path)", "why": "\(reason)"])
            }
        }
        file.restart(fingerprintBytes: config.inputs[file.input].fingerprintBytes)
        file.lastGrowthAt = now
        dirty.insert(file.key)
    }

    // MARK: Letting go

    private func closeFinishedFiles(now: Int64) {
        for file in Array(files.values) {
            file.progress.advance()
            guard file.stalled == nil, file.progress.inFlight == 0, !file.assembler.hasPending, file.readOffset >= file.lastSize else { continue }
            let quiet = now - file.lastGrowthAt
            if let gone = file.goneSince, now - gone >= config.rotateWaitMs, quiet >= config.rotateWaitMs {
                logger.info("done with rotated or deleted file", metadata: ["path": "\(file.path)"])
                checkpoints.update(entry(for: file, now: now))
                files[file.key] = nil
            } else if file.goneSince == nil, quiet >= config.closeInactiveMs {
                checkpoints.update(entry(for: file, now: now))
                idle[file.key] = (file.lastSize, file.path)
                files[file.key] = nil
                logger.debug("closing inactive file", metadata: ["path": "\(file.path)"])
            }
        }
    }

    // MARK: Checkpoints

    private func entry(for file: TailedFile, now: Int64) -> CheckpointStore.Entry {
        CheckpointStore.Entry(key: file.key, fingerprint: file.fingerprint, offset: file.progress.safeOffset, path: file.path, seenAt: now)
    }

    /// Records each open file's safe offset and saves if anything moved.
    func checkpoint(now: Int64) {
        for file in files.values {
            file.progress.advance()
            checkpoints.update(entry(for: file, now: now))
        }
        for key in idle.keys {
            if var entry = checkpoints.entries[key] {
                entry.seenAt = now
                checkpoints.update(entry)
            }
        }
        let expired = checkpoints.expire(olderThan: now - config.checkpointExpireAfterMs)
        if expired > 0 { logger.info("forgot checkpoints of files gone for long", metadata: ["count": "\(expired)"]) }
        let moved = checkpoints.entries.count != lastSaved.count
            || checkpoints.entries.contains { key, entry in
                guard let saved = lastSaved[key] else { return true }
                return saved.offset != entry.offset || saved.fingerprint != entry.fingerprint || saved.path != entry.path
                    || entry.seenAt - saved.seenAt > 60_000
            }
        guard moved else { return }
        do {
            try checkpoints.save()
            lastSaved = checkpoints.entries
            counters.add(.checkpointsWritten)
        } catch {
            counters.add(.checkpointErrors)
            logger.error("cannot write checkpoints; positions are kept in memory and written again next time", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Status

    /// Bytes on disk not yet safe, over all open files.
    var bytesBehind: Int64 {
        files.values.reduce(0) { $0 + max(0, $1.lastSize - $1.progress.safeOffset) }
    }

    var openFileCount: Int { files.count }

    func updateGauges() {
        gauges.filesOpen.record(files.count)
        gauges.bytesBehindTotal.record(bytesBehind)
        for file in files.values {
            if behindGauges[file.key]?.path != file.path {
                behindGauges[file.key]?.gauge.destroy()
                behindGauges[file.key] = (file.path, gauges.bytesBehind(path: file.path))
            }
            behindGauges[file.key]!.gauge.record(max(0, file.lastSize - file.progress.safeOffset))
        }
        for key in behindGauges.keys where files[key] == nil {
            behindGauges.removeValue(forKey: key)?.gauge.destroy()
        }
    }

    private func warnOnce(_ path: String, _ message: String) {
        guard warnings[path] != message else { return }
        warnings[path] = message
        logger.warning("\(message)", metadata: ["path": "\(path)"])
    }
}
