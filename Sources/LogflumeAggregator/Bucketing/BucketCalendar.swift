import Foundation

/// Maps event times to buckets for one granularity and zone.
///
/// Fixed offsets (UTC included) are plain arithmetic. Named zones go through Foundation's
/// `Calendar`, then neighbouring intervals with the same label are merged, so the repeated hour
/// of an autumn DST change is a single two-hour bucket and the skipped spring hour has none.
public struct BucketCalendar: Sendable, Equatable {
    public let granularity: BucketGranularity
    public let zone: BucketTimeZone
    private let calendar: Calendar?

    public init(granularity: BucketGranularity, zone: BucketTimeZone = .utc) {
        self.granularity = granularity
        self.zone = zone
        if case .named(let name) = zone, let timeZone = TimeZone(identifier: name) {
            var calendar = Calendar(identifier: .gregorian)
            calendar.timeZone = timeZone
            self.calendar = calendar
        } else {
            self.calendar = nil
        }
    }

    public static func == (lhs: BucketCalendar, rhs: BucketCalendar) -> Bool {
        lhs.granularity == rhs.granularity && lhs.zone == rhs.zone
    }

    /// The bucket holding the instant `time` (ms since the epoch).
    public func bucket(containing time: Int64) -> Bucket {
        if let calendar { return namedZoneBucket(containing: time, calendar: calendar) }
        guard case .fixed(let seconds) = zone else { preconditionFailure("named zone without a calendar") }
        let offset = Int64(seconds) * 1000
        let width = granularity.nominalMilliseconds
        let localStart = floorDiv(time + offset, width) * width
        return Bucket(start: localStart - offset, end: localStart - offset + width, label: label(localMilliseconds: localStart))
    }

    /// The bucket right after `bucket`.
    public func bucket(after bucket: Bucket) -> Bucket { self.bucket(containing: bucket.end) }

    /// Every bucket overlapping `[from, to)`, in order.
    public func buckets(from: Int64, to: Int64) -> [Bucket] {
        var result: [Bucket] = []
        guard from < to else { return result }
        var current = bucket(containing: from)
        while current.start < to {
            result.append(current)
            current = bucket(after: current)
        }
        return result
    }

    // MARK: Fixed offsets

    private func label(localMilliseconds: Int64) -> BucketLabel {
        let days = floorDiv(localMilliseconds, 86_400_000)
        let (year, month, day) = civilDate(daysSinceEpoch: days)
        let msOfDay = localMilliseconds - days * 86_400_000
        let hour = Int(msOfDay / 3_600_000)
        let minute = Int(msOfDay % 3_600_000 / 60_000)
        switch granularity {
        case .day: return BucketLabel(year: year, month: month, day: day)
        case .hour: return BucketLabel(year: year, month: month, day: day, hour: hour)
        case .minute: return BucketLabel(year: year, month: month, day: day, hour: hour, minute: minute)
        }
    }

    // MARK: Named zones

    private var component: Calendar.Component {
        switch granularity {
        case .minute: .minute
        case .hour: .hour
        case .day: .day
        }
    }

    private func namedZoneBucket(containing time: Int64, calendar: Calendar) -> Bucket {
        let wanted = namedLabel(at: time, calendar: calendar)
        var (start, end) = interval(containing: time, calendar: calendar)
        // Merge neighbours carrying the same label: the repeated local hour when clocks go back.
        while namedLabel(at: start - 1, calendar: calendar) == wanted {
            start = interval(containing: start - 1, calendar: calendar).start
        }
        while namedLabel(at: end, calendar: calendar) == wanted {
            end = interval(containing: end, calendar: calendar).end
        }
        return Bucket(start: start, end: end, label: wanted)
    }

    private func interval(containing time: Int64, calendar: Calendar) -> (start: Int64, end: Int64) {
        let date = Date(timeIntervalSince1970: Double(time) / 1000)
        guard let interval = calendar.dateInterval(of: component, for: date) else {
            let width = granularity.nominalMilliseconds
            let start = floorDiv(time, width) * width
            return (start, start + width)
        }
        return (milliseconds(interval.start), milliseconds(interval.end))
    }

    private func namedLabel(at time: Int64, calendar: Calendar) -> BucketLabel {
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: Date(timeIntervalSince1970: Double(time) / 1000))
        let year = parts.year ?? 1970, month = parts.month ?? 1, day = parts.day ?? 1
        switch granularity {
        case .day: return BucketLabel(year: year, month: month, day: day)
        case .hour: return BucketLabel(year: year, month: month, day: day, hour: parts.hour ?? 0)
        case .minute: return BucketLabel(year: year, month: month, day: day, hour: parts.hour ?? 0, minute: parts.minute ?? 0)
        }
    }

    private func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }
}

func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's civil_from_days).
func civilDate(daysSinceEpoch: Int64) -> (year: Int, month: Int, day: Int) {
    let z = daysSinceEpoch + 719_468
    let era = floorDiv(z, 146_097)
    let dayOfEra = z - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let mp = (5 * dayOfYear + 2) / 153
    let day = dayOfYear - (153 * mp + 2) / 5 + 1
    let month = mp < 10 ? mp + 3 : mp - 9
    let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
    return (Int(year), Int(month), Int(day))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (days_from_civil).
func daysSinceEpoch(year: Int, month: Int, day: Int) -> Int64 {
    let y = Int64(month <= 2 ? year - 1 : year)
    let era = floorDiv(y, 400)
    let yearOfEra = y - era * 400
    let m = Int64(month)
    let dayOfYear = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
    let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
    return era * 146_097 + dayOfEra - 719_468
}
