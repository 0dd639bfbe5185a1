#if canImport(Glibc)
import Glibc
#endif
public import LogflumeWire

/// A hash of the output settings and of the files this instance writes for a fixed sample of
/// records with them. Rebuilds, replays and a zombie's late rename rely on every instance writing
/// the same bytes for the same records (`OutputPortability`); instances whose fingerprints differ
/// do not, and matching ones have the same settings and wrote the same bytes for the sample.
/// Operators compare them across a fleet with `logflume aggregator fingerprint`.
public struct OutputFingerprint: Sendable {
    /// SHA-256 of the settings' summary line and the sample's data files, concatenated in offset
    /// order, in hex. (Part boundaries past the sample's size show only through the settings.)
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
        hasher.update(Array((settings.summary + "\n").utf8))
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
