import Synchronization

/// The done-hook jobs of this process, waiting or running, in order. A rebuild or a periodic check
/// that finds a job owed in the journal while it is still here does not queue it a second time.
final class DoneHookQueue: Sendable {
    let jobs: AsyncStream<DoneHook.Job>
    private let continuation: AsyncStream<DoneHook.Job>.Continuation
    private let queued = Mutex<Set<String>>([])

    init() {
        (jobs, continuation) = AsyncStream.makeStream()
    }

    /// Queues `job` unless it already is; true when it was queued now.
    @discardableResult
    func enqueue(_ job: DoneHook.Job) -> Bool {
        guard queued.withLock({ $0.insert(job.identity).inserted }) else { return false }
        continuation.yield(job)
        return true
    }

    /// The job ran, successfully or not; a later enqueue queues it again.
    func finished(_ job: DoneHook.Job) {
        _ = queued.withLock { $0.remove(job.identity) }
    }

    func finish() { continuation.finish() }
}

extension DoneHook.Job {
    var identity: String { DoneHookJournal.path(of: self) }
}
