import LogflumeAggregator
import Testing

@Suite struct BucketCalendarTests {
    @Test func utcHoursDaysAndMinutes() {
        let t = at("2026-11-20T10:59:59.999Z")
        let hour = BucketCalendar(granularity: .hour).bucket(containing: t)
        #expect(hour.start == at("2026-11-20T10:00Z"))
        #expect(hour.end == at("2026-11-20T11:00Z"))
        #expect(hour.label.path == "dt=2026-11-20/hr=10")
        #expect(BucketCalendar(granularity: .day).bucket(containing: t).label.path == "dt=2026-11-20")
        #expect(BucketCalendar(granularity: .minute).bucket(containing: t).label.path == "dt=2026-11-20/hr=10/min=59")
        #expect(BucketCalendar(granularity: .hour).bucket(containing: at("2026-11-20T11:00Z")).label.hour == 11)
        #expect(BucketCalendar(granularity: .hour).bucket(containing: -1).label.path == "dt=1969-12-31/hr=23")
    }

    @Test func fixedOffsetsShiftTheLabels() {
        let tokyo = BucketCalendar(granularity: .hour, zone: BucketTimeZone("+09:00")!)
        let bucket = tokyo.bucket(containing: at("2026-11-20T15:30Z"))
        #expect(bucket.label.path == "dt=2026-11-21/hr=00")
        #expect(bucket.start == at("2026-11-20T15:00Z"))
        let kathmandu = BucketCalendar(granularity: .hour, zone: BucketTimeZone("+0545")!)
        #expect(kathmandu.bucket(containing: at("2026-11-20T10:14Z")).start == at("2026-11-20T09:15Z"))
        #expect(BucketTimeZone("-03:30")?.description == "-03:30")
        #expect(BucketTimeZone("Mars/Olympus") == nil)
    }

    @Test func theRepeatedAutumnHourIsOneTwoHourBucket() {
        // New York, 2024-11-03: 01:00-02:00 EDT (05:00-06:00Z) then 01:00-02:00 EST (06:00-07:00Z).
        let ny = BucketCalendar(granularity: .hour, zone: .named("America/New_York"))
        let first = ny.bucket(containing: at("2024-11-03T05:30Z"))
        let second = ny.bucket(containing: at("2024-11-03T06:30Z"))
        #expect(first == second)
        #expect(first.label.path == "dt=2024-11-03/hr=01")
        #expect(first.start == at("2024-11-03T05:00Z"))
        #expect(first.end == at("2024-11-03T07:00Z"))
        #expect(ny.bucket(after: first).label.hour == 2)
        // The day has 25 hours.
        let day = BucketCalendar(granularity: .day, zone: .named("America/New_York")).bucket(containing: at("2024-11-03T12:00Z"))
        #expect(day.end - day.start == 25 * 3_600_000)
    }

    @Test func theSkippedSpringHourHasNoBucket() {
        // New York, 2024-03-10: 02:00 local does not exist (07:00Z is 03:00 EDT).
        let ny = BucketCalendar(granularity: .hour, zone: .named("America/New_York"))
        let one = ny.bucket(containing: at("2024-03-10T06:30Z"))
        #expect(one.label.hour == 1)
        #expect(ny.bucket(after: one).label.hour == 3)
        #expect(ny.bucket(after: one).start == at("2024-03-10T07:00Z"))
        #expect(ny.buckets(from: at("2024-03-10T05:00Z"), to: at("2024-03-10T09:00Z")).map { $0.label.hour! } == [0, 1, 3, 4])
    }

    @Test func eventTimeParsesAndFormats() {
        #expect(EventTime.parse("2026-11-20T10:00Z") == 1_795_168_800_000)
        #expect(EventTime.parse("2026-11-20T19:00:00+09:00") == EventTime.parse("2026-11-20T10:00:00Z"))
        #expect(EventTime.parse("2026-11-20T10:00:00.25Z") == 1_795_168_800_250)
        #expect(EventTime.parse("2026-11-20") == EventTime.parse("2026-11-20T00:00Z"))
        #expect(EventTime.parse("2026-13-20T10:00Z") == nil)
        #expect(EventTime.parse("yesterday") == nil)
        #expect(EventTime.format(1_795_168_800_250) == "2026-11-20T10:00:00.250Z")
    }
}
