import LogflumeAggregator
import LogflumeWire
import Testing

/// ms since the epoch of an ISO time, for readable tests.
func at(_ text: String) -> Int64 { EventTime.parse(text)! }

private let minute: Int64 = 60_000

@Suite struct AggregationStateMachineTests {
    func machine(delay: Int64 = 5 * minute, idle: Int64 = minute, maxOpen: Int = 4, late: LatePolicy = .lateDirectory, partitions: [Int32] = [0]) -> AggregationStateMachine {
        var settings = AggregationSettings()
        settings.delayMs = delay
        settings.idleTimeoutMs = idle
        settings.maxOpenBuckets = maxOpen
        settings.latePolicy = late
        var machine = AggregationStateMachine(topic: "web", calendar: BucketCalendar(granularity: .hour), settings: settings)
        for partition in partitions { machine.partitionAssigned(partition, recovery: PartitionRecovery(), now: at("2024-03-01T12:00Z")) }
        return machine
    }

    let now = at("2024-03-01T12:30Z")

    @Test func outOfOrderRecordsAcrossAnHourBoundaryLandInTheirOwnHour() {
        var m = machine()
        let ten = BucketKey(bucketStart: at("2024-03-01T10:00Z"), kind: .main)
        let eleven = BucketKey(bucketStart: at("2024-03-01T11:00Z"), kind: .main)
        #expect(m.recordReceived(partition: 0, offset: 0, timestamp: at("2024-03-01T10:59:59Z"), now: now) == .append(ten, BucketCalendar(granularity: .hour).bucket(containing: ten.bucketStart)))
        guard case .append(let k1, _) = m.recordReceived(partition: 0, offset: 1, timestamp: at("2024-03-01T11:00:01Z"), now: now) else { Issue.record(); return }
        guard case .append(let k2, _) = m.recordReceived(partition: 0, offset: 2, timestamp: at("2024-03-01T10:59:58Z"), now: now) else { Issue.record(); return }
        #expect(k1 == eleven)
        #expect(k2 == ten)
        #expect(m.openSlice(ten, partition: 0) == BucketSlice(firstOffset: 0, lastOffset: 2, records: 2, minTimestamp: at("2024-03-01T10:59:58Z"), maxTimestamp: at("2024-03-01T10:59:59Z")))
        #expect(m.openSlice(eleven, partition: 0)?.records == 1)
        // The safe offset is held by the oldest open record.
        #expect(m.safeOffset(of: 0) == 0)
    }

    @Test func anHourClosesOnlyAfterTheDelayWindow() {
        var m = machine(delay: 5 * minute)
        _ = m.recordReceived(partition: 0, offset: 0, timestamp: at("2024-03-01T10:30Z"), now: now)
        _ = m.recordReceived(partition: 0, offset: 1, timestamp: at("2024-03-01T11:04Z"), now: now)
        #expect(m.tick(now: now, caughtUp: []).isEmpty)
        #expect(m.watermark == at("2024-03-01T11:04Z"))
        _ = m.recordReceived(partition: 0, offset: 2, timestamp: at("2024-03-01T11:05:00.001Z"), now: now)
        let closes = m.tick(now: now, caughtUp: [])
        #expect(closes.count == 1)
        #expect(closes.first?.key == BucketKey(bucketStart: at("2024-03-01T10:00Z"), kind: .main))
        #expect(closes.first?.reason == .watermark)
        #expect(closes.first?.partitions == [0])
        #expect(closes.first?.slices[0]?.lastOffset == 0)
        #expect(m.closedThrough(of: 0) == at("2024-03-01T11:00Z"))
        #expect(m.safeOffset(of: 0) == 1)
        #expect(m.commitPlan() == [SafeCommit(partition: 0, offset: 1, metadata: ProgressMetadata(closedThrough: at("2024-03-01T11:00Z")))])
    }

    @Test func anIdlePartitionStopsHoldingTheWatermarkBackAfterTheIdleTimeout() {
        var m = machine(delay: 0, idle: minute, partitions: [0, 1])
        let start = at("2024-03-01T12:00Z")
        _ = m.recordReceived(partition: 0, offset: 0, timestamp: at("2024-03-01T10:30Z"), now: start)
        _ = m.recordReceived(partition: 0, offset: 1, timestamp: at("2024-03-01T11:30Z"), now: start)
        // Partition 1 has no records and is not caught up: the watermark stays unknown.
        #expect(m.tick(now: start, caughtUp: [0]).isEmpty)
        #expect(m.watermark == nil)
        // Caught up, but not idle long enough.
        #expect(m.tick(now: start + 30_000, caughtUp: [0, 1]).isEmpty)
        // Idle for the timeout: partition 0's event time is the watermark; hour 10 closes for both.
        let closes = m.tick(now: start + minute + 1, caughtUp: [1])
        #expect(m.watermark == at("2024-03-01T11:30Z"))
        #expect(closes.map(\.bucket.label.hour) == [10])
        #expect(closes.first?.partitions == [0, 1])
        #expect(closes.first?.slices.keys.sorted() == [0])
    }

