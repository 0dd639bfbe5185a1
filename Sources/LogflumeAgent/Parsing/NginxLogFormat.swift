/// An nginx `log_format`, compiled into a splitter for the lines nginx writes with it.
///
/// A format is literal text and variables (`$name` or `${name}`, names of `[A-Za-z0-9_]`). A line is
/// split by matching each literal in turn: a variable's value runs up to the next occurrence of the
/// literal that follows it, and the last variable, if nothing follows it, runs to the end of the
/// line. With `escape=default` or `escape=json` a backslash in a value always starts an escape, so
/// an escaped quote (`\"`, or `\x22`) never ends a quoted value. Where a value may itself contain
/// the literal after it (a `$remote_user` of `a [b`), later occurrences are tried until the rest of
/// the line fits, with `$time_local` and `$time_iso8601` held to the width nginx writes them in.
///
/// The event time comes from `$msec` if the format logs it, else `$time_iso8601`, else `$time_local`.
public struct NginxLogFormat: Sendable {
    /// The `log_format` string as given.
    public let source: String
    /// How nginx escaped the values.
    public let escape: NginxEscape

    /// Literal text before the first variable (or the whole format if it has no variables).
    let prefix: [UInt8]
    let captures: [Capture]
    /// The same literals and variables as plain data, for splitting lines.
    let splitter: NginxLineSplitter
    /// Which capture holds the event time, and how to read it.
    let eventTime: (capture: Int, variable: TimeVariable)?
    /// Which of `request_method`, `request_uri`, `server_protocol` to derive from `$request`
    /// (those the format does not log itself).
    let derivedRequestParts: RequestParts

    /// The variable names in format order, without the `$`; a variable logged twice appears twice.
    public var variables: [String] { captures.map(\.name) }

    /// nginx's built-in `combined` format with `escape=default`.
    // A constant format that compiles; `try!` cannot fire (covered by the compile tests).
    public static let combined = try! NginxLogFormat(
        #"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent""#
    )

    /// Compiles a `log_format` string.
    ///
    /// - Parameters:
    ///   - format: the format as nginx's configuration holds it after unquoting, e.g. `$remote_addr [$time_local] "$request"`.
    ///   - escape: the `escape=` parameter of the `log_format` directive.
    /// - Throws: `LogFormatError` for an empty format, an unterminated `${`, a `$` without a name, or two
    ///   variables with no literal text between them (the split point would be ambiguous).
    public init(_ format: String, escape: NginxEscape = .default) throws(LogFormatError) {
        source = format
        self.escape = escape
        let bytes = Array(format.utf8)
        func failure(_ kind: LogFormatError.Kind, at offset: Int) -> LogFormatError {
            LogFormatError(kind: kind, offset: offset, format: format)
        }
        guard !bytes.isEmpty else { throw failure(.emptyFormat, at: 0) }

        var compiledPrefix: [UInt8]?
        var compiled: [Capture] = []
        var pending: String?
        var literal: [UInt8] = []
        var index = 0
        while index < bytes.count {
            guard bytes[index] == UInt8(ascii: "$") else {
                literal.append(bytes[index])
                index += 1
                continue
            }
            let variableStart = index
            let braced = index + 1 < bytes.count && bytes[index + 1] == UInt8(ascii: "{")
            let nameStart = index + (braced ? 2 : 1)
            var nameEnd = nameStart
            while nameEnd < bytes.count, Self.isNameByte(bytes[nameEnd]) { nameEnd += 1 }
            if braced {
                guard nameEnd < bytes.count, bytes[nameEnd] == UInt8(ascii: "}") else {
                    throw failure(.unterminatedBrace, at: variableStart)
                }
                index = nameEnd + 1
            } else {
                index = nameEnd
            }
            guard nameEnd > nameStart else { throw failure(.missingVariableName, at: variableStart) }
            let name = String(decoding: bytes[nameStart..<nameEnd], as: UTF8.self)

            if let previous = pending {
                guard !literal.isEmpty else {
                    throw failure(.adjacentVariables(first: previous, second: name), at: variableStart)
                }
                compiled.append(Capture(name: previous, terminator: literal))
            } else {
                compiledPrefix = literal
            }
            literal = []
            pending = name
        }
        if let last = pending {
            compiled.append(Capture(name: last, terminator: literal))
            prefix = compiledPrefix ?? []
        } else {
            prefix = literal
        }
        captures = compiled
        splitter = NginxLineSplitter(prefix: prefix, captures: compiled, escape: escape)

        let names = compiled.map(\.name)
        eventTime = TimeVariable.allCases.lazy.compactMap { variable in
            names.firstIndex(of: variable.rawValue).map { (capture: $0, variable: variable) }
        }.first
        var parts = RequestParts()
        if names.contains("request") {
            if !names.contains("request_method") { parts.insert(.method) }
            if !names.contains("request_uri") { parts.insert(.uri) }
            if !names.contains("server_protocol") { parts.insert(.protocolVersion) }
        }
        derivedRequestParts = parts
    }

    private static func isNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"): true
        default: false
        }
    }
}

extension NginxLogFormat {
    /// One variable and the literal text after it.
    struct Capture: Sendable {
        var name: String
        /// The literal that ends the value; empty only for a variable that ends the format.
        var terminator: [UInt8]
    }

    /// The variables that carry an event time, in order of preference: the most precise first.
    enum TimeVariable: String, CaseIterable, Sendable {
        case msec
        case iso8601 = "time_iso8601"
        case local = "time_local"

        func parse(_ text: UnsafeRawBufferPointer) throws(TimeParseError) -> Int64 {
            switch self {
            case .msec: try LogTimestamp.parseMsec(text)
            case .iso8601: try LogTimestamp.parseISO8601(text)
            case .local: try LogTimestamp.parseTimeLocal(text)
            }
        }
    }

    /// Parts of the request line that can be derived from `$request`.
    struct RequestParts: OptionSet, Sendable {
        let rawValue: UInt8
        static let method = RequestParts(rawValue: 1)
        static let uri = RequestParts(rawValue: 2)
        static let protocolVersion = RequestParts(rawValue: 4)
    }
}
