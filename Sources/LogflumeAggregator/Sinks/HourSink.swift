/// Where closed buckets go. Paths are relative to the sink's root and use "/".
///
/// Data files are written locally first (`stagingPath`), then published whole (`publish`), so a
/// reader never sees half a file. Small files (completions, manifests) are replaced atomically.
/// The local filesystem is the default sink; an object store implements the same calls.
public protocol HourSink: Sendable {
    /// A local path to write a file bound for `path` to; unique to `instance` so two aggregators
    /// never write the same staging file.
    func stagingPath(for path: String, instance: String) throws -> String
    /// Makes a staged, fsynced file visible under `path`, replacing any file there.
    func publish(staged: String, to path: String) throws
    /// Drops a staged file that will not be published.
    func discard(staged: String)
    /// Makes the publications into `directory` durable.
    func syncDirectory(_ directory: String) throws
    /// Replaces `path` with `contents` atomically and durably.
    func write(_ contents: [UInt8], to path: String, instance: String) throws
    /// The file's contents, nil when it does not exist.
    func read(_ path: String) throws -> [UInt8]?
    /// Names of the entries of a directory; empty when it does not exist.
    func list(_ directory: String) throws -> [String]
    func exists(_ path: String) -> Bool
    /// Creates an empty marker durably; false when it already existed (another instance, or an
    /// earlier run, wrote it).
    func createMarker(_ path: String) throws -> Bool
    func delete(_ path: String) throws
    /// How the done-hook and log lines name `path` (a filesystem path, or a URL).
    func location(of path: String) -> String
}