    /// The session ticks at these moments, so an hour closes as soon as its partitions turn idle.
    @Test func theNextIdleDeadlineIsTheEarliestPartitionTurningIdleAfterAGivenTime() {
        var m = machine(delay: 0, idle: minute, partitions: [0, 1])
        let start = at("2024-03-01T12:00Z")
        // Both were assigned at 12:00; partition 0 then gets a record at 12:00:20.
        #expect(m.nextIdleDeadline(after: start) == start + minute)
        _ = m.recordReceived(partition: 0, offset: 0, timestamp: at("2024-03-01T11:30Z"), now: start + 20_000)
        #expect(m.nextIdleDeadline(after: start) == start + minute)
        #expect(m.nextIdleDeadline(after: start + minute) == start + 20_000 + minute)
        // After a tick past both deadlines there is nothing left to wait for.
        #expect(m.nextIdleDeadline(after: start + 20_000 + minute) == nil)
        #expect(m.tick(now: start + 20_000 + minute, caughtUp: [0, 1]).map(\.bucket.label.hour) == [11])
    }

    @Test func whenEveryPartitionIsIdleTheWallClockIsTheWatermark() {
        var m = machine(delay: 0, idle: minute)
        let start = at("2024-03-01T12:00Z")
        _ = m.recordReceived(partition: 0, offset: 0, timestamp: at("2024-03-01T11:59Z"), now: start)
        #expect(m.tick(now: start, caughtUp: [0]).isEmpty)
        let closes = m.tick(now: start + minute, caughtUp: [0])
        #expect(m.watermark == start + minute)
        #expect(closes.map(\.bucket.label.hour) == [11])
    }

    @Test func emptyHoursBetweenRecordsAreClosedSoTheyGetMarkers() {
        var m = machine(delay: 0)
        _ = m.recordReceived(partition: 0, offset: 0, timestamp: at("2024-03-01T08:10Z"), now: now)
        _ = m.recordReceived(partition: 0, offset: 1, timestamp: at("2024-03-01T11:10Z"), now: now)
        let closes = m.tick(now: now, caughtUp: [])
        #expect(closes.map(\.bucket.label.hour) == [8, 9, 10])
        #expect(closes.map { $0.slices.isEmpty } == [false, true, true])
        #expect(closes.allSatisfy { $0.partitions == [0] })
    }

    @Test func tooManyOpenHoursForceTheOldestClosed() {
        var m = machine(delay: 0, maxOpen: 2, partitions: [0, 1])
        // Partition 1 holds the watermark back (no records, not idle); hours pile up on 0.
        for (offset, hour) in [9, 10, 11].enumerated() {
            _ = m.recordReceived(partition: 0, offset: Int64(offset), timestamp: at("2024-03-01T\(hour < 10 ? "0" : "")\(hour):15Z"), now: now)
        }
        let closes = m.tick(now: now, caughtUp: [])
        #expect(closes.count == 1)
        #expect(closes.first?.bucket.label.hour == 9)
        #expect(closes.first?.reason == .maxOpenBuckets)
        #expect(m.openBuckets.count == 2)
        // Hour 9 is closed now: a record for it is late.
        guard case .append(let key, _) = m.recordReceived(partition: 0, offset: 3, timestamp: at("2024-03-01T09:50Z"), now: now) else { Issue.record(); return }
        #expect(key.kind == .late)
    }

