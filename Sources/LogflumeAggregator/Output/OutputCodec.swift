/// How output files are compressed.
public enum OutputCodec: String, Sendable, Equatable, CaseIterable {
    case none
    /// A single standard gzip member (RFC 1952, mtime 0), which `gzip -d`, Hadoop and Spark read
    /// as is.
    case gzip
    /// A single zstd frame with a content checksum.
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
