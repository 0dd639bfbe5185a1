/// Event times as milliseconds since the Unix epoch, UTC, on the proleptic Gregorian calendar.
///
/// The calendar arithmetic is done by hand (days-from-civil and its inverse, with years counted
/// from March so the leap day falls at the end) because Foundation's `Calendar` costs microseconds
/// per call and the agent converts a time for every line.
enum LogTimestamp {
    /// 0000-01-01T00:00:00.000Z: the earliest time with a four-digit year.
    static let earliestMs: Int64 = -62_167_219_200_000
    /// 9999-12-31T23:59:59.999Z: the latest time with a four-digit year. Log formats and RFC 3339
    /// write four-digit years, so anything outside is a garbled field, not a real event time.
    static let latestMs: Int64 = 253_402_300_799_999

    static let msPerDay: Int64 = 86_400_000

    /// Days since 1970-01-01 of a civil date, which must be valid.
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = (shiftedYear >= 0 ? shiftedYear : shiftedYear - 399) / 400
        let yearOfEra = shiftedYear - era * 400
        let monthFromMarch = month > 2 ? month - 3 : month + 9
        let dayOfYear = (153 * monthFromMarch + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The civil date of a day counted from 1970-01-01.
    static func civil(fromDays days: Int) -> (year: Int, month: Int, day: Int) {
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthFromMarch = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthFromMarch + 2) / 5 + 1
        let month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    static func isLeapYear(_ year: Int) -> Bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    static func daysInMonth(_ month: Int, year: Int) -> Int {
        switch month {
        case 2: isLeapYear(year) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Appends `ms` as RFC 3339 in UTC with milliseconds, e.g. `2000-10-10T20:55:36.000Z`.
    /// `ms` must lie between `earliestMs` and `latestMs`.
    static func appendRFC3339(_ ms: Int64, to out: inout [UInt8]) {
        let clamped = min(max(ms, earliestMs), latestMs)
        let (days, msOfDay) = floorDivide(clamped, msPerDay)
        let date = civil(fromDays: Int(days))
        let millisecond = Int(msOfDay % 1000)
        let secondOfDay = Int(msOfDay / 1000)
        appendDigits(date.year, width: 4, to: &out)
        out.append(UInt8(ascii: "-"))
        appendDigits(date.month, width: 2, to: &out)
        out.append(UInt8(ascii: "-"))
        appendDigits(date.day, width: 2, to: &out)
        out.append(UInt8(ascii: "T"))
        appendDigits(secondOfDay / 3600, width: 2, to: &out)
        out.append(UInt8(ascii: ":"))
        appendDigits(secondOfDay / 60 % 60, width: 2, to: &out)
        out.append(UInt8(ascii: ":"))
        appendDigits(secondOfDay % 60, width: 2, to: &out)
        out.append(UInt8(ascii: "."))
        appendDigits(millisecond, width: 3, to: &out)
        out.append(UInt8(ascii: "Z"))
    }

    /// `ms` as RFC 3339 in UTC with milliseconds.
    static func rfc3339(_ ms: Int64) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(24)
        appendRFC3339(ms, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Quotient and remainder rounding toward negative infinity, so times before 1970 land on the right day.
    static func floorDivide(_ value: Int64, _ divisor: Int64) -> (quotient: Int64, remainder: Int64) {
        var quotient = value / divisor
        var remainder = value % divisor
        if remainder < 0 {
            quotient -= 1
            remainder += divisor
        }
        return (quotient, remainder)
    }

    private static func appendDigits(_ value: Int, width: Int, to out: inout [UInt8]) {
        var divisor = 1
        for _ in 1..<width { divisor *= 10 }
        var rest = value
        while divisor > 0 {
            out.append(UInt8(ascii: "0") + UInt8(rest / divisor % 10))
            rest %= divisor
            divisor /= 10
        }
    }
}