    @Test func lateRecordsFollowThePolicy() {
        for policy in LatePolicy.allCases {
            var m = machine(delay: 0, late: policy)
            _ = m.recordReceived(partition: 0, offset: 0, timestamp: at("2024-03-01T10:10Z"), now: now)
            _ = m.recordReceived(partition: 0, offset: 1, timestamp: at("2024-03-01T11:10Z"), now: now)
            #expect(m.tick(now: now, caughtUp: []).count == 1)
            let action = m.recordReceived(partition: 0, offset: 2, timestamp: at("2024-03-01T10:20Z"), now: now)
            let bucket = BucketCalendar(granularity: .hour).bucket(containing: at("2024-03-01T10:00Z"))
            switch policy {
            case .drop: #expect(action == .dropLate(bucket))
            case .lateDirectory: #expect(action == .append(BucketKey(bucketStart: bucket.start, kind: .late), bucket))
            case .reopen: #expect(action == .append(BucketKey(bucketStart: bucket.start, kind: .reopen), bucket))
            }
            // The late round closes with the bucket the watermark was in when it opened (11:00).
            _ = m.recordReceived(partition: 0, offset: 3, timestamp: at("2024-03-01T12:00:01Z"), now: now)
            let closes = m.tick(now: now, caughtUp: [])
            if policy == .drop {
                #expect(closes.map(\.key.kind) == [.main])
                #expect(m.safeOffset(of: 0) == 3)
            } else {
                #expect(closes.map(\.key.kind) == [.main, policy == .reopen ? .reopen : .late])
                #expect(closes.last?.reason == .lateRound)
                #expect(closes.last?.slices[0] == BucketSlice(firstOffset: 2, lastOffset: 2, records: 1, minTimestamp: at("2024-03-01T10:20Z"), maxTimestamp: at("2024-03-01T10:20Z")))
                #expect(m.fences(of: 0)[bucket.start] == 2)
            }
        }
    }

    @Test func afterARestartRecordsAtOrBelowAClosedHoursFenceAreSkipped() {
        var m = machine(delay: 5 * minute)
        // 11:59 arrives first, then hour 10's records, then hour 12: hour 10 closes while offset 0
        // (hour 11) is still open, so its fence (3) lies above the safe offset (0).
        let times = ["11:59", "10:10", "10:20", "10:30", "12:01"]
        for (offset, time) in times.enumerated() {
            _ = m.recordReceived(partition: 0, offset: Int64(offset), timestamp: at("2024-03-01T\(time)Z"), now: now)
        }
        let closes = m.tick(now: now, caughtUp: [])
        #expect(closes.map(\.bucket.label.hour) == [10])
        let plan = m.commitPlan()
        #expect(plan == [SafeCommit(partition: 0, offset: 0, metadata: ProgressMetadata(closedThrough: at("2024-03-01T11:00Z"), fences: [at("2024-03-01T10:00Z"): 3]))])
        m.committed(plan)

        // Crash; a new instance starts from the commit and reads offsets 0... again.
        var restarted = machine(delay: 5 * minute, partitions: [])
        restarted.partitionAssigned(0, recovery: PartitionRecovery(committedOffset: plan[0].offset, progress: ProgressMetadata(decoding: plan[0].metadata.encoded)!), now: now)
        var actions: [RecordAction] = []
        for (offset, time) in times.enumerated() {
            actions.append(restarted.recordReceived(partition: 0, offset: Int64(offset), timestamp: at("2024-03-01T\(time)Z"), now: now))
        }
        let calendar = BucketCalendar(granularity: .hour)
        let ten = calendar.bucket(containing: at("2024-03-01T10:00Z"))
        #expect(actions[1...3].allSatisfy { $0 == .skipBelowFence(ten, fence: 3) })
        #expect(actions[0] == .append(BucketKey(bucketStart: at("2024-03-01T11:00Z"), kind: .main), calendar.bucket(containing: at("2024-03-01T11:00Z"))))
        // A record of hour 10 beyond the fence is late, not a duplicate.
        guard case .append(let key, _) = restarted.recordReceived(partition: 0, offset: 5, timestamp: at("2024-03-01T10:40Z"), now: now) else { Issue.record(); return }
        #expect(key.kind == .late)
    }

    @Test func committedFencesAreOnlyThoseAboveTheSafeOffset() {
        var m = machine(delay: 0)
        _ = m.recordReceived(partition: 0, offset: 0, timestamp: at("2024-03-01T10:10Z"), now: now)
        _ = m.recordReceived(partition: 0, offset: 1, timestamp: at("2024-03-01T11:10Z"), now: now)
        _ = m.tick(now: now, caughtUp: [])
        let plan = m.commitPlan()
        // Hour 10's fence (0) is below the safe offset (1): never needed again.
        #expect(plan.first?.metadata.fences.isEmpty == true)
        m.committed(plan)
        #expect(m.commitPlan().isEmpty)
        #expect(m.fences(of: 0).isEmpty)
    }

    @Test func farFutureEventTimesDoNotRunTheWatermarkAhead() {
        var m = machine(delay: 0)
        _ = m.recordReceived(partition: 0, offset: 0, timestamp: at("2024-03-01T10:10Z"), now: now)
        _ = m.recordReceived(partition: 0, offset: 1, timestamp: at("2031-01-01T00:00Z"), now: now)
        _ = m.tick(now: now, caughtUp: [])
        #expect(m.watermark == now + AggregationSettings().maxFutureSkewMs)
        #expect(m.closedThrough(of: 0) == at("2024-03-01T13:00Z"))
    }

