/// Why a time field did not parse, e.g. `time_local: bad month 'Foo'`.
struct TimeParseError: Error, Sendable {
    var message: String

    init(_ source: StaticString, _ problem: String) {
        message = "\(source): \(problem)"
    }

    init(_ source: StaticString, _ problem: String, quoting text: UnsafeRawBufferPointer) {
        self.init(source, "\(problem) \(quotedExcerpt(text))")
    }
}

/// `text` in single quotes for an error message: at most 40 bytes, invalid UTF-8 repaired.
func quotedExcerpt(_ text: UnsafeRawBufferPointer) -> String {
    let cut = min(text.count, 40)
    let shown = String(decoding: UnsafeRawBufferPointer(rebasing: text[0..<cut]), as: UTF8.self)
    return "'\(shown)\(cut < text.count ? "…" : "")'"
}

// Parsers for the time formats found in access logs. Each takes exactly the field's bytes and
// either returns epoch milliseconds or throws a short reason; none allocates unless it throws.
extension LogTimestamp {
    /// nginx `$time_local`: `10/Oct/2000:13:55:36 -0700` (strftime `%d/%b/%Y:%H:%M:%S %z`).
    static func parseTimeLocal(_ text: UnsafeRawBufferPointer) throws(TimeParseError) -> Int64 {
        let source: StaticString = "time_local"
        guard text.count == 26 else {
            throw TimeParseError(source, "expected dd/Mon/yyyy:HH:MM:SS +hhmm, got", quoting: text)
        }
        try expect(source, text, "/", at: 2)
        try expect(source, text, "/", at: 6)
        try expect(source, text, ":", at: 11)
        try expect(source, text, ":", at: 14)
        try expect(source, text, ":", at: 17)
        try expect(source, text, " ", at: 20)
        guard let day = digits(text, 0, 2) else { throw TimeParseError(source, "bad day", quoting: slice(text, 0, 2)) }
        guard let month = monthNumber(text[3], text[4], text[5]) else {
            throw TimeParseError(source, "bad month", quoting: slice(text, 3, 3))
        }
        guard let year = digits(text, 7, 4) else { throw TimeParseError(source, "bad year", quoting: slice(text, 7, 4)) }
        guard let hour = digits(text, 12, 2) else { throw TimeParseError(source, "bad hour", quoting: slice(text, 12, 2)) }
        guard let minute = digits(text, 15, 2) else { throw TimeParseError(source, "bad minute", quoting: slice(text, 15, 2)) }
        guard let second = digits(text, 18, 2) else { throw TimeParseError(source, "bad second", quoting: slice(text, 18, 2)) }
        guard let offset = zoneOffset(text, sign: 21, hours: 22, minutes: text.count - 2) else {
            throw TimeParseError(source, "bad UTC offset", quoting: slice(text, 21, 5))
        }
        return try epochMs(
            source, year: year, month: month, day: day, hour: hour, minute: minute, second: second,
            millisecond: 0, offsetSeconds: offset
        )
    }

