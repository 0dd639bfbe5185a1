@testable import LogflumeAgent
import Testing

@Suite struct LogTimestampTests {
    @Test(arguments: [
        ("10/Oct/2000:13:55:36 -0700", 971_211_336_000),
        ("01/Jan/1970:00:00:00 +0000", 0),
        ("31/Dec/1969:23:59:59 +0000", -1000),
        ("31/Dec/1999:23:59:59 +0000", 946_684_799_000),
        ("29/Feb/2000:12:00:00 +0000", 951_825_600_000),
        ("29/Feb/2024:00:00:00 +0000", 1_709_164_800_000),
        ("01/Mar/2024:00:00:00 +0000", 1_709_251_200_000),
        ("01/Jan/2024:05:30:00 +0530", 1_704_067_200_000),
        ("31/Dec/2023:14:00:00 -1000", 1_704_067_200_000),
        ("01/Jan/2024:00:45:00 +0045", 1_704_067_200_000),
        ("14/nov/2023:22:13:20 +0000", 1_700_000_000_000),
        ("19/Jan/2038:03:14:08 +0000", 2_147_483_648_000),
        ("31/Dec/9999:23:59:59 +0000", 253_402_300_799_000),
    ] as [(String, Int64)])
    func timeLocal(text: String, expected: Int64) throws {
        #expect(try parseTime(text, with: LogTimestamp.parseTimeLocal).get() == expected)
    }

    @Test(arguments: [
        ("29/Feb/1900:00:00:00 +0000", "time_local: day 29 out of range for 1900-2"),
        ("29/Feb/2023:00:00:00 +0000", "time_local: day 29 out of range for 2023-2"),
        ("31/Apr/2023:00:00:00 +0000", "time_local: day 31 out of range for 2023-4"),
        ("00/Jan/2023:00:00:00 +0000", "time_local: day 0 out of range for 2023-1"),
        ("10/Foo/2000:13:55:36 -0700", "time_local: bad month 'Foo'"),
        ("1x/Oct/2000:13:55:36 -0700", "time_local: bad day '1x'"),
        ("10/Oct/2000:24:00:00 -0700", "time_local: hour 24 out of range"),
        ("10/Oct/2000:13:60:36 -0700", "time_local: minute 60 out of range"),
        ("10/Oct/2000:13:55:60 -0700", "time_local: second 60 out of range"),
        ("10/Oct/2000:13:55:36 -2400", "time_local: bad UTC offset '-2400'"),
        ("10/Oct/2000:13:55:36 -0760", "time_local: bad UTC offset '-0760'"),
        ("10/Oct/2000:13:55:36 *0700", "time_local: bad UTC offset '*0700'"),
        ("10/Oct/2000 13:55:36 -0700", "time_local: expected ':' at byte 11 of '10/Oct/2000 13:55:36 -0700'"),
        ("01/Jan/0000:00:00:00 +0100", "time_local: out of range"),
        ("10/Oct/2000:13:55:36", "time_local: expected dd/Mon/yyyy:HH:MM:SS +hhmm, got '10/Oct/2000:13:55:36'"),
    ])
    func timeLocalRejects(text: String, reason: String) {
        guard case .failure(let error) = parseTime(text, with: LogTimestamp.parseTimeLocal) else {
            Issue.record("\(text) parsed")
            return
        }
        #expect(error.message == reason)
    }

    @Test(arguments: [
        ("2000-10-10T13:55:36-07:00", 971_211_336_000),
        ("2000-10-10T20:55:36Z", 971_211_336_000),
        ("2000-10-10t20:55:36z", 971_211_336_000),
        ("2000-10-10 20:55:36+00:00", 971_211_336_000),
        ("2000-10-10T20:55:36", 971_211_336_000),
        ("2000-10-11T02:25:36+0530", 971_211_336_000),
        ("2000-10-10T21:55:36+01", 971_211_336_000),
        ("2023-11-14T22:13:20.123Z", 1_700_000_000_123),
        ("2023-11-14T22:13:20.1Z", 1_700_000_000_100),
        ("2023-11-14T22:13:20.123456789+00:00", 1_700_000_000_123),
        ("2023-11-14T22:13:20,5Z", 1_700_000_000_500),
        ("1969-12-31T23:59:59.999Z", -1),
        ("2024-02-29T23:59:59.999-12:00", 1_709_294_399_999),
    ] as [(String, Int64)])
    func iso8601(text: String, expected: Int64) throws {
        #expect(try parseTime(text, with: LogTimestamp.parseISO8601).get() == expected)
    }

