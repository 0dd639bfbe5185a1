import NIOCore
import Synchronization

/// Wakes tasks that wait for "something changed"; a wait can end early (callers re-check their
/// condition).
///
/// A ring before anyone waits is remembered once. With several waiters that is not enough: a
/// ring that wakes one waiter while another has checked its condition but not yet started
/// waiting would be lost on the second. Callers that may wait alongside others read `rings`
/// before checking their condition and pass it to `wait(untilUptimeMs:unlessRungSince:)`, which
/// then returns at once if any ring came in between.
final class Doorbell: Sendable {
    private struct State {
        var rung = false
        var rings: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Bool, Never>] = [:]
        var timers: [UInt64: Scheduled<Void>] = [:]
        /// Waits cancelled before they started waiting.
        var cancelled: Set<UInt64> = []
        var nextId: UInt64 = 0
    }

    private let state = Mutex(State())
    private let eventLoop: any EventLoop

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// How many times the bell has rung.
    var rings: UInt64 { state.withLock { $0.rings } }

    /// Tasks waiting right now.
    var waiterCount: Int { state.withLock { $0.waiters.count } }

    /// Wakes every waiter, or the next one to wait when there is none.
    func ring() {
        let (waiters, timers) = state.withLock { state -> ([CheckedContinuation<Bool, Never>], [Scheduled<Void>]) in
            state.rings &+= 1
            if state.waiters.isEmpty {
                state.rung = true
                return ([], [])
            }
            defer {
                state.waiters = [:]
                state.timers = [:]
            }
            return (Array(state.waiters.values), Array(state.timers.values))
        }
        for timer in timers { timer.cancel() }
        for waiter in waiters { waiter.resume(returning: true) }
    }

    /// Returns after a ring (including one remembered from before, or any since `seen` rings),
    /// at `deadline` (uptime ms), or when the task is cancelled.
    /// - Returns: whether a ring ended the wait (false at the deadline or on cancellation).
    @discardableResult
    func wait(untilUptimeMs deadline: Int64?, unlessRungSince seen: UInt64? = nil) async -> Bool {
        let id = state.withLock { state -> UInt64 in
            state.nextId += 1
            return state.nextId
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let early = state.withLock { state -> Bool? in
                    if state.cancelled.remove(id) != nil { return false }
                    if let seen, state.rings != seen { return true }
                    if state.rung {
                        state.rung = false
                        return true
                    }
                    state.waiters[id] = continuation
                    return nil
                }
                if let early {
                    continuation.resume(returning: early)
                    return
                }
                if let deadline {
                    let timer = eventLoop.scheduleTask(deadline: ClientClock.deadline(uptimeMs: deadline)) { [self] in
                        self.resume(id)
                    }
                    let fired = state.withLock { state -> Bool in
                        guard state.waiters[id] != nil else { return true }
                        state.timers[id] = timer
                        return false
                    }
                    if fired { timer.cancel() }
                }
            }
        } onCancel: {
            resume(id, cancelling: true)
        }
    }

    /// Ends one wait without a ring: its deadline passed or its task was cancelled.
    private func resume(_ id: UInt64, cancelling: Bool = false) {
        let (waiter, timer) = state.withLock { state in
            let waiter = state.waiters.removeValue(forKey: id)
            if waiter == nil && cancelling { state.cancelled.insert(id) }
            return (waiter, state.timers.removeValue(forKey: id))
        }
        timer?.cancel()
        waiter?.resume(returning: false)
    }
}
