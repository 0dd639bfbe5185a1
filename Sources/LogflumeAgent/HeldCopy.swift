#if canImport(Glibc)
import Glibc
#endif

/// A new file that starts with the same bytes as a file being tailed: most likely the copy
/// `copytruncate` makes just before it truncates the original. It is held unread; when the
/// original's truncation is seen, the copy takes over the original's position and the rest of
/// the old content is read from it, so nothing is read twice. If no truncation comes within
/// `rotate_wait`, it is read as a file of its own.
final class HeldCopy {
    let key: FileKey
    let input: Int
    var path: String
    let originalKey: FileKey
    let since: Int64
    private(set) var descriptor: Int32

    init(key: FileKey, input: Int, path: String, originalKey: FileKey, descriptor: Int32, since: Int64) {
        self.key = key
        self.input = input
        self.path = path
        self.originalKey = originalKey
        self.descriptor = descriptor
        self.since = since
    }

    /// Hands the descriptor to whoever tails the copy from now on.
    func takeDescriptor() -> Int32 {
        defer { descriptor = -1 }
        return descriptor
    }

    deinit { if descriptor >= 0 { close(descriptor) } }
}