    @Test(arguments: [
        ("2023-02-29T00:00:00Z", "time_iso8601: day 29 out of range for 2023-2"),
        ("2023-13-01T00:00:00Z", "time_iso8601: month 13 out of range"),
        ("2023-00-01T00:00:00Z", "time_iso8601: month 0 out of range"),
        ("2023-01-01T00:00:00.Z", "time_iso8601: no digits after the decimal point in '2023-01-01T00:00:00.Z'"),
        ("2023-01-01T00:00:00+25:00", "time_iso8601: bad UTC offset '+25:00'"),
        ("2023-01-01T00:00:00+01:0", "time_iso8601: bad UTC offset '+01:0'"),
        ("2023-01-01T00:00:00Zjunk", "time_iso8601: unexpected text after the time: 'junk'"),
        ("2023-01-01X00:00:00Z", "time_iso8601: expected 'T' at byte 10 of '2023-01-01X00:00:00Z'"),
        ("2023-01-01", "time_iso8601: expected yyyy-mm-ddTHH:MM:SS, got '2023-01-01'"),
    ])
    func iso8601Rejects(text: String, reason: String) {
        guard case .failure(let error) = parseTime(text, with: LogTimestamp.parseISO8601) else {
            Issue.record("\(text) parsed")
            return
        }
        #expect(error.message == reason)
    }

    @Test(arguments: [
        ("1700000000.123", 1_700_000_000_123),
        ("1700000000", 1_700_000_000_000),
        ("1700000000.1", 1_700_000_000_100),
        ("1700000000.123999", 1_700_000_000_123),
        ("0.000", 0),
    ] as [(String, Int64)])
    func msec(text: String, expected: Int64) throws {
        #expect(try parseTime(text, with: LogTimestamp.parseMsec).get() == expected)
    }

    @Test(arguments: ["", ".5", "1700000000.", "-1700000000", "17e8", "1234567890123456", "1700000000.123 "])
    func msecRejects(text: String) {
        #expect(throws: TimeParseError.self) { try parseTime(text, with: LogTimestamp.parseMsec).get() }
    }

    @Test(arguments: [
        ("1700000000", 1_700_000_000_000),
        ("1700000000.5", 1_700_000_000_500),
        ("1700000000123", 1_700_000_000_123),
        ("1.7e9", 1_700_000_000_000),
        ("1.7E+12", 1_700_000_000_000),
        ("17000000001234e-4", 1_700_000_000_123),
        ("99999999999", 99_999_999_999_000),
        ("100000000000", 100_000_000_000),
        ("-1.5", -1500),
        ("-0.0001", -1),
        ("0", 0),
        ("1700000000.000000000000000000001", 1_700_000_000_000),
    ] as [(String, Int64)])
    func epochNumbers(text: String, expected: Int64) throws {
        #expect(try parseTime(text, with: LogTimestamp.parseEpochNumber).get() == expected)
    }

    @Test(arguments: ["1e400", "9999999999999999999999", "253402300800000", "-62167219200001", "1.", "+5", "0x10", ""])
    func epochNumbersRejected(text: String) {
        #expect(throws: TimeParseError.self) { try parseTime(text, with: LogTimestamp.parseEpochNumber).get() }
    }

    @Test func daysFromCivilAgreesWithCountingDayByDay() {
        // Walk the calendar one day at a time from 1600 to 2500 with the leap-year rule spelled out.
        var days = LogTimestamp.daysFromCivil(year: 1600, month: 1, day: 1)
        #expect(days == -135_140)
        for year in 1600...2500 {
            let leap = year % 400 == 0 || (year % 4 == 0 && year % 100 != 0)
            let lengths = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
            for month in 1...12 {
                for day in 1...lengths[month - 1] {
                    guard LogTimestamp.daysFromCivil(year: year, month: month, day: day) == days else {
                        Issue.record("daysFromCivil(\(year)-\(month)-\(day)) != \(days)")
                        return
                    }
                    let date = LogTimestamp.civil(fromDays: days)
                    guard date == (year, month, day) else {
                        Issue.record("civil(\(days)) = \(date), expected \(year)-\(month)-\(day)")
                        return
                    }
                    days += 1
                }
            }
        }
    }

    @Test func civilRoundTripsAcrossTheWholeRange() {
        let first = LogTimestamp.daysFromCivil(year: 0, month: 1, day: 1)
        let last = LogTimestamp.daysFromCivil(year: 9999, month: 12, day: 31)
        #expect(first == -719_528)
        #expect(last == 2_932_896)
        for days in stride(from: first, through: last, by: 97) {
            let date = LogTimestamp.civil(fromDays: days)
            #expect(LogTimestamp.daysFromCivil(year: date.year, month: date.month, day: date.day) == days)
        }
    }

    @Test(arguments: [
        (0, "1970-01-01T00:00:00.000Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
        (971_211_336_000, "2000-10-10T20:55:36.000Z"),
        (1_709_164_800_123, "2024-02-29T00:00:00.123Z"),
        (LogTimestamp.earliestMs, "0000-01-01T00:00:00.000Z"),
        (LogTimestamp.latestMs, "9999-12-31T23:59:59.999Z"),
    ] as [(Int64, String)])
    func rfc3339(ms: Int64, text: String) throws {
        #expect(LogTimestamp.rfc3339(ms) == text)
        #expect(try parseTime(text, with: LogTimestamp.parseISO8601).get() == ms)
    }
}
