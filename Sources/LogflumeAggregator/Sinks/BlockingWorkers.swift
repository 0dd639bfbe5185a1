import Foundation
import Synchronization

/// Runs blocking work (a request that waits on its answer) for items 1...count on up to
/// `workers` threads of its own and returns the results in item order. Threads rather than tasks:
/// each item blocks its thread for the length of an upload, and parking that many of the
/// cooperative pool's threads (one per core) would stall every other task in the process.
///
/// After the first failure (the first in time, not the lowest item) no further item starts;
/// `body`'s second argument tells a running one that it happened, so it can stop retrying. `map`
/// returns or throws only when every item started has finished; later failures are dropped.
enum BlockingWorkers {
    static func map<Result: Sendable>(
        items count: Int, workers: Int, _ body: @escaping @Sendable (_ item: Int, _ failed: @escaping @Sendable () -> Bool) throws -> Result
    ) throws -> [Result] {
        guard count > 0 else { return [] }
        let workers = max(1, min(workers, count))
        if workers == 1 { return try (1...count).map { try body($0, { false }) } }
        let shared = Shared<Result>()
        let failed: @Sendable () -> Bool = { shared.queue.withLock { $0.failure != nil } }
        let finished = DispatchGroup()
        for _ in 0..<workers {
            finished.enter()
            Thread {
                defer { finished.leave() }
                while let item = shared.take(upTo: count) {
                    do {
                        let result = try body(item, failed)
                        shared.results.withLock { $0[item] = result }
                    } catch {
                        shared.queue.withLock { if $0.failure == nil { $0.failure = error } }
                    }
                }
            }.start()
        }
        finished.wait()
        if let failure = shared.queue.withLock({ $0.failure }) { throw failure }
        return shared.results.withLock { results in (1...count).map { results[$0]! } }
    }

    private final class Shared<Result: Sendable>: Sendable {
        /// The next item and the first failure, under one lock: an item is handed out only
        /// while there is no failure.
        let queue = Mutex<(next: Int, failure: (any Error)?)>((1, nil))
        let results = Mutex<[Int: Result]>([:])

        func take(upTo count: Int) -> Int? {
            queue.withLock { queue in
                guard queue.failure == nil, queue.next <= count else { return nil }
                defer { queue.next += 1 }
                return queue.next
            }
        }
    }
}
