/// One published data file, as completion records and manifests list it.
public struct OutputFile: Codable, Equatable, Sendable {
    /// The file name inside its directory: `<topic>-<partition>-<firstOffset>.<format><codec>`.
    public var name: String
    public var partition: Int32
    public var firstOffset: Int64
    public var lastOffset: Int64
    public var records: Int64
    /// Compressed size on disk.
    public var bytes: Int64
    /// CRC-32C (Castagnoli) of the file's bytes, 8 lowercase hex digits.
    public var crc32c: String
    public var minTimestamp: Int64
    public var maxTimestamp: Int64

    public init(
        name: String, partition: Int32, firstOffset: Int64, lastOffset: Int64, records: Int64, bytes: Int64, crc32c: String,
        minTimestamp: Int64, maxTimestamp: Int64
    ) {
        self.name = name
        self.partition = partition
        self.firstOffset = firstOffset
        self.lastOffset = lastOffset
        self.records = records
        self.bytes = bytes
        self.crc32c = crc32c
        self.minTimestamp = minTimestamp
        self.maxTimestamp = maxTimestamp
    }

    /// Deterministic, so rebuilding a bucket after a crash or replaying it writes the same names.
    public static func name(topic: String, partition: Int32, firstOffset: Int64, format: OutputFormat, codec: OutputCodec) -> String {
        "\(topic)-\(partition)-\(pad(Int(firstOffset), 20)).\(format.fileExtension)\(codec.fileSuffix)"
    }
}
