import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Replaces a small file so that a crash leaves either the old or the new contents, never a mix:
/// write a temporary file, fsync it, rename it over the target, fsync the directory.
public enum AtomicFile {
    /// Numbers each write's temporary file: two writers of one file (a background flush and the
    /// foreground, say) must not rename each other's half-written temporary away.
    private static let writes = Atomic<Int>(0)

    public static func write(_ contents: [UInt8], to path: String) throws(LogError) {
        let temporary = path + ".tmp." + String(writes.add(1, ordering: .relaxed).newValue)
        do {
            let file = try OpenFile(path: temporary, flags: O_WRONLY | O_CREAT | O_TRUNC)
            try withLogErrors { try contents.withUnsafeBytes { raw in try file.write(raw, at: 0) } }
            try file.sync()
        }
        guard rename(temporary, path) == 0 else { throw .io(operation: "rename", path: temporary, errno: errno) }
        try syncDirectory(containing: path)
    }

    public static func write(_ text: String, to path: String) throws(LogError) {
        try write(Array(text.utf8), to: path)
    }

    /// Reads a whole small file; nil when it does not exist.
    public static func read(_ path: String) throws(LogError) -> [UInt8]? {
        guard access(path, F_OK) == 0 else { return nil }
        let file = try OpenFile(path: path, flags: O_RDONLY)
        let size = Int(try file.size())
        var bytes = [UInt8](repeating: 0, count: size)
        let read = try withLogErrors { try bytes.withUnsafeMutableBytes { raw in try file.read(into: raw, at: 0) } }
        return Array(bytes.prefix(read))
    }

    /// Makes a rename or create durable: the directory entry lives in the directory's own blocks.
    public static func syncDirectory(containing path: String) throws(LogError) {
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let fd = open(directory.isEmpty ? "/" : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .io(operation: "open directory", path: directory, errno: errno) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw .io(operation: "fsync directory", path: directory, errno: errno) }
    }
}
