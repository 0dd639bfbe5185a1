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
