#if canImport(Glibc)
import Glibc
#endif
import Foundation
public import Logging
public import NIOCore
import NIOPosix

/// Buckets as objects in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, moto), under
/// `s3://<bucket>/<prefix><topic>/dt=…/hr=…/`, with the same names as the local sink.
///
/// - Data files are written to a local staging directory, then uploaded with one PUT, or from
///   `s3.multipart_threshold` on as a multipart upload (an object is invisible until its PUT or
///   its upload's completion, so readers never see half a file), and the staged file is deleted.
/// - Completion records and manifests are PUT whole (S3 replaces objects atomically and is
///   strongly consistent for reads and lists after a write).
/// - The done-marker is created only if absent: HEAD, then PUT with `If-None-Match: *`, so of two
///   instances finishing a bucket at once only one runs the done-hook.
/// - "Directories" are key prefixes: `list` is ListObjectsV2 with delimiter "/", `exists` is true
///   for an object or for any key below the path.
/// - `syncDirectory` has nothing to do: a PUT that returned 200 is durable.
public struct S3Sink: HourSink {
    public let configuration: S3SinkConfiguration
    let client: S3Client
    /// Stages data files in `<staging directory>/<pid>/<the object's directory>/`.
    let staging: LocalFileSystemSink
    let logger: Logger

    /// - Parameters:
    ///   - group: the event loops the HTTP connections run on; default: NIO's shared singleton group.
    public init(configuration: S3SinkConfiguration, group: (any EventLoopGroup)? = nil, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        client = S3Client(configuration: configuration, group: group ?? MultiThreadedEventLoopGroup.singleton, logger: logger)
        let base = configuration.stagingDirectory.isEmpty
            ? NSTemporaryDirectory().trimmingSuffix("/") + "/logflume-s3-staging" : configuration.stagingDirectory.trimmingSuffix("/")
        staging = LocalFileSystemSink(root: base + "/\(getpid())")
        Self.removeStagingOfExitedProcesses(base: base, logger: logger)
    }

    /// The object key of a sink path.
    public func key(of path: String) -> String { configuration.keyPrefix + path }

    public func location(of path: String) -> String {
        let key = key(of: path)
        return "s3://\(configuration.bucket)" + (key.isEmpty ? "" : "/" + key.trimmingSuffix("/"))
    }

    // MARK: Data files

    public func stagingPath(for path: String, instance: String) throws -> String {
        try staging.stagingPath(for: path, instance: instance)
    }

    public func publish(staged: String, to path: String) throws {
        let location = location(of: path)
        let size = try S3FileRegion.size(of: staged, operation: "PUT", location: location)
        if size >= configuration.multipartThresholdBytes {
            let plan = try S3MultipartPlan(fileBytes: size, configuredPartBytes: configuration.multipartPartBytes, location: location)
            try client.putObjectInParts(key(of: path), file: staged, plan: plan)
        } else {
            let hash = try S3FileRegion(path: staged, offset: 0, size: size).sha256(operation: "PUT", location: location)
            try client.putObject(key(of: path), body: .file(path: staged, offset: 0, size: size, sha256: hash))
        }
        discard(staged: staged)
    }

    /// Deletes the staged file, and its directories up to the staging root once they are empty
    /// (one per bucket would pile up otherwise).
    public func discard(staged: String) {
        unlink(staged)
        var directory = Substring(staged)
        while let slash = directory.lastIndex(of: "/") {
            directory = directory[..<slash]
            guard directory.count > staging.root.count, directory.hasPrefix(staging.root + "/"), rmdir(String(directory)) == 0 else { break }
        }
    }

    public func syncDirectory(_ directory: String) throws {}

    // MARK: Small objects

    public func write(_ contents: [UInt8], to path: String, instance: String) throws {
        try client.putObject(key(of: path), body: contents.isEmpty ? .empty : .bytes(contents))
    }

    public func read(_ path: String) throws -> [UInt8]? {
        try client.getObject(key(of: path))
    }

    public func list(_ directory: String) throws -> [String] {
        let prefix = directory.isEmpty ? configuration.keyPrefix : key(of: directory).trimmingSuffix("/") + "/"
        let page = try client.listAll(prefix: prefix, delimiter: "/")
        var names = Set<String>()
        for key in page.keys where key.hasPrefix(prefix) && key.count > prefix.count { names.insert(String(key.dropFirst(prefix.count))) }
        for common in page.commonPrefixes where common.hasPrefix(prefix) && common.count > prefix.count {
            names.insert(String(common.dropFirst(prefix.count)).trimmingSuffix("/"))
        }
        return names.sorted()
    }

    /// True for an object at `path` or any object below it. An S3 failure (after retries) counts
    /// as absent; every caller treats "absent" as "check again or redo idempotently".
    public func exists(_ path: String) -> Bool {
        let key = key(of: path).trimmingSuffix("/")
        do {
            // One listing answers both: the object itself is a key, a "directory" a common prefix.
            var token: String?
            repeat {
                let page = try client.listObjects(prefix: key, delimiter: "/", continuationToken: token)
                if page.keys.contains(key) || page.commonPrefixes.contains(key + "/") { return true }
                token = page.nextContinuationToken
            } while token != nil
            return false
        } catch {
            logger.warning("S3 existence check failed; treating as absent", metadata: ["s3.location": "\(location(of: path))", "error": "\(error)"])
            return false
        }
    }

    public func createMarker(_ path: String) throws -> Bool {
        if try client.headObject(key(of: path)) { return false }
        return try client.putObject(key(of: path), body: .empty, ifAbsent: true)
    }

    public func delete(_ path: String) throws {
        try client.deleteObject(key(of: path))
    }

    // MARK: Helpers

    /// Staged files of an aggregator that died are never uploaded; their directories are named
    /// by process id, so those of processes that no longer exist can go.
    private static func removeStagingOfExitedProcesses(base: String, logger: Logger) {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: base) else { return }
        for entry in entries {
            guard let pid = Int32(entry), pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            do {
                try FileManager.default.removeItem(atPath: base + "/" + entry)
            } catch {
                logger.debug("cannot remove stale S3 staging directory", metadata: ["path": "\(base)/\(entry)", "error": "\(error)"])
            }
        }
    }
}

extension AggregatorConfig {
    /// The sink `output.sink` names: the local filesystem under `root`, or S3.
    public func makeSink(logger: Logger) -> any HourSink {
        if let s3 { return S3Sink(configuration: s3, logger: logger) }
        return LocalFileSystemSink(root: root)
    }
}

extension String {
    fileprivate func trimmingSuffix(_ suffix: Character) -> String {
        var text = Substring(self)
        while text.count > 1, text.last == suffix { text = text.dropLast() }
        return String(text)
    }
}