    /// nginx `$time_iso8601` and RFC 3339: `2000-10-10T13:55:36-07:00`, with `Z`, `+0100`, `+01`,
    /// a fraction of a second (`.123456`, cut to milliseconds), `t` or a space for `T`.
    /// A time with no zone at all is taken as UTC.
    static func parseISO8601(_ text: UnsafeRawBufferPointer) throws(TimeParseError) -> Int64 {
        let source: StaticString = "time_iso8601"
        guard text.count >= 19 else {
            throw TimeParseError(source, "expected yyyy-mm-ddTHH:MM:SS, got", quoting: text)
        }
        try expect(source, text, "-", at: 4)
        try expect(source, text, "-", at: 7)
        try expect(source, text, ":", at: 13)
        try expect(source, text, ":", at: 16)
        switch text[10] {
        case UInt8(ascii: "T"), UInt8(ascii: "t"), UInt8(ascii: " "): break
        default: throw TimeParseError(source, "expected 'T' at byte 10 of", quoting: text)
        }
        guard let year = digits(text, 0, 4) else { throw TimeParseError(source, "bad year", quoting: slice(text, 0, 4)) }
        guard let month = digits(text, 5, 2) else { throw TimeParseError(source, "bad month", quoting: slice(text, 5, 2)) }
        guard let day = digits(text, 8, 2) else { throw TimeParseError(source, "bad day", quoting: slice(text, 8, 2)) }
        guard let hour = digits(text, 11, 2) else { throw TimeParseError(source, "bad hour", quoting: slice(text, 11, 2)) }
        guard let minute = digits(text, 14, 2) else { throw TimeParseError(source, "bad minute", quoting: slice(text, 14, 2)) }
        guard let second = digits(text, 17, 2) else { throw TimeParseError(source, "bad second", quoting: slice(text, 17, 2)) }

        var position = 19
        var millisecond = 0
        if position < text.count, text[position] == UInt8(ascii: ".") || text[position] == UInt8(ascii: ",") {
            position += 1
            let fractionStart = position
            while position < text.count, let digit = digitValue(text[position]) {
                if position - fractionStart < 3 { millisecond = millisecond * 10 + digit }
                position += 1
            }
            let fractionDigits = position - fractionStart
            guard fractionDigits > 0 else { throw TimeParseError(source, "no digits after the decimal point in", quoting: text) }
            for _ in fractionDigits..<max(fractionDigits, 3) { millisecond *= 10 }
        }

        var offset = 0
        if position < text.count {
            switch text[position] {
            case UInt8(ascii: "Z"), UInt8(ascii: "z"):
                position += 1
            case UInt8(ascii: "+"), UInt8(ascii: "-"):
                // ±hh, ±hhmm or ±hh:mm
                let remaining = text.count - position
                let minutesAt: Int?
                switch remaining {
                case 3: minutesAt = nil
                case 5: minutesAt = position + 3
                case 6 where text[position + 3] == UInt8(ascii: ":"): minutesAt = position + 4
                default: throw TimeParseError(source, "bad UTC offset", quoting: slice(text, position, remaining))
                }
                guard let parsed = zoneOffset(text, sign: position, hours: position + 1, minutes: minutesAt) else {
                    throw TimeParseError(source, "bad UTC offset", quoting: slice(text, position, remaining))
                }
                offset = parsed
                position = text.count
            default:
                break
            }
        }
        guard position == text.count else {
            throw TimeParseError(source, "unexpected text after the time:", quoting: slice(text, position, text.count - position))
        }
        return try epochMs(
            source, year: year, month: month, day: day, hour: hour, minute: minute, second: second,
            millisecond: millisecond, offsetSeconds: offset
        )
    }

    /// nginx `$msec`: seconds since the epoch with a fraction, `1700000000.123`.
    static func parseMsec(_ text: UnsafeRawBufferPointer) throws(TimeParseError) -> Int64 {
        let source: StaticString = "msec"
        var position = 0
        var seconds: Int64 = 0
        while position < text.count, let digit = digitValue(text[position]) {
            guard position < 15 else { throw TimeParseError(source, "too many digits in", quoting: text) }
            seconds = seconds * 10 + Int64(digit)
            position += 1
        }
        guard position > 0 else { throw TimeParseError(source, "expected seconds since the epoch, got", quoting: text) }
        var millisecond: Int64 = 0
        if position < text.count, text[position] == UInt8(ascii: ".") {
            position += 1
            let fractionStart = position
            while position < text.count, let digit = digitValue(text[position]) {
                if position - fractionStart < 3 { millisecond = millisecond * 10 + Int64(digit) }
                position += 1
            }
            let fractionDigits = position - fractionStart
            guard fractionDigits > 0 else { throw TimeParseError(source, "no digits after the decimal point in", quoting: text) }
            for _ in fractionDigits..<max(fractionDigits, 3) { millisecond *= 10 }
        }
        guard position == text.count else { throw TimeParseError(source, "expected seconds since the epoch, got", quoting: text) }
        let ms = seconds * 1000 + millisecond
        guard ms <= latestMs else { throw TimeParseError(source, "out of range:", quoting: text) }
        return ms
    }

    /// A JSON number holding an epoch time: seconds when its magnitude is below 1e11 (that is, before
    /// the year 5138), milliseconds otherwise. Fractions and exponents are allowed; sub-millisecond
    /// parts are rounded down.
    static func parseEpochNumber(_ text: UnsafeRawBufferPointer) throws(TimeParseError) -> Int64 {
        let source: StaticString = "time"
        guard let number = DecimalNumber(text) else {
            throw TimeParseError(source, "not a number:", quoting: text)
        }
        // The integer part decides between seconds and milliseconds.
        guard let integerPart = number.magnitude(scaledBy: 0) else {
            throw TimeParseError(source, "out of range:", quoting: text)
        }
        let isSeconds = integerPart < 100_000_000_000
        guard var ms = number.magnitude(scaledBy: isSeconds ? 3 : 0, roundingUp: number.isNegative) else {
            throw TimeParseError(source, "out of range:", quoting: text)
        }
        if number.isNegative { ms = -ms }
        guard ms >= earliestMs, ms <= latestMs else { throw TimeParseError(source, "out of range:", quoting: text) }
        return ms
    }

