/// One named value taken from a line.
public struct ParsedField: Sendable, Equatable {
    /// The nginx variable name (without `$`), a derived name such as `request_method`, or a JSON key.
    public var name: String
    /// The value: unescaped text for nginx lines, raw JSON text for JSON lines; nil when nginx logged `-`.
    public var value: String?

    public init(name: String, value: String?) {
        self.name = name
        self.value = value
    }
}

/// What a `LineParser` found in one line.
///
/// Field conventions:
/// - **nginx**: one field per variable, in format order, named after the variable (`remote_addr`,
///   `time_local`, `http_user_agent`, ...), its value unescaped. A value logged as `-` (and, with
///   `escape=json`, an empty one, which is how that mode logs a missing variable) is absent: `value`
///   is nil and `jsonObject()` leaves it out. `$request` is followed by `request_method`,
///   `request_uri` and `server_protocol` when it splits on spaces into exactly three non-empty parts
///   and the format does not log those variables itself. In `jsonObject()` the variables `status`,
///   `body_bytes_sent`, `bytes_sent`, `request_length`, `connection`, `connection_requests`, `msec`,
///   `request_time`, `upstream_response_time`, `upstream_connect_time` and `upstream_header_time`
///   are written as JSON numbers when their value is a single number (not `0.1, 0.2`), and the
///   event time comes first as `"@timestamp"`, RFC 3339 in UTC with milliseconds. A variable logged
///   twice is written once, with its first value.
/// - **JSON lines**: one field per top-level key, in line order, `value` holding the value's JSON
///   text exactly as it appears in the line (`"abc"` with its quotes, `{"a":1}`, `null`).
///   `jsonObject()` writes them back as one object (keys re-escaped, values as they were); no
///   `@timestamp` is added.
/// - **plain lines**: no fields and no event time.
///
/// A line that does not fit its format has `failure` set, `eventTimeMs` nil and no fields.
public struct ParsedLine: Sendable {
    /// The event time in milliseconds since the Unix epoch; nil when the format has no time field,
    /// the line does not log it (`-`), or the line failed.
    public var eventTimeMs: Int64?
    /// Nil when the line matched; else a short reason like `expected '"' after $request at byte 57`
    /// or `time_local: bad month 'Foo'`.
    public var failure: String?
    /// Empty unless fields were asked for; in format (or line) order.
    public var fields: [ParsedField]

    /// How `jsonObject()` writes the values.
    var valueSyntax: ValueSyntax

    enum ValueSyntax: Sendable {
        /// Unescaped text from nginx: quoted, or a bare number for the numeric variables.
        case nginxText
        /// JSON text copied from a JSON line.
        case rawJSON
    }

    init(eventTimeMs: Int64? = nil, fields: [ParsedField] = [], valueSyntax: ValueSyntax = .nginxText) {
        self.eventTimeMs = eventTimeMs
        self.failure = nil
        self.fields = fields
        self.valueSyntax = valueSyntax
    }

    init(failure: String) {
        self.eventTimeMs = nil
        self.failure = failure
        self.fields = []
        self.valueSyntax = .nginxText
    }

    /// The value of the first field called `name`; nil if there is none or it was logged as `-`.
    public func value(of name: String) -> String? {
        for field in fields where field.name == name {
            return field.value
        }
        return nil
    }

    /// The fields as one JSON object in UTF-8, following the conventions above.
    /// Needs the line to have been parsed with `wantFields`; otherwise only `@timestamp` can be written.
    public func jsonObject() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64 + fields.count * 32)
        out.append(UInt8(ascii: "{"))
        var isFirst = true
        func beginMember(_ name: String) {
            if !isFirst { out.append(UInt8(ascii: ",")) }
            isFirst = false
            JSONString.appendQuoted(name, to: &out)
            out.append(UInt8(ascii: ":"))
        }

        switch valueSyntax {
        case .rawJSON:
            for field in fields {
                guard let value = field.value else { continue }
                beginMember(field.name)
                out.append(contentsOf: value.utf8)
            }
        case .nginxText:
            if let eventTimeMs {
                beginMember("@timestamp")
                out.append(UInt8(ascii: "\""))
                LogTimestamp.appendRFC3339(eventTimeMs, to: &out)
                out.append(UInt8(ascii: "\""))
            }
            for (index, field) in fields.enumerated() {
                guard let value = field.value else { continue }
                guard !Self.isRepeated(fields, at: index) else { continue }
                beginMember(field.name)
                if Self.isNumericVariable(field.name), DecimalNumber.isStrictJSON(value.utf8) {
                    out.append(contentsOf: value.utf8)
                } else {
                    JSONString.appendQuoted(value, to: &out)
                }
            }
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// Whether a field of the same name comes earlier. Names are compared by length first: string
    /// comparison dominated the cost of `jsonObject()` otherwise.
    private static func isRepeated(_ fields: [ParsedField], at index: Int) -> Bool {
        let name = fields[index].name
        let length = name.utf8.count
        for earlier in fields[..<index] where earlier.name.utf8.count == length && earlier.name == name {
            return true
        }
        return false
    }

    /// nginx variables whose values are numbers (or, for the upstream times, lists of numbers
    /// when several upstreams were tried). Dispatches on the length first for the same reason as above.
    static func isNumericVariable(_ name: String) -> Bool {
        switch name.utf8.count {
        case 4: name == "msec"
        case 6: name == "status"
        case 10: name == "bytes_sent" || name == "connection"
        case 12: name == "request_time"
        case 14: name == "request_length"
        case 15: name == "body_bytes_sent"
        case 19: name == "connection_requests"
        case 20: name == "upstream_header_time"
        case 21: name == "upstream_connect_time"
        case 22: name == "upstream_response_time"
        default: false
        }
    }
}
