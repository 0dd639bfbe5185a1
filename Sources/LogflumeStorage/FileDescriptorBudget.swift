import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Caps the descriptors held open by segment and index files across all partitions of a process.
/// Cold files are closed (least recently used first) and reopened on demand, so ten thousand
/// partitions with several segments each fit under the process's RLIMIT_NOFILE.
public final class FileDescriptorBudget: Sendable {
    public let limit: Int
    private let state = Mutex(State())

    private struct State {
        var tick: UInt64 = 0
        var open: [ObjectIdentifier: (file: ManagedFile, lastUse: UInt64)] = [:]
    }

    public init(limit: Int) {
        precondition(limit >= 8, "a descriptor budget below 8 cannot hold an active segment's files")
        self.limit = limit
    }

    /// Half of the soft RLIMIT_NOFILE, leaving the rest for sockets.
    public static func defaultLimit() -> Int {
        var rl = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &rl) == 0, rl.rlim_cur != rlim_t.max else { return 4096 }
        return max(64, Int(rl.rlim_cur) / 2)
    }

    public static let shared = FileDescriptorBudget(limit: defaultLimit())

    public var openCount: Int { state.withLock { $0.open.count } }

    func touch(_ file: ManagedFile) {
        let victims: [ManagedFile] = state.withLock { state in
            state.tick &+= 1
            state.open[ObjectIdentifier(file)] = (file, state.tick)
            guard state.open.count > limit else { return [] }
            // Evict in bulk (the oldest tenth) so the sort is amortised over many opens.
            let excess = state.open.count - limit + max(1, limit / 10)
            let oldest = state.open.values.sorted { $0.lastUse < $1.lastUse }.prefix(excess).map(\.file)
            for victim in oldest where victim !== file { state.open[ObjectIdentifier(victim)] = nil }
            return oldest.filter { $0 !== file }
        }
        for victim in victims { victim.closeDescriptor() }
    }

    func forget(_ file: ManagedFile) {
        _ = state.withLock { $0.open.removeValue(forKey: ObjectIdentifier(file)) }
    }
}

/// A file that is opened lazily and may be closed at any time by the budget; callers take an
/// `OpenFile` for each use, which stays valid for as long as they hold it.
final class ManagedFile: Sendable {
    private let budget: FileDescriptorBudget
    private let state: Mutex<State>

    private struct State {
        var path: String
        var file: OpenFile?
        var released = false
        /// Written since the last sync: an eviction must sync first, because a writeback error
        /// is reported only on the descriptor that wrote (Linux), not on a later reopen.
        var dirty = false
        var deferredError: LogError?
    }

    init(path: String, budget: FileDescriptorBudget) {
        self.budget = budget
        self.state = Mutex(State(path: path))
    }

    /// Marks unsynced writes; call after writing through a descriptor from `acquire`.
    func markDirty() { state.withLock { $0.dirty = true } }

    /// fsyncs the file, reporting a write error even if it happened on an evicted descriptor.
    func sync() throws(LogError) {
        let file = try acquire()
        let deferred: LogError? = state.withLock { state in
            defer { state.deferredError = nil }
            return state.deferredError
        }
        if let deferred { throw deferred }
        try file.sync()
        state.withLock { $0.dirty = false }
    }

    /// Creates the file if it is missing. Only a new segment does this: reopening an evicted file
    /// must never conjure up an empty one where a deleted file was.
    func create() throws(LogError) {
        let path = self.path
        _ = try OpenFile(path: path, flags: O_RDWR | O_CREAT)
    }

    var path: String { state.withLock { $0.path } }

    func acquire() throws(LogError) -> OpenFile {
        let result: Result<OpenFile, LogError> = state.withLock { state in
            if let file = state.file { return .success(file) }
            if state.released { return .failure(.closed(path: state.path)) }
            let opened = Result { () throws(LogError) in try OpenFile(path: state.path, flags: O_RDWR) }
            state.file = try? opened.get()
            return opened
        }
        let file = try result.get()
        budget.touch(self)
        return file
    }

    /// Drops this file's own reference; the descriptor closes once no reader holds it.
    func closeDescriptor() {
        state.withLock { state in
            if state.dirty, let file = state.file {
                if case .failure(let error) = Result(catching: { () throws(LogError) in try file.sync() }) { state.deferredError = error }
                state.dirty = false
            }
            state.file = nil
        }
    }

    /// Closes and stops tracking the file when its log closes; it is not reopened afterwards.
    func release() {
        state.withLock { state in
            state.file = nil
            state.released = true
        }
        budget.forget(self)
    }

    /// Renames the file on disk and keeps any open descriptor, which still refers to the same inode.
    func rename(to newPath: String) throws(LogError) {
        let result: Result<Void, LogError> = state.withLock { state in
            guard Glibc.rename(state.path, newPath) == 0 else {
                return .failure(.io(operation: "rename to \(newPath)", path: state.path, errno: errno))
            }
            state.path = newPath
            return .success(())
        }
        try result.get()
    }

    /// Unlinks the file and stops tracking it.
    func delete() {
        let path = state.withLock { state in
            state.file = nil
            state.released = true
            return state.path
        }
        budget.forget(self)
        unlink(path)
    }

    func exists() -> Bool { access(path, F_OK) == 0 }
}
