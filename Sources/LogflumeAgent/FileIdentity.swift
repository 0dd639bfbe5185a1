import LogflumeWire
#if canImport(Glibc)
import Glibc
#endif

/// Device and inode of a file.
struct FileKey: Hashable, Sendable, Codable, CustomStringConvertible {
    var device: UInt64
    var inode: UInt64
    var description: String { "dev \(device) inode \(inode)" }
}

/// A hash of a file's first bytes: device and inode alone are fooled by inode reuse (a deleted
/// file's inode handed to a new one) and by device ids that change (LVM); the first bytes of a
/// log file (a timestamp, an address) tell files apart.
///
/// A file shorter than the configured length is fingerprinted over what it has, and the
/// fingerprint grows with the file until it reaches the configured length.
struct Fingerprint: Equatable, Sendable, Codable {
    var length: Int
    var crc: UInt32

    static let empty = Fingerprint(length: 0, crc: 0)

    /// Hashes the first `length` bytes of `descriptor`, or nil when it has fewer.
    static func read(descriptor: Int32, length: Int) -> Fingerprint? {
        if length == 0 { return .empty }
        var bytes = [UInt8](repeating: 0, count: length)
        var filled = 0
        while filled < length {
            let n = bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + filled, length - filled, off_t(filled)) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return nil }
            filled += n
        }
        return Fingerprint(length: length, crc: bytes.withUnsafeBytes { CRC32C.checksum($0) })
    }

    /// Whether the file behind `descriptor` starts with the bytes this fingerprint hashed.
    func matches(descriptor: Int32) -> Bool {
        Fingerprint.read(descriptor: descriptor, length: length) == self
    }
}

/// What `fstat`/`stat` tell the tailer.
struct FileStatus {
    var key: FileKey
    var size: Int64
    var isRegular: Bool
    var isDirectory: Bool
    var linkCount: UInt64
    /// Last modification, ns since the epoch.
    var modifiedNs: Int64

    init(_ info: stat) {
        key = FileKey(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
        size = Int64(info.st_size)
        isRegular = (info.st_mode & S_IFMT) == S_IFREG
        isDirectory = (info.st_mode & S_IFMT) == S_IFDIR
        linkCount = UInt64(info.st_nlink)
        modifiedNs = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
    }

    static func of(path: String) -> Result<FileStatus, SystemError> {
        var info = stat()
        guard stat(path, &info) == 0 else { return .failure(SystemError(errno: errno)) }
        return .success(FileStatus(info))
    }

    static func of(descriptor: Int32) -> FileStatus? {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { return nil }
        return FileStatus(info)
    }
}

/// An errno with its message.
struct SystemError: Error, Equatable, CustomStringConvertible {
    var errno: Int32
    var description: String { String(cString: strerror(errno)) }
}
