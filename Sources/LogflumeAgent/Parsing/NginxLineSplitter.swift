/// The splitting program of an nginx format, held as plain data so that splitting a line touches
/// no reference counts and allocates nothing.
///
/// Splitting is done in two passes. The strict pass holds `$time_local` and `$time_iso8601` to the
/// width nginx always writes them in and, where a value may legitimately contain the literal that
/// follows it (a `$remote_user` of `a [b`), tries later occurrences when the rest of the line does
/// not fit. Nearly every line is split by the first attempt. Only when no strict split exists does
/// the greedy pass run, taking each literal's first occurrence, so a line with a malformed time
/// still splits and fails with the time parser's precise reason, and other lines fail at the first
/// literal that is missing.
struct NginxLineSplitter: Sendable {
    /// One variable: where the literal after it lives in `literals`, and what is known of its shape.
    struct Step: Sendable {
        var literalStart: Int
        /// Zero only for a variable that ends the format.
        var literalCount: Int
        /// The exact width of the value in the strict pass; zero when it varies.
        var fixedWidth: Int
        /// False when the literal holds a byte the escaping never leaves raw in a value (a quote, say):
        /// then its first occurrence is the only possible end of the value.
        var mayContainLiteral: Bool
    }

    /// The prefix, then every variable's closing literal.
    let literals: [UInt8]
    let prefixCount: Int
    let steps: [Step]
    /// With escaping on, the byte after a backslash belongs to an escape and never starts a literal.
    let skipsEscapes: Bool
    /// Without escaping, the format's closing literal is taken from the end of the line, giving the
    /// last (usually free-text) value the benefit of the doubt.
    let lastValueRunsToSuffix: Bool

    /// Alternative splits tried per line before the strict pass gives up; bounds the cost of hostile lines.
    static let backtrackingBudget = 64

    init(prefix: [UInt8], captures: [NginxLogFormat.Capture], escape: NginxEscape) {
        var literals = prefix
        var steps: [Step] = []
        for capture in captures {
            let fixedWidth = switch capture.name {
            case "time_local": 26
            case "time_iso8601": 25
            default: 0
            }
            let mayContainLiteral = !capture.terminator.contains { byte in
                switch escape {
                case .default: byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20 || byte > 0x7E
                case .json: byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20
                case .none: false
                }
            }
            steps.append(Step(
                literalStart: literals.count, literalCount: capture.terminator.count,
                fixedWidth: fixedWidth, mayContainLiteral: mayContainLiteral
            ))
            literals += capture.terminator
        }
        self.literals = literals
        self.prefixCount = prefix.count
        self.steps = steps
        self.skipsEscapes = escape != .none
        self.lastValueRunsToSuffix = escape == .none
    }

    /// Splits `line`, writing each variable's value range into `ranges` (one per step).
    func split(_ line: UnsafeRawBufferPointer, into ranges: UnsafeMutableBufferPointer<Range<Int>>) -> NginxMismatch? {
        literals.withUnsafeBufferPointer { literals in
            steps.withUnsafeBufferPointer { steps in
                let run = Run(
                    line: line, literals: literals, steps: steps, ranges: ranges,
                    skipsEscapes: skipsEscapes, lastValueRunsToSuffix: lastValueRunsToSuffix
                )
                guard run.occurs(start: 0, count: prefixCount, at: 0) else { return .prefix }
                if steps.isEmpty {
                    return prefixCount == line.count ? nil : .trailingBytes(at: prefixCount)
                }
                var budget = Self.backtrackingBudget
                if run.splitStrictly(step: 0, at: prefixCount, budget: &budget) { return nil }
                return run.splitGreedily(from: prefixCount)
            }
        }
    }

    /// One line being split, with everything reachable through unsafe pointers.
    private struct Run {
        let line: UnsafeRawBufferPointer
        let literals: UnsafeBufferPointer<UInt8>
        let steps: UnsafeBufferPointer<Step>
        let ranges: UnsafeMutableBufferPointer<Range<Int>>
        let skipsEscapes: Bool
        let lastValueRunsToSuffix: Bool