    /// Feeds each partition's records to `one` record by record and to `run` as one run; the
    /// actions must be the same, and each record handed over with its own action.
    @discardableResult
    private func feed(
        _ records: [Int32: [(offset: Int64, time: String)]], one: inout AggregationStateMachine, run: inout AggregationStateMachine
    ) -> [RecordAction] {
        var all: [RecordAction] = []
        for (partition, list) in records.sorted(by: { $0.key < $1.key }) {
            let expected = list.map { one.recordReceived(partition: partition, offset: $0.offset, timestamp: at("2024-03-01T\($0.time)Z"), now: now) }
            let batch = list.map { Record(offset: $0.offset, timestamp: at("2024-03-01T\($0.time)Z"), key: nil, value: nil) }
            var got: [(Int64, RecordAction)] = []
            run.recordsReceived(partition: partition, batch[...], now: now) { record, action in got.append((record.offset, action)) }
            #expect(got.map(\.0) == list.map(\.offset))
            #expect(got.map(\.1) == expected)
            all += expected
        }
        return all
    }

    @Test func aRunOfRecordsGetsTheActionsAndStateItsRecordsGetOneByOne() {
        for policy in LatePolicy.allCases {
            var one = machine(delay: 0, late: policy, partitions: [0, 1])
            var run = one
            // Back and forth across an hour boundary, on two partitions.
            feed([0: [(0, "10:10"), (1, "10:20"), (2, "11:05"), (3, "10:59"), (4, "11:10"), (5, "11:11")], 1: [(0, "11:01"), (1, "10:30"), (2, "11:30")]],
                 one: &one, run: &run)
            for hour in ["10:00", "11:00"] {
                for partition: Int32 in [0, 1] {
                    let key = BucketKey(bucketStart: at("2024-03-01T\(hour)Z"), kind: .main)
                    #expect(run.openSlice(key, partition: partition) == one.openSlice(key, partition: partition))
                }
            }
            #expect(run.tick(now: now, caughtUp: []) == one.tick(now: now, caughtUp: []))
            // Hour 10 is closed: late records (each policy) mixed with records of open hours.
            let late = feed([0: [(6, "10:40"), (7, "12:01"), (8, "10:41"), (9, "10:42")], 1: [(3, "12:02"), (4, "10:05")]], one: &one, run: &run)
            #expect(late.filter { if case .dropLate = $0 { true } else if case .append(let key, _) = $0 { key.kind != .main } else { false } }.count == 4)
            #expect(run.tick(now: now, caughtUp: []) == one.tick(now: now, caughtUp: []))
            let plan = one.commitPlan()
            #expect(run.commitPlan() == plan)
            #expect(run.safeOffset(of: 0) == one.safeOffset(of: 0))

            // Restarted from that commit, records at or below hour 10's fence are skipped alike.
            let restart = { (committed: SafeCommit) -> AggregationStateMachine in
                var m = machine(delay: 0, late: policy, partitions: [])
                m.partitionAssigned(0, recovery: PartitionRecovery(committedOffset: committed.offset, progress: committed.metadata), now: now)
                return m
            }
            guard let zero = plan.first(where: { $0.partition == 0 }) else { Issue.record("no commit for partition 0"); continue }
            var oneAgain = restart(zero)
            var runAgain = restart(zero)
            let replayed: [(offset: Int64, time: String)] = (zero.offset...9).map { ($0, $0 % 2 == 0 ? "10:50" : "12:30") }
            let again = feed([0: replayed], one: &oneAgain, run: &runAgain)
            // (Dropping leaves hour 10 no fence above the safe offset, so nothing to skip.)
            #expect(again.contains { if case .skipBelowFence = $0 { true } else { false } } == (policy != .drop))
            #expect(runAgain.tick(now: now, caughtUp: []) == oneAgain.tick(now: now, caughtUp: []))
            #expect(runAgain.commitPlan() == oneAgain.commitPlan())
        }
    }

    @Test func progressMetadataRoundTripsAndStaysShort() {
        var fences: [Int64: Int64] = [:]
        for i in 0..<100 { fences[at("2024-03-01T00:00Z") + Int64(i) * 3_600_000] = 9_000_000_000_000 + Int64(i) }
        let metadata = ProgressMetadata(closedThrough: at("2024-03-05T04:00Z"), fences: fences)
        #expect(ProgressMetadata(decoding: metadata.encoded) == metadata)
        #expect(metadata.encoded.utf8.count < ProgressMetadata.maxBytes)
        #expect(ProgressMetadata(decoding: "") == nil)
        #expect(ProgressMetadata(decoding: "lf1") == ProgressMetadata())
    }
}
