#if canImport(Glibc)
import Glibc
#endif
import LogflumeClient
import LogflumeWire

/// How data files are written: format, codec and part size.
public struct OutputSettings: Sendable, Equatable {
    /// Default: jsonl.
    public var format: OutputFormat = .jsonl
    /// Default: gzip.
    public var codec: OutputCodec = .gzip
    /// Default: ISA-L.
    public var gzipEncoder: GzipEncoder = .isal
    /// nil = the codec's default level (gzip 1 with ISA-L, 6 with libdeflate; zstd 1).
    public var compressionLevel: Int?
    /// A part file ends after the record that takes its uncompressed size to this. Counted before
    /// compression so part boundaries depend on the records alone. Default: 256 MiB.
    public var maxFileBytes: Int64 = 256 << 20

    public init() {}

    /// What decides the bytes of a file, in one line: `jsonl, gzip through isa-l level 1, parts
    /// of 268435456 bytes`.
    public var summary: String {
        var codecText = codec.rawValue
        if codec == .gzip { codecText += " through \(gzipEncoder.rawValue)" }
        if let level = effectiveCompressionLevel { codecText += " level \(level)" }
        return "\(format.rawValue), \(codecText), parts of \(maxFileBytes) bytes"
    }

    /// The level the codec runs at: `compressionLevel`, or the codec's (and gzip encoder's)
    /// default; nil without compression.
    public var effectiveCompressionLevel: Int? {
        switch codec {
        case .none: nil
        case .gzip: compressionLevel ?? gzipEncoder.defaultLevel
        case .zstd: compressionLevel ?? ChunkCompressor.defaultZstdLevel
        }
    }
}

/// Writes one partition's records of one bucket (or late round) into part files staged on the
/// sink; `publish` fsyncs and publishes them under deterministic names.
///
/// Records are compressed in chunks whose boundaries depend only on the record sequence, and the
/// gzip header carries no time, so the same records always give the same bytes: a rebuild after
/// a crash overwrites a file with identical content, and a replay reproduces it. (ISA-L picks
/// SIMD code at run time; where its bytes still agree is in `OutputPortability`.)
final class BucketFileWriter {
    let topic: String
    let partition: Int32
    let directory: String
    let settings: OutputSettings
    let sink: any HourSink
    let instance: String
    private var encoder: LineEncoder

    /// Uncompressed bytes handed to the compressor at once; each becomes one gzip member or zstd
    /// frame. Deflate's window is 32 KiB, so gzip loses nothing to the boundaries; zstd loses a
    /// few percent against one frame per file.
    static let chunkBytes = 256 << 10
    /// A chunk's buffer: room for the line that takes it past `chunkBytes` without growing.
    static let chunkBufferBytes = chunkBytes + (64 << 10)

    private struct Part {
        var name: String
        var file: CompressedPartFile
        var pending = LineBuffer(capacity: BucketFileWriter.chunkBufferBytes)
        var uncompressedBytes: Int64 = 0
        var firstOffset: Int64
        var lastOffset: Int64
        var records: Int64 = 0
        var minTimestamp: Int64
        var maxTimestamp: Int64
    }

    private var current: Part?
    private var finished: [(staged: String, file: OutputFile)] = []

    init(topic: String, partition: Int32, directory: String, settings: OutputSettings, sink: any HourSink, instance: String) {
        self.topic = topic
        self.partition = partition
        self.directory = directory
        self.settings = settings
        self.sink = sink
        self.instance = instance
        encoder = settings.format.lineEncoder(topic: topic, partition: partition)
    }

    deinit { abandon() }

    /// Appends a record of this topic-partition; offsets must increase.
    func append(_ record: Record) throws {
        if current == nil { current = try openPart(firstOffset: record.offset, timestamp: record.timestamp) }
        let before = current!.pending.count
        encoder.encode(record, into: current!.pending)
        current!.uncompressedBytes += Int64(current!.pending.count - before)
        current!.lastOffset = record.offset
        current!.records += 1
        current!.minTimestamp = min(current!.minTimestamp, record.timestamp)
        current!.maxTimestamp = max(current!.maxTimestamp, record.timestamp)
        if current!.pending.count >= Self.chunkBytes { flushPending() }
        if current!.uncompressedBytes >= settings.maxFileBytes { try finishPart() }
    }

    var hasRecords: Bool { current != nil || !finished.isEmpty }

    /// Finishes the last part and publishes every part; returns them in offset order.
    func publish() throws -> [OutputFile] {
        if current != nil { try finishPart() }
        for part in finished { try sink.publish(staged: part.staged, to: directory + "/" + part.file.name) }
        let files = finished.map(\.file)
        finished = []
        return files
    }

    /// Closes and deletes whatever was staged (a rebalance or shutdown before the bucket closed).
    func abandon() {
        if let current {
            current.file.abandon()
            sink.discard(staged: current.file.staged)
        }
        current = nil
        for part in finished { sink.discard(staged: part.staged) }
        finished = []
    }

    // MARK: Parts

    private func openPart(firstOffset: Int64, timestamp: Int64) throws -> Part {
        let name = OutputFile.name(topic: topic, partition: partition, firstOffset: firstOffset, format: settings.format, codec: settings.codec)
        let staged = try sink.stagingPath(for: directory + "/" + name, instance: instance)
        let fd = open(staged, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw LocalFileSystemSink.Failure(operation: "create", path: staged, errno: errno) }
        let compressor = ChunkCompressor(settings)
        return Part(
            name: name, file: CompressedPartFile(staged: staged, fd: fd, compressor: compressor), firstOffset: firstOffset,
            lastOffset: firstOffset, minTimestamp: timestamp, maxTimestamp: timestamp
        )
    }

    /// Hands the pending chunk to the compression queue.
    private func flushPending() {
        guard current != nil, !current!.pending.isEmpty else { return }
        current!.file.write(current!.pending)
        current!.pending = LineBuffer(capacity: Self.chunkBufferBytes)
    }

    private func finishPart() throws {
        guard let part = current else { return }
        current = nil
        let written: (bytes: Int64, crc: UInt32)
        do {
            written = try part.file.finish(last: part.pending)
        } catch {
            sink.discard(staged: part.file.staged)
            throw error
        }
        let crc = String(written.crc, radix: 16)
        finished.append((part.file.staged, OutputFile(
            name: part.name, partition: partition, firstOffset: part.firstOffset, lastOffset: part.lastOffset, records: part.records,
            bytes: written.bytes, crc32c: String(repeating: "0", count: 8 - crc.count) + crc,
            minTimestamp: part.minTimestamp, maxTimestamp: part.maxTimestamp
        )))
    }
}