        /// Splits from `index` on with the value starting at `position`; true if the rest of the line fits.
        func splitStrictly(step index: Int, at position: Int, budget: inout Int) -> Bool {
            let step = steps[index]
            let isLast = index == steps.count - 1
            if step.literalCount == 0 || (isLast && lastValueRunsToSuffix) {
                guard let valueEnd = lastValueEnd(step, from: position) else { return false }
                if step.fixedWidth != 0, valueEnd - position != step.fixedWidth { return false }
                ranges[index] = position..<valueEnd
                return true
            }
            func restFits(after found: Int) -> Bool {
                let next = found + step.literalCount
                return isLast ? next == line.count : splitStrictly(step: index + 1, at: next, budget: &budget)
            }
            if step.fixedWidth != 0 {
                let found = position + step.fixedWidth
                guard occurs(start: step.literalStart, count: step.literalCount, at: found) else { return false }
                ranges[index] = position..<found
                return restFits(after: found)
            }
            var searchFrom = position
            while let found = firstOccurrence(of: step, from: searchFrom) {
                ranges[index] = position..<found
                if restFits(after: found) { return true }
                budget -= 1
                guard step.mayContainLiteral, budget > 0 else { return false }
                searchFrom = found + 1
            }
            return false
        }

        /// Takes the first occurrence of every literal (fixed-width values preferred at their width).
        func splitGreedily(from start: Int) -> NginxMismatch? {
            var position = start
            for index in 0..<steps.count {
                let step = steps[index]
                if step.literalCount == 0 || (index == steps.count - 1 && lastValueRunsToSuffix) {
                    guard let valueEnd = lastValueEnd(step, from: position) else { return .missingSuffix(capture: index) }
                    ranges[index] = position..<valueEnd
                    return nil
                }
                let found: Int
                if step.fixedWidth != 0, occurs(start: step.literalStart, count: step.literalCount, at: position + step.fixedWidth) {
                    found = position + step.fixedWidth
                } else if let next = firstOccurrence(of: step, from: position) {
                    found = next
                } else {
                    return .terminatorNotFound(capture: index, valueStart: position)
                }
                ranges[index] = position..<found
                position = found + step.literalCount
            }
            return position == line.count ? nil : .trailingBytes(at: position)
        }

        /// Where the format's last value ends: at the end of the line, or where the closing literal
        /// begins the line's tail.
        @inline(__always)
        private func lastValueEnd(_ step: Step, from position: Int) -> Int? {
            let valueEnd = line.count - step.literalCount
            guard valueEnd >= position, occurs(start: step.literalStart, count: step.literalCount, at: valueEnd) else { return nil }
            return valueEnd
        }

        @inline(__always)
        func occurs(start: Int, count: Int, at position: Int) -> Bool {
            guard position >= 0, count <= line.count &- position else { return false }
            for offset in 0..<count where line[position &+ offset] != literals[start &+ offset] {
                return false
            }
            return true
        }

        /// Where the step's literal next occurs at or after `start`, stepping over escape sequences.
        ///
        /// Looks at eight bytes at a time for the literal's first byte or a backslash, because values
        /// such as user agents are long and hold neither.
        @inline(__always)
        private func firstOccurrence(of step: Step, from start: Int) -> Int? {
            let first = literals[step.literalStart]
            let lastStart = line.count &- step.literalCount
            guard let base = line.baseAddress, start <= lastStart else { return nil }
            let firstPattern = UInt64(first) &* 0x0101_0101_0101_0101
            let escapePattern = UInt64(UInt8(ascii: "\\")) &* 0x0101_0101_0101_0101
            var position = start
            while position <= lastStart {
                var candidate = position
                if position &+ 8 <= line.count {
                    let word = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: position, as: UInt64.self))
                    var hits = Self.zeroBytes(word ^ firstPattern)
                    if skipsEscapes { hits |= Self.zeroBytes(word ^ escapePattern) }
                    if hits == 0 {
                        position &+= 8
                        continue
                    }
                    // The lowest flagged byte is exact; flags above it may be false, so only it is used.
                    candidate = position &+ hits.trailingZeroBitCount / 8
                    if candidate > lastStart { return nil }
                }
                let byte = line[candidate]
                if byte == first, occurs(start: step.literalStart, count: step.literalCount, at: candidate) {
                    return candidate
                }
                position = candidate &+ (skipsEscapes && byte == UInt8(ascii: "\\") ? 2 : 1)
            }
            return nil
        }

        /// High bit set in each byte of the result where `word` has a zero byte (exact for the lowest one).
        @inline(__always)
        private static func zeroBytes(_ word: UInt64) -> UInt64 {
            (word &- 0x0101_0101_0101_0101) & ~word & 0x8080_8080_8080_8080
        }
    }
}
