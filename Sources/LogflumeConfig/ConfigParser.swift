/// Parses the TOML subset logflume's configuration files use: comments, `[table]` and
/// `[[array-of-tables]]` headers, dotted or quoted keys, basic and literal strings, integers
/// (with `_` separators), floats, booleans and arrays (across lines). Anything else is an error
/// naming the file and line. Sans-IO: text in, entries out.
public struct ConfigParser {
    public let file: String
    private let lines: [Substring]
    private var lineIndex = 0
    private var column: String.Index
    private var current: Substring

    public init(text: String, file: String) {
        self.file = file
        self.lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        self.current = lines.first ?? ""
        self.column = current.startIndex
    }

    /// The parsed document: top-level entries and, for each `[[name]]`, its list of sections.
    public mutating func parse() throws(ConfigError) -> ConfigDocument {
        var document = ConfigDocument(file: file)
        var table = ""
        var section: (name: String, index: Int)?
        var seen: [String: Int] = [:]
        while lineIndex < lines.count {
            current = lines[lineIndex]
            column = current.startIndex
            skipWhitespace()
            if atLineEnd() {
                lineIndex += 1
                continue
            }
            let lineNumber = lineIndex + 1
            if peek() == "[" {
                advance()
                let isArray = peek() == "["
                if isArray { advance() }
                skipWhitespace()
                let name = try parseKey()
                skipWhitespace()
                try expect("]")
                if isArray { try expect("]") }
                try expectLineEnd()
                if isArray {
                    document.sections[name, default: []].append(ConfigDocument(file: file, line: lineNumber))
                    section = (name, document.sections[name]!.count - 1)
                    table = ""
                } else {
                    if seen["[" + name + "]"] != nil { throw error("table [\(name)] defined twice", line: lineNumber) }
                    seen["[" + name + "]"] = lineNumber
                    section = nil
                    table = name
                }
                lineIndex += 1
                continue
            }
            let key = try parseKey()
            skipWhitespace()
            try expect("=")
            skipWhitespace()
            let value = try parseValue()
            try expectLineEnd()
            let fullKey = table.isEmpty ? key : table + "." + key
            let entry = ConfigEntry(key: fullKey, value: value, line: lineNumber)
            if let section {
                try document.sections[section.name]![section.index].add(entry)
            } else {
                try document.add(entry)
            }
            lineIndex += 1
        }
        return document
    }

    // MARK: Lexing

    private func peek() -> Character? { column < current.endIndex ? current[column] : nil }

    private mutating func advance() { column = current.index(after: column) }

    private mutating func skipWhitespace() {
        while let c = peek(), c == " " || c == "\t" || c == "\r" { advance() }
    }

    private func atLineEnd() -> Bool { peek() == nil || peek() == "#" }

    private mutating func expect(_ character: Character) throws(ConfigError) {
        guard peek() == character else {
            throw error("expected '\(character)' but found \(peek().map { "'\($0)'" } ?? "end of line")")
        }
        advance()
    }

    private mutating func expectLineEnd() throws(ConfigError) {
        skipWhitespace()
        guard atLineEnd() else { throw error("unexpected text after the value: '\(current[column...])'") }
    }

    private func error(_ message: String, line: Int? = nil) -> ConfigError {
        ConfigError(file: file, line: line ?? lineIndex + 1, message: message)
    }

    /// A dotted key of bare (`a-z A-Z 0-9 _ -`) or quoted parts, flattened with dots.
    private mutating func parseKey() throws(ConfigError) -> String {
        var parts: [String] = []
        repeat {
            skipWhitespace()
            if peek() == "\"" || peek() == "'" {
                guard case .string(let part) = try parseValue() else { throw error("bad quoted key") }
                parts.append(part)
            } else {
                var part = ""
                while let c = peek(), c.isASCII && (c.isLetter || c.isNumber || c == "_" || c == "-") {
                    part.append(c)
                    advance()
                }
                guard !part.isEmpty else { throw error("expected a key, found \(peek().map { "'\($0)'" } ?? "end of line")") }
                parts.append(part)
            }
            skipWhitespace()
            guard peek() == "." else { break }
            advance()
        } while true
        return parts.joined(separator: ".")
    }

    private mutating func parseValue() throws(ConfigError) -> ConfigValue {
        guard let c = peek() else { throw error("missing value") }
        switch c {
        case "\"": return .string(try parseBasicString())
        case "'": return .string(try parseLiteralString())
        case "[": return try parseArray()
        case "t", "f":
            let word = readWord()
            if word == "true" { return .boolean(true) }
            if word == "false" { return .boolean(false) }
            throw error("unknown value '\(word)' (strings need quotes)")
        default:
            let word = readWord()
            let digits = word.replacingUnderscores()
            if let integer = Int64(digits) { return .integer(integer) }
            if digits.hasPrefix("0x"), let integer = Int64(digits.dropFirst(2), radix: 16) { return .integer(integer) }
            if let float = Double(digits), digits.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) { return .float(float) }
            throw error("unknown value '\(word)' (strings need quotes)")
        }
    }

    private mutating func readWord() -> String {
        var word = ""
        while let c = peek(), !(c == " " || c == "\t" || c == "," || c == "]" || c == "#" || c == "\r") {
            word.append(c)
            advance()
        }
        return word
    }

    private mutating func parseBasicString() throws(ConfigError) -> String {
        advance()
        var result = ""
        while let c = peek() {
            advance()
            switch c {
            case "\"": return result
            case "\\":
                guard let escaped = peek() else { throw error("unterminated escape") }
                advance()
                switch escaped {
                case "n": result.append("\n")
                case "t": result.append("\t")
                case "r": result.append("\r")
                case "\"": result.append("\"")
                case "\\": result.append("\\")
                case "u", "U":
                    var hex = ""
                    for _ in 0..<(escaped == "u" ? 4 : 8) {
                        guard let h = peek() else { break }
                        hex.append(h)
                        advance()
                    }
                    guard let scalar = UInt32(hex, radix: 16).flatMap(Unicode.Scalar.init) else {
                        throw error("bad unicode escape \\\(escaped)\(hex)")
                    }
                    result.unicodeScalars.append(scalar)
                default: throw error("unknown escape \\\(escaped)")
                }
            default: result.append(c)
            }
        }
        throw error("unterminated string")
    }

    private mutating func parseLiteralString() throws(ConfigError) -> String {
        advance()
        var result = ""
        while let c = peek() {
            advance()
            if c == "'" { return result }
            result.append(c)
        }
        throw error("unterminated string")
    }

    /// Arrays may span lines; comments and trailing commas are allowed inside.
    private mutating func parseArray() throws(ConfigError) -> ConfigValue {
        advance()
        var elements: [ConfigValue] = []
        while true {
            skipWhitespace()
            if atLineEnd() {
                lineIndex += 1
                guard lineIndex < lines.count else { throw error("unterminated array", line: lineIndex) }
                current = lines[lineIndex]
                column = current.startIndex
                continue
            }
            if peek() == "]" {
                advance()
                return .array(elements)
            }
            elements.append(try parseValue())
            skipWhitespace()
            if peek() == "," { advance() }
        }
    }
}

extension String {
    fileprivate func replacingUnderscores() -> String { String(filter { $0 != "_" }) }
}
