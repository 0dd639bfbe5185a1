import Foundation
@testable import LogflumeAggregator
import Synchronization
import Testing

@Suite struct BlockingWorkersTests {
    struct Refused: Error, Equatable {
        let item: Int
    }

    /// Counts items running at once. Each item waits (up to 5 s) until `until` are running, so
    /// workers that really run side by side always reach it and a serial run never does.
    final class Overlap: Sendable {
        let state = Mutex<(running: Int, most: Int)>((0, 0))
        let until: Int
        init(until: Int) { self.until = until }

        func hold() {
            state.withLock {
                $0.running += 1
                $0.most = max($0.most, $0.running)
            }
            let deadline = Date().addingTimeInterval(5)
            while state.withLock({ $0.most < until }), Date() < deadline { usleep(1_000) }
            state.withLock { $0.running -= 1 }
        }
    }

    @Test func resultsComeInItemOrderFromWorkersRunningSideBySide() throws {
        let overlap = Overlap(until: 3)
        let results = try BlockingWorkers.map(items: 10, workers: 3) { item in
            overlap.hold()
            // Later items finish first: the order comes from the item numbers, not completion.
            usleep(UInt32(10 - item) * 500)
            return "item \(item)"
        }
        #expect(results == (1...10).map { "item \($0)" })
        #expect(overlap.state.withLock { $0.most } == 3)
    }

    @Test func oneWorkerRunsItemsInOrderOnTheCallersThread() throws {
        let caller = pthread_self()
        let seen = Mutex<[Int]>([])
        let results = try BlockingWorkers.map(items: 4, workers: 1) { item in
            seen.withLock { $0.append(item) }
            return pthread_equal(pthread_self(), caller) != 0
        }
        #expect(results == [true, true, true, true])
        #expect(seen.withLock { $0 } == [1, 2, 3, 4])
        #expect(try BlockingWorkers.map(items: 0, workers: 4) { $0 }.isEmpty)
    }

    @Test(arguments: [1, 4])
    func theFirstFailureIsThrownAndNoItemStartsAfterIt(workers: Int) throws {
        let started = Mutex<Set<Int>>([])
        #expect(throws: Refused(item: 3)) {
            _ = try BlockingWorkers.map(items: 200, workers: workers) { item in
                started.withLock { _ = $0.insert(item) }
                if item == 3 { throw Refused(item: 3) }
                usleep(2_000)
                return item
            }
        }
        // Items already handed out when item 3 failed may still run, no more than one per other
        // worker; one worker stops right there.
        let ran = started.withLock { $0 }
        #expect(ran.contains(3) && ran.count <= 3 + (workers - 1))
    }
}
