#if canImport(Glibc)
import Glibc
#endif

/// Buckets as directories under a root on the local (or a mounted) filesystem. Data files are
/// staged as hidden files in their final directory, so publishing is a rename on one filesystem.
public struct LocalFileSystemSink: HourSink {
    public let root: String

    public struct Failure: Error, CustomStringConvertible {
        public var operation: String
        public var path: String
        public var errno: Int32
        public var description: String { "\(operation) \(path): \(String(cString: strerror(errno)))" }
    }

    public init(root: String) {
        self.root = root.count > 1 && root.hasSuffix("/") ? String(root.dropLast()) : root
    }

    public func location(of path: String) -> String { path.isEmpty ? root : root + "/" + path }

    public func stagingPath(for path: String, instance: String) throws -> String {
        let (directory, name) = split(path)
        try makeDirectories(location(of: directory))
        return location(of: directory) + "/.\(name).\(instance).tmp"
    }

    public func publish(staged: String, to path: String) throws {
        guard rename(staged, location(of: path)) == 0 else { throw Failure(operation: "rename", path: staged, errno: errno) }
    }

    public func discard(staged: String) { unlink(staged) }

    public func syncDirectory(_ directory: String) throws {
        let fd = open(location(of: directory), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw Failure(operation: "open directory", path: location(of: directory), errno: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw Failure(operation: "fsync directory", path: location(of: directory), errno: errno) }
    }

    public func write(_ contents: [UInt8], to path: String, instance: String) throws {
        let staged = try stagingPath(for: path, instance: instance)
        let fd = open(staged, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw Failure(operation: "create", path: staged, errno: errno) }
        do {
            try writeAll(fd: fd, contents, path: staged)
            guard fsync(fd) == 0 else { throw Failure(operation: "fsync", path: staged, errno: errno) }
            close(fd)
        } catch {
            close(fd)
            unlink(staged)
            throw error
        }
        try publish(staged: staged, to: path)
        try syncDirectory(split(path).directory)
    }

    public func read(_ path: String) throws -> [UInt8]? {
        let fd = open(location(of: path), O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw Failure(operation: "open", path: location(of: path), errno: errno)
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw Failure(operation: "read", path: location(of: path), errno: errno)
            }
            if count == 0 { return bytes }
            bytes += chunk[0..<count]
        }
    }

    public func list(_ directory: String) throws -> [String] {
        guard let handle = opendir(location(of: directory)) else {
            if errno == ENOENT || errno == ENOTDIR { return [] }
            throw Failure(operation: "opendir", path: location(of: directory), errno: errno)
        }
        defer { closedir(handle) }
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) } }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    public func exists(_ path: String) -> Bool { access(location(of: path), F_OK) == 0 }

    public func createMarker(_ path: String) throws -> Bool {
        try makeDirectories(location(of: split(path).directory))
        let fd = open(location(of: path), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        if fd < 0 {
            if errno == EEXIST { return false }
            throw Failure(operation: "create", path: location(of: path), errno: errno)
        }
        fsync(fd)
        close(fd)
        try syncDirectory(split(path).directory)
        return true
    }

    public func delete(_ path: String) throws {
        guard unlink(location(of: path)) == 0 || errno == ENOENT else { throw Failure(operation: "unlink", path: location(of: path), errno: errno) }
    }

    // MARK: Helpers

    private func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return ("", path) }
        return (String(path[..<slash]), String(path[path.index(after: slash)...]))
    }

    private func makeDirectories(_ absolute: String) throws {
        if absolute.isEmpty || access(absolute, F_OK) == 0 { return }
        var prefix = absolute.hasPrefix("/") ? "" : "."
        for component in absolute.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw Failure(operation: "mkdir", path: prefix, errno: errno)
            }
        }
    }
}

/// Writes all of `bytes`, retrying short writes and EINTR.
func writeAll(fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
    var done = 0
    while done < bytes.count {
        let count = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
        if count < 0 {
            if errno == EINTR { continue }
            throw LocalFileSystemSink.Failure(operation: "write", path: path, errno: errno)
        }
        done += count
    }
}

func writeAll(fd: Int32, _ bytes: [UInt8], path: String) throws {
    try bytes.withUnsafeBytes { try writeAll(fd: fd, $0, path: path) }
}
