#if canImport(Glibc)
import Glibc
#endif

/// inotify on the directories that hold tailed files: one watch per directory reports writes,
/// creations, renames and deletions of every file in it, so thousands of idle files cost no
/// polling. Non-blocking: the tailer drains events when it wakes.
final class DirectoryWatcher {
    struct Events {
        /// Paths written to since the last drain.
        var modified: Set<String> = []
        /// Something was created, renamed or deleted: globs must be expanded again.
        var namespaceChanged = false
        /// The kernel dropped events: everything must be looked at.
        var overflowed = false
        var isEmpty: Bool { modified.isEmpty && !namespaceChanged && !overflowed }
    }

    private let descriptor: Int32
    private var directoriesByWatch: [Int32: String] = [:]
    private var watchesByDirectory: [String: Int32] = [:]

    /// nil when inotify is unavailable (the caller polls instead).
    init?() {
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { return nil }
        descriptor = fd
    }

    deinit { close(descriptor) }

    /// Watches exactly `directories`, adding and removing watches as needed.
    func watch(_ directories: Set<String>) {
        for (directory, watch) in watchesByDirectory where !directories.contains(directory) {
            inotify_rm_watch(descriptor, watch)
            watchesByDirectory[directory] = nil
            directoriesByWatch[watch] = nil
        }
        let mask = UInt32(IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ATTRIB | IN_CLOSE_WRITE)
        for directory in directories where watchesByDirectory[directory] == nil {
            let watch = inotify_add_watch(descriptor, directory, mask)
            guard watch >= 0 else { continue }  // missing or unreadable: the glob rescan finds it later
            watchesByDirectory[directory] = watch
            directoriesByWatch[watch] = directory
        }
    }

    /// Reads every queued event without blocking.
    func drain() -> Events {
        var events = Events()
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            buffer.withUnsafeBytes { raw in
                var offset = 0
                let headerSize = MemoryLayout<inotify_event>.size
                while offset + headerSize <= n {
                    let watch = raw.loadUnaligned(fromByteOffset: offset, as: Int32.self)
                    let mask = raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self)
                    let nameLength = Int(raw.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self))
                    let nameBytes = raw[(offset + headerSize)..<min(n, offset + headerSize + nameLength)]
                    let name = String(decoding: nameBytes.prefix { $0 != 0 }, as: UTF8.self)
                    offset += headerSize + nameLength
                    if mask & UInt32(IN_Q_OVERFLOW) != 0 { events.overflowed = true; continue }
                    if mask & UInt32(IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_ATTRIB | IN_IGNORED) != 0 {
                        events.namespaceChanged = true
                    }
                    if mask & UInt32(IN_MODIFY | IN_CLOSE_WRITE) != 0, let directory = directoriesByWatch[watch], !name.isEmpty {
                        events.modified.insert(directory == "/" ? "/" + name : directory + "/" + name)
                    }
                }
            }
        }
        return events
    }
}
