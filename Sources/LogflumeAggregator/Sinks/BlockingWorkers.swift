import Foundation
import Synchronization

/// Runs blocking work (a request that waits on its answer) for items 1...count on up to
/// `workers` threads of its own and returns the results in item order. Threads rather than tasks:
/// each item blocks its thread for the length of an upload, and parking that many of the
/// cooperative pool's threads (one per core) would stall every other task in the process.
///
/// After the first failure no further item starts; those running finish, and that failure is
/// thrown.
enum BlockingWorkers {
    static func map<Result: Sendable>(items count: Int, workers: Int, _ body: @escaping @Sendable (Int) throws -> Result) throws -> [Result] {
        guard count > 0 else { return [] }
        let workers = max(1, min(workers, count))
        if workers == 1 { return try (1...count).map(body) }
        let shared = Shared<Result>()
        let finished = DispatchGroup()
        for _ in 0..<workers {
            finished.enter()
            Thread {
                defer { finished.leave() }
                while shared.failure.withLock({ $0 == nil }) {
                    let item = shared.next.add(1, ordering: .relaxed).oldValue
                    guard item <= count else { return }
                    do {
                        let result = try body(item)
                        shared.results.withLock { $0[item] = result }
                    } catch {
                        shared.failure.withLock { if $0 == nil { $0 = error } }
                    }
                }
            }.start()
        }
        finished.wait()
        if let failure = shared.failure.withLock({ $0 }) { throw failure }
        return shared.results.withLock { results in (1...count).map { results[$0]! } }
    }

    private final class Shared<Result: Sendable>: Sendable {
        let next = Atomic<Int>(1)
        let results = Mutex<[Int: Result]>([:])
        let failure = Mutex<(any Error)?>(nil)
    }
}
