import Foundation
@testable import LogflumeAggregator
import Testing

@Suite struct DoneHookJournalTests {
    let calendar = BucketCalendar(granularity: .hour)

    func job(_ time: String, version: Int) -> DoneHook.Job {
        let bucket = calendar.bucket(containing: at(time))
        return DoneHook.Job(topic: "web", bucket: bucket, location: "/out/web/\(bucket.label.path)", manifestVersion: version)
    }

    /// Entries are owed per bucket and manifest version, listed oldest first, readable by a person,
    /// and gone once settled; anything else in the directory is not an entry.
    @Test func owedEntriesRoundTripAndSettle() throws {
        let root = makeTemporaryDirectory("journal")
        defer { try? FileManager.default.removeItem(atPath: root) }
        let sink = LocalFileSystemSink(root: root)
        let journal = DoneHookJournal(sink: sink, instance: "i1")
        let ten = job("2024-03-01T10:20Z", version: 1)
        let eight = job("2024-03-01T08:05Z", version: 1)
        let tenAgain = job("2024-03-01T10:20Z", version: 2)
        for owed in [ten, tenAgain, eight] { try journal.owe(topic: owed.topic, bucket: owed.bucket, version: owed.manifestVersion) }
        // Stray names: a staged write, a bucket start that is not an hour's, garbage, and a
        // number written another way (settling would never delete it).
        for stray in [".\(at("2024-03-01T09:00Z"))-v1.i2.tmp", "\(at("2024-03-01T09:30Z"))-v1", "notes.txt", "12-vx", "0\(at("2024-03-01T09:00Z"))-v01"] {
            FileManager.default.createFile(atPath: "\(root)/web/_hooks/\(stray)", contents: Data())
        }

        let owed = try journal.owed(topic: "web", calendar: calendar)
        #expect(owed.map(\.bucket) == [eight.bucket, ten.bucket, ten.bucket])
        #expect(owed.map(\.version) == [1, 1, 2])
        let text = try String(contentsOfFile: "\(root)/web/_hooks/\(at("2024-03-01T10:00Z"))-v2", encoding: .utf8)
        #expect(text == #"{"topic":"web","bucket":"dt=2024-03-01/hr=10","manifestVersion":2}"# + "\n")

        #expect(journal.isOwed(ten))
        try journal.settle(ten)
        #expect(!journal.isOwed(ten))
        try journal.settle(eight)
        #expect(try journal.owed(topic: "web", calendar: calendar).map(\.version) == [2])
        // Settling twice (a hook that ran again after a crash) is no error.
        try journal.settle(ten)
        #expect(try journal.owed(topic: "other", calendar: calendar).isEmpty)
    }

    @Test func aQueueTakesAJobOnceUntilItFinished() async {
        let queue = DoneHookQueue()
        let first = job("2024-03-01T10:20Z", version: 1)
        #expect(queue.enqueue(first))
        #expect(!queue.enqueue(first))
        #expect(queue.enqueue(job("2024-03-01T10:20Z", version: 2)))
        queue.finished(first)
        #expect(queue.enqueue(first))
        queue.finish()
        var seen: [Int] = []
        for await queued in queue.jobs { seen.append(queued.manifestVersion) }
        #expect(seen == [1, 2, 1])
    }

    /// After a rebuild every owed run is queued; between rebuilds only a run owed at two checks in
    /// a row, so one whose marker another instance wrote a moment ago is left to that instance.
    @Test func aPeriodicCheckQueuesOnlyRunsOwedAtTheCheckBefore() {
        var hook = DoneHook(command: "true")
        hook.recheckMs = 1_000
        hook.retries = 0
        hook.timeoutMs = 100
        var check = OwedHookCheck(hook: hook)
        #expect(!check.isDue(now: 0), "a rebuild comes before any periodic check")
        #expect(check.check(owed: ["a", "b"], afterRebuild: true, now: 0) == ["a", "b"])
        #expect(!check.isDue(now: 999))
        #expect(check.isDue(now: 1_000))
        // "a" ran and was settled; "c" was just journaled elsewhere; "b" is still owed.
        #expect(check.check(owed: ["b", "c"], afterRebuild: false, now: 1_000) == ["b"])
        #expect(check.check(owed: ["b", "c"], afterRebuild: false, now: 2_000) == ["b", "c"])
        // "a" owed again (a new failure) waits for a second sighting.
        #expect(check.check(owed: ["a"], afterRebuild: false, now: 3_000) == [])
        // A failed listing delays the next check by an interval and keeps the last sighting.
        check.failed(now: 4_000)
        #expect(!check.isDue(now: 4_999))
        #expect(check.check(owed: ["a"], afterRebuild: false, now: 5_000) == ["a"])
    }

    /// Checks are never closer than a run with all its retries can take: 3 attempts of up to 5 s
    /// with 1 s and 2 s between them is 18 s, longer than the configured 10 s.
    @Test func checksAreAtLeastAsFarApartAsTheLongestRun() {
        var hook = DoneHook(command: "true")
        hook.recheckMs = 10_000
        hook.retries = 2
        hook.backoffMs = 1_000
        hook.timeoutMs = 5_000
        #expect(hook.backoffs == [1_000, 2_000])
        #expect(hook.longestRunMs == 18_000)
        #expect(OwedHookCheck(hook: hook).intervalMs == 18_000)
        hook.recheckMs = 60_000
        #expect(OwedHookCheck(hook: hook).intervalMs == 60_000)
        hook.retries = 8
        hook.backoffMs = 20_000
        #expect(hook.backoffs == [20_000, 40_000, 60_000, 60_000, 60_000, 60_000, 60_000, 60_000])
    }
}
