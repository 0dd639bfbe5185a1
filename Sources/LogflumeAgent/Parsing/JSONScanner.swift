/// A forward-only reader of JSON text in a byte buffer.
///
/// It checks the grammar as it goes but builds nothing: callers get byte ranges and copy only
/// what they keep, so finding one key's value in a line costs no allocation.
struct JSONScanner {
    /// What a scanned value turned out to be.
    enum ValueKind: Equatable {
        case string, number, boolean, null, object, array
    }

    /// Where and why the text stopped being JSON.
    struct Failure: Error {
        var problem: StaticString
        var position: Int

        var description: String { "json: \(problem) at byte \(position)" }
    }

    let bytes: UnsafeRawBufferPointer
    var position = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    var isAtEnd: Bool { position >= bytes.count }

    /// Nested objects and arrays are tracked in a 64-bit stack; deeper lines are refused rather
    /// than costing memory, as no log line legitimately nests that far.
    static let maximumDepth = 64

    mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x0A, 0x0D, 0x09: position += 1
            default: return
            }
        }
    }

    /// Consumes `byte` if it is next.
    mutating func consume(_ byte: UInt8) -> Bool {
        guard position < bytes.count, bytes[position] == byte else { return false }
        position += 1
        return true
    }

    mutating func expect(_ byte: UInt8, _ problem: StaticString) throws(Failure) {
        guard consume(byte) else { throw Failure(problem: problem, position: position) }
    }

    /// Reads a string starting at its opening quote; returns the range of its content (between the
    /// quotes) and whether that content holds escapes.
    mutating func scanString() throws(Failure) -> (content: Range<Int>, hasEscapes: Bool) {
        guard consume(UInt8(ascii: "\"")) else { throw Failure(problem: "expected '\"'", position: position) }
        let start = position
        var hasEscapes = false
        while position < bytes.count {
            let byte = bytes[position]
            if byte == UInt8(ascii: "\"") {
                position += 1
                return (start..<position - 1, hasEscapes)
            }
            if byte == UInt8(ascii: "\\") {
                hasEscapes = true
                guard position + 1 < bytes.count else { break }
                switch bytes[position + 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                     UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    position += 2
                case UInt8(ascii: "u"):
                    guard position + 6 <= bytes.count,
                          hexValue(bytes[position + 2]) != nil, hexValue(bytes[position + 3]) != nil,
                          hexValue(bytes[position + 4]) != nil, hexValue(bytes[position + 5]) != nil
                    else { throw Failure(problem: "invalid \\u escape", position: position) }
                    position += 6
                default:
                    throw Failure(problem: "invalid escape", position: position)
                }
            } else if byte < 0x20 {
                throw Failure(problem: "control character in string", position: position)
            } else {
                position += 1
            }
        }
        throw Failure(problem: "unterminated string", position: start - 1)
    }

    /// Reads one complete value of any kind (nested containers included) after optional whitespace.
    mutating func scanValue() throws(Failure) -> ValueKind {
        // One bit per open container: 1 for an object, 0 for an array.
        var containers: UInt64 = 0
        var depth = 0
        while true {
            skipWhitespace()
            guard position < bytes.count else { throw Failure(problem: "expected a value", position: position) }
            var kind: ValueKind
            switch bytes[position] {
            case UInt8(ascii: "{"):
                let opening = position
                position += 1
                skipWhitespace()
                if consume(UInt8(ascii: "}")) {
                    kind = .object
                } else {
                    guard depth < Self.maximumDepth else { throw Failure(problem: "nesting too deep", position: opening) }
                    containers = containers << 1 | 1
                    depth += 1
                    try scanKeyAndColon()
                    continue
                }
            case UInt8(ascii: "["):
                let opening = position
                position += 1
                skipWhitespace()
                if consume(UInt8(ascii: "]")) {
                    kind = .array
                } else {
                    guard depth < Self.maximumDepth else { throw Failure(problem: "nesting too deep", position: opening) }
                    containers = containers << 1
                    depth += 1
                    continue
                }
            case UInt8(ascii: "\""):
                _ = try scanString()
                kind = .string
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                try scanNumber()
                kind = .number
            case UInt8(ascii: "t"):
                try scanWord("true")
                kind = .boolean
            case UInt8(ascii: "f"):
                try scanWord("false")
                kind = .boolean
            case UInt8(ascii: "n"):
                try scanWord("null")
                kind = .null
            default:
                throw Failure(problem: "expected a value", position: position)
            }

            // A value is complete: close every container it completes, or move on to the next element.
            while depth > 0 {
                skipWhitespace()
                let inObject = containers & 1 == 1
                if consume(UInt8(ascii: ",")) {
                    if inObject {
                        skipWhitespace()
                        try scanKeyAndColon()
                    }
                    break
                }
                guard consume(inObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) else {
                    throw Failure(problem: inObject ? "expected ',' or '}'" : "expected ',' or ']'", position: position)
                }
                containers >>= 1
                depth -= 1
                kind = inObject ? .object : .array
            }
            if depth == 0 { return kind }
        }
    }

    /// Reads `"key" :` inside an object whose value is skipped.
    private mutating func scanKeyAndColon() throws(Failure) {
        guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
            throw Failure(problem: "expected a key", position: position)
        }
        _ = try scanString()
        skipWhitespace()
        try expect(UInt8(ascii: ":"), "expected ':'")
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    private mutating func scanNumber() throws(Failure) {
        let start = position
        _ = consume(UInt8(ascii: "-"))
        if consume(UInt8(ascii: "0")) {
            // JSON forbids leading zeros; what follows must not be a digit (checked by the caller's next token).
        } else {
            guard skipDigits() > 0 else { throw Failure(problem: "invalid number", position: start) }
        }
        if consume(UInt8(ascii: ".")) {
            guard skipDigits() > 0 else { throw Failure(problem: "invalid number", position: start) }
        }
        if consume(UInt8(ascii: "e")) || consume(UInt8(ascii: "E")) {
            if !consume(UInt8(ascii: "+")) { _ = consume(UInt8(ascii: "-")) }
            guard skipDigits() > 0 else { throw Failure(problem: "invalid number", position: start) }
        }
    }

    private mutating func skipDigits() -> Int {
        let start = position
        while position < bytes.count, digitValue(bytes[position]) != nil { position += 1 }
        return position - start
    }

    private mutating func scanWord(_ word: StaticString) throws(Failure) {
        let length = word.utf8CodeUnitCount
        guard position + length <= bytes.count else { throw Failure(problem: "expected a value", position: position) }
        let matches = word.withUTF8Buffer { expected in
            UnsafeRawBufferPointer(rebasing: bytes[position..<position + length]).elementsEqual(expected)
        }
        guard matches else { throw Failure(problem: "expected a value", position: position) }
        position += length
    }
}
