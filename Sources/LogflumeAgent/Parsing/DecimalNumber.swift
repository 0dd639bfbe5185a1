/// A number written in JSON's decimal notation, held exactly as mantissa × 10^exponent so epoch
/// times with fractions convert to milliseconds without binary floating-point rounding.
///
/// Significant digits past the 18th are dropped, which is far below a millisecond for any time
/// that fits in four-digit years.
struct DecimalNumber {
    var isNegative: Bool
    /// Never negative.
    var mantissa: Int64
    var exponent: Int

    /// Reads `-? digits (. digits)? ([eE] [+-]? digits)?`; leading zeros are tolerated. Nil for anything else.
    init?(_ text: UnsafeRawBufferPointer) {
        var position = 0
        isNegative = false
        mantissa = 0
        exponent = 0
        if position < text.count, text[position] == UInt8(ascii: "-") {
            isNegative = true
            position += 1
        }
        let integerStart = position
        while position < text.count, let digit = digitValue(text[position]) {
            if mantissa < Self.mantissaLimit {
                mantissa = mantissa * 10 + Int64(digit)
            } else {
                exponent += 1
            }
            position += 1
        }
        guard position > integerStart else { return nil }
        if position < text.count, text[position] == UInt8(ascii: ".") {
            position += 1
            let fractionStart = position
            while position < text.count, let digit = digitValue(text[position]) {
                if mantissa < Self.mantissaLimit {
                    mantissa = mantissa * 10 + Int64(digit)
                    exponent -= 1
                }
                position += 1
            }
            guard position > fractionStart else { return nil }
        }
        if position < text.count, text[position] | 0x20 == UInt8(ascii: "e") {
            position += 1
            var negativeExponent = false
            if position < text.count, text[position] == UInt8(ascii: "+") || text[position] == UInt8(ascii: "-") {
                negativeExponent = text[position] == UInt8(ascii: "-")
                position += 1
            }
            let exponentStart = position
            var written = 0
            while position < text.count, let digit = digitValue(text[position]) {
                // Past a few hundred the number is out of range either way; capping avoids overflow.
                written = min(written * 10 + digit, 100_000)
                position += 1
            }
            guard position > exponentStart else { return nil }
            exponent += negativeExponent ? -written : written
        }
        guard position == text.count else { return nil }
    }

    /// |value| × 10^`scale` as an integer, rounded toward zero (or away from it with `roundingUp`),
    /// or nil if it does not fit in Int64.
    func magnitude(scaledBy scale: Int, roundingUp: Bool = false) -> Int64? {
        if mantissa == 0 { return 0 }
        let power = exponent + scale
        if power >= 0 {
            guard power <= 18 else { return nil }
            let (product, overflow) = mantissa.multipliedReportingOverflow(by: Self.powerOfTen(power))
            return overflow ? nil : product
        }
        guard -power <= 18 else { return roundingUp ? 1 : 0 }
        let divisor = Self.powerOfTen(-power)
        let quotient = mantissa / divisor
        return roundingUp && mantissa % divisor != 0 ? quotient + 1 : quotient
    }

    /// Whether `bytes` is a number exactly as JSON's grammar allows (no leading zeros, no `+`, no bare `.`),
    /// so it can be written into a JSON document unquoted.
    static func isStrictJSON(_ bytes: some Collection<UInt8>) -> Bool {
        var iterator = bytes.makeIterator()
        var current = iterator.next()
        func isDigit(_ byte: UInt8?) -> Bool { byte.map { digitValue($0) != nil } ?? false }

        if current == UInt8(ascii: "-") { current = iterator.next() }
        if current == UInt8(ascii: "0") {
            current = iterator.next()
        } else {
            guard isDigit(current) else { return false }
            while isDigit(current) { current = iterator.next() }
        }
        if current == UInt8(ascii: ".") {
            current = iterator.next()
            guard isDigit(current) else { return false }
            while isDigit(current) { current = iterator.next() }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            current = iterator.next()
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { current = iterator.next() }
            guard isDigit(current) else { return false }
            while isDigit(current) { current = iterator.next() }
        }
        return current == nil
    }

    private static let mantissaLimit: Int64 = 100_000_000_000_000_000

    private static func powerOfTen(_ power: Int) -> Int64 {
        var result: Int64 = 1
        for _ in 0..<power { result *= 10 }
        return result
    }
}
