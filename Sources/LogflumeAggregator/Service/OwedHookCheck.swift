/// Which owed done-hook runs (journal entries whose bucket has its marker) to queue again.
///
/// After a rebuild, all of them: whoever owed them crashed, stopped or lost the partitions. At a
/// periodic check, only those owed at the check before as well, and only if checks are at least
/// as far apart as a run can take with its retries: a run whose marker was written a moment ago is
/// mostly still queued or running on the instance that wrote it, and queueing it here too would
/// run it twice.
struct OwedHookCheck: Equatable {
    /// Checks are at least this far apart.
    let intervalMs: Int64
    /// When the last check ran; nil before the first (a rebuild comes first).
    private(set) var lastAt: Int64?
    /// The runs the last check found owed.
    private(set) var lastOwed: Set<String> = []

    /// The hook's `recheckMs`, or the longest a run can take with its retries if that is longer
    /// (a shorter interval would double runs still going elsewhere).
    init(hook: DoneHook) {
        intervalMs = max(hook.recheckMs, hook.longestRunMs)
    }

    /// Whether a periodic check is due at `now`.
    func isDue(now: Int64) -> Bool {
        guard let lastAt else { return false }
        return now - lastAt >= intervalMs
    }

    /// The runs to queue out of those owed now, and the check recorded.
    mutating func check(owed: Set<String>, afterRebuild: Bool, now: Int64) -> Set<String> {
        let queue = afterRebuild ? owed : owed.intersection(lastOwed)
        lastAt = now
        lastOwed = owed
        return queue
    }

    /// A check that could not list the journal: the next one is an interval later, and it
    /// compares with the last listing that worked.
    mutating func failed(now: Int64) {
        lastAt = now
    }
}
