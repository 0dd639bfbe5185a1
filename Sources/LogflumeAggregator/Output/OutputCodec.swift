/// How output files are compressed.
public enum OutputCodec: String, Sendable, Equatable, CaseIterable {
    case none
    /// Standard gzip (RFC 1952, mtime 0): one member per 256 KiB chunk, which `gzip -d`, Python,
    /// Hadoop and Spark read as one stream.
    case gzip
    /// zstd frames with content checksums, one per 256 KiB chunk.
    case zstd

    /// `.gz`, `.zst`, or nothing.
    public var fileSuffix: String {
        switch self {
        case .none: ""
        case .gzip: ".gz"
        case .zstd: ".zst"
        }
    }
}

/// Which library writes gzip. Both write standard members that every gzip reader takes; they
/// trade size for speed differently.
public enum GzipEncoder: String, Sendable, Equatable, CaseIterable {
    /// libdeflate, levels 0-9 (default 6): files 26-29% smaller than ISA-L's level 1, compressed
    /// 5-6x more slowly, too slowly for two cores to keep up with the consume rate (bench/README.md).
    case libdeflate
    /// Intel's ISA-L igzip, levels 0-3 (default 1), the default encoder: on the bench's nginx
    /// lines, 5-6x libdeflate's level-6 speed for files 35-41% larger. It picks SIMD code at run
    /// time; levels 0-2 write the same bytes on every x86-64 CPU with SSE4.2 (`OutputPortability`).
    case isal = "isa-l"

    /// The levels the encoder takes.
    public var levels: ClosedRange<Int> {
        switch self {
        case .libdeflate: 0...9
        case .isal: 0...3
        }
    }

    public var defaultLevel: Int {
        switch self {
        case .libdeflate: 6
        case .isal: 1
        }
    }
}
