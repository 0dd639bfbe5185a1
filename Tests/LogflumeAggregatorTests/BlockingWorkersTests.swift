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
        let results = try BlockingWorkers.map(items: 10, workers: 3) { item, _ in
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
        let results = try BlockingWorkers.map(items: 4, workers: 1) { item, _ in
            seen.withLock { $0.append(item) }
            return pthread_equal(pthread_self(), caller) != 0
        }
        #expect(results == [true, true, true, true])
        #expect(seen.withLock { $0 } == [1, 2, 3, 4])
        #expect(try BlockingWorkers.map(items: 0, workers: 4) { item, _ in item }.isEmpty)
    }

    @Test func withOneWorkerNoItemStartsAfterAFailure() throws {
        let started = Mutex<[Int]>([])
        #expect(throws: Refused(item: 3)) {
            _ = try BlockingWorkers.map(items: 10, workers: 1) { item, _ in
                started.withLock { $0.append(item) }
                if item == 3 { throw Refused(item: 3) }
                return item
            }
        }
        #expect(started.withLock { $0 } == [1, 2, 3])
    }

    @Test func withSeveralWorkersTheItemsStopSoonAfterAFailure() throws {
        let started = Mutex<Int>(0)
        #expect(throws: Refused(item: 3)) {
            _ = try BlockingWorkers.map(items: 1_000, workers: 4) { item, _ in
                started.withLock { $0 += 1 }
                if item == 3 { throw Refused(item: 3) }
                usleep(2_000)
                return item
            }
        }
        // Not a bound on timing: only that the failure ended the run long before its end.
        #expect(started.withLock { $0 } < 1_000)
    }

    /// A running item learns of another's failure (so it can stop retrying), and `map` throws
    /// only after it has finished: the caller's abort never overtakes a part still uploading.
    @Test func runningItemsHearOfAFailureAndAreWaitedFor() throws {
        let heard = Mutex(false)
        let finished = Mutex(false)
        #expect(throws: Refused(item: 2)) {
            _ = try BlockingWorkers.map(items: 2, workers: 2) { item, failed in
                if item == 2 { throw Refused(item: 2) }
                let deadline = Date().addingTimeInterval(10)
                while !failed(), Date() < deadline { usleep(1_000) }
                heard.withLock { $0 = failed() }
                usleep(50_000)
                finished.withLock { $0 = true }
                return item
            }
        }
        #expect(heard.withLock { $0 })
        #expect(finished.withLock { $0 })
    }
}