    /// A time written as text in a JSON line: RFC 3339 / ISO 8601, nginx `time_local`, or epoch
    /// seconds or milliseconds as a number in a string. The shape picks the parser, so the error
    /// comes from the one the writer most likely meant.
    static func parseTimeText(_ text: UnsafeRawBufferPointer) throws(TimeParseError) -> Int64 {
        if text.count > 2, text[2] == UInt8(ascii: "/") {
            return try parseTimeLocal(text)
        }
        if text.count > 4, text[4] == UInt8(ascii: "-"), digitValue(text[0]) != nil {
            return try parseISO8601(text)
        }
        if let first = text.first, first == UInt8(ascii: "-") || digitValue(first) != nil {
            return try parseEpochNumber(text)
        }
        throw TimeParseError("time", "unrecognized time", quoting: text)
    }

    // MARK: - Fields

    /// Milliseconds since the epoch of a local time with its UTC offset, after checking every field's range.
    private static func epochMs(
        _ source: StaticString, year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int,
        millisecond: Int, offsetSeconds: Int
    ) throws(TimeParseError) -> Int64 {
        guard (1...12).contains(month) else { throw TimeParseError(source, "month \(month) out of range") }
        guard (1...daysInMonth(month, year: year)).contains(day) else {
            throw TimeParseError(source, "day \(day) out of range for \(year)-\(month)")
        }
        guard hour < 24 else { throw TimeParseError(source, "hour \(hour) out of range") }
        guard minute < 60 else { throw TimeParseError(source, "minute \(minute) out of range") }
        guard second < 60 else { throw TimeParseError(source, "second \(second) out of range") }
        let days = Int64(daysFromCivil(year: year, month: month, day: day))
        let secondOfDay = Int64(hour * 3600 + minute * 60 + second - offsetSeconds)
        let ms = days * msPerDay + secondOfDay * 1000 + Int64(millisecond)
        guard ms >= earliestMs, ms <= latestMs else { throw TimeParseError(source, "out of range") }
        return ms
    }

    /// The offset in seconds of `±hh[mm]` (minutes optional), or nil if malformed or beyond ±23:59.
    private static func zoneOffset(_ text: UnsafeRawBufferPointer, sign: Int, hours: Int, minutes: Int?) -> Int? {
        let negative: Bool
        switch text[sign] {
        case UInt8(ascii: "+"): negative = false
        case UInt8(ascii: "-"): negative = true
        default: return nil
        }
        guard let hh = digits(text, hours, 2), hh < 24 else { return nil }
        var mm = 0
        if let minutes {
            guard let parsed = digits(text, minutes, 2), parsed < 60 else { return nil }
            mm = parsed
        }
        let offset = hh * 3600 + mm * 60
        return negative ? -offset : offset
    }

    /// Month number of an English abbreviation, any letter case.
    @inline(__always)
    private static func monthNumber(_ a: UInt8, _ b: UInt8, _ c: UInt8) -> Int? {
        // OR-ing 0x20 turns upper-case letters into lower case and maps no other byte onto a lower-case letter.
        let key = UInt32(a | 0x20) << 16 | UInt32(b | 0x20) << 8 | UInt32(c | 0x20)
        switch key {
        case 0x6A_616E: return 1  // jan
        case 0x66_6562: return 2  // feb
        case 0x6D_6172: return 3  // mar
        case 0x61_7072: return 4  // apr
        case 0x6D_6179: return 5  // may
        case 0x6A_756E: return 6  // jun
        case 0x6A_756C: return 7  // jul
        case 0x61_7567: return 8  // aug
        case 0x73_6570: return 9  // sep
        case 0x6F_6374: return 10  // oct
        case 0x6E_6F76: return 11  // nov
        case 0x64_6563: return 12  // dec
        default: return nil
        }
    }

    /// Checks a separator; written out per call site because a table of them would be allocated per line.
    @inline(__always)
    private static func expect(
        _ source: StaticString, _ text: UnsafeRawBufferPointer, _ separator: Unicode.Scalar, at index: Int
    ) throws(TimeParseError) {
        guard text[index] == UInt8(ascii: separator) else {
            throw TimeParseError(source, "expected '\(separator)' at byte \(index) of", quoting: text)
        }
    }

    @inline(__always)
    private static func slice(_ text: UnsafeRawBufferPointer, _ start: Int, _ count: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: text[start..<start + count])
    }
}

/// The value of `count` ASCII digits starting at `start`, or nil if any is not a digit.
@inline(__always)
func digits(_ text: UnsafeRawBufferPointer, _ start: Int, _ count: Int) -> Int? {
    var value = 0
    for index in start..<start + count {
        guard let digit = digitValue(text[index]) else { return nil }
        value = value * 10 + digit
    }
    return value
}

@inline(__always)
func digitValue(_ byte: UInt8) -> Int? {
    let value = byte &- UInt8(ascii: "0")
    return value < 10 ? Int(value) : nil
}
