#if canImport(Glibc)
import Glibc
#endif
public import LogflumeWire

/// A hash of the files this instance writes for a fixed sample of records with given output
/// settings. Two instances whose fingerprints match write the same bytes for the same records,
/// which rebuilds, replays and a zombie's late rename rely on (`OutputPortability`); operators
/// compare them across a fleet with `logflume aggregator fingerprint`.
public struct OutputFingerprint: Sendable {
    /// SHA-256 of the sample's data files, concatenated in offset order, in hex.
    public var sha256: String
    public var files: [OutputFile]

    public var records: Int64 { files.reduce(0) { $0 + $1.records } }
    public var compressedBytes: Int64 { files.reduce(0) { $0 + $1.bytes } }

    /// Writes `records` as one bucket of partition 0 of topic `fingerprint` through the same
    /// writer as the live path, under `scratch/fingerprint/`, and hashes what it wrote.
    public static func compute(records: [Record], settings: OutputSettings, scratch: String) throws -> OutputFingerprint {
        let sink = LocalFileSystemSink(root: scratch)
        let writer = BucketFileWriter(topic: "fingerprint", partition: 0, directory: "fingerprint", settings: settings, sink: sink, instance: "fingerprint")
        for record in records { try writer.append(record) }
        let files = try writer.publish()
        var hasher = SHA256()
        for file in files {
            let path = "fingerprint/" + file.name
            guard let bytes = try sink.read(path) else {
                throw LocalFileSystemSink.Failure(operation: "read", path: sink.location(of: path), errno: ENOENT)
            }
            hasher.update(bytes)
        }
        return OutputFingerprint(sha256: hex(hasher.finalize()), files: files)
    }
}
